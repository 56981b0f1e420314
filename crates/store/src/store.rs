//! Opening a data folder, appending through the writer, and reading the log.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::blocks::{BlockCache, Layout};
use crate::codec::{self, ChainState, FORMAT_VERSION, SUPPORTED_FORMATS};
use crate::error::StoreError;
use crate::types::{AppendOutcome, AppendRequest, ChainHash, Head, RecordedEvent, Timestamp};
use crate::writer::{Durable, Flusher, Job, MAX_UNFLUSHED_GROUPS, RestoreJob, Work, Writer};

/// Where the clock of `recorded_at` comes from; tests and replays may pin it.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What a writer waits for before it acknowledges an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// sled's `flush`: the log buffer is written to the file and `sync_file_range` waits
    /// for the pages to reach the device on Linux. Survives the process being killed at any
    /// moment; not a power loss (neither the file's size nor the device's cache is synced).
    Flush,
    /// `Flush`, then `fdatasync` on sled's file, which also syncs the file's size and empties
    /// the device's volatile write cache: survives power loss. The default; one group
    /// commit shares one sync among all the appends waiting for it.
    #[default]
    FlushAndSync,
}

impl Durability {
    /// Reads `sync` or `flush`, the names `serve --durability` takes.
    pub fn parse(s: &str) -> Option<Durability> {
        match s {
            "sync" => Some(Durability::FlushAndSync),
            "flush" => Some(Durability::Flush),
            _ => None,
        }
    }
}

/// How to open a data folder.
#[derive(Clone)]
pub struct Config {
    path: PathBuf,
    clock: Clock,
    cache_capacity: Option<u64>,
    queue_depth: usize,
    durability: Durability,
    compression: Option<i32>,
    upstream: Option<String>,
    format: u32,
}

impl Config {
    /// A folder, created if missing, with the system clock.
    pub fn new(path: impl Into<PathBuf>) -> Config {
        Config {
            path: path.into(),
            clock: Arc::new(Timestamp::now),
            cache_capacity: None,
            queue_depth: 4_096,
            durability: Durability::default(),
            compression: None,
            upstream: None,
            format: FORMAT_VERSION,
        }
    }

    /// The store format a new folder is written in ([`FORMAT_VERSION`] unless asked; 1 is the
    /// format of a key per record). A folder that exists keeps the format it has.
    pub fn format(mut self, format: u32) -> Config {
        self.format = format;
        self
    }

    /// Keeps the log of record in the PostgreSQL database at `url` (a `postgres://` URL or
    /// key=value connection string), which several servers may share; the folder becomes
    /// this server's replica of it. An append is acknowledged once the database has
    /// committed it, so the folder is not flushed per group: a crash costs a copy of its lost
    /// end at the next open.
    pub fn upstream(mut self, url: impl Into<String>) -> Config {
        self.upstream = Some(url.into());
        self
    }

    /// The database this configuration keeps the log in, if any.
    pub fn upstream_url(&self) -> Option<&str> {
        self.upstream.as_deref()
    }

    /// Compresses sled's pages with zstd at this level (needs the `compression` feature;
    /// a folder must always be opened with the same choice).
    #[cfg(feature = "compression")]
    pub fn compression(mut self, level: Option<i32>) -> Config {
        self.compression = level;
        self
    }

    /// What an acknowledgement waits for; see [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Config {
        self.durability = durability;
        self
    }

    /// Replaces the clock that stamps `recorded_at` (it is clamped to never go backwards).
    pub fn clock(mut self, clock: Clock) -> Config {
        self.clock = clock;
        self
    }

    /// Bytes of sled's page cache, instead of the size chosen for the folder's data
    /// ([`default_cache_capacity`]).
    pub fn cache_capacity(mut self, bytes: u64) -> Config {
        self.cache_capacity = Some(bytes);
        self
    }
}

/// The size of sled's file segments in a data folder. sled refuses to open a database with
/// another size, so every tool that opens a folder's sled database directly must use it.
pub const SLED_SEGMENT_SIZE: usize = 8 * 1024 * 1024;

/// The smallest page cache the store opens with: enough for the pages that appends and the
/// command path's stream reads touch (measured in docs/performance.md, Memory).
pub const MIN_CACHE_BYTES: u64 = 64 << 20;
/// The largest page cache chosen without being asked for.
pub const MAX_CACHE_BYTES: u64 = 256 << 20;

