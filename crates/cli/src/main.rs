//! The `dealtrail` command: a thin layer of argument parsing over the library crates.

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
    #[command(subcommand)]
    command: Cmd,
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
        /// Accounts in the demo history (about 60 events each).
        #[arg(long, default_value_t = 300)]
        demo_accounts: u32,
        /// Turn schema introspection off.
        #[arg(long)]
        no_introspection: bool,
    },
    /// Write a deterministic demo history into a data folder.
    Demo {
        /// The data folder (created if missing).
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
        /// Accounts (about 60 events each).
        #[arg(long, default_value_t = 300)]
        accounts: u32,
        /// Deals per account, on average.
        #[arg(long, default_value_t = 5)]
        deals_per_account: u32,
        /// Seed of the random choices.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Check the hash chain and the indexes; exit code 0 only when intact.
    Verify {
        /// The data folder.
        #[arg(long, default_value = "./dealtrail-data")]
        data: PathBuf,
    },
    /// Manage API tokens (stored hashed in the data folder).
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
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

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Cmd::Serve {
                data,
                listen,
                demo,
                demo_accounts,
                no_introspection,
            } => serve(data, listen, demo, demo_accounts, !no_introspection).await,
            Cmd::Demo {
                data,
                accounts,
                deals_per_account,
                seed,
            } => {
                let engine = open(&data)?;
                let size = Size {
                    accounts,
                    deals_per_account,
                    seed,
                };
                write_demo(&engine, size).await?;
                engine.shutdown().await.context("shutdown")?;
                Ok(())
            }
            Cmd::Verify { data } => verify(data),
            Cmd::Token { action } => token(action),
            Cmd::Schema => {
                print!("{}", dealtrail_graphql::sdl());
                Ok(())
            }
        }
    })
}

fn open(data: &std::path::Path) -> anyhow::Result<Arc<Engine>> {
    let engine = Engine::open(EngineConfig::new(data))
        .with_context(|| format!("cannot open data folder {}", data.display()))?;
    Ok(Arc::new(engine))
}

async fn write_demo(engine: &Arc<Engine>, size: Size) -> anyhow::Result<()> {
    if engine.store().head().seq > 0 {
        bail!("the data folder is not empty; the demo writes into an empty folder only");
    }
    let end = Timestamp(Timestamp(dealtrail_store::Timestamp::now().0).0 - Timestamp::DAY);
    let start = Timestamp(end.0 - 720 * Timestamp::DAY);
    eprintln!(
        "writing a demo history of {} accounts (about {} events)...",
        size.accounts,
        size.approximate_events()
    );
    let started = std::time::Instant::now();
    let commands = generate(engine.clone(), size, start, end, 64, Arc::new(|_| {}))
        .await
        .context("demo generation failed")?;
    eprintln!(
        "wrote {commands} commands ({} events) in {:.1?}",
        engine.store().head().seq,
        started.elapsed()
    );
    Ok(())
}

async fn serve(
    data: PathBuf,
    listen: SocketAddr,
    demo: bool,
    demo_accounts: u32,
    introspection: bool,
) -> anyhow::Result<()> {
    let engine = open(&data)?;
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
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("no local address")?;
    println!("GraphiQL: http://{address}/graphql");
    println!("listening on {address}");
    let config = ServerConfig {
        introspection,
        ..ServerConfig::default()
    };
    dealtrail_graphql::run(listener, engine, tokens, config, shutdown_signal())
        .await
        .context("server failed")?;
    eprintln!("stopped; the store is flushed and the read models are saved");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn verify(data: PathBuf) -> anyhow::Result<()> {
    let store = dealtrail_store::Store::open_path(&data)
        .with_context(|| format!("cannot open data folder {}", data.display()))?;
    let report = store.verify().context("verify failed to run")?;
    match report.problem {
        None => {
            println!(
                "intact: {} events, {} streams, head {}",
                report.events_checked, report.streams_checked, report.last_good_hash
            );
            Ok(())
        }
        Some(problem) => {
            println!("first bad sequence number: {}", problem.seq);
            println!("problem: {}", problem.kind);
            std::process::exit(1);
        }
    }
}

fn token(action: TokenCmd) -> anyhow::Result<()> {
    match action {
        TokenCmd::Create { data, name, role } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role {role:?} (admin, manager, sales, presales, engineering, support, analyst, auditor)")
            })?;
            std::fs::create_dir_all(&data)
                .with_context(|| format!("cannot create {}", data.display()))?;
            let token = Tokens::in_folder(&data).create(&name, role)?;
            println!("{token}");
        }
        TokenCmd::Revoke { data, name } => {
            Tokens::in_folder(&data).revoke(&name)?;
            println!("revoked {name}");
        }
        TokenCmd::List { data } => {
            for (name, role) in Tokens::in_folder(&data).list()? {
                println!("{name}\t{}", role.as_str());
            }
        }
    }
    Ok(())
}
