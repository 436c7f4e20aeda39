//! The SQLite history store: opening, the schema, and the configuration of tiers and size.

mod active;
mod prune;
mod query;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::OpenError;
use crate::model::SeriesKey;

pub use active::MAX_ACTIVE_ALERTS;
pub use query::{GaugeStat, History, HistoryPoint, HistoryRequest, MAX_POINTS, SystemHistoryPoint};
pub(crate) use write::Row;
pub use write::{MAX_ALERTS_PER_BATCH, MAX_POINTS_PER_BATCH, WriteReport};

/// Schema version written in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    method TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (kind, method, name)
);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL,
    tier INTEGER NOT NULL,
    t INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors_5xx INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    sum_us INTEGER NOT NULL,
    max_us INTEGER NOT NULL,
    buckets BLOB NOT NULL,
    PRIMARY KEY (series, tier, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS system (
    tier INTEGER NOT NULL,
    t INTEGER NOT NULL,
    rss_sum REAL, rss_n INTEGER, rss_max REAL,
    heap_sum REAL, heap_n INTEGER, heap_max REAL,
    cpu_sum REAL, cpu_n INTEGER, cpu_max REAL,
    busy_sum REAL, busy_n INTEGER, busy_max REAL,
    delay_sum REAL, delay_n INTEGER, delay_max REAL,
    PRIMARY KEY (tier, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    id TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    transition TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS active_alerts (
    rule TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    value REAL,
    threshold REAL,
    firing_since_ms INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    instance TEXT NOT NULL,
    service TEXT NOT NULL
) WITHOUT ROWID;
";

/// A resolution of the history: the tier a point is stored in and the step a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Step {
    /// Every tier, finest first.
    pub const ALL: [Step; 3] = [Step::Minute, Step::Hour, Step::Day];

    /// Seconds in one step.
    #[must_use]
    pub fn seconds(self) -> i64 {
        match self {
            Step::Minute => 60,
            Step::Hour => 3_600,
            Step::Day => 86_400,
        }
    }

    /// Minutes in one step.
    pub(crate) fn minutes(self) -> i64 {
        self.seconds() / 60
    }

    /// The tier number stored in the `tier` column.
    pub(crate) fn tier(self) -> i64 {
        self as i64
    }

    /// `1m`, `1h` or `1d`.
    ///
    /// ```
    /// use vitals_store::Step;
    /// assert_eq!(Step::parse("1h"), Some(Step::Hour));
    /// assert_eq!(Step::parse("2h"), None);
    /// ```
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1m" => Some(Step::Minute),
            "1h" => Some(Step::Hour),
            "1d" => Some(Step::Day),
            _ => None,
        }
    }

    /// The step holding unix minute `minute`, in this step's unit.
    pub(crate) fn of_minute(self, minute: i64) -> i64 {
        minute.div_euclid(self.minutes())
    }
}

/// How long each tier keeps its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Minute points (default 7 days).
    pub minutes: Duration,
    /// Hour points (default 90 days).
    pub hours: Duration,
    /// Day points and alert transitions (default 2 years).
    pub days: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Retention {
            minutes: Duration::from_secs(7 * DAY),
            hours: Duration::from_secs(90 * DAY),
            days: Duration::from_secs(730 * DAY),
        }
    }
}

impl Retention {
    /// How long `step`'s tier keeps its points.
    #[must_use]
    pub fn of(&self, step: Step) -> Duration {
        match step {
            Step::Minute => self.minutes,
            Step::Hour => self.hours,
            Step::Day => self.days,
        }
    }

    /// Retention of `step`'s tier in its own unit (at least one step).
    pub(crate) fn steps(&self, step: Step) -> i64 {
        let secs = i64::try_from(self.of(step).as_secs()).unwrap_or(i64::MAX);
        (secs / step.seconds()).max(1)
    }
}

