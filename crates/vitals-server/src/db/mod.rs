//! The embedded SQLite database of the reference server.
//!
//! [`Db`] is a cheap-to-clone handle on a small pool of [`rusqlite::Connection`]s. Every query
//! runs on tokio's blocking thread pool ([`tokio::task::spawn_blocking`]), so request handlers
//! never block the async runtime.
//!
//! On a file database the connections use WAL journaling (readers do not block the writer), a
//! 5 s busy timeout and enforced foreign keys. `:memory:` databases use a single connection so
//! that every query sees the same data.
//!
//! The schema is versioned with `PRAGMA user_version`: [`Db::open`] applies the migrations the
//! file has not seen yet and seeds three demo organizations (`acme`, `globex`, `initech`, three
//! properties each) when the organizations table is empty.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, Row, TransactionBehavior, params};

mod model;
mod schema;
mod telemetry;

pub(crate) use model::*;
use schema::{configure, migrate, open_file_pool};
use telemetry::{DbMetrics, Query};

/// Number of connections of a file database's pool.
pub(super) const POOL_SIZE: usize = 4;

/// How long a connection waits for a lock held by another connection before failing.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// RFC 3339 UTC timestamp with milliseconds, computed by SQLite.
pub(super) const NOW_RFC3339: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
/// The connections, handed out round-robin (skipping busy ones when possible).
struct Pool {
    connections: Box<[Mutex<Connection>]>,
    next: AtomicUsize,
    metrics: DbMetrics,
}

impl Pool {
    fn acquire(&self) -> MutexGuard<'_, Connection> {
        let len = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % len;
        for offset in 0..len {
            match self.connections[(start + offset) % len].try_lock() {
                Ok(guard) => return guard,
                // A panic while holding a connection leaves no open transaction behind
                // (rusqlite rolls back on drop), so the connection is still usable.
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // Every connection is busy: wait for one, counted in `db_pool_waiters`.
        self.metrics.waiters.increment(1.0);
        let guard = self.connections[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.metrics.waiters.decrement(1.0);
        guard
    }
}

/// Handle on the server's SQLite database; clones share the same connection pool.
#[derive(Clone)]
pub(crate) struct Db {
    pool: Arc<Pool>,
    /// Every query runs through it: after repeated failures the database is not called and
    /// requests fail fast (503) until a trial call succeeds.
    breaker: vitals_axum::CircuitBreaker,
    /// Demo fault switch: while set, every query fails.
    fault: Arc<std::sync::atomic::AtomicBool>,
    /// Most properties one organization may hold (`VITALS_MAX_PROPERTIES_PER_ORG`).
    max_per_org: u64,
}

/// Default of `VITALS_MAX_PROPERTIES_PER_ORG`.
pub(crate) const DEFAULT_MAX_PROPERTIES_PER_ORG: u64 = 10_000;

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("connections", &self.pool.connections.len())
            .finish_non_exhaustive()
    }
}

/// Where the database lives, once the `sqlite:` URL prefix is removed.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Memory,
    File(PathBuf),
}

/// The file a database location names (`None` for `:memory:` or an invalid location).
pub(crate) fn file_of(location: &str) -> Option<PathBuf> {
    match parse_location(location) {
        Ok(Location::File(path)) => Some(path),
        _ => None,
    }
}

fn parse_location(location: &str) -> anyhow::Result<Location> {
    let location = location.trim();
    let strip = |prefix: &str| {
        location
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map(|_| &location[prefix.len()..])
    };
    let path = match strip("sqlite://").or_else(|| strip("sqlite:")) {
        // URL form: drop any `?mode=rwc`-style options.
        Some(rest) => rest.split_once('?').map_or(rest, |(path, _)| path),
        None => location,
    };
    if path.is_empty() {
        anyhow::bail!("the database location is empty");
    }
    if path == ":memory:" {
        Ok(Location::Memory)
    } else {
        Ok(Location::File(PathBuf::from(path)))
    }
}

/// The file behind `location`, or `None` for an in-memory database (or an invalid location).
pub(crate) fn file_path(location: &str) -> Option<PathBuf> {
    match parse_location(location).ok()? {
        Location::File(path) => Some(path),
        Location::Memory => None,
    }
}

