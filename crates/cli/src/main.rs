//! The `dealtrail` command: a thin layer of argument parsing over the library crates.

mod analysis;
mod audit;
mod keys;
mod remote;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use dealtrail_demo::{Size, generate};
use dealtrail_domain::Timestamp;
use dealtrail_engine::{Engine, EngineConfig};
use dealtrail_graphql::{Role, ServerConfig, Tokens};

/// dealtrail: an event-sourced engine for B2B sales processes.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Keep the log in this PostgreSQL database (`postgres://user@host:port/db`), which
    /// several servers may share; the data folder becomes this machine's replica of it.
    /// Without it, the folder alone holds the log.
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    /// The store format of a data folder this command creates: 2 (blocks, the default) or
    /// 1 (a key per record, what builds before format 2 wrote). A folder that exists keeps
    /// its format; `export events` and `import events` move a log between formats.
    #[arg(long = "store-format", global = true, value_name = "N",
          default_value_t = dealtrail_store::FORMAT_VERSION,
          value_parser = clap::value_parser!(u32).range(1..=2))]
    store_format: u32,
    #[command(subcommand)]
    command: Cmd,
}

/// The database `--store` named, set once at start: every command that opens a folder
/// opens it as that database's replica.
static UPSTREAM: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
/// The format `--store-format` asks new folders to be written in.
static NEW_FORMAT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// The store configuration of a data folder, as `--store` asks.
pub(crate) fn store_config(data: &std::path::Path) -> dealtrail_store::Config {
    let format = NEW_FORMAT
        .get()
        .copied()
        .unwrap_or(dealtrail_store::FORMAT_VERSION);
    let config = dealtrail_store::Config::new(data).format(format);
    match UPSTREAM.get().and_then(Option::as_deref) {
        Some(url) => config.upstream(url),
        None => config,
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the GraphQL API on a data folder.
    Serve {
        /// The data folder (created if missing).
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// On an empty folder, first write a demo history and create an admin token.
        #[arg(long)]
        demo: bool,
        /// Accounts in the demo history (roughly 90 events each; the count is printed at
        /// the end).
        #[arg(long, default_value_t = 300)]
        demo_accounts: u32,
        /// Turn schema introspection off.
        #[arg(long)]
        no_introspection: bool,
        /// Serve introspection (`__schema`, `__type`, `__typename`) without a token too.
        #[arg(long, conflicts_with = "no_introspection")]
        public_introspection: bool,
        /// Let browser pages from this origin call the API (CORS); repeat for several.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origins: Vec<String>,
        /// A role's cost budget per token, as ROLE=CAPACITY/PER_SECOND (sales=30000/500);
        /// repeat for several roles (docs/api.md, Limits).
        #[arg(long = "budget", value_name = "ROLE=CAPACITY/PER_SECOND", value_parser = parse_budget)]
        budgets: Vec<(Role, dealtrail_graphql::budget::Budget)>,
        /// Sign tree heads with this key (from `dealtrail key create`; outside the data
        /// folder): on demand (`signedTreeHead`) and every minute when the log grew.
        #[arg(long)]
        signing_key: Option<PathBuf>,
        /// Append every signed head to this file (keep a copy elsewhere).
        #[arg(long, requires = "signing_key")]
        heads_file: Option<PathBuf>,
        /// An inbound webhook at /hooks/NAME, its HMAC secret read from SECRET_FILE
        /// (docs/api.md, Webhooks); repeat for several.
        #[arg(long = "hook", value_name = "NAME=SECRET_FILE", value_parser = parse_hook)]
        hooks: Vec<dealtrail_graphql::hooks::Hook>,
        /// Follow-up alert rules (TOML; docs/operations.md), for `alerts` and
        /// `alertStarted`; the defaults without it.
        #[arg(long, value_name = "FILE")]
        alerts: Option<PathBuf>,
        /// What an acknowledged write waits for: sync (fdatasync; survives power loss) or
        /// flush (survives the process being killed, not a power loss).
        #[arg(long, default_value = "sync", value_parser = parse_durability)]
        durability: dealtrail_store::Durability,
        /// MiB of sled's page cache; without it, a quarter of the log's file within 64 and
        /// 256 MiB (docs/operations.md, Memory).
        #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(8..=65536))]
        cache_mb: Option<u64>,
    },
    /// Write a deterministic demo history into a data folder.
    Demo {
        /// The data folder (created if missing).
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Accounts (roughly 90 events each at 5 deals per account; the count is printed at
        /// the end).
        #[arg(long, default_value_t = 300)]
        accounts: u32,
        /// Deals per account, on average.
        #[arg(long, default_value_t = 5)]
        deals_per_account: u32,
        /// Seed of the random choices.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// MiB of sled's page cache; without it, a quarter of the log's file within 64 and
        /// 256 MiB (docs/operations.md, Memory).
        #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(8..=65536))]
        cache_mb: Option<u64>,
    },
    /// Check the hash chain, the Merkle tree and the indexes, and that the log extends the
    /// heads saved in a heads file; exit code 0 only when all holds.
    Verify {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// A heads file (signed tree heads, one JSON object per line) kept elsewhere.
        #[arg(long, value_name = "HEADS_FILE")]
        against: Option<PathBuf>,
        /// Refuse heads not signed by this Ed25519 public key (hex).
        #[arg(long, requires = "against")]
        key: Option<String>,
        /// Ask a running server at this address to verify its log instead (an admin's or
        /// auditor's token: --token or DEALTRAIL_TOKEN).
        #[arg(long, conflicts_with_all = ["data", "against"])]
        url: Option<String>,
        /// The token for --url (else the DEALTRAIL_TOKEN environment variable).
        #[arg(long, requires = "url")]
        token: Option<String>,
    },
    /// Signing keys for tree heads.
    Key {
        #[command(subcommand)]
        action: audit::KeyCmd,
    },
    /// Print the log's tree head (size and Merkle root), signed with --signing-key.
    Head {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Sign it with this key: the output is a line for a heads file.
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
    /// Inclusion and consistency proofs of the Merkle tree, as JSON.
    Proof {
        #[command(subcommand)]
        action: audit::ProofCmd,
    },
    /// Manage API tokens (stored hashed in the data folder).
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// An analysis as it stood at a past moment, as a readable table.
    Replay {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// The moment (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        as_of: String,
        #[command(flatten)]
        look: LookArgs,
        /// The analysis.
        #[arg(value_enum)]
        analysis: analysis::Analysis,
    },
    /// Refold every read model from the whole log and save fresh snapshots (after an
    /// upgrade that changed a model, or to rule out a damaged snapshot).
    Rebuild {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
    },
    /// Export the log (the full envelope of every event) or an analysis.
    Export {
        #[command(subcommand)]
        what: ExportCmd,
    },
    /// Import into a data folder: a log exported with `export events` (restore: the identical
    /// log, hash chain included), or a CRM's CSV export through a mapping.
    Import {
        #[command(subcommand)]
        what: ImportCmd,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// The folder's personal-data keys as JSON lines (erased ones as null): keep them with
    /// an events backup, as secret as the folder, or its contacts' names read "(sealed)".
    Keys {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Export from a running server at this address with an admin's token (--token or
        /// DEALTRAIL_TOKEN) instead of a folder.
        #[arg(long, conflicts_with = "data")]
        url: Option<String>,
        /// The token for --url (else the DEALTRAIL_TOKEN environment variable).
        #[arg(long, requires = "url")]
        token: Option<String>,
    },
    /// Every event from a sequence number on, optionally of one stream.
    Events {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// jsonl (restorable) or csv (for spreadsheets; the payload as a JSON column).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv"])]
        format: String,
        /// First sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Export from a running server at this address (http://host:port) instead of a
        /// folder, with an admin's or auditor's token (--token or DEALTRAIL_TOKEN): a
        /// backup without downtime, up to the head the server had when it began.
        #[arg(long, conflicts_with_all = ["data", "stream"])]
        url: Option<String>,
        /// The token for --url (else the DEALTRAIL_TOKEN environment variable).
        #[arg(long, requires = "url")]
        token: Option<String>,
    },
    /// The funnel of the window: per stage entered, reached, conversion, time in stage.
    Funnel(AnalysisArgs),
    /// Win rates overall and per dimension.
    Winloss(AnalysisArgs),
    /// Lost deals by stated reason, and how many show each evidence signal.
    Reasons(AnalysisArgs),
    /// Open deals whose stage lacks the other functions' evidence.
    Findings(AnalysisArgs),
    /// Who each open deal reaches on the customer's side.
    Coverage(AnalysisArgs),
    /// The eight data-health questions across accounts.
    Health(AnalysisArgs),
    /// Upsell, cross-sell and churn-risk signals per account.
    Signals(AnalysisArgs),
    /// Follow-up alerts on open deals: no follow-up, next step overdue, stalled, expected
    /// close passed (rules from --alerts FILE).
    Alerts(AnalysisArgs),
    /// Each account's segment by business outcome: trend, value, relationship.
    Segments(AnalysisArgs),
    /// The pipeline flow from --from to --to (now without it): each deal's move in
    /// buckets (created, pulled_in, increased, decreased, pushed_out, won, lost,
    /// unchanged); the pipeline at both ends on standard error.
    Flow(AnalysisArgs),
    /// Every deal as the pipeline shows it.
    Deals(AnalysisArgs),
}

impl ExportCmd {
    /// The analysis asked for and its arguments, or `None` for `events`.
    fn analysis(self) -> Result<(analysis::Analysis, AnalysisArgs), Box<ExportCmd>> {
        use analysis::Analysis as A;
        Ok(match self {
            ExportCmd::Funnel(a) => (A::Funnel, a),
            ExportCmd::Winloss(a) => (A::Winloss, a),
            ExportCmd::Reasons(a) => (A::Reasons, a),
            ExportCmd::Findings(a) => (A::Findings, a),
            ExportCmd::Coverage(a) => (A::Coverage, a),
            ExportCmd::Health(a) => (A::Health, a),
            ExportCmd::Signals(a) => (A::Signals, a),
            ExportCmd::Alerts(a) => (A::Alerts, a),
            ExportCmd::Segments(a) => (A::Segments, a),
            ExportCmd::Flow(a) => (A::Flow, a),
            ExportCmd::Deals(a) => (A::Deals, a),
            events => return Err(Box::new(events)),
        })
    }
}

/// How an analysis looks at the log: the clock of the moment, the window, the currency.
#[derive(clap::Args)]
struct LookArgs {
    /// The clock of --as-of: recorded (what had been recorded by then; the default) or
    /// occurred (what had happened by then; the default of flow, whose --from and --to are
    /// business dates).
    #[arg(long, value_enum)]
    clock: Option<analysis::Clock>,
    /// Days of the window ending at the moment (funnel, winloss, reasons).
    #[arg(long, default_value_t = 365, allow_negative_numbers = true)]
    window_days: i64,
    /// The currency the funnel sums amounts in (deals in others are counted only).
    #[arg(long, default_value = "USD")]
    currency: String,
    /// Alert rules (TOML; docs/operations.md) for alerts; the defaults without it.
    #[arg(long, value_name = "FILE")]
    alerts: Option<PathBuf>,
    /// The start of the period (flow; RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// The end of the period (flow; now without it).
    #[arg(long)]
    to: Option<String>,
}

impl LookArgs {
    /// Folds the log of `data` (now or as of a moment) and computes `analysis` from it.
    fn table(
        &self,
        data: &std::path::Path,
        as_of: Option<&str>,
        analysis: analysis::Analysis,
    ) -> anyhow::Result<(analysis::Models, analysis::Table)> {
        let currency = analysis::check_args(self.window_days, &self.currency)?;
        let rules = analysis::alert_rules(self.alerts.as_deref())?;
        let flow = match (analysis, &self.from) {
            (analysis::Analysis::Flow, Some(from)) => Some(analysis::flow_period(
                data,
                from,
                self.to.as_deref(),
                self.clock.unwrap_or(analysis::Clock::Occurred),
            )?),
            (analysis::Analysis::Flow, None) => anyhow::bail!("flow needs --from"),
            _ => None,
        };
        // The flow's two moments are cuts of the whole model.
        let as_of = if flow.is_some() { None } else { as_of };
        let clock = self.clock.unwrap_or(analysis::Clock::Recorded);
        let mut models = analysis::fold(data, as_of, clock)?;
        models.alert_rules = rules;
        models.flow = flow;
        let table = models.table(analysis, self.window_days, currency);
        Ok((models, table))
    }
}

/// Where and how an analysis is exported.
#[derive(clap::Args)]
struct AnalysisArgs {
    /// The data folder.
    #[arg(long, default_value = "./dealtrail-data")]
    data: PathBuf,
    /// csv (a header row, then one line per row) or json (an array of objects).
    #[arg(long, value_enum, default_value = "csv")]
    format: analysis::Format,
    /// Look from this moment (RFC 3339 or YYYY-MM-DD) instead of now.
    #[arg(long)]
    as_of: Option<String>,
    #[command(flatten)]
    look: LookArgs,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import a CRM export (CSV files: one row per deal, or one row per stage change with
    /// activities) through a TOML mapping that names the columns and maps stage names; see
    /// docs/import.md and examples/data/. Rows that cannot be
    /// imported are reported with file, line and reason; importing again adds nothing.
    Crm {
        /// The mapping file (the CSV files are read next to it).
        mapping: PathBuf,
        /// The data folder (created if missing).
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Write the rejected rows (file, line, reason) to this CSV file too.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Exit 0 even when rows were not imported (by default that exits 1, after the
        /// report, so that a script notices).
        #[arg(long)]
        allow_rejects: bool,
        /// An activity that cannot be read or falls outside its deal's life: skip it (and
        /// report it by its file and line) or refuse the whole deal.
        #[arg(long, default_value = "skip", value_parser = ["skip", "refuse-deal"])]
        bad_activity: String,
        /// An open deal without an engage date (one-row-per-deal exports): open it at
        /// import time (it then counts as a lead of this month) or skip it.
        #[arg(long, default_value = "import-time", value_parser = ["import-time", "skip"])]
        undated_open: String,
    },
    /// Restore personal-data keys from `export keys` into a folder (after `import events`).
    Keys {
        /// The key export.
        file: PathBuf,
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
    },
    /// Restore events from a JSON-lines export; they must continue the folder's log (an
    /// empty folder takes an export that starts at sequence number 1).
    Events {
        /// The export.
        file: PathBuf,
        /// The data folder (created if missing).
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Continue a restore that stopped: the events the folder already holds must be
        /// the file's, hash for hash; the rest is imported.
        #[arg(long)]
        resume: bool,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print it once.
    Create {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Name of the token's user: the actor of everything written with it.
        #[arg(long)]
        name: String,
        /// admin, manager, sales, presales, engineering, support, analyst or auditor.
        #[arg(long)]
        role: String,
        /// Create the data folder if it does not exist yet (otherwise a mistyped --data is
        /// refused rather than becoming a new folder).
        #[arg(long)]
        create: bool,
    },
    /// Revoke a token by name.
    Revoke {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// The token's name.
        #[arg(long)]
        name: String,
    },
    /// List token names and roles.
    List {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A reader that stopped reading (`| head`) is not a failure of ours.
        Err(e) if e.chain().any(broken_pipe) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message with its causes, never a backtrace: this is for the user.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether an error is a write to a pipe whose reader has gone, whichever writer (plain,
/// JSON, CSV) met it.
fn broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let pipe = std::io::ErrorKind::BrokenPipe;
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return io.kind() == pipe;
    }
    if let Some(json) = e.downcast_ref::<serde_json::Error>() {
        return json.io_error_kind() == Some(pipe);
    }
    if let Some(csv) = e.downcast_ref::<csv::Error>() {
        return matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == pipe);
    }
    false
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Some(url) = &cli.store
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        bail!("--store takes a postgres:// URL, not {url:?}");
    }
    let _ = UPSTREAM.set(cli.store.clone());
    let _ = NEW_FORMAT.set(cli.store_format);
    // Commands that only read or restore the log run on this thread; the store's blocking
    // calls may not run inside the async runtime.
    let command = match cli.command {
        Cmd::Verify {
            url: Some(url),
            token,
            ..
        } => return remote::verify(&url, token),
        Cmd::Verify {
            data, against, key, ..
        } => {
            return audit::verify(&data, against.as_deref(), key.as_deref());
        }
        Cmd::Key { action } => return audit::key(action),
        Cmd::Head { data, signing_key } => return audit::head(&data, signing_key.as_deref()),
        Cmd::Proof { action } => return audit::proof(action),
        Cmd::Rebuild { data } => return rebuild(data),
        Cmd::Token { action } => return token(action),
        Cmd::Schema => {
            print!("{}", dealtrail_graphql::sdl());
            return Ok(());
        }
        Cmd::Export { what } => {
            return match what.analysis().map_err(|events| *events) {
                Ok((analysis, args)) => export_analysis(analysis, args),
                Err(ExportCmd::Events {
                    url: Some(url),
                    token,
                    format,
                    from,
                    out,
                    ..
                }) => remote::export_events(&url, token, &format, from, out),
                Err(ExportCmd::Events {
                    data,
                    format,
                    from,
                    stream,
                    out,
                    ..
                }) => export_events(data, &format, from, stream, out),
                Err(ExportCmd::Keys {
                    url: Some(url),
                    token,
                    out,
                    ..
                }) => remote::export_keys(&url, token, out.as_deref()),
                Err(ExportCmd::Keys { data, out, .. }) => keys::export(&data, out.as_deref()),
                Err(_) => unreachable!("every analysis is matched above"),
            };
        }
        Cmd::Import {
            what: ImportCmd::Events { file, data, resume },
        } => return import_events(file, data, resume),
        Cmd::Import {
            what: ImportCmd::Keys { file, data },
        } => return keys::import(&file, &data),
        Cmd::Replay {
            data,
            as_of,
            look,
            analysis,
        } => {
            let (models, table) = look.table(&data, Some(&as_of), analysis)?;
            let clock = match look.clock.unwrap_or(analysis::Clock::Recorded) {
                analysis::Clock::Recorded => "recorded",
                analysis::Clock::Occurred => "occurred",
            };
            println!(
                "as {clock} by {}, window of {} days",
                models.at, look.window_days
            );
            return table.print(&mut std::io::stdout().lock());
        }
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command {
            Cmd::Serve {
                data,
                listen,
                demo,
                demo_accounts,
                no_introspection,
                public_introspection,
                allow_origins,
                budgets,
                signing_key,
                heads_file,
                durability,
                hooks,
                alerts,
                cache_mb,
            } => {
                let signer = match signing_key {
                    Some(path) => Some(Arc::new(dealtrail_graphql::audit::HeadSigner::new(
                        audit::signing_key(&path, &data)?,
                        heads_file,
                    ))),
                    None => None,
                };
                let config = ServerConfig {
                    introspection: !no_introspection,
                    public_introspection,
                    allow_origins,
                    budgets: budgets.into_iter().collect(),
                    signer,
                    hooks,
                    alerts: analysis::alert_rules(alerts.as_deref())?,
                    ..ServerConfig::default()
                };
                let store = StoreOptions {
                    durability,
                    cache_mb,
                };
                serve(data, listen, demo, demo_accounts, config, store).await
            }
            Cmd::Demo {
                data,
                accounts,
                deals_per_account,
                seed,
                cache_mb,
            } => {
                let engine = open_with(&data, cache_mb)?;
                let size = Size {
                    accounts,
                    deals_per_account,
                    seed,
                };
                write_demo(&engine, size).await?;
                engine.shutdown().await.context("shutdown")?;
                Ok(())
            }
            Cmd::Import {
                what:
                    ImportCmd::Crm {
                        mapping,
                        data,
                        report,
                        allow_rejects,
                        bad_activity,
                        undated_open,
                    },
            } => {
                let options = dealtrail_import::Options {
                    bad_activity: if bad_activity == "refuse-deal" {
                        dealtrail_import::BadActivity::RefuseDeal
                    } else {
                        dealtrail_import::BadActivity::Skip
                    },
                    undated_open: if undated_open == "skip" {
                        dealtrail_import::UndatedOpen::Skip
                    } else {
                        dealtrail_import::UndatedOpen::ImportTime
                    },
                };
                import_crm(mapping, data, report, allow_rejects, options).await
            }
            _ => unreachable!("handled before the runtime starts"),
        }
    })
}

fn rebuild(data: PathBuf) -> anyhow::Result<()> {
    use dealtrail_domain::Projection;
    use dealtrail_engine::Restored;
    use dealtrail_funnel::SalesPipeline;
    use dealtrail_profile::Profiles;
    use dealtrail_winloss::WinLoss;
    let store = analysis::open_existing(&data)?;
    let started = std::time::Instant::now();
    let (mut sales, mut winloss, mut profiles) = (
        Restored::<SalesPipeline>::empty(),
        Restored::<WinLoss>::empty(),
        Restored::<Profiles>::empty(),
    );
    analysis::fold_with_progress(
        &store,
        u64::MAX,
        None,
        (&mut sales, &mut winloss, &mut profiles),
    )?;
    // The old snapshots go only once the new models are complete.
    let keep = dealtrail_engine::RunnerConfig::default().keep_snapshots;
    for (name, seq, bytes) in [
        (SalesPipeline::NAME, sales.seq, sales.state.snapshot()),
        (WinLoss::NAME, winloss.seq, winloss.state.snapshot()),
        (Profiles::NAME, profiles.seq, profiles.state.snapshot()),
    ] {
        store
            .drop_projection(name)
            .with_context(|| format!("dropping the snapshots of {name}"))?;
        if seq > 0 {
            store
                .save_snapshot(name, seq, &bytes, keep)
                .with_context(|| format!("saving the snapshot of {name}"))?;
        }
    }
    store.close().context("closing the store")?;
    println!(
        "rebuilt {}, {} and {} from {} events in {:.1?}",
        SalesPipeline::NAME,
        WinLoss::NAME,
        Profiles::NAME,
        sales.seq,
        started.elapsed()
    );
    Ok(())
}

fn export_analysis(analysis: analysis::Analysis, args: AnalysisArgs) -> anyhow::Result<()> {
    let (_, table) = args
        .look
        .table(&args.data, args.as_of.as_deref(), analysis)?;
    match &args.out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            );
            table.write(args.format, &mut file)?;
            std::io::Write::flush(&mut file)?;
            eprintln!("{} rows written to {}", table.rows.len(), path.display());
        }
        None => table.write(args.format, &mut std::io::stdout().lock())?,
    }
    Ok(())
}

async fn import_crm(
    mapping: PathBuf,
    data: PathBuf,
    report_file: Option<PathBuf>,
    allow_rejects: bool,
    options: dealtrail_import::Options,
) -> anyhow::Result<()> {
    // Before the folder is opened, which would create it.
    std::fs::metadata(&mapping).with_context(|| format!("cannot read {}", mapping.display()))?;
    let engine = open(&data)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} deals {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let actor = dealtrail_domain::UserId::parse("importer").context("importer name")?;
    let result = dealtrail_import::import(&engine, &mapping, actor, options, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await;
    bar.finish_and_clear();
    let report = result.with_context(|| format!("import of {} failed", mapping.display()))?;
    engine.shutdown().await.context("shutdown")?;
    println!(
        "accounts: {} imported, {} already present",
        report.accounts_imported, report.accounts_present
    );
    println!(
        "deals: {} imported, {} already present ({} won, {} lost, {} other outcomes, {} open)",
        report.deals_imported,
        report.deals_present,
        report.won,
        report.lost,
        report.other_outcomes,
        report.open
    );
    if report.contacts_imported + report.contacts_present > 0 {
        println!(
            "contacts: {} imported, {} already present",
            report.contacts_imported, report.contacts_present
        );
    }
    println!("exact duplicate rows skipped: {}", report.duplicates);
    for (note, count) in &report.notes {
        println!("note: {count} {note}");
    }
    println!("rows not imported: {}", report.rejected.len());
    let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &report.rejected {
        *reasons.entry(r.reason.as_str()).or_default() += 1;
    }
    for (reason, count) in reasons.iter().take(20) {
        println!("  {count:>6}  {reason}");
    }
    if let Some(path) = report_file {
        let mut w = csv::Writer::from_path(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_record(["file", "line", "reason"])?;
        for r in &report.rejected {
            w.write_record([r.file.as_str(), &r.line.to_string(), r.reason.as_str()])?;
        }
        w.flush()?;
        println!("rejected rows written to {}", path.display());
    } else {
        for r in report.rejected.iter().take(10) {
            println!("  {} line {}: {}", r.file, r.line, r.reason);
        }
        if report.rejected.len() > 10 {
            println!("  ... (use --report FILE for all of them)");
        }
    }
    if !report.rejected.is_empty() && !allow_rejects {
        let n = report.rejected.len();
        let rows = if n == 1 { "row was" } else { "rows were" };
        bail!("{n} {rows} not imported (the rest was; pass --allow-rejects to exit 0 anyway)");
    }
    Ok(())
}

fn export_events(
    data: PathBuf,
    format: &str,
    from: u64,
    stream: Option<String>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    use std::io::Write;
    if format != "jsonl" && format != "csv" {
        bail!("unknown format {format:?} (jsonl or csv)");
    }
    let store = analysis::open_existing(&data)?;
    let filter = dealtrail_store::LogFilter {
        stream: stream
            .map(dealtrail_store::StreamId::parse)
            .transpose()
            .context("invalid stream id")?,
        ..Default::default()
    };
    let sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    enum Out {
        Json(std::io::BufWriter<Box<dyn Write>>),
        Csv(Box<csv::Writer<Box<dyn Write>>>),
    }
    let mut out = if format == "csv" {
        let mut w = csv::Writer::from_writer(sink);
        w.write_record([
            "seq",
            "stream",
            "version",
            "event_id",
            "event_type",
            "schema_version",
            "recorded_at",
            "occurred_at",
            "actor",
            "correlation_id",
            "causation_id",
            "idempotency_key",
            "payload",
            "prev_hash",
            "hash",
        ])?;
        Out::Csv(Box::new(w))
    } else {
        Out::Json(std::io::BufWriter::new(sink))
    };
    let mut next = Some(from.max(1));
    let mut count = 0u64;
    let bar = analysis::progress_bar(store.head().seq, "exporting", "events");
    while let Some(from) = next {
        let page = store
            .read_log(&filter, from, 10_000)
            .context("reading the log")?;
        for e in &page.events {
            let r = dealtrail_engine::backup::EnvelopeRecord::from_recorded(e);
            match &mut out {
                Out::Json(w) => {
                    serde_json::to_writer(&mut *w, &r)?;
                    w.write_all(b"\n")?;
                }
                Out::Csv(w) => w.write_record([
                    r.seq.to_string(),
                    r.stream,
                    r.version.to_string(),
                    r.event_id,
                    r.event_type,
                    r.schema_version.to_string(),
                    r.recorded_at,
                    r.occurred_at,
                    r.actor,
                    r.correlation_id.unwrap_or_default(),
                    r.causation_id.unwrap_or_default(),
                    r.idempotency_key.unwrap_or_default(),
                    r.payload.to_string(),
                    r.prev_hash,
                    r.hash,
                ])?,
            }
            count += 1;
        }
        if let Some(last) = page.events.last() {
            bar.set_position(last.seq);
        }
        next = page.next_seq;
    }
    bar.finish_and_clear();
    match out {
        Out::Json(mut w) => w.flush()?,
        Out::Csv(mut w) => w.flush()?,
    }
    eprintln!("exported {count} events");
    Ok(())
}

fn import_events(file: PathBuf, data: PathBuf, resume: bool) -> anyhow::Result<()> {
    use std::io::BufRead;
    let open = || -> anyhow::Result<_> {
        Ok(std::io::BufReader::new(
            std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?,
        )
        .lines()
        .enumerate())
    };
    let read = |n: usize, line: std::io::Result<String>| -> anyhow::Result<Option<_>> {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", file.display(), n + 1))?;
        if line.trim().is_empty() {
            return Ok(None);
        }
        let record: dealtrail_engine::backup::EnvelopeRecord = serde_json::from_str(&line)
            .with_context(|| {
                format!("{}, line {}: not an exported event", file.display(), n + 1)
            })?;
        let event = record
            .to_recorded()
            .with_context(|| format!("{}, line {}", file.display(), n + 1))?;
        Ok(Some((line.len() as u64 + 1, event)))
    };
    // The file is opened before the folder, which opening would create.
    drop(open()?);
    let store =
        dealtrail_store::Store::open(store_config(&data)).map_err(|e| folder_error(e, &data))?;
    // First the whole file is checked against the log it must continue, so that a bad line
    // anywhere leaves the folder as it was; then it is written in batches.
    let head = store.head();
    let mut last_recorded = match store.event(head.seq).context("reading the log")? {
        Some(e) => e.recorded_at,
        None => dealtrail_store::Timestamp(i64::MIN),
    };
    let (mut seq, mut hash) = (head.seq, head.hash);
    let mut versions: std::collections::HashMap<dealtrail_store::StreamId, u64> =
        Default::default();
    let bar = analysis::progress_bar(
        std::fs::metadata(&file).map_or(0, |m| m.len()),
        "checking",
        "bytes",
    );
    for (n, line) in open()? {
        let Some((bytes, e)) = read(n, line)? else {
            continue;
        };
        let at = || format!("{}, line {} (event {})", file.display(), n + 1, e.seq);
        if resume && e.seq <= head.seq {
            let held = store.event(e.seq).context("reading the log")?;
            if held.as_ref().map(|h| h.hash) != Some(e.hash)
                || dealtrail_store::record_hash(&e) != e.hash
            {
                bail!(
                    "{}: the folder's event {} is not this one; nothing was imported",
                    at(),
                    e.seq
                );
            }
            bar.inc(bytes);
            continue;
        }
        let version = match versions.get(&e.stream) {
            Some(v) => *v,
            None => store.stream_version(&e.stream).context("reading the log")?,
        };
        let problem = if e.seq != seq + 1 && e.seq <= head.seq && !resume {
            Some(format!(
                "expected sequence number {}: the folder already holds events 1 to {} \
                 (pass --resume to continue a restore that stopped)",
                seq + 1,
                head.seq
            ))
        } else if e.seq != seq + 1 {
            Some(format!("expected sequence number {}", seq + 1))
        } else if e.prev_hash != hash {
            Some("its previous hash is not the hash of the event before it".into())
        } else if e.version != version + 1 {
            Some(format!(
                "expected version {} of stream {}",
                version + 1,
                e.stream
            ))
        } else if e.recorded_at < last_recorded {
            Some("recorded time goes backwards".into())
        } else if dealtrail_store::record_hash(&e) != e.hash {
            Some("its hash does not match its contents".into())
        } else {
            None
        };
        if let Some(problem) = problem {
            bail!("{}: {problem}; nothing was imported", at());
        }
        bar.inc(bytes);
        (seq, hash, last_recorded) = (e.seq, e.hash, e.recorded_at);
        versions.insert(e.stream.clone(), e.version);
    }
    bar.finish_and_clear();
    let total = seq - head.seq;
    let bar = analysis::progress_bar(total, "restoring", "events");
    let mut batch = Vec::new();
    let mut count = 0u64;
    for (n, line) in open()? {
        let Some((_, e)) = read(n, line)? else {
            continue;
        };
        if e.seq <= head.seq {
            continue;
        }
        batch.push(e);
        if batch.len() == 1_000 {
            count += batch.len() as u64;
            store
                .restore_blocking(std::mem::take(&mut batch))
                .context("restore refused")?;
            bar.set_position(count);
        }
    }
    count += batch.len() as u64;
    store.restore_blocking(batch).context("restore refused")?;
    bar.finish_and_clear();
    let head = store.head();
    store.close().context("closing the store")?;
    println!("imported {count} events; head {} {}", head.seq, head.hash);
    Ok(())
}

/// The engine's configuration for a folder, with `--cache-mb` if given.
fn engine_config(data: &std::path::Path, cache_mb: Option<u64>) -> EngineConfig {
    let mut config = EngineConfig::new(data);
    config.store = store_config(data);
    if let Some(mb) = cache_mb {
        config.store = config.store.cache_capacity(mb << 20);
    }
    config
}

fn open(data: &std::path::Path) -> anyhow::Result<Arc<Engine>> {
    open_with(data, None)
}

fn open_with(data: &std::path::Path, cache_mb: Option<u64>) -> anyhow::Result<Arc<Engine>> {
    let engine = Engine::open(engine_config(data, cache_mb)).map_err(|e| folder_error(e, data))?;
    Ok(Arc::new(engine))
}

/// An error opening a data folder, naming the folder once: a store error that already names
/// it (the folder is locked) is shown as it is.
pub(crate) fn folder_error(e: impl Into<anyhow::Error>, data: &std::path::Path) -> anyhow::Error {
    let e: anyhow::Error = e.into();
    let names_it = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<dealtrail_store::StoreError>(),
            Some(dealtrail_store::StoreError::Locked { .. })
        )
    });
    if names_it {
        e
    } else {
        e.context(format!("cannot open data folder {}", data.display()))
    }
}

async fn write_demo(engine: &Arc<Engine>, size: Size) -> anyhow::Result<()> {
    if engine.store().head().seq > 0 {
        bail!("the data folder is not empty; the demo writes into an empty folder only");
    }
    let end = Timestamp(dealtrail_engine::now().0 - Timestamp::DAY);
    let start = Timestamp(end.0 - 720 * Timestamp::DAY);
    eprintln!("writing a demo history of {} accounts...", size.accounts);
    let started = std::time::Instant::now();
    let bar = analysis::progress_bar(u64::from(size.accounts), "writing", "accounts");
    let progress = {
        let bar = bar.clone();
        Arc::new(move |done: u64| bar.set_position(done))
    };
    // 8 writers of 16 accounts each through the bulk path: 1.55x the rate of 64 writers of
    // one unit each (docs/performance.md, "Demo generation").
    let commands = generate(engine.clone(), size, start, end, 8, 16, progress)
        .await
        .context("demo generation failed")?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {commands} commands ({} events) in {:.1?}",
        engine.store().head().seq,
        started.elapsed()
    );
    Ok(())
}

