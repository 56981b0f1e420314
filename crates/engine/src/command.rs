//! The command path: load the aggregate, decide, append with the version that was read.

use dealtrail_domain::{
    Account, AccountCommand, AccountId, Context, DomainError, Event, Opportunity,
    OpportunityCommand, OpportunityDeps, OpportunityId, Outcome, Pipeline, PipelineState, Recorded,
    StageName, StreamName, Timestamp, UserId,
};
use dealtrail_store::{AppendOutcome, AppendRequest, Direction, ExpectedVersion, Receipt, Store};

use crate::codec;
use crate::error::EngineError;

/// A command for one aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A command on an account.
    Account(AccountId, AccountCommand),
    /// A command on an opportunity.
    Opportunity(OpportunityId, OpportunityCommand),
    /// Put a new pipeline definition in force.
    DefinePipeline {
        /// Ordered open stages.
        stages: Vec<StageName>,
        /// Outcomes that close a deal.
        outcomes: Vec<Outcome>,
        /// The evidence stages ask of deals entering them.
        gates: Vec<dealtrail_domain::StageGate>,
    },
    /// Record an exchange rate.
    RecordExchangeRate(dealtrail_domain::ExchangeRate),
}

impl Command {
    /// The stream the command writes to.
    pub fn stream(&self) -> StreamName {
        match self {
            Command::Account(id, _) => StreamName::Account(*id),
            Command::Opportunity(id, _) => StreamName::Opportunity(*id),
            Command::DefinePipeline { .. } => StreamName::Pipeline,
            Command::RecordExchangeRate(_) => StreamName::Rates,
        }
    }
}

/// Who issues a command, when it happened, and how it may be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The authenticated identity (never a field the client fills in).
    pub actor: UserId,
    /// Business time; `None` means now.
    pub occurred_at: Option<Timestamp>,
    /// The version the client read, if it wants the write to fail when the stream moved on.
    pub expected: Option<ExpectedVersion>,
    /// Makes a retry return the first result instead of writing again. Keys are the
    /// actor's own: another actor's use of the same key is another key.
    pub idempotency_key: Option<String>,
    /// A hash of the command as the client stated it, kept with the key: the key reused for
    /// another command is refused (`IdempotencyKeyMismatch`) instead of answered with the
    /// first result.
    pub fingerprint: Option<[u8; 32]>,
}

impl Issued {
    /// A command by `actor`, happening now, with no expectation and no key.
    pub fn by(actor: UserId) -> Issued {
        Issued {
            actor,
            occurred_at: None,
            expected: None,
            idempotency_key: None,
            fingerprint: None,
        }
    }
}

/// What a command wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Positions of the events.
    pub receipt: Receipt,
    /// The events, as stored.
    pub events: Vec<Recorded<Event>>,
    /// Whether this was a retry answered from the first attempt.
    pub replayed: bool,
}

/// How often a command without an explicit expected version is re-decided after losing a
/// race to another writer of the same stream.
const RETRIES: usize = 5;

/// Runs one command through load → decide → append.
pub(crate) async fn execute(
    store: &Store,
    cache: &Caches,
    now: Timestamp,
    issued: Issued,
    steps: Vec<(Option<Timestamp>, Command)>,
) -> Result<Committed, EngineError> {
    let stream = unit_stream(steps.as_slice())?;
    if let Some(earlier) = earlier_answer(store, &issued, &stream)? {
        return Ok(earlier);
    }
    let contexts = contexts(&issued, &steps, now);
    for _ in 0..RETRIES {
        let decided = decide(store, cache, &contexts, &steps);
        // A client that names the version it read learns first that the stream moved on,
        // not what the rules say about a state it has not seen.
        if let Some(expected) = issued.expected {
            let actual = match &decided {
                Ok((version, _)) => *version,
                Err(_) => store.stream_version(&stream)?,
            };
            if !expected.admits(actual) {
                return Err(EngineError::Conflict {
                    stream,
                    expected,
                    actual,
                });
            }
        }
        let (version, events) = decided?;
        let expected = issued.expected.unwrap_or(ExpectedVersion::Exact(version));
        let request = build_request(store, &stream, expected, &issued, &events)?;
        match store.append(request).await? {
            AppendOutcome::Committed(receipt) => {
                let events = read_back(store, receipt)?;
                return Ok(Committed {
                    receipt,
                    events,
                    replayed: false,
                });
            }
            AppendOutcome::Replayed(receipt) => return replayed(store, receipt),
            AppendOutcome::IdempotencyKeyReused { original_stream } => {
                return Err(EngineError::IdempotencyKeyReused { original_stream });
            }
            AppendOutcome::IdempotencyKeyMismatch { original } => {
                return Err(EngineError::IdempotencyKeyMismatch {
                    first_seq: original.first_seq,
                });
            }
            AppendOutcome::Conflict { expected, actual } => {
                if issued.expected.is_some() {
                    return Err(EngineError::Conflict {
                        stream,
                        expected,
                        actual,
                    });
                }
                // Another writer got in between our read and our write: decide again on
                // the newer state.
            }
        }
    }
    let actual = store.stream_version(&stream)?;
    Err(EngineError::Conflict {
        stream,
        expected: ExpectedVersion::Any,
        actual,
    })
}