impl Db {
    /// Opens (creating if needed) the database at `location`: a file path, a `sqlite:` or
    /// `sqlite://` URL, or `:memory:`. Creates missing parent directories, applies pending
    /// schema migrations and seeds the demo organizations into an empty database.
    ///
    /// This blocks the calling thread while SQLite opens and migrates the file; call it at
    /// startup. `VITALS_MAX_PROPERTIES_PER_ORG` (default 10,000, 1 to 10,000,000) caps the
    /// properties one organization may hold (a `POST` past it is a 409), so the table grows
    /// with the organizations the operator creates, not with what clients send.
    pub(crate) fn open(location: &str) -> anyhow::Result<Db> {
        let max_per_org = crate::settings::number(
            "VITALS_MAX_PROPERTIES_PER_ORG",
            DEFAULT_MAX_PROPERTIES_PER_ORG,
            1,
            10_000_000,
            "a count",
        )?;
        let connections = match parse_location(location)? {
            Location::Memory => {
                let mut connection =
                    Connection::open_in_memory().context("opening in-memory database")?;
                configure(&connection, false).context("configuring in-memory database")?;
                migrate(&mut connection).context("initializing in-memory database")?;
                vec![connection]
            }
            Location::File(path) => open_file_pool(&path)?,
        };
        Ok(Db {
            pool: Arc::new(Pool {
                connections: connections.into_iter().map(Mutex::new).collect(),
                next: AtomicUsize::new(0),
                metrics: DbMetrics::register(),
            }),
            breaker: vitals_axum::CircuitBreaker::new("database"),
            fault: Arc::default(),
            max_per_org,
        })
    }

    /// Sets the per-organization cap (tests).
    #[cfg(test)]
    pub(crate) fn with_max_per_org(mut self, max: u64) -> Self {
        self.max_per_org = max;
        self
    }

    /// Uses `breaker` for every query (default: a `database` breaker with fastify's defaults).
    #[must_use]
    pub(crate) fn with_breaker(mut self, breaker: vitals_axum::CircuitBreaker) -> Self {
        self.breaker = breaker;
        self
    }

    /// The breaker guarding the database.
    pub(crate) fn breaker(&self) -> &vitals_axum::CircuitBreaker {
        &self.breaker
    }