/// How `serve` opens the store.
struct StoreOptions {
    durability: dealtrail_store::Durability,
    cache_mb: Option<u64>,
}

async fn serve(
    data: PathBuf,
    listen: SocketAddr,
    demo: bool,
    demo_accounts: u32,
    config: ServerConfig,
    store: StoreOptions,
) -> anyhow::Result<()> {
    // Refuse a bad --allow-origin before the folder is opened or a demo is written.
    config.check()?;
    let mut opening = engine_config(&data, store.cache_mb);
    opening.store = opening.store.durability(store.durability);
    let engine = Arc::new(Engine::open(opening).map_err(|e| folder_error(e, &data))?);
    eprintln!(
        "sled page cache: {} MiB",
        engine.store().cache_capacity() >> 20
    );
    if engine.store().upstream_url().is_some() {
        eprintln!(
            "the log of record is in PostgreSQL; {} is this server's replica of it",
            data.display()
        );
    }
    let tokens = Arc::new(Tokens::in_folder(&data));
    if demo && engine.store().head().seq == 0 {
        let size = Size {
            accounts: demo_accounts,
            deals_per_account: 5,
            seed: 42,
        };
        write_demo(&engine, size).await?;
        let token = tokens
            .create("admin", Role::Admin)
            .context("cannot create the admin token")?;
        println!("admin token (shown once): {token}");
    } else if demo {
        eprintln!("the data folder already holds events; serving them without a new demo");
    }
    let stop = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("no local address")?;
    println!("analyst workspace: http://{address}/");
    println!("GraphiQL: http://{address}/graphql");
    println!("listening on {address}");
    dealtrail_graphql::run(listener, engine, tokens, config, stop)
        .await
        .context("server failed")?;
    eprintln!("stopped; the store is flushed and the read models are saved");
    Ok(())
}

