//! Commands against a running server instead of a folder: `export events --url`,
//! `export keys --url`, `verify --url`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Streams `GET /export/events` into a file or standard output, and fails unless the last
/// event written is the head the server said the export ends at.
pub fn export_events(
    url: &str,
    token: Option<String>,
    format: &str,
    from: u64,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    if format != "jsonl" {
        bail!("--url exports the restorable form only (--format jsonl)");
    }
    let token = token_for_url(token)?;
    let endpoint = format!("{}/export/events?from={from}", url.trim_end_matches('/'));
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let runtime = runtime()?;
    let (count, last, head) = runtime.block_on(async {
        let mut response = get(&endpoint, &token).await?;
        let head: u64 = response
            .headers()
            .get("x-dealtrail-head")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .context("the server did not say where the export ends (is it a dealtrail server?)")?;
        let (mut count, mut last, mut pending) = (0u64, 0u64, Vec::new());
        while let Some(chunk) = response
            .chunk()
            .await
            .context("the transfer broke off; the backup is incomplete")?
        {
            sink.write_all(&chunk)?;
            // The sequence number of each complete line, to check the end against the head.
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                // Only the sequence number, without building the whole envelope.
                #[derive(serde::Deserialize)]
                struct Seq {
                    seq: u64,
                }
                let Seq { seq } = serde_json::from_slice(&line)
                    .context("the server sent a line that is not an event")?;
                last = seq;
                count += 1;
            }
        }
        sink.flush()?;
        Ok::<_, anyhow::Error>((count, last, head))
    })?;
    if head >= from && last != head {
        bail!("the export ended at event {last}, the server announced {head}: incomplete");
    }
    eprintln!("exported {count} events (up to the server's head {head})");
    Ok(())
}

fn token_for_url(token: Option<String>) -> anyhow::Result<String> {
    token
        .or_else(|| std::env::var("DEALTRAIL_TOKEN").ok())
        .context("--url needs a token: --token or DEALTRAIL_TOKEN")
}

/// Runs the server's `verify` and prints its answer like the folder's; exits 1 unless the
/// log is intact.
pub fn verify(url: &str, token: Option<String>) -> anyhow::Result<()> {
    let token = token_for_url(token)?;
    let endpoint = format!("{}/graphql", url.trim_end_matches('/'));
    let runtime = runtime()?;
    let body: serde_json::Value = runtime.block_on(async {
        reqwest::Client::new()
            .post(&endpoint)
            .bearer_auth(token.trim())
            .json(&serde_json::json!({
                "query": "{ verify { intact eventsChecked firstBadSeq problem } head { hash root } }"
            }))
            .send()
            .await
            .with_context(|| format!("cannot reach {endpoint}"))?
            .json()
            .await
            .context("the server's answer is not JSON")
    })?;
    if let Some(message) = body["errors"][0]["message"].as_str() {
        bail!("the server refused: {message}");
    }
    let v = &body["data"]["verify"];
    if v["intact"] == true {
        println!(
            "intact: {} events, tree root {}, head {}",
            v["eventsChecked"].as_str().unwrap_or("?"),
            body["data"]["head"]["root"].as_str().unwrap_or("?"),
            body["data"]["head"]["hash"].as_str().unwrap_or("?"),
        );
        Ok(())
    } else {
        println!(
            "first bad sequence number: {}",
            v["firstBadSeq"].as_str().unwrap_or("?")
        );
        println!("problem: {}", v["problem"].as_str().unwrap_or("?"));
        std::process::exit(1);
    }
}

/// Fetches `GET /export/keys` into a file or standard output.
pub fn export_keys(url: &str, token: Option<String>, out: Option<&Path>) -> anyhow::Result<()> {
    let token = token_for_url(token)?;
    let endpoint = format!("{}/export/keys", url.trim_end_matches('/'));
    let runtime = runtime()?;
    let lines = runtime.block_on(async {
        get(&endpoint, &token)
            .await?
            .text()
            .await
            .context("the transfer broke off")
    })?;
    crate::keys::write(&lines, out)
}

/// The one-thread runtime a command against a server runs its requests on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("no runtime")
}

/// `GET endpoint` with the token; a refusal is an error with the server's message.
async fn get(endpoint: &str, token: &str) -> anyhow::Result<reqwest::Response> {
    let response = reqwest::Client::new()
        .get(endpoint)
        .bearer_auth(token.trim())
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_owned))
        .unwrap_or(body);
    bail!("the server refused the export ({status}): {message}")
}
