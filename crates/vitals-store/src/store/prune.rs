//! Retention and the size bound.
//!
//! Retention runs once per hour of written minutes: each tier drops points older than its
//! retention, alerts older than the day tier's, and series left without points leave the
//! series table (so it holds only series with history).
//!
//! The size bound is checked after every write from two page counters (no scan). Past it,
//! the oldest points go first, finest tier first: an hour of minute points at a time, then a
//! day of hour points, then 30 days of day points, until the live pages are under 90% of the
//! bound. The finer tiers go first because every minute is already summed into its hour and
//! day rows: pruning them loses resolution, not history. The newest slice of each tier is
//! never pruned. Freed pages are returned to the file system (`incremental_vacuum`).

use rusqlite::{Connection, params};

use super::{Step, Store, Writer};
use crate::error::StoreError;
use crate::store::write::WriteReport;

/// Ids of every series.
pub(crate) fn series_ids(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM series")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Bytes in the database's live pages (the file less its free pages).
pub(crate) fn live_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(u64::try_from((pages - free) * size).unwrap_or(0))
}

/// Deletes points of `step`'s tier with `t < before`; returns the rows removed.
fn delete_before(
    conn: &Connection,
    ids: &[i64],
    step: Step,
    before: i64,
) -> rusqlite::Result<usize> {
    let mut points =
        conn.prepare_cached("DELETE FROM points WHERE series = ? AND tier = ? AND t < ?")?;
    let mut n = 0;
    for &id in ids {
        n += points.execute(params![id, step.tier(), before])?;
    }
    n += conn
        .prepare_cached("DELETE FROM system WHERE tier = ? AND t < ?")?
        .execute(params![step.tier(), before])?;
    Ok(n)
}

/// The oldest `t` of `step`'s tier (one index seek per series).
fn oldest(conn: &Connection, ids: &[i64], step: Step) -> rusqlite::Result<Option<i64>> {
    let mut stmt = conn
        .prepare_cached("SELECT t FROM points WHERE series = ? AND tier = ? ORDER BY t LIMIT 1")?;
    let mut min: Option<i64> = None;
    for &id in ids {
        let mut rows = stmt.query(params![id, step.tier()])?;
        if let Some(row) = rows.next()? {
            let t: i64 = row.get(0)?;
            min = Some(min.map_or(t, |m| m.min(t)));
        }
    }
    Ok(min)
}

impl Store {
    pub(super) fn prune_after_write(
        &self,
        w: &mut Writer,
        minute: i64,
        report: &mut WriteReport,
    ) -> Result<(), StoreError> {
        let hour = Step::Hour.of_minute(minute);
        if w.pruned_hour.is_none_or(|h| h < hour) {
            w.pruned_hour = Some(hour);
            report.pruned_rows += self.prune_retention(&w.conn, minute)?;
            // Series ids of removed series must not be reused from the cache.
            w.ids.clear();
        }
        let max = self.config.max_bytes;
        if live_bytes(&w.conn)? > max {
            let (rows, over) = prune_size(&w.conn, minute, max / 10 * 9)?;
            report.pruned_rows += rows;
            report.over_size = over;
            w.ids.clear();
        }
        Ok(())
    }

    fn prune_retention(&self, conn: &Connection, minute: i64) -> rusqlite::Result<usize> {
        let ids = series_ids(conn)?;
        let tx = conn.unchecked_transaction()?;
        let mut n = 0;
        for step in Step::ALL {
            let keep = self.config.retention.steps(step);
            n += delete_before(&tx, &ids, step, step.of_minute(minute) - keep + 1)?;
        }
        let days_ms = i64::try_from(self.config.retention.days.as_millis()).unwrap_or(i64::MAX);
        n += tx
            .prepare_cached("DELETE FROM alerts WHERE at_ms < ?")?
            .execute([(minute * 60_000).saturating_sub(days_ms)])?;
        tx.execute(
            "DELETE FROM series WHERE NOT EXISTS \
             (SELECT 1 FROM points WHERE points.series = series.id)",
            [],
        )?;
        tx.commit()?;
        Ok(n)
    }
}

/// Prunes oldest-first until the live pages are at most `target` bytes; returns the rows
/// removed and whether the database is still over it.
fn prune_size(conn: &Connection, minute: i64, target: u64) -> rusqlite::Result<(usize, bool)> {
    let ids = series_ids(conn)?;
    let mut removed = 0;
    'tiers: for (step, slice) in [(Step::Minute, 60), (Step::Hour, 24), (Step::Day, 30)] {
        let newest = step.of_minute(minute);
        while live_bytes(conn)? > target {
            let Some(old) = oldest(conn, &ids, step)? else {
                continue 'tiers;
            };
            let before = (old + slice).min(newest);
            if before <= old {
                continue 'tiers;
            }
            let tx = conn.unchecked_transaction()?;
            removed += delete_before(&tx, &ids, step, before)?;
            tx.commit()?;
        }
        break;
    }
    if live_bytes(conn)? > target {
        // Alerts are the last thing left to prune: keep the newest half.
        removed += conn.execute(
            "DELETE FROM alerts WHERE seq <= (SELECT (min(seq) + max(seq)) / 2 FROM alerts)",
            [],
        )?;
    }
    conn.execute(
        "DELETE FROM series WHERE NOT EXISTS \
         (SELECT 1 FROM points WHERE points.series = series.id)",
        [],
    )?;
    // Return the freed pages to the file system, then shrink the WAL.
    // (Stepped to the end: a pragma may run in several steps.)
    for pragma in [
        "PRAGMA incremental_vacuum",
        "PRAGMA wal_checkpoint(TRUNCATE)",
    ] {
        let mut stmt = conn.prepare(pragma)?;
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
    }
    Ok((removed, live_bytes(conn)? > target))
}