fn parse_hook(s: &str) -> Result<dealtrail_graphql::hooks::Hook, String> {
    let (name, file) = s.split_once('=').ok_or("expected NAME=SECRET_FILE")?;
    dealtrail_graphql::hooks::Hook::check_name(name)?;
    let secret = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    dealtrail_graphql::hooks::Hook::new(name, &secret)
}

fn parse_durability(s: &str) -> Result<dealtrail_store::Durability, String> {
    dealtrail_store::Durability::parse(s).ok_or_else(|| format!("{s:?}: sync or flush"))
}

/// Reads `ROLE=CAPACITY/PER_SECOND`; a capacity below the cost limit could never pay for
/// the costliest request allowed.
fn parse_budget(s: &str) -> Result<(Role, dealtrail_graphql::budget::Budget), String> {
    let (role, budget) = s
        .split_once('=')
        .ok_or("expected ROLE=CAPACITY/PER_SECOND")?;
    let role = Role::parse(role).ok_or_else(|| format!("unknown role {role:?}"))?;
    let budget = dealtrail_graphql::budget::Budget::parse(budget)
        .ok_or("expected CAPACITY/PER_SECOND, two whole numbers")?;
    if budget.capacity < dealtrail_graphql::cost::MAX_COST {
        return Err(format!(
            "a capacity below {} could not pay for the costliest request",
            dealtrail_graphql::cost::MAX_COST
        ));
    }
    Ok((role, budget))
}