/// The one stream a unit's steps write to: refused when there are no steps, or when they
/// name several streams.
fn unit_stream(
    steps: &[(Option<Timestamp>, Command)],
) -> Result<dealtrail_store::StreamId, EngineError> {
    let Some((_, first)) = steps.first() else {
        return Err(dealtrail_store::InvalidRequest::NoEvents.into());
    };
    let name = first.stream();
    if steps.iter().any(|(_, c)| c.stream() != name) {
        return Err(EngineError::MixedStreams);
    }
    Ok(codec::stream_id(name))
}

/// Each step's circumstances: the issuer, the step's business time (or the command's, or
/// now), and now.
fn contexts(
    issued: &Issued,
    steps: &[(Option<Timestamp>, Command)],
    now: Timestamp,
) -> Vec<Context> {
    steps
        .iter()
        .map(|(at, _)| Context {
            actor: issued.actor.clone(),
            occurred_at: at.or(issued.occurred_at).unwrap_or(now),
            now,
        })
        .collect()
}

/// The append of decided events: personal data erased or sealed as the events require,
/// the key and fingerprint of `issued` attached.
fn build_request(
    store: &Store,
    stream: &dealtrail_store::StreamId,
    expected: ExpectedVersion,
    issued: &Issued,
    events: &[(Event, Timestamp)],
) -> Result<AppendRequest, EngineError> {
    crate::personal::erase(store, events)?;
    let new_events = codec::new_events(events, store.vault())?;
    let mut request =
        AppendRequest::new(stream.clone(), expected, issued.actor.as_str(), new_events)?;
    if let Some(key) = &issued.idempotency_key {
        request = request.with_idempotency_key(key.clone())?;
    }
    if let Some(fingerprint) = issued.fingerprint {
        request = request.with_fingerprint(fingerprint);
    }
    Ok(request)
}

/// Decides a unit of steps on one stream as stored now and builds its append: the bulk
/// path's half of [`execute`], for units without an expected version of their own.
pub(crate) fn prepare(
    store: &Store,
    cache: &Caches,
    now: Timestamp,
    issued: &Issued,
    steps: &[(Option<Timestamp>, Command)],
) -> Result<Prepared, EngineError> {
    let stream = unit_stream(steps)?;
    if let Some(earlier) = earlier_answer(store, issued, &stream)? {
        return Ok(Prepared::Answered(earlier));
    }
    let (version, events) = decide(store, cache, &contexts(issued, steps, now), steps)?;
    build_request(
        store,
        &stream,
        ExpectedVersion::Exact(version),
        issued,
        &events,
    )
    .map(Prepared::Append)
}

/// What the bulk path does with a unit before the append.
pub(crate) enum Prepared {
    /// Its idempotency key was used: the first answer.
    Answered(Committed),
    /// Decided: the append, expecting the version the rules saw.
    Append(AppendRequest),
}

/// The answer an earlier use of `issued`'s idempotency key gave, if the key was used: a
/// retry is recognised before the rules run again, and the first answer stands.
pub(crate) fn earlier_answer(
    store: &Store,
    issued: &Issued,
    stream: &dealtrail_store::StreamId,
) -> Result<Option<Committed>, EngineError> {
    let Some(key) = &issued.idempotency_key else {
        return Ok(None);
    };
    let Some(hit) = store.idempotent_receipt(issued.actor.as_str(), key, issued.fingerprint)?
    else {
        return Ok(None);
    };
    if hit.stream != *stream {
        return Err(EngineError::IdempotencyKeyReused {
            original_stream: hit.stream,
        });
    }
    if !hit.same_command {
        return Err(EngineError::IdempotencyKeyMismatch {
            first_seq: hit.receipt.first_seq,
        });
    }
    replayed(store, hit.receipt).map(Some)
}