    /// Turns the demo fault on or off: while on, every query fails.
    pub(crate) fn set_fault(&self, on: bool) {
        self.fault.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, timing it as `query` in
    /// `db_query_duration_seconds`, inside a `db.query` span (a child of the request's span, so
    /// exported traces show each query under its request).
    async fn run<T, F>(&self, query: Query, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        let fault = Arc::clone(&self.fault);
        let operation = query.as_str();
        let span = tracing::info_span!(
            "db.query",
            otel.name = operation,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            db.system.name = "sqlite",
            db.operation.name = operation,
        );
        let query = async move {
            if fault.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(DbError::Injected);
            }
            tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                let mut connection = pool.acquire();
                let started = std::time::Instant::now();
                let result = f(&mut connection);
                pool.metrics.record(query, started.elapsed());
                if result.is_err() {
                    span.record("otel.status_code", "error");
                }
                result
            })
            .await
            .map_err(DbError::Task)?
        };
        match self.breaker.call(query).await {
            Ok(value) => Ok(value),
            Err(vitals_axum::BreakerError::Open { retry_after }) => {
                Err(DbError::Unavailable { retry_after })
            }
            Err(vitals_axum::BreakerError::Timeout) => Err(DbError::Timeout),
            Err(vitals_axum::BreakerError::Inner(e)) => Err(e),
        }
    }

    /// Runs `SELECT 1` (for health checks; the caller measures the latency).
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        self.run(Query::Ping, |conn| {
            conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    /// The ids of every organization (the reference server has a fixed few: its API creates
    /// properties, never organizations).
    pub(crate) async fn organization_ids(&self) -> Result<Vec<String>, DbError> {
        self.run(Query::OrganizationIds, |conn| {
            let mut stmt = conn.prepare("SELECT id FROM organizations ORDER BY id")?;
            let ids = stmt
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ids)
        })
        .await
    }

    /// Whether organization `org` exists.
    pub(crate) async fn org_exists(&self, org: &str) -> Result<bool, DbError> {
        let org = org.to_owned();
        self.run(Query::OrgExists, move |conn| Ok(org_exists(conn, &org)?))
            .await
    }

    /// Every property of `org`, oldest first; `None` when the organization does not exist.
    #[cfg(test)]
    pub(crate) async fn list_properties(
        &self,
        org: &str,
    ) -> Result<Option<Vec<Property>>, DbError> {
        Ok(self
            .list_page(org, 0, usize::MAX)
            .await?
            .map(|(page, _)| page))
    }

    /// At most `limit` properties of `org` with an id above `after`, oldest first, and
    /// whether more follow; `None` when the organization does not exist.
    pub(crate) async fn list_page(
        &self,
        org: &str,
        after: i64,
        limit: usize,
    ) -> Result<Option<(Vec<Property>, bool)>, DbError> {
        let org = org.to_owned();
        // One row more than asked tells whether another page follows.
        let take = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        self.run(Query::ListProperties, move |conn| {
            let tx = conn.transaction()?;
            if !org_exists(&tx, &org)? {
                return Ok(None);
            }
            let mut properties = {
                let mut statement = tx.prepare_cached(
                    "SELECT id, org_id, name, address, units, created_at
                     FROM properties WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                )?;
                statement
                    .query_map(params![org, after, take], property_from_row)?
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            let more = properties.len() > limit;
            properties.truncate(limit);
            Ok(Some((properties, more)))
        })
        .await
    }

    /// Property `id` of `org`; `None` when the organization or the property (within that
    /// organization) does not exist.
    pub(crate) async fn get_property(
        &self,
        org: &str,
        id: i64,
    ) -> Result<Option<Property>, DbError> {
        let org = org.to_owned();
        self.run(Query::GetProperty, move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, org_id, name, address, units, created_at
                 FROM properties WHERE org_id = ?1 AND id = ?2",
            )?;
            Ok(statement
                .query_row(params![org, id], property_from_row)
                .optional()?)
        })
        .await
    }

    /// Validates `new` (see [`NewProperty::validate`]), then stores it with trimmed text fields.
    /// `None` when the organization does not exist; [`DbError::Validation`] when `new` is
    /// invalid.
    pub(crate) async fn create_property(
        &self,
        org: &str,
        new: NewProperty,
    ) -> Result<Option<Property>, DbError> {
        new.validate().map_err(DbError::Validation)?;
        let new = new.normalized();
        let org = org.to_owned();
        let limit = self.max_per_org;
        let created = self
            .run(Query::CreateProperty, move |conn| {
                // IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so the
                // read-then-write below cannot fail with a stale WAL snapshot, and the count
                // below cannot be passed by a concurrent insert.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if !org_exists(&tx, &org)? {
                    return Ok(None);
                }
                let held: i64 = tx
                    .prepare_cached("SELECT count(*) FROM properties WHERE org_id = ?1")?
                    .query_row([&org], |r| r.get(0))?;
                if u64::try_from(held).unwrap_or(0) >= limit {
                    return Ok(Some(Err(limit)));
                }
                let property = tx.query_row(
                    &format!(
                        "INSERT INTO properties (org_id, name, address, units, created_at)
                     VALUES (?1, ?2, ?3, ?4, {NOW_RFC3339})
                     RETURNING id, org_id, name, address, units, created_at"
                    ),
                    params![org, new.name, new.address, new.units],
                    property_from_row,
                )?;
                tx.commit()?;
                Ok(Some(Ok(property)))
            })
            .await?;
        match created {
            Some(Err(limit)) => Err(DbError::Full { limit }),
            Some(Ok(property)) => Ok(Some(property)),
            None => Ok(None),
        }
    }
}

fn org_exists(conn: &Connection, org: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = ?1)")?
        .query_row([org], |row| row.get(0))
}

fn property_from_row(row: &Row<'_>) -> rusqlite::Result<Property> {
    Ok(Property {
        id: row.get(0)?,
        organization_id: row.get(1)?,
        name: row.get(2)?,
        address: row.get(3)?,
        units: row.get(4)?,
        created_at: row.get(5)?,
    })
}

/// A database file in the system temp directory, deleted (with its WAL files) on drop.
#[cfg(test)]
pub(crate) struct TempDb {
    pub(crate) db: Db,
    pub(crate) path: PathBuf,
}

#[cfg(test)]
impl TempDb {
    pub(crate) fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "vitals-server-test-{}-{}-{nanos}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        ));
        let db = Db::open(path.to_str().expect("temp dir is UTF-8")).expect("open temp db");
        Self { db, path }
    }
}

#[cfg(test)]
impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

#[cfg(test)]
mod tests;