/// Registers for SIGINT and SIGTERM now (before the server says it listens, so that a stop
/// sent right after is not lost to the default action) and returns the wait for either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
    };
    async move {
        #[cfg(unix)]
        if let Ok((mut term, mut interrupt)) = signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Refuses a folder that is neither a data folder nor one that tokens were created in.
fn data_folder(data: &std::path::Path) -> anyhow::Result<()> {
    if data.join("log").is_dir() || data.join("tokens").is_file() {
        return Ok(());
    }
    bail!(
        "no dealtrail data folder at {} (pass --data, or --create for a new folder)",
        data.display()
    )
}

fn token(action: TokenCmd) -> anyhow::Result<()> {
    match action {
        TokenCmd::Create {
            data,
            name,
            role,
            create,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role {role:?} (admin, manager, sales, presales, engineering, support, analyst, auditor)")
            })?;
            if create {
                std::fs::create_dir_all(&data)
                    .with_context(|| format!("cannot create {}", data.display()))?;
            } else {
                data_folder(&data)?;
            }
            let token = Tokens::in_folder(&data).create(&name, role)?;
            println!("{token}");
        }
        TokenCmd::Revoke { data, name } => {
            data_folder(&data)?;
            Tokens::in_folder(&data).revoke(&name)?;
            println!("revoked {name}");
        }
        TokenCmd::List { data } => {
            data_folder(&data)?;
            for (name, role) in Tokens::in_folder(&data).list()? {
                println!("{name}\t{}", role.as_str());
            }
        }
    }
    Ok(())
}
