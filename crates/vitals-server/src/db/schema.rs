//! The schema: connection settings, versioned migrations (`PRAGMA user_version`) and the demo
//! organizations seeded into an empty database.

use std::path::Path;

use anyhow::Context as _;
use rusqlite::{Connection, TransactionBehavior, params};

use super::{BUSY_TIMEOUT, NOW_RFC3339, POOL_SIZE};

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

pub(super) fn open_file_pool(path: &Path) -> anyhow::Result<Vec<Connection>> {
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
pub(super) fn configure(connection: &Connection, wal: bool) -> anyhow::Result<()> {
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
pub(super) fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
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
