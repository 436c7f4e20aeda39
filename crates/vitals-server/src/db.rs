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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

/// Number of connections of a file database's pool.
const POOL_SIZE: usize = 4;

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest accepted property name, in characters, after trimming.
pub(crate) const NAME_MAX_CHARS: usize = 200;
/// Longest accepted property address, in characters, after trimming.
pub(crate) const ADDRESS_MAX_CHARS: usize = 500;
/// Smallest accepted number of units.
pub(crate) const UNITS_MIN: i64 = 1;
/// Largest accepted number of units.
pub(crate) const UNITS_MAX: i64 = 100_000;

/// RFC 3339 UTC timestamp with milliseconds, computed by SQLite.
const NOW_RFC3339: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Schema migrations; migration `i` moves `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE organizations (
        id         TEXT PRIMARY KEY NOT NULL,
        name       TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE properties (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        address    TEXT NOT NULL,
        units      INTEGER NOT NULL CHECK (units BETWEEN 1 AND 100000),
        created_at TEXT NOT NULL
    );
    CREATE INDEX properties_org_id ON properties (org_id, id);
"];

/// A demo property: `(name, address, units)`.
type SeedProperty = (&'static str, &'static str, u32);

/// Demo organizations: `(id, display name, properties)`.
const SEED: &[(&str, &str, [SeedProperty; 3])] = &[
    (
        "acme",
        "Acme Corporation",
        [
            ("Roadrunner Lofts", "1 Desert Road, Phoenix, AZ 85001", 48),
            ("Anvil Court", "220 Canyon Street, Tucson, AZ 85701", 12),
            ("Mesa Gardens", "77 Mesa Boulevard, Flagstaff, AZ 86001", 96),
        ],
    ),
    (
        "globex",
        "Globex Corporation",
        [
            (
                "Cypress Creek Towers",
                "500 Cypress Creek Parkway, Springfield, OR 97477",
                240,
            ),
            (
                "Hank's Hammocks",
                "12 Scorpio Lane, Springfield, OR 97478",
                8,
            ),
            ("Volcano View", "9 Lair Drive, Eugene, OR 97401", 36),
        ],
    ),
    (
        "initech",
        "Initech",
        [
            (
                "TPS Residences",
                "4120 Freidrich Lane, Austin, TX 78744",
                64,
            ),
            (
                "Swingline Suites",
                "18 Stapler Street, Austin, TX 78701",
                20,
            ),
            (
                "Chotchkie's Commons",
                "300 Flair Avenue, Round Rock, TX 78664",
                30,
            ),
        ],
    ),
];

/// A property (a building) owned by an organization, as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Property {
    /// Database id, unique across organizations.
    pub(crate) id: i64,
    /// Id (slug) of the owning organization.
    pub(crate) organization_id: String,
    /// Display name.
    pub(crate) name: String,
    /// Postal address.
    pub(crate) address: String,
    /// Number of rentable units.
    pub(crate) units: u32,
    /// Creation time, RFC 3339 (UTC).
    pub(crate) created_at: String,
}

/// The fields a client supplies to create a [`Property`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewProperty {
    /// Display name, 1..=200 characters after trimming.
    pub(crate) name: String,
    /// Postal address, 1..=500 characters after trimming.
    pub(crate) address: String,
    /// Number of units, 1..=100000.
    pub(crate) units: u32,
}

impl NewProperty {
    /// Checks every field; on failure lists one [`FieldError`] per offending field.
    pub(crate) fn validate(&self) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = [
            validate_name(&self.name)
                .err()
                .map(|m| FieldError::new("name", m)),
            validate_address(&self.address)
                .err()
                .map(|m| FieldError::new("address", m)),
            validate_units(i64::from(self.units))
                .err()
                .map(|m| FieldError::new("units", m)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The same property with surrounding whitespace removed from the text fields.
    fn normalized(self) -> Self {
        Self {
            name: self.name.trim().to_owned(),
            address: self.address.trim().to_owned(),
            units: self.units,
        }
    }
}

/// Checks a property name (trimmed length 1..=200 characters).
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    validate_text(name, NAME_MAX_CHARS)
}

/// Checks a property address (trimmed length 1..=500 characters).
pub(crate) fn validate_address(address: &str) -> Result<(), String> {
    validate_text(address, ADDRESS_MAX_CHARS)
}

/// Checks a number of units (1..=100000).
pub(crate) fn validate_units(units: i64) -> Result<(), String> {
    if (UNITS_MIN..=UNITS_MAX).contains(&units) {
        Ok(())
    } else {
        Err(format!("must be between {UNITS_MIN} and {UNITS_MAX}"))
    }
}

fn validate_text(value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.trim().chars().count();
    if chars == 0 {
        Err("must not be empty".to_owned())
    } else if chars > max_chars {
        Err(format!(
            "must be at most {max_chars} characters (got {chars})"
        ))
    } else {
        Ok(())
    }
}

/// One invalid field of a request body: serialized as `{"field": .., "message": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FieldError {
    /// JSON name of the field (`name`, `address`, `units`, or `body` for the whole document).
    pub(crate) field: String,
    /// What is wrong with it, e.g. `must not be empty`.
    pub(crate) message: String,
}

impl FieldError {
    /// A field error.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a database operation failed.
///
/// `Display` never includes SQL text or file paths, so it is safe to show to clients; the
/// underlying SQLite error is available through [`std::error::Error::source`] and `Debug`, for
/// logs.
#[derive(Debug)]
pub(crate) enum DbError {
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
    /// The blocking task running the query panicked or was cancelled.
    Task(tokio::task::JoinError),
    /// The input failed validation; nothing was written.
    Validation(Vec<FieldError>),
    /// The circuit breaker is open: the database was not called.
    Unavailable {
        /// When a call may be tried again.
        retry_after: std::time::Duration,
    },
    /// The call took longer than the breaker's call timeout.
    Timeout,
    /// A failure injected through the demo fault switch.
    Injected,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(_) => f.write_str("database query failed"),
            Self::Task(_) => f.write_str("database task failed"),
            Self::Unavailable { .. } => f.write_str("database unavailable (circuit open)"),
            Self::Timeout => f.write_str("database call timed out"),
            Self::Injected => f.write_str("database query failed (injected fault)"),
            Self::Validation(errors) => {
                f.write_str("invalid input")?;
                for (i, error) in errors.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{} {}", error.field, error.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sqlite(e) => Some(e),
            Self::Task(e) => Some(e),
            Self::Validation(_) | Self::Unavailable { .. } | Self::Timeout | Self::Injected => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error)
    }
}

/// The connections, handed out round-robin (skipping busy ones when possible).
struct Pool {
    connections: Box<[Mutex<Connection>]>,
    next: AtomicUsize,
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
        self.connections[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
}

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

impl Db {
    /// Opens (creating if needed) the database at `location`: a file path, a `sqlite:` or
    /// `sqlite://` URL, or `:memory:`. Creates missing parent directories, applies pending
    /// schema migrations and seeds the demo organizations into an empty database.
    ///
    /// This blocks the calling thread while SQLite opens and migrates the file; call it at
    /// startup.
    pub(crate) fn open(location: &str) -> anyhow::Result<Db> {
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
            }),
            breaker: vitals_axum::CircuitBreaker::new("database"),
            fault: Arc::default(),
        })
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

    /// Runs `f` with a pooled connection on the blocking thread pool.
    async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        let fault = Arc::clone(&self.fault);
        let query = async move {
            if fault.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(DbError::Injected);
            }
            tokio::task::spawn_blocking(move || {
                let mut connection = pool.acquire();
                f(&mut connection)
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
        self.run(|conn| {
            conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    /// Whether organization `org` exists.
    pub(crate) async fn org_exists(&self, org: &str) -> Result<bool, DbError> {
        let org = org.to_owned();
        self.run(move |conn| Ok(org_exists(conn, &org)?)).await
    }

    /// The properties of `org`, oldest first; `None` when the organization does not exist.
    pub(crate) async fn list_properties(
        &self,
        org: &str,
    ) -> Result<Option<Vec<Property>>, DbError> {
        let org = org.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction()?;
            if !org_exists(&tx, &org)? {
                return Ok(None);
            }
            let properties = {
                let mut statement = tx.prepare_cached(
                    "SELECT id, org_id, name, address, units, created_at
                     FROM properties WHERE org_id = ?1 ORDER BY id",
                )?;
                statement
                    .query_map([&org], property_from_row)?
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok(Some(properties))
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
        self.run(move |conn| {
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
        self.run(move |conn| {
            // IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so the
            // read-then-write below cannot fail with a stale WAL snapshot.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !org_exists(&tx, &org)? {
                return Ok(None);
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
            Ok(Some(property))
        })
        .await
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

fn open_file_pool(path: &Path) -> anyhow::Result<Vec<Connection>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
    }
    let open = || -> anyhow::Result<Connection> {
        let connection = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        configure(&connection, true)
            .with_context(|| format!("configuring database {}", path.display()))?;
        Ok(connection)
    };
    let mut first = open()?;
    migrate(&mut first).with_context(|| format!("migrating database {}", path.display()))?;
    let mut connections = vec![first];
    for _ in 1..POOL_SIZE {
        connections.push(open()?);
    }
    Ok(connections)
}

/// Per-connection settings.
fn configure(connection: &Connection, wal: bool) -> anyhow::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    if wal {
        let mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "SQLite refused WAL journal mode");
        }
        // Durable across application crashes; WAL makes NORMAL safe against corruption.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(())
}

/// Applies pending migrations and seeds an empty database, in one write transaction.
fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = i64::try_from(MIGRATIONS.len())?;
    if version > known {
        anyhow::bail!(
            "database schema version {version} is newer than this server supports ({known})"
        );
    }
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let target = i64::try_from(index)? + 1;
        if target > version {
            tx.execute_batch(migration)
                .with_context(|| format!("applying schema migration {target}"))?;
            tracing::info!(version = target, "applied database schema migration");
        }
    }
    tx.pragma_update(None, "user_version", known)?;

    let organizations: i64 =
        tx.query_row("SELECT COUNT(*) FROM organizations", [], |row| row.get(0))?;
    if organizations == 0 {
        seed(&tx).context("seeding demo organizations")?;
        tracing::info!("seeded demo organizations");
    }
    tx.commit()?;
    Ok(())
}

fn seed(conn: &Connection) -> rusqlite::Result<()> {
    let mut insert_org = conn.prepare(&format!(
        "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, {NOW_RFC3339})"
    ))?;
    let mut insert_property = conn.prepare(&format!(
        "INSERT INTO properties (org_id, name, address, units, created_at)
         VALUES (?1, ?2, ?3, ?4, {NOW_RFC3339})"
    ))?;
    for (org, display_name, properties) in SEED {
        insert_org.execute(params![org, display_name])?;
        for (name, address, units) in properties {
            insert_property.execute(params![org, name, address, units])?;
        }
    }
    Ok(())
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
mod tests {
    use super::*;

    fn new_property(name: &str, address: &str, units: u32) -> NewProperty {
        NewProperty {
            name: name.to_owned(),
            address: address.to_owned(),
            units,
        }
    }

    #[test]
    fn parses_locations() {
        let file = |p: &str| Location::File(PathBuf::from(p));
        assert_eq!(parse_location("data/v.db").unwrap(), file("data/v.db"));
        assert_eq!(
            parse_location("sqlite:data/v.db").unwrap(),
            file("data/v.db")
        );
        assert_eq!(
            parse_location("sqlite://data/v.db").unwrap(),
            file("data/v.db")
        );
        assert_eq!(
            parse_location("sqlite:///tmp/v.db").unwrap(),
            file("/tmp/v.db")
        );
        assert_eq!(
            parse_location("SQLITE://v.db?mode=rwc").unwrap(),
            file("v.db")
        );
        assert_eq!(parse_location(":memory:").unwrap(), Location::Memory);
        assert_eq!(parse_location("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(
            parse_location("sqlite://:memory:").unwrap(),
            Location::Memory
        );
        assert!(parse_location("").is_err());
        assert!(parse_location("sqlite://").is_err());
    }

    #[tokio::test]
    async fn seeds_three_orgs_with_three_properties_each() {
        let temp = TempDb::new();
        for org in ["acme", "globex", "initech"] {
            assert!(temp.db.org_exists(org).await.unwrap());
            let properties = temp.db.list_properties(org).await.unwrap().unwrap();
            assert_eq!(properties.len(), 3, "{org}");
            for property in &properties {
                assert_eq!(property.organization_id, org);
                assert!(
                    property.created_at.ends_with('Z'),
                    "{}",
                    property.created_at
                );
                assert!(property.units >= 1);
            }
        }
        temp.db.ping().await.unwrap();
    }

    #[tokio::test]
    async fn reopening_does_not_seed_twice_and_keeps_data() {
        let temp = TempDb::new();
        let created = temp
            .db
            .create_property("acme", new_property("Extra", "1 Main St", 5))
            .await
            .unwrap()
            .unwrap();
        let reopened = Db::open(&format!("sqlite://{}", temp.path.display())).unwrap();
        let acme = reopened.list_properties("acme").await.unwrap().unwrap();
        assert_eq!(acme.len(), 4);
        assert_eq!(acme.last(), Some(&created));
        assert_eq!(
            reopened
                .list_properties("globex")
                .await
                .unwrap()
                .unwrap()
                .len(),
            3
        );
    }

    #[tokio::test]
    async fn unknown_org_is_none() {
        let temp = TempDb::new();
        assert!(!temp.db.org_exists("nope").await.unwrap());
        assert_eq!(temp.db.list_properties("nope").await.unwrap(), None);
        assert_eq!(temp.db.get_property("nope", 1).await.unwrap(), None);
        assert_eq!(
            temp.db
                .create_property("nope", new_property("A", "B", 1))
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn create_then_get() {
        let temp = TempDb::new();
        let created = temp
            .db
            .create_property("globex", new_property("  New Tower ", " 2 Side St ", 120))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(created.organization_id, "globex");
        assert_eq!(created.name, "New Tower");
        assert_eq!(created.address, "2 Side St");
        assert_eq!(created.units, 120);
        assert!(created.id > 9);
        let fetched = temp.db.get_property("globex", created.id).await.unwrap();
        assert_eq!(fetched.as_ref(), Some(&created));
        // Property ids are scoped by organization.
        assert_eq!(
            temp.db.get_property("acme", created.id).await.unwrap(),
            None
        );
        assert_eq!(temp.db.get_property("globex", 999_999).await.unwrap(), None);
    }

    #[tokio::test]
    async fn validation_reports_each_field_and_writes_nothing() {
        let temp = TempDb::new();
        let invalid = new_property("   ", &"x".repeat(501), 0);
        let Err(DbError::Validation(errors)) = temp.db.create_property("acme", invalid).await
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "address", "units"]);
        assert_eq!(errors[0].message, "must not be empty");
        assert_eq!(
            temp.db
                .list_properties("acme")
                .await
                .unwrap()
                .unwrap()
                .len(),
            3
        );

        assert!(new_property(&"é".repeat(200), "a", 1).validate().is_ok());
        assert!(new_property(&"é".repeat(201), "a", 1).validate().is_err());
        assert!(new_property("a", "a", 100_000).validate().is_ok());
        assert!(new_property("a", "a", 100_001).validate().is_err());
    }

    #[tokio::test]
    async fn memory_database_is_shared_by_clones() {
        let db = Db::open(":memory:").unwrap();
        let clone = db.clone();
        let created = db
            .create_property("initech", new_property("Mem", "Ram Rd", 3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            clone.get_property("initech", created.id).await.unwrap(),
            Some(created)
        );
    }

    #[test]
    fn errors_do_not_leak_sql() {
        let error = DbError::from(rusqlite::Error::InvalidQuery);
        assert_eq!(error.to_string(), "database query failed");
        assert!(std::error::Error::source(&error).is_some());
    }
}
