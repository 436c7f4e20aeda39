//! The alerts active right now, so they survive a restart: replaced as one set whenever an
//! alert fires, escalates or resolves, read back once at start.

use rusqlite::params;

use super::{Store, lock};
use crate::error::StoreError;
use crate::model::ActiveAlert;

/// Most active alerts kept (the core holds at most 6 rule alerts and 256 condition alerts);
/// past it the rest are not written.
pub const MAX_ACTIVE_ALERTS: usize = 1_024;

impl Store {
    /// Replaces the stored set of active alerts with `alerts` (the first
    /// [`MAX_ACTIVE_ALERTS`]) in one transaction, so a crash leaves either the old set or the
    /// new one. Blocking: call from a blocking thread.
    ///
    /// ```
    /// use vitals_store::{ActiveAlert, Store, StoreConfig};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("h.db");
    /// let store = Store::open(&path, StoreConfig::default()).unwrap();
    /// let heap = ActiveAlert { rule: "memory".into(), id: "svc/h/memory/1000".into(),
    ///     severity: "warning".into(), message: "High memory usage: 650 MiB".into(),
    ///     value: 650.0, threshold: 512.0, firing_since_ms: 1_000, at_ms: 2_000,
    ///     instance: "h".into(), service: "svc".into() };
    /// store.set_active_alerts(&[heap.clone()]).unwrap();
    /// drop(store);
    /// let store = Store::open(&path, StoreConfig::default()).unwrap();
    /// assert_eq!(store.active_alerts().unwrap(), vec![heap]);
    /// ```
    pub fn set_active_alerts(&self, alerts: &[ActiveAlert]) -> Result<(), StoreError> {
        let mut writer = lock(&self.writer);
        let tx = writer.conn.transaction()?;
        tx.execute("DELETE FROM active_alerts", [])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO active_alerts (rule, id, severity, message, value, \
                 threshold, firing_since_ms, at_ms, instance, service) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for a in alerts.iter().take(MAX_ACTIVE_ALERTS) {
                // SQLite keeps a NaN as NULL; read back as NaN.
                let finite = |v: f64| v.is_finite().then_some(v);
                insert.execute(params![
                    a.rule,
                    a.id,
                    a.severity,
                    a.message,
                    finite(a.value),
                    finite(a.threshold),
                    a.firing_since_ms,
                    a.at_ms,
                    a.instance,
                    a.service,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored active alerts, in the order they fired.
    pub fn active_alerts(&self) -> Result<Vec<ActiveAlert>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT rule, id, severity, message, value, threshold, firing_since_ms, at_ms, \
             instance, service FROM active_alerts ORDER BY firing_since_ms, rule LIMIT ?",
        )?;
        let rows = stmt.query_map(params![MAX_ACTIVE_ALERTS as i64], |r| {
            Ok(ActiveAlert {
                rule: r.get(0)?,
                id: r.get(1)?,
                severity: r.get(2)?,
                message: r.get(3)?,
                value: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
                threshold: r.get::<_, Option<f64>>(5)?.unwrap_or(f64::NAN),
                firing_since_ms: r.get(6)?,
                at_ms: r.get(7)?,
                instance: r.get(8)?,
                service: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    fn alert(rule: &str, since: i64) -> ActiveAlert {
        ActiveAlert {
            rule: rule.into(),
            id: format!("svc/h/{rule}/{since}"),
            severity: "critical".into(),
            message: "m".into(),
            value: 1.0,
            threshold: f64::NAN,
            firing_since_ms: since,
            at_ms: since,
            instance: "h".into(),
            service: "svc".into(),
        }
    }

    #[test]
    fn the_set_is_replaced_whole_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
        store
            .set_active_alerts(&[alert("memory", 2), alert("latency", 1)])
            .unwrap();
        let got = store.active_alerts().unwrap();
        assert_eq!(
            got.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
            ["latency", "memory"]
        );
        assert!(got[0].threshold.is_nan());
        store.set_active_alerts(&[alert("rss", 3)]).unwrap();
        assert_eq!(store.active_alerts().unwrap().len(), 1);
        let many: Vec<ActiveAlert> = (0..MAX_ACTIVE_ALERTS + 10)
            .map(|i| alert(&format!("budgetPage:{i}"), i as i64))
            .collect();
        store.set_active_alerts(&many).unwrap();
        assert_eq!(store.active_alerts().unwrap().len(), MAX_ACTIVE_ALERTS);
        store.set_active_alerts(&[]).unwrap();
        assert!(store.active_alerts().unwrap().is_empty());
    }
}
