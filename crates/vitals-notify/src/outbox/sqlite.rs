//! A durable outbox in a SQLite database (the reference server's own file, or another).

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

use super::{Loaded, Outbox, OutboxError};
use crate::envelope::Envelope;
use crate::notification::Notification;

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
CREATE TABLE IF NOT EXISTS vitals_notify_firing (
    channel      TEXT NOT NULL,
    alert_id     TEXT NOT NULL,
    notification TEXT NOT NULL,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (channel, alert_id)
) WITHOUT ROWID;
";

/// An outbox over SQLite: tables `vitals_notify_outbox` and `vitals_notify_firing`, created if
/// missing. Pending envelopes and the alerts each channel tracks as firing survive a restart;
/// dead letters stay (state `dead`, the last 100 per channel). A row that cannot be read back
/// (written by another version, damaged) is dead-lettered at load with the reason, and the
/// rest of the backlog loads.
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
        Ok(self.load(channel)?.envelopes)
    }

    fn set_firing(&self, channel: &str, notification: &Notification) -> Result<(), OutboxError> {
        let json = serde_json::to_string(notification).map_err(err)?;
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO vitals_notify_firing (channel, alert_id, notification, updated) VALUES (?1, ?2, ?3, ?4)",
                params![channel, notification.alert_id, json, now_secs()],
            )
        })?;
        Ok(())
    }

    fn clear_firing(&self, channel: &str, alert_id: &str) -> Result<(), OutboxError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM vitals_notify_firing WHERE channel = ?1 AND alert_id = ?2",
                params![channel, alert_id],
            )
        })?;
        Ok(())
    }

    fn firing(&self, channel: &str) -> Result<Vec<Notification>, OutboxError> {
        Ok(self.load(channel)?.firing)
    }

    fn durable(&self) -> bool {
        true
    }

    fn load(&self, channel: &str) -> Result<Loaded, OutboxError> {
        // (id or alert id, JSON) of the pending envelopes and of the firing alerts.
        type Rows = Vec<(String, String)>;
        let (rows, firing): (Rows, Rows) = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, envelope FROM vitals_notify_outbox WHERE channel = ?1 AND state = 'pending' ORDER BY seq",
            )?;
            let rows = stmt
                .query_map(params![channel], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = c.prepare(
                "SELECT alert_id, notification FROM vitals_notify_firing WHERE channel = ?1 ORDER BY updated, alert_id",
            )?;
            let firing = stmt
                .query_map(params![channel], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((rows, firing))
        })?;
        let mut loaded = Loaded::default();
        for (id, json) in rows {
            match serde_json::from_str::<Envelope>(&json) {
                Ok(e) => loaded.envelopes.push(e),
                Err(e) => {
                    let reason = format!("unreadable outbox row: {e}");
                    self.dead_letter(channel, &id, &reason)?;
                    loaded.unreadable.push((id, reason));
                }
            }
        }
        for (alert_id, json) in firing {
            match serde_json::from_str::<Notification>(&json) {
                Ok(n) => loaded.firing.push(n),
                // Only repeats depend on it: forget it rather than fail the load.
                Err(_) => self.clear_firing(channel, &alert_id)?,
            }
        }
        Ok(loaded)
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

    #[test]
    fn one_unreadable_row_is_dead_lettered_and_the_backlog_loads_around_it() {
        let o = SqliteOutbox::from_connection(Connection::open_in_memory().unwrap()).unwrap();
        let envelopes: Vec<Envelope> = (0..3)
            .map(|_| Envelope::new(EnvelopeKind::Test, vec![Notification::test("s", "h")]))
            .collect();
        for e in &envelopes {
            o.enqueue("slack", e).unwrap();
        }
        // As a newer version's row, or a NaN written as null, would look.
        o.with(|c| {
            c.execute(
                "UPDATE vitals_notify_outbox SET envelope = '{\"id\":null}' WHERE id = ?1",
                params![envelopes[1].id],
            )
        })
        .unwrap();
        let loaded = o.load("slack").unwrap();
        assert_eq!(
            loaded.envelopes,
            vec![envelopes[0].clone(), envelopes[2].clone()]
        );
        assert_eq!(loaded.unreadable.len(), 1);
        assert_eq!(loaded.unreadable[0].0, envelopes[1].id);
        assert!(loaded.unreadable[0].1.starts_with("unreadable outbox row"));
        // Dead now: the next load does not see it again.
        assert_eq!(o.load("slack").unwrap().unreadable.len(), 0);
        assert_eq!(o.pending("slack").unwrap().len(), 2);
    }

    #[test]
    fn firing_alerts_survive_reopen_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let mut n = Notification::test("s", "h");
        n.alert_id = "svc/h/memory/1".into();
        {
            let o = SqliteOutbox::open(&path).unwrap();
            o.set_firing("pagerduty", &n).unwrap();
            o.set_firing("pagerduty", &n).unwrap();
        }
        let o = SqliteOutbox::open(&path).unwrap();
        assert_eq!(o.firing("pagerduty").unwrap(), vec![n.clone()]);
        assert!(o.firing("slack").unwrap().is_empty());
        o.clear_firing("pagerduty", &n.alert_id).unwrap();
        assert!(o.firing("pagerduty").unwrap().is_empty());
    }
}
