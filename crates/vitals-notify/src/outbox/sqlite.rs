//! A durable outbox in a SQLite database (the reference server's own file, or another).

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

use super::{Outbox, OutboxError};
use crate::envelope::Envelope;

/// Dead letters kept per channel; older ones are deleted (the table stays bounded).
const DEAD_LETTERS_KEPT: i64 = 100;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS vitals_notify_outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    channel  TEXT NOT NULL,
    id       TEXT NOT NULL,
    envelope TEXT NOT NULL,
    state    TEXT NOT NULL DEFAULT 'pending',
    reason   TEXT,
    updated  INTEGER NOT NULL,
    UNIQUE (channel, id)
);
CREATE INDEX IF NOT EXISTS vitals_notify_outbox_state ON vitals_notify_outbox (channel, state, seq);
";

/// An outbox over SQLite: table `vitals_notify_outbox`, created if missing. Pending envelopes
/// survive a restart; dead letters stay (state `dead`, the last 100 per channel).
///
/// ```
/// use vitals_notify::{Envelope, EnvelopeKind, Notification, Outbox, SqliteOutbox};
/// let outbox = SqliteOutbox::from_connection(rusqlite::Connection::open_in_memory().unwrap()).unwrap();
/// let e = Envelope::new(EnvelopeKind::Test, vec![Notification::test("svc", "host")]);
/// outbox.enqueue("slack", &e).unwrap();
/// assert_eq!(outbox.pending("slack").unwrap().len(), 1);
/// ```
#[derive(Debug)]
pub struct SqliteOutbox {
    conn: Mutex<Connection>,
}

fn err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::new(e.to_string())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl SqliteOutbox {
    /// Opens (or creates) the database at `path` in WAL mode and creates the table if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OutboxError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        Self::from_connection(conn)
    }

    /// Uses an open connection (for example one to the application's database) and creates the
    /// table if missing.
    pub fn from_connection(conn: Connection) -> Result<Self, OutboxError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, OutboxError> {
        let guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard).map_err(err)
    }
}

impl Outbox for SqliteOutbox {
    fn enqueue(&self, channel: &str, envelope: &Envelope) -> Result<(), OutboxError> {
        let json = serde_json::to_string(envelope).map_err(err)?;
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO vitals_notify_outbox (channel, id, envelope, updated) VALUES (?1, ?2, ?3, ?4)",
                params![channel, envelope.id, json, now_secs()],
            )
        })?;
        Ok(())
    }

    fn complete(&self, channel: &str, id: &str) -> Result<(), OutboxError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM vitals_notify_outbox WHERE channel = ?1 AND id = ?2",
                params![channel, id],
            )
        })?;
        Ok(())
    }

    fn dead_letter(&self, channel: &str, id: &str, reason: &str) -> Result<(), OutboxError> {
        self.with(|c| {
            c.execute(
                "UPDATE vitals_notify_outbox SET state = 'dead', reason = ?3, updated = ?4 WHERE channel = ?1 AND id = ?2",
                params![channel, id, reason, now_secs()],
            )?;
            c.execute(
                "DELETE FROM vitals_notify_outbox WHERE channel = ?1 AND state = 'dead' AND seq NOT IN
                   (SELECT seq FROM vitals_notify_outbox WHERE channel = ?1 AND state = 'dead' ORDER BY seq DESC LIMIT ?2)",
                params![channel, DEAD_LETTERS_KEPT],
            )
        })?;
        Ok(())
    }

    fn pending(&self, channel: &str) -> Result<Vec<Envelope>, OutboxError> {
        let rows: Vec<String> = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT envelope FROM vitals_notify_outbox WHERE channel = ?1 AND state = 'pending' ORDER BY seq",
            )?;
            stmt.query_map(params![channel], |r| r.get(0))?.collect()
        })?;
        rows.iter()
            .map(|json| serde_json::from_str(json).map_err(err))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EnvelopeKind;
    use crate::notification::Notification;

    #[test]
    fn pending_survives_reopen_in_order_and_dead_letters_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let envelopes: Vec<Envelope> = (0..3)
            .map(|_| Envelope::new(EnvelopeKind::Test, vec![Notification::test("s", "h")]))
            .collect();
        {
            let o = SqliteOutbox::open(&path).unwrap();
            for e in &envelopes {
                o.enqueue("slack", e).unwrap();
            }
            o.complete("slack", &envelopes[1].id).unwrap();
        }
        let o = SqliteOutbox::open(&path).unwrap();
        assert_eq!(
            o.pending("slack").unwrap(),
            vec![envelopes[0].clone(), envelopes[2].clone()]
        );
        assert!(o.pending("pagerduty").unwrap().is_empty());
        for i in 0..(DEAD_LETTERS_KEPT + 20) {
            let e = Envelope::new(EnvelopeKind::Test, vec![]);
            o.enqueue("webhook", &e).unwrap();
            o.dead_letter("webhook", &e.id, &format!("HTTP 400 #{i}"))
                .unwrap();
        }
        let dead: i64 = o
            .with(|c| {
                c.query_row(
                    "SELECT count(*) FROM vitals_notify_outbox WHERE channel = 'webhook'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(dead, DEAD_LETTERS_KEPT);
        assert!(o.pending("webhook").unwrap().is_empty());
    }
}
