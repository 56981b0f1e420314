//! The application core of dealtrail: opens the store, runs every command through the same
//! path (load → decide → append with the version read), and hosts the read models (catch-up,
//! live, snapshots, rebuilds, as-of). The GraphQL server and the command line talk to this
//! crate only.

pub mod backup;
mod bulk;
mod cancel;
mod codec;
mod command;
mod error;
pub mod personal;
mod runner;

use std::path::PathBuf;

use dealtrail_domain::{Recorded, Timestamp};
use dealtrail_funnel::SalesPipeline;
use dealtrail_profile::Profiles;
use dealtrail_store::{Config, Store};
use dealtrail_winloss::WinLoss;

pub use bulk::Unit;
pub use cancel::{Cancel, CancelOnDrop};
pub use codec::{decode, stream_id};
pub use command::{Command, Committed, Issued};
pub use error::EngineError;
pub use runner::{ProjectionHost, Restored, RunnerConfig, catch_up, fold_log};

/// The server's clock in the domain's terms: the `now` every command is decided against
/// (the domain itself reads no clock).
pub fn now() -> Timestamp {
    Timestamp(dealtrail_store::Timestamp::now().0)
}

/// A read model's name and the sequence number it has applied, or why it stopped.
pub type ModelState = (&'static str, Result<u64, String>);

/// How to open an engine.
#[derive(Clone)]
pub struct EngineConfig {
    /// The store's configuration (data folder, clock, cache).
    pub store: Config,
    /// How the read models are saved.
    pub runner: RunnerConfig,
}

impl EngineConfig {
    /// Defaults for a data folder.
    pub fn new(path: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            store: Config::new(path),
            runner: RunnerConfig::default(),
        }
    }
}

/// Lock stripes that serialise commands on the same stream (see [`Engine::execute`]).
const STRIPES: usize = 256;

/// One open data folder with its read models.
pub struct Engine {
    store: Store,
    sales: ProjectionHost<SalesPipeline>,
    winloss: ProjectionHost<WinLoss>,
    profiles: ProjectionHost<Profiles>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    caches: command::Caches,
}

impl Engine {
    /// Opens the store and brings the read models up to date; call it inside a tokio runtime.
    pub fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        let store = Store::open(config.store)?;
        // Each model starts from its own snapshot; one pass over the log catches all up.
        let mut sales = Restored::<SalesPipeline>::load(&store)?;
        let mut winloss = Restored::<WinLoss>::load(&store)?;
        let mut profiles = Restored::<Profiles>::load(&store)?;
        runner::catch_up(
            &store,
            u64::MAX,
            None,
            (&mut sales, &mut winloss, &mut profiles),
        )?;
        let runner = config.runner;
        let sales = ProjectionHost::start_from(store.clone(), runner, sales.state, sales.seq);
        let winloss = ProjectionHost::start_from(store.clone(), runner, winloss.state, winloss.seq);
        let profiles =
            ProjectionHost::start_from(store.clone(), runner, profiles.state, profiles.seq);
        let stripes = (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Ok(Engine {
            store,
            sales,
            winloss,
            profiles,
            stripes,
            caches: Default::default(),
        })
    }

    /// Runs a command; once it returns, the read models reflect it (read-your-writes).
    ///
    /// Commands on the same stream take turns (a lock stripe per stream hash), so writers in
    /// this process do not race each other into conflicts and retries; the expected-version
    /// check in the store still guards against anything else.
    pub async fn execute(
        &self,
        issued: Issued,
        command: Command,
    ) -> Result<Committed, EngineError> {
        self.execute_batch(issued, vec![(None, command)]).await
    }

    /// Runs several commands on one stream as one unit: each is decided on the state the
    /// earlier ones produced, at its own business time, and all their events are appended
    /// together or not at all (an import brings a deal in whole). `issued.occurred_at` is
    /// the default for steps without a time of their own.
    pub async fn execute_batch(
        &self,
        issued: Issued,
        steps: Vec<(Option<Timestamp>, Command)>,
    ) -> Result<Committed, EngineError> {
        let now = now();
        let Some((_, first)) = steps.first() else {
            return Err(dealtrail_store::InvalidRequest::NoEvents.into());
        };
        let turn = self.stripes[self.stripe_of(first)].lock().await;
        let committed = command::execute(&self.store, &self.caches, now, issued, steps)
            .await
            .map_err(|e| self.failed(e))?;
        drop(turn);
        self.wait_for_models(committed.receipt.last_seq).await?;
        Ok(committed)
    }