/// The page cache for a folder whose sled file holds `file_bytes`: a quarter of the file,
/// within [`MIN_CACHE_BYTES`] and [`MAX_CACHE_BYTES`]. Reads that miss it are served from
/// the operating system's file cache, which costs decoding the page again but no resident
/// memory of the process.
pub fn default_cache_capacity(file_bytes: u64) -> u64 {
    (file_bytes / 4).clamp(MIN_CACHE_BYTES, MAX_CACHE_BYTES)
}

/// State shared by the handle, the writer thread and subscriptions.
pub(crate) struct Shared {
    pub db: sled::Db,
    pub tree: sled::Tree,
    pub projections: sled::Tree,
    pub clock: Clock,
    /// Last sequence number that is flushed; reads never go past it.
    pub durable_seq: AtomicU64,
    pub durable_head: Mutex<Head>,
    /// Set after a failed flush: every later append gets this error.
    failure: Mutex<Option<String>>,
    /// Set while writes fail without stopping the writer (a batch sled refused, such as on
    /// a full disk); cleared by the next batch that is applied.
    write_error: Mutex<Option<String>>,
    /// What the writer has done, for metrics.
    pub stats: WriteCounters,
    pub path: PathBuf,
    /// The personal-data keys of the folder.
    pub vault: Arc<crate::vault::Vault>,
    /// How the folder lays out its log (its format).
    pub layout: Layout,
    /// Decompressed blocks that stream reads went to lately (format 2).
    pub blocks: BlockCache,
    /// Held for the life of the store: the OS lock on `LOCK` keeps other processes out.
    _lock: File,
}

impl Shared {
    /// Calls `f` with the stored records from `from` to `to` in order (see
    /// [`Layout::for_each`]); reads that start near the durable head go through the block
    /// cache, since followers of the log read the same recent blocks again and again.
    pub fn for_each_record<E: From<StoreError>>(
        &self,
        from: u64,
        to: u64,
        f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let behind = self
            .durable_seq
            .load(Ordering::Acquire)
            .saturating_sub(from);
        if self.layout == Layout::Blocks && behind < crate::blocks::CACHED_READ {
            self.blocks.for_each(&self.tree, from, to, f)
        } else {
            self.layout.for_each(&self.tree, from, to, f)
        }
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    pub fn set_write_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.write_error.lock() {
            *e = error;
        }
    }

    pub fn set_failure(&self, reason: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(reason);
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Work>>>,
    /// The writer thread, then the flusher thread.
    threads: Mutex<Vec<JoinHandle<()>>>,
    head_rx: watch::Receiver<u64>,
    cache_capacity: u64,
    upstream: Option<String>,
}

impl Inner {
    fn shut_down(&self) -> Result<(), StoreError> {
        // Dropping the sender ends the writer's loop once it has applied what is queued; the
        // writer's end drops the flusher's sender, which ends the flusher once it has answered
        // everything; the end of both drops the head announcer, which ends subscriptions.
        drop(self.tx.lock().ok().and_then(|mut tx| tx.take()));
        let threads: Vec<_> = self
            .threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
        self.shared.db.flush()?;
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// Upper bounds of the group sizes [`WriteStats::groups_by_size`] counts (the last class
/// takes everything above the one before).
pub const GROUP_SIZE_CLASSES: [u64; 5] = [1, 10, 100, 1_000, u64::MAX];

/// Counters the writer keeps.
#[derive(Default)]
pub(crate) struct WriteCounters {
    events: AtomicU64,
    groups: [AtomicU64; 5],
    failed_batches: AtomicU64,
}

impl WriteCounters {
    /// A group of `events` was applied.
    pub fn applied(&self, events: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        let class = GROUP_SIZE_CLASSES
            .iter()
            .position(|bound| events <= *bound)
            .unwrap_or(GROUP_SIZE_CLASSES.len() - 1);
        self.groups[class].fetch_add(1, Ordering::Relaxed);
    }

    /// A batch could not be applied.
    pub fn failed(&self) {
        self.failed_batches.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Events appended (and restored).
    pub events: u64,
    /// Applied groups by number of events, per class of [`GROUP_SIZE_CLASSES`].
    pub groups_by_size: [u64; 5],
    /// Batches that could not be applied (a full disk, say).
    pub failed_batches: u64,
}

/// The event log: a cheap, cloneable handle to one open data folder.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the log in `config`'s folder.
    pub fn open(config: Config) -> Result<Store, StoreError> {
        let path = config.path.clone();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        // A format this build cannot write is refused before anything is created, so that
        // the refusal leaves no empty log behind to be opened in the default format later.
        if !SUPPORTED_FORMATS.contains(&config.format) && !path.join("log").exists() {
            return Err(StoreError::IncompatibleFormat {
                found: config.format,
                supported: FORMAT_VERSION,
            });
        }
        std::fs::create_dir_all(&path).map_err(io)?;
        let lock_path = path.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        // A lock just let go of can stay held for a moment: a process forked by another
        // thread keeps a copy of every descriptor until it runs its program. So a held
        // lock is retried for up to a second before the folder counts as in use.
        let mut attempts = 0;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Locked { path: path.clone() });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(StoreError::Io {
                        path: lock_path,
                        source,
                    });
                }
            }
        }
        crate::snapshot::remove_leftovers(&path);
        let cache_capacity = config.cache_capacity.unwrap_or_else(|| {
            let file = std::fs::metadata(path.join("log").join("db")).map_or(0, |m| m.len());
            default_cache_capacity(file)
        });
        let mut sled_config = sled::Config::new()
            .path(path.join("log"))
            .cache_capacity(cache_capacity)
            .segment_size(SLED_SEGMENT_SIZE);
        if let Some(level) = config.compression {
            sled_config = sled_config.use_compression(true).compression_factor(level);
        }
        let db = open_sled(&sled_config)?;
        let tree = db.open_tree("log")?;
        let projections = db.open_tree("projections")?;
        let layout = check_format(&db, &tree, config.format)?;
        let mut state = ChainState::load(&tree, layout)?;
        if !state.tree_complete() {
            build_tree(&db, &tree, layout, &mut state)?;
        }

