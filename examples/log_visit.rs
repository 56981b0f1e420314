//! Log a visit through the GraphQL API, as a front-end would.
//!
//! ```sh
//! DEALTRAIL_URL=http://127.0.0.1:8080/graphql DEALTRAIL_TOKEN=dt_... \
//!     cargo run -p dealtrail-examples --bin log-visit -- "Met IT and procurement"
//! ```
//!
//! Finds the open deal with the oldest last activity among those the token may write to,
//! logs a visit on it with an idempotency key (a retry of this request writes nothing
//! twice), and prints what the server recorded: the event with its sequence number and the
//! deal as it stands after the write.

use serde_json::{Value, json};

const STALEST_OPEN_DEAL: &str = r#"
query { opportunities(first: 1, filter: { open: true }, order: LAST_ACTIVITY) {
  nodes { id title accountName owner stage followUps lastActivity } } }"#;

const LOG_VISIT: &str = r#"
mutation($deal: String!, $summary: String!, $key: String!) {
  logFollowUp(
    input: { opportunityId: $deal, channel: "visit", unregisteredParticipants: 2, summary: $summary }
    options: { idempotencyKey: $key }
  ) {
    replayed
    events { seq version eventType actor occurredAt }
    opportunity { stage followUps lastActivity }
  }
}"#;

/// Sends one GraphQL request and returns its `data`, or the errors as a message.
async fn graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let body: Value = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("not a GraphQL answer: {e}"))?;
    match body["errors"].as_array() {
        Some(errors) => Err(errors
            .iter()
            .map(|e| format!("{} ({})", e["message"], e["extensions"]["code"]))
            .collect::<Vec<_>>()
            .join("; ")),
        None => Ok(body["data"].clone()),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let url =
        std::env::var("DEALTRAIL_URL").unwrap_or_else(|_| "http://127.0.0.1:8080/graphql".into());
    let token =
        std::env::var("DEALTRAIL_TOKEN").map_err(|_| "set DEALTRAIL_TOKEN to an API token")?;
    let summary = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Visited the customer".into());
    let client = reqwest::Client::new();

    let data = graphql(&client, &url, &token, STALEST_OPEN_DEAL, json!({})).await?;
    let deal = &data["opportunities"]["nodes"][0];
    let Some(id) = deal["id"].as_str() else {
        return Err("no open deal to visit".into());
    };
    println!(
        "Visiting {} ({}), owner {}, in {} since the last activity {}",
        deal["title"].as_str().unwrap_or(""),
        deal["accountName"].as_str().unwrap_or(""),
        deal["owner"].as_str().unwrap_or(""),
        deal["stage"].as_str().unwrap_or(""),
        deal["lastActivity"].as_str().unwrap_or("-"),
    );

    // The same key for the same visit: if this request is retried, nothing is written twice.
    let key = format!("visit:{id}:{summary}");
    let data = graphql(
        &client,
        &url,
        &token,
        LOG_VISIT,
        json!({ "deal": id, "summary": summary, "key": key }),
    )
    .await?;
    let result = &data["logFollowUp"];
    for event in result["events"].as_array().into_iter().flatten() {
        println!(
            "Recorded {} as event {} (version {} of the deal), by {}",
            event["eventType"].as_str().unwrap_or(""),
            event["seq"],
            event["version"],
            event["actor"].as_str().unwrap_or(""),
        );
    }
    if result["replayed"] == true {
        println!("(this visit was already logged; the first result was returned)");
    }
    println!(
        "The deal now has {} follow-ups; last activity {}",
        result["opportunity"]["followUps"],
        result["opportunity"]["lastActivity"]
            .as_str()
            .unwrap_or("-"),
    );
    Ok(())
}