    /// The lock stripe of the stream `command` writes to.
    fn stripe_of(&self, command: &Command) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        command.stream().hash(&mut h);
        (h.finish() % STRIPES as u64) as usize
    }

    /// `e`, after telling readiness when the storage engine failed it: writes are failing,
    /// which readiness reports until a write goes through.
    fn failed(&self, e: EngineError) -> EngineError {
        if let EngineError::Store(
            s @ (dealtrail_store::StoreError::Sled(_) | dealtrail_store::StoreError::Io { .. }),
        ) = &e
        {
            self.store.report_write_error(s.to_string());
        }
        e
    }

    /// Waits until every read model has applied event `seq`.
    async fn wait_for_models(&self, seq: u64) -> Result<(), EngineError> {
        self.sales.wait_for(seq).await?;
        self.winloss.wait_for(seq).await?;
        self.profiles.wait_for(seq).await
    }

    /// The pipeline definition stream's version and state (the default pipeline is in force
    /// while `current` is `None`).
    pub fn pipeline_state(&self) -> Result<(u64, dealtrail_domain::PipelineState), EngineError> {
        command::load_pipeline(&self.store)
    }

    /// An account folded from its own stream, keeping only the events recorded through
    /// `through_seq` that occurred by `occurred_by` (pass `u64::MAX` and `Timestamp(i64::MAX)`
    /// for now). `None` when it was not registered by then.
    pub fn account_at(
        &self,
        id: dealtrail_domain::AccountId,
        through_seq: u64,
        occurred_by: Timestamp,
    ) -> Result<Option<dealtrail_domain::Account>, EngineError> {
        if through_seq == u64::MAX && occurred_by == Timestamp(i64::MAX) {
            // Now: the command path's cached state, brought up to the stream's version.
            let (_, account) = command::load_account(&self.store, &self.caches.accounts, id)?;
            return Ok(account.is_registered().then_some(account));
        }
        let events = command::load_stream(&self.store, dealtrail_domain::StreamName::Account(id))?;
        let mut account = dealtrail_domain::Account::default();
        for r in &events {
            if r.seq > through_seq || r.occurred_at > occurred_by {
                continue;
            }
            if let dealtrail_domain::Event::Account(_, e) = &r.event {
                account.apply(&r.with(e.clone()));
            }
        }
        Ok(account.is_registered().then_some(account))
    }

    /// Every event of an account's stream and of `deals`' streams, decoded, in log order:
    /// what one account's read models are folded from.
    pub fn account_history(
        &self,
        id: dealtrail_domain::AccountId,
        deals: impl IntoIterator<Item = dealtrail_domain::OpportunityId>,
    ) -> Result<Vec<Recorded<dealtrail_domain::Event>>, EngineError> {
        use dealtrail_domain::StreamName;
        let mut events = command::load_stream(&self.store, StreamName::Account(id))?;
        for deal in deals {
            events.extend(command::load_stream(
                &self.store,
                StreamName::Opportunity(deal),
            )?);
        }
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    /// The account's own records (figures, purchases, service interactions, ...) recorded
    /// through `through_seq` that occurred by `occurred_by`, in log order, with retractions
    /// removed and amendments in place of what they amend (each keeps the original's seq).
    pub fn account_records_at(
        &self,
        id: dealtrail_domain::AccountId,
        through_seq: u64,
        occurred_by: Timestamp,
    ) -> Result<Vec<Recorded<dealtrail_domain::AccountEvent>>, EngineError> {
        use dealtrail_domain::AccountEvent;
        let events = command::load_stream(&self.store, dealtrail_domain::StreamName::Account(id))?;
        let mut out: Vec<Recorded<AccountEvent>> = Vec::new();
        for r in &events {
            if r.seq > through_seq || r.occurred_at > occurred_by {
                continue;
            }
            let dealtrail_domain::Event::Account(_, e) = &r.event else {
                continue;
            };
            match e {
                AccountEvent::AccountEventCorrected(c) => {
                    let Some(i) = out.iter().position(|o| o.seq == c.target_seq) else {
                        continue;
                    };
                    match &c.replacement {
                        Some(replacement) => out[i].event = (**replacement).clone(),
                        None => {
                            out.remove(i);
                        }
                    }
                }
                e => out.push(r.with(e.clone())),
            }
        }
        Ok(out)
    }

    /// How far each read model has folded the log, and whether it still follows it: the
    /// log head and, per model, its name and applied sequence number, or the reason it
    /// stopped.
    pub fn readiness(&self) -> (u64, Vec<ModelState>) {
        fn state<P: dealtrail_domain::Projection + Sync>(host: &ProjectionHost<P>) -> ModelState {
            let applied = host.applied();
            (P::NAME, host.read(|_| applied).map_err(|e| e.to_string()))
        }
        (
            self.store.head().seq,
            vec![
                state(&self.sales),
                state(&self.winloss),
                state(&self.profiles),
            ],
        )
    }

    /// The event log, for audit reads and verification.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The pipeline and funnel read model.
    pub fn sales(&self) -> &ProjectionHost<SalesPipeline> {
        &self.sales
    }

    /// The win/loss, coverage and cross-check read model.
    pub fn winloss(&self) -> &ProjectionHost<WinLoss> {
        &self.winloss
    }

    /// The customer profiles read model.
    pub fn profiles(&self) -> &ProjectionHost<Profiles> {
        &self.profiles
    }

    /// Stops following the log, snapshots the read models and flushes the store.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        self.sales.shutdown().await?;
        self.winloss.shutdown().await?;
        self.profiles.shutdown().await?;
        self.store.close()?;
        Ok(())
    }
}