/// Settings of a [`Store`].
///
/// ```
/// use std::time::Duration;
/// use vitals_store::{Retention, StoreConfig};
///
/// let config = StoreConfig::default()
///     .max_bytes(256 << 20)
///     .retention(Retention { minutes: Duration::from_secs(86_400), ..Retention::default() });
/// assert_eq!(config.max_bytes, 256 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long each tier keeps its points.
    pub retention: Retention,
    /// Largest size of the database's live pages, bytes (default 1 GiB, at least 1 MiB). Past
    /// it, the oldest points are pruned, finest tier first (see [`Store::write_minute`]). The
    /// WAL file adds at most 16 MiB on top.
    pub max_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Retention::default(),
            max_bytes: 1 << 30,
        }
    }
}

impl StoreConfig {
    /// Sets [`StoreConfig::retention`].
    #[must_use]
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Sets [`StoreConfig::max_bytes`] (raised to 1 MiB if smaller).
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes.max(MIN_MAX_BYTES);
        self
    }
}

/// Smallest size bound accepted: a minute of a large service must fit.
const MIN_MAX_BYTES: u64 = 1 << 20;

/// Writer state: the connection and what it caches.
struct Writer {
    conn: Connection,
    /// Series ids seen; bounded by the series table, cleared whenever series are pruned.
    ids: HashMap<SeriesKey, i64>,
    /// Unix hour of the last retention pass.
    pruned_hour: Option<i64>,
}

/// The history store. `Send + Sync`: share it in an `Arc` and
/// call it from blocking threads (`spawn_blocking`), never from the request path.
///
/// One table holds every request point, keyed `(series, tier, t)` so that a series' history in
/// one tier is one contiguous range of the B-tree (`WITHOUT ROWID`: the key is the row's
/// place, no second index). `t` counts the tier's unit since the unix epoch (minutes, hours,
/// days). Each minute's batch is added to its minute row and to the hour and day rows holding
/// it, in one transaction, so every tier is always complete up to the last written minute and
/// a crash loses at most the batch in progress.
///
/// The file is opened in WAL mode with `synchronous=NORMAL` (a commit is durable once the WAL
/// is checkpointed; a crash of the process never corrupts it) and `auto_vacuum=INCREMENTAL`
/// (pruned pages go back to the file system). Two connections: one writes, one reads, so a
/// history query never waits for the minute's write (WAL readers see the last commit).
pub struct Store {
    path: PathBuf,
    config: StoreConfig,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// Opens (or creates) the store at `path`, checking that it is a store this version reads
    /// and that it can be written. A corrupt, read-only or locked file is an [`OpenError`]
    /// naming the file and the reason, so the caller can log it and serve on without history.
    ///
    /// ```
    /// use vitals_store::{Store, StoreConfig};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(dir.path().join("vitals.db"), StoreConfig::default()).unwrap();
    /// assert!(store.list_series().unwrap().is_empty());
    /// ```
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, OpenError> {
        let path = path.as_ref().to_path_buf();
        let config = config.max_bytes(config.max_bytes);
        let fail = |e: rusqlite::Error| OpenError::classify(path.clone(), e);
        let conn = open_writer(&path).map_err(fail)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(fail)?;
        if found > SCHEMA_VERSION {
            return Err(OpenError::NewerSchema {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; \
             INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_at', unixepoch()); COMMIT;"
        ))
        .map_err(fail)?;
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            Ok(c)
        })
        .map_err(fail)?;
        Ok(Store {
            path,
            config,
            writer: Mutex::new(Writer {
                conn,
                ids: HashMap::new(),
                pruned_hour: None,
            }),
            reader: Mutex::new(reader),
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }
}

fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Every statement of a write and a pruning pass stays prepared.
    conn.set_prepared_statement_cache_capacity(64);
    // Takes effect only on a new file (before the first table); harmless afterwards.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // A read-only file cannot switch to WAL; report it as SQLite would for a write.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some(format!("cannot switch the journal to WAL (still {mode})")),
        ));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", 16i64 << 20)?;
    Ok(conn)
}