pub(crate) fn replayed(store: &Store, receipt: Receipt) -> Result<Committed, EngineError> {
    Ok(Committed {
        receipt,
        events: read_back(store, receipt)?,
        replayed: true,
    })
}

pub(crate) fn read_back(
    store: &Store,
    receipt: Receipt,
) -> Result<Vec<Recorded<Event>>, EngineError> {
    let count = (receipt.last_seq - receipt.first_seq + 1) as usize;
    store
        .read_all(receipt.first_seq, count)?
        .iter()
        .map(|e| codec::decode(e, store.vault()))
        .collect()
}

/// An event decided but not yet written, wrapped for an aggregate's `apply`. It has no
/// sequence number yet; aggregates only use that to name records that later corrections
/// may target, which these cannot be yet.
fn pending<E>(i: usize, ctx: &Context, event: E) -> Recorded<E> {
    Recorded {
        seq: u64::MAX - i as u64,
        recorded_at: ctx.now,
        occurred_at: ctx.occurred_at,
        actor: ctx.actor.clone(),
        event,
    }
}

/// Loads what the commands' rules read and decides them in turn, each on the state the
/// earlier ones produced; returns the stream version it saw and every event with its
/// business time. Nothing is written here.
fn decide(
    store: &Store,
    cache: &Caches,
    contexts: &[Context],
    steps: &[(Option<Timestamp>, Command)],
) -> Result<(u64, Vec<(Event, Timestamp)>), EngineError> {
    let mut out = Vec::new();
    let version = match &steps[0].1 {
        Command::Account(id, _) => {
            let (version, mut account) = load_account(store, &cache.accounts, *id)?;
            for (ctx, (_, command)) in contexts.iter().zip(steps) {
                let Command::Account(_, c) = command else {
                    return Err(EngineError::MixedStreams);
                };
                for e in account.decide(ctx, c.clone())? {
                    account.apply(&pending(out.len(), ctx, e.clone()));
                    out.push((Event::Account(*id, e), ctx.occurred_at));
                }
            }
            version
        }
        Command::Opportunity(id, first) => {
            let (version, mut deal) = load_opportunity(store, &cache.deals, *id)?;
            let account_id = match (deal.account(), first) {
                (Some(a), _) => a,
                (None, OpportunityCommand::Open(o)) => o.account,
                (None, _) => return Err(DomainError::OpportunityNotOpened.into()),
            };
            let (_, account) = load_account(store, &cache.accounts, account_id)?;
            let (_, pipeline) = load_pipeline(store)?;
            // Until a pipeline is defined, the default B2B pipeline is in force.
            let pipeline = pipeline.current.unwrap_or_else(Pipeline::default_b2b);
            for (ctx, (_, command)) in contexts.iter().zip(steps) {
                let Command::Opportunity(_, c) = command else {
                    return Err(EngineError::MixedStreams);
                };
                let deps = OpportunityDeps {
                    account: &account,
                    pipeline: Some(&pipeline),
                };
                for e in deal.decide(ctx, deps, c.clone())? {
                    deal.apply(&pending(out.len(), ctx, e.clone()));
                    out.push((Event::Opportunity(*id, e), ctx.occurred_at));
                }
            }
            version
        }
        Command::DefinePipeline { .. } | Command::RecordExchangeRate(_) => {
            let (version, mut pipeline) = load_reference(store, steps[0].1.stream())?;
            for (ctx, (_, command)) in contexts.iter().zip(steps) {
                let events = match command {
                    Command::DefinePipeline {
                        stages,
                        outcomes,
                        gates,
                    } => pipeline.decide(ctx, stages.clone(), outcomes.clone(), gates.clone())?,
                    Command::RecordExchangeRate(rate) => pipeline.decide_rate(ctx, rate.clone())?,
                    _ => return Err(EngineError::MixedStreams),
                };
                for e in events {
                    pipeline.apply(&pending(out.len(), ctx, e.clone()));
                    out.push((Event::Pipeline(e), ctx.occurred_at));
                }
            }
            version
        }
    };
    Ok((version, out))
}

/// Every event of a stream, decoded.
pub(crate) fn load_stream(
    store: &Store,
    name: StreamName,
) -> Result<Vec<Recorded<Event>>, EngineError> {
    stored_stream(store, name)?
        .iter()
        .map(|e| codec::decode(e, store.vault()))
        .collect()
}