        let head = Head {
            seq: state.last_seq,
            hash: state.last_hash,
            root: state.tree.root(),
        };
        let shared = Arc::new(Shared {
            db,
            tree,
            projections,
            clock: config.clock.clone(),
            durable_seq: AtomicU64::new(state.last_seq),
            durable_head: Mutex::new(head),
            failure: Mutex::new(None),
            write_error: Mutex::new(None),
            stats: WriteCounters::default(),
            vault: Arc::new(crate::vault::Vault::open(&path)?),
            layout,
            blocks: BlockCache::default(),
            path,
            _lock: lock,
        });
        // With a database the commit there is what an acknowledgement waits for; the folder
        // is rebuilt from it after a crash.
        let durability = match config.upstream {
            Some(_) => Durability::Flush,
            None => config.durability,
        };
        let sync_file = match durability {
            Durability::Flush => None,
            Durability::FlushAndSync => {
                let file = shared.path.join("log").join("db");
                Some(File::open(&file).map_err(|source| StoreError::Io { path: file, source })?)
            }
        };
        let (tx, rx) = mpsc::channel(config.queue_depth);
        let (head_tx, head_rx) = watch::channel(state.last_seq);
        let (flush_tx, flush_rx) = std::sync::mpsc::sync_channel(MAX_UNFLUSHED_GROUPS);
        let durability = Arc::new(Durable {
            shared: shared.clone(),
            head_tx,
            sync_file,
            in_flight: AtomicUsize::new(0),
            replica: config.upstream.is_some(),
        });
        let flusher = Flusher {
            rx: flush_rx,
            durability: durability.clone(),
        };
        let writer = Writer {
            shared: shared.clone(),
            rx,
            flush_tx,
            durability,
            state,
            heads: HashMap::new(),
            upstream: None,
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let upstream = config.upstream.clone();
        let folder = shared.path.clone();
        let spawn_error = |source| StoreError::Io {
            path: folder.clone(),
            source,
        };
        let flusher = std::thread::Builder::new()
            .name("dealtrail-flusher".into())
            .spawn(move || flusher.run())
            .map_err(spawn_error)?;
        let mut mark = [0u8; 8];
        getrandom::fill(&mut mark).map_err(|e| StoreError::Io {
            path: folder.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let origin = crate::heads::hex(&mark);
        let start = upstream.clone().map(|url| crate::writer::Start {
            url,
            origin: origin.clone(),
            ready: ready_tx,
        });
        let handle = std::thread::Builder::new()
            .name("dealtrail-writer".into())
            .spawn(move || writer.run(start))
            .map_err(spawn_error)?;
        let follower_tx = tx.downgrade();
        let store = Store {
            inner: Arc::new(Inner {
                shared,
                tx: Mutex::new(Some(tx)),
                threads: Mutex::new(vec![handle, flusher]),
                head_rx,
                cache_capacity,
                upstream: upstream.clone(),
            }),
        };
        if let Some(url) = upstream {
            // The writer connects and copies what the folder lacks before anything is read.
            let ready = ready_rx.recv().unwrap_or(Err(StoreError::Closed));
            if let Err(e) = ready {
                let _ = store.inner.shut_down();
                return Err(e);
            }
            store
                .inner
                .shared
                .vault
                .link(crate::pgkeys::KeyLink::start(&url).map_err(spawn_error)?);
            crate::pg::follow(
                url,
                origin,
                store.inner.shared.vault.clone(),
                store.head_watch(),
                follower_tx,
            )
            .map_err(spawn_error)?;
        }
        Ok(store)
    }

    /// Bytes of sled's page cache this store was opened with.
    pub fn cache_capacity(&self) -> u64 {
        self.inner.cache_capacity
    }

    /// The database holding the log of record, when the folder is its replica.
    pub fn upstream_url(&self) -> Option<&str> {
        self.inner.upstream.as_deref()
    }

    /// The stored bytes of the durable events from `from` to `to`, by sequence number, as
    /// the database keeps them too: read in log order, each block decompressed once.
    pub(crate) fn record_bytes(
        &self,
        from: u64,
        to: u64,
    ) -> Result<std::collections::HashMap<u64, Vec<u8>>, StoreError> {
        let mut out = std::collections::HashMap::new();
        let shared = &self.inner.shared;
        let to = to.min(self.durable_seq());
        shared
            .layout
            .for_each(&shared.tree, from.max(1), to, |seq, bytes| {
                out.insert(seq, bytes.to_vec());
                Ok::<_, StoreError>(())
            })?;
        Ok(out)
    }

    /// The folder's store format.
    pub fn format(&self) -> u32 {
        match self.inner.shared.layout {
            Layout::Keys => 1,
            Layout::Blocks => 2,
        }
    }

    /// The folder's personal-data keys.
    pub fn vault(&self) -> &crate::vault::Vault {
        &self.inner.shared.vault
    }

    /// Opens a folder with the default configuration.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open(Config::new(path.as_ref()))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub(crate) fn head_watch(&self) -> watch::Receiver<u64> {
        self.inner.head_rx.clone()
    }

    fn sender(&self) -> Result<mpsc::Sender<Work>, StoreError> {
        self.inner
            .tx
            .lock()
            .ok()
            .and_then(|tx| tx.clone())
            .ok_or(StoreError::Closed)
    }

    /// Appends a batch to one stream; returns once it is flushed to disk (or refused).
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Work::Append(Job { request, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Appends to many streams at once: the bulk path of imports and generators. The writer
    /// takes them into one group, so they share one hand-off and one flush; each request is
    /// still decided alone, exactly as by [`Store::append`], and its outcome is at its place
    /// in the answer.
    pub async fn append_many(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<AppendOutcome, StoreError>>, StoreError> {
        let (jobs, answers): (Vec<Job>, Vec<_>) = requests
            .into_iter()
            .map(|request| {
                let (reply, answer) = oneshot::channel();
                (Job { request, reply }, answer)
            })
            .unzip();
        self.sender()?
            .send(Work::Many(jobs))
            .await
            .map_err(|_| StoreError::Closed)?;
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(answer.await.map_err(|_| StoreError::Closed)?);
        }
        Ok(out)
    }

    /// [`Store::append`] for callers outside an async runtime (it panics inside one).
    pub fn append_blocking(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .blocking_send(Work::Append(Job { request, reply }))
            .map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Writes envelopes copied from another dealtrail log (a backup) exactly as they were,
    /// hashes included, after checking that each one continues this log; returns the new
    /// head. Outside an async runtime only (it panics inside one).
    pub fn restore_blocking(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .blocking_send(Work::Restore(RestoreJob { events, reply }))
            .map_err(|_| StoreError::Closed)?;
        answer.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Stops the writer after the queued appends, and flushes. Later appends get `Closed`.
    /// Fails if the flush fails, or if an earlier write or flush failed: what is on disk
    /// may then lack work that callers were told about, or were refused.
    pub fn close(&self) -> Result<(), StoreError> {
        self.inner.shut_down()?;
        match self.inner.shared.failure() {
            Some(reason) => Err(StoreError::WriterFailed(reason)),
            None => Ok(()),
        }
    }

    /// Why appends fail: a flush failed and the writer stopped (see
    /// [`StoreError::WriterFailed`]; a restart is needed), or the last batch could not be
    /// written (cleared when one is); `None` while it writes.
    pub fn write_failure(&self) -> Option<String> {
        let shared = &self.inner.shared;
        shared
            .failure()
            .or_else(|| shared.write_error.lock().ok().and_then(|e| e.clone()))
    }

    /// What the writer has done since the store was opened.
    pub fn write_stats(&self) -> WriteStats {
        let c = &self.inner.shared.stats;
        WriteStats {
            events: c.events.load(Ordering::Relaxed),
            groups_by_size: std::array::from_fn(|i| c.groups[i].load(Ordering::Relaxed)),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
        }
    }

    /// Records that a write failed in the storage engine outside the writer (a caller's
    /// reads before its append, say), so that [`Store::write_failure`] tells of it until the
    /// next batch is applied.
    pub fn report_write_error(&self, reason: String) {
        self.inner.shared.set_write_error(Some(reason));
    }

    /// The data folder.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    /// The last durable event's sequence number and hash.
    pub fn head(&self) -> Head {
        self.inner
            .shared
            .durable_head
            .lock()
            .map(|h| *h)
            .unwrap_or(Head {
                seq: self.durable_seq(),
                hash: ChainHash::GENESIS,
                root: crate::tree::empty_root(),
            })
    }

    pub(crate) fn durable_seq(&self) -> u64 {
        self.inner.shared.durable_seq.load(Ordering::Acquire)
    }
}

/// Builds the Merkle tree of a folder written before the tree existed, once, on its first
/// open: one pass over the log, in batches, then the tree head.
fn build_tree(
    db: &sled::Db,
    tree: &sled::Tree,
    layout: Layout,
    state: &mut ChainState,
) -> Result<(), StoreError> {
    const BATCH: u64 = 50_000;
    tracing::info!(
        events = state.last_seq,
        "building the Merkle tree of a folder written before it (once)"
    );
    let mut built = ChainState {
        tree: crate::tree::Frontier::default(),
        ..*state
    };
    let mut batch = sled::Batch::default();
    layout.for_each(tree, 1, state.last_seq, |seq, bytes| {
        if seq != built.tree.size() + 1 {
            return Err(StoreError::corrupt(
                format!("seq {}", built.tree.size() + 1),
                "missing while building the Merkle tree",
            ));
        }
        let hash = codec::stored_hash(bytes)
            .ok_or_else(|| StoreError::corrupt(format!("seq {seq}"), "short record"))?;
        built.push_leaf(&hash, &mut batch);
        if seq.is_multiple_of(BATCH) {
            tree.apply_batch(std::mem::take(&mut batch))?;
            tracing::info!(done = seq, of = state.last_seq, "building the Merkle tree");
        }
        Ok(())
    })?;
    if built.tree.size() != state.last_seq {
        return Err(StoreError::corrupt(
            "log",
            "events missing while building the Merkle tree",
        ));
    }
    batch.insert(codec::META_TREE, &built.tree_head().encode()[..]);
    tree.apply_batch(batch)?;
    db.flush()?;
    tracing::info!(events = state.last_seq, "the Merkle tree is built");
    *state = built;
    Ok(())
}

/// The folder's layout, by its format key; an empty folder is given `new_format`.
fn check_format(db: &sled::Db, tree: &sled::Tree, new_format: u32) -> Result<Layout, StoreError> {
    let unsupported = |found| StoreError::IncompatibleFormat {
        found,
        supported: FORMAT_VERSION,
    };
    let found = match tree.get(codec::META_FORMAT)? {
        Some(bytes) => <[u8; 4]>::try_from(bytes.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::corrupt("format version", "expected 4 bytes"))?,
        None if tree.is_empty() => {
            if !SUPPORTED_FORMATS.contains(&new_format) {
                return Err(unsupported(new_format));
            }
            tree.insert(codec::META_FORMAT, &new_format.to_be_bytes())?;
            db.flush()?;
            new_format
        }
        None => {
            return Err(StoreError::corrupt(
                "format version",
                "the log holds data but no format version",
            ));
        }
    };
    Layout::of_format(found).ok_or_else(|| unsupported(found))
}

/// Opens sled, waiting out its own file lock for a moment.
///
/// Holding `LOCK` proves no other store has the folder, so a conflict on sled's lock can only
/// be a previous handle of this process whose background threads have not yet let go of the
/// file (sled's own test suite blocks on the lock for the same reason). Waiting is bounded.
fn open_sled(config: &sled::Config) -> Result<sled::Db, StoreError> {
    const ATTEMPTS: u32 = 300;
    let mut attempt = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if attempt < ATTEMPTS && e.to_string().contains("could not acquire lock") =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}