/// Every event of a stream, as stored, read a page at a time.
pub(crate) fn stored_stream(
    store: &Store,
    name: StreamName,
) -> Result<Vec<dealtrail_store::RecordedEvent>, EngineError> {
    let stream = codec::stream_id(name);
    let mut out = Vec::new();
    loop {
        let page = store.read_stream(&stream, out.len() as u64 + 1, Direction::Forward, 1024)?;
        let done = page.len() < 1024;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Recently used aggregate states with the stream version they reflect. Every deal command
/// reads its account and its deal; rebuilding them from their whole streams each time was
/// most of the cost of the command path (and in store format 2 a stream whose events lie
/// far apart costs a block per event). An entry is used only if the stream still has that
/// version, and is brought up to date from the events after it otherwise.
pub(crate) struct StateCache<K, S>(std::sync::Mutex<std::collections::HashMap<K, (u64, S)>>);

impl<K, S> Default for StateCache<K, S> {
    fn default() -> Self {
        StateCache(std::sync::Mutex::new(std::collections::HashMap::new()))
    }
}

/// The account states the command path keeps.
pub(crate) type AccountCache = StateCache<AccountId, Account>;
/// The deal states the command path keeps.
pub(crate) type DealCache = StateCache<OpportunityId, Opportunity>;

/// The states the command path keeps, one cache per kind of aggregate.
#[derive(Default)]
pub(crate) struct Caches {
    pub accounts: AccountCache,
    pub deals: DealCache,
}

/// Entries each cache keeps before it starts over.
const STATE_CACHE_LIMIT: usize = 20_000;

/// The state of `name`'s stream and its version: from the cache when the stream has not
/// moved, else the cached state (or a new one) brought up to date with `apply`.
fn load_cached<K: std::hash::Hash + Eq + Copy, S: Clone + Default>(
    store: &Store,
    cache: &StateCache<K, S>,
    key: K,
    name: StreamName,
    apply: impl Fn(&mut S, &Recorded<Event>),
) -> Result<(u64, S), EngineError> {
    let stream = codec::stream_id(name);
    let version = store.stream_version(&stream)?;
    let cached = cache.0.lock().ok().and_then(|c| c.get(&key).cloned());
    let (mut seen, mut state) = match cached {
        Some((v, s)) if v == version => return Ok((v, s)),
        Some((v, s)) if v < version => (v, s),
        _ => (0, S::default()),
    };
    loop {
        let page = store.read_stream(&stream, seen + 1, Direction::Forward, 1024)?;
        let done = page.len() < 1024;
        for e in &page {
            apply(&mut state, &codec::decode(e, store.vault())?);
            seen = e.version;
        }
        if done {
            break;
        }
    }
    if let Ok(mut c) = cache.0.lock() {
        if c.len() >= STATE_CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, (seen, state.clone()));
    }
    Ok((seen, state))
}

/// An account's state and stream version.
pub(crate) fn load_account(
    store: &Store,
    cache: &AccountCache,
    id: AccountId,
) -> Result<(u64, Account), EngineError> {
    load_cached(store, cache, id, StreamName::Account(id), |account, r| {
        if let Event::Account(_, e) = &r.event {
            account.apply(&r.with(e.clone()));
        }
    })
}

/// An opportunity's state and stream version.
pub(crate) fn load_opportunity(
    store: &Store,
    cache: &DealCache,
    id: OpportunityId,
) -> Result<(u64, Opportunity), EngineError> {
    load_cached(store, cache, id, StreamName::Opportunity(id), |deal, r| {
        if let Event::Opportunity(_, e) = &r.event {
            deal.apply(&r.with(e.clone()));
        }
    })
}

/// The pipeline definition in force and its stream version.
pub(crate) fn load_pipeline(store: &Store) -> Result<(u64, PipelineState), EngineError> {
    load_reference(store, StreamName::Pipeline)
}

/// The company-wide state one reference stream (`pipeline` or `exchange-rates`) holds, and
/// the stream's version.
fn load_reference(store: &Store, stream: StreamName) -> Result<(u64, PipelineState), EngineError> {
    let events = load_stream(store, stream)?;
    let mut state = PipelineState::default();
    for r in &events {
        if let Event::Pipeline(e) = &r.event {
            state.apply(&r.with(e.clone()));
        }
    }
    Ok((events.len() as u64, state))
}
