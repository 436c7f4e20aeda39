//! The minute write: one transaction adding a [`MinuteBatch`] to every tier.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Step, Store, Writer, lock};
use crate::codec;
use crate::error::StoreError;
use crate::model::{MAX_NAME_BYTES, MinuteBatch, Point, SeriesKey, SystemPoint};

/// Most request points one batch may hold (500 routes × 10 methods × 6 status classes plus
/// 10,000 tenants fit); the rest are dropped and counted in [`WriteReport::dropped_points`].
pub const MAX_POINTS_PER_BATCH: usize = 100_000;
/// Most alert transitions one batch may hold; the rest are dropped and counted.
pub const MAX_ALERTS_PER_BATCH: usize = 1_000;

/// What a [`Store::write_minute`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Request points added.
    pub points: usize,
    /// Points refused: empty, a name longer than [`MAX_NAME_BYTES`], or past
    /// [`MAX_POINTS_PER_BATCH`].
    pub dropped_points: usize,
    /// Alert transitions past [`MAX_ALERTS_PER_BATCH`], dropped.
    pub dropped_alerts: usize,
    /// Rows removed by retention and size pruning after the write.
    pub pruned_rows: usize,
    /// The database is still over its size bound after pruning everything but the newest
    /// slice of each tier.
    pub over_size: bool,
}

/// The additive figures of one stored row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) count: u64,
    pub(crate) errors_5xx: u64,
    pub(crate) errors: u64,
    pub(crate) sum_us: u64,
    pub(crate) max_us: u64,
    pub(crate) buckets: crate::model::Buckets,
}

impl Row {
    fn add(&mut self, p: &Point) {
        self.count = self.count.saturating_add(p.count);
        self.errors_5xx = self.errors_5xx.saturating_add(p.errors_5xx);
        self.errors = self.errors.saturating_add(p.errors);
        self.sum_us = self.sum_us.saturating_add(p.sum_us);
        self.max_us = self.max_us.max(p.max_us);
        self.buckets.merge(&p.buckets);
    }
}

/// SQLite integers are signed: clamp instead of wrapping.
pub(crate) fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Adds one minute's figures to every tier in one transaction, then prunes what retention
    /// and the size bound require. Points add to what the store already holds for the same
    /// series and minute, so a partial minute flushed at shutdown and the rest of it written
    /// after a restart sum up.
    ///
    /// Blocking (tens of milliseconds for a large service): call it from a blocking thread.
    /// Holds only the store's own writer lock, nothing the request path touches.
    ///
    /// ```
    /// use vitals_store::{Buckets, MinuteBatch, Point, SeriesKey, Step, Store, StoreConfig};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
    /// let mut buckets = Buckets::default();
    /// buckets.add(vitals::bucket_index(2_000_000) as u32, 3);
    /// let point = Point {
    ///     series: SeriesKey::Service, count: 3, errors_5xx: 1, errors: 1,
    ///     sum_us: 6_000, max_us: 2_000, buckets,
    /// };
    /// let minute = 29_000_000;
    /// store.write_minute(&MinuteBatch { minute, points: vec![point], ..Default::default() }).unwrap();
    /// let h = store.query(&SeriesKey::Service, minute * 60, minute * 60, Step::Minute).unwrap();
    /// assert_eq!(h[0].count, 3);
    /// ```
    pub fn write_minute(&self, batch: &MinuteBatch) -> Result<WriteReport, StoreError> {
        let mut w = lock(&self.writer);
        let Writer { conn, ids, .. } = &mut *w;
        let mut report = WriteReport::default();
        let tx = Transaction::new(conn, TransactionBehavior::Immediate)?;
        for (n, p) in batch.points.iter().enumerate() {
            let name_len = p.series.parts().2.len();
            if n >= MAX_POINTS_PER_BATCH || name_len > MAX_NAME_BYTES || p.count == 0 {
                report.dropped_points += 1;
                continue;
            }
            let id = series_id(&tx, ids, &p.series)?;
            for step in Step::ALL {
                add_point(&tx, id, step, step.of_minute(batch.minute), p)?;
            }
            report.points += 1;
        }
        if let Some(system) = &batch.system {
            for step in Step::ALL {
                add_system(&tx, step, step.of_minute(batch.minute), system)?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO alerts (at_ms, id, rule, severity, transition) VALUES (?, ?, ?, ?, ?)",
            )?;
            for a in batch.alerts.iter().take(MAX_ALERTS_PER_BATCH) {
                insert.execute(params![
                    a.at_ms,
                    a.id,
                    a.rule,
                    a.severity,
                    a.transition.as_str()
                ])?;
            }
            report.dropped_alerts = batch.alerts.len().saturating_sub(MAX_ALERTS_PER_BATCH);
        }
        tx.commit()?;
        self.prune_after_write(&mut w, batch.minute, &mut report)?;
        Ok(report)
    }
}

/// The id of a series, created on first use.
fn series_id(
    tx: &Transaction<'_>,
    ids: &mut HashMap<SeriesKey, i64>,
    key: &SeriesKey,
) -> rusqlite::Result<i64> {
    if let Some(&id) = ids.get(key) {
        return Ok(id);
    }
    let (kind, method, name) = key.parts();
    tx.prepare_cached("INSERT OR IGNORE INTO series (kind, method, name) VALUES (?, ?, ?)")?
        .execute(params![kind, method, name])?;
    let id = tx
        .prepare_cached("SELECT id FROM series WHERE kind = ? AND method = ? AND name = ?")?
        .query_row(params![kind, method, name], |r| r.get(0))?;
    ids.insert(key.clone(), id);
    Ok(id)
}

/// Reads the row of `(series, tier, t)`, if any.
pub(crate) fn read_row(
    tx: &rusqlite::Connection,
    series: i64,
    step: Step,
    t: i64,
) -> Result<Option<Row>, StoreError> {
    let raw = tx
        .prepare_cached(
            "SELECT count, errors_5xx, errors, sum_us, max_us, buckets FROM points \
             WHERE series = ? AND tier = ? AND t = ?",
        )?
        .query_row(params![series, step.tier(), t], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Vec<u8>>(5)?,
            ))
        })
        .optional()?;
    raw.map(|(count, e5, e, sum, max, blob)| {
        Ok(Row {
            count: from_sql(count),
            errors_5xx: from_sql(e5),
            errors: from_sql(e),
            sum_us: from_sql(sum),
            max_us: from_sql(max),
            buckets: codec::decode(&blob)?,
        })
    })
    .transpose()
}

fn add_point(
    tx: &Transaction<'_>,
    series: i64,
    step: Step,
    t: i64,
    p: &Point,
) -> Result<(), StoreError> {
    // A damaged row is replaced rather than failing every later minute of its hour and day.
    let mut row = read_row(tx, series, step, t)
        .unwrap_or_default()
        .unwrap_or_default();
    row.add(p);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO points \
         (series, tier, t, count, errors_5xx, errors, sum_us, max_us, buckets) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        series,
        step.tier(),
        t,
        to_sql(row.count),
        to_sql(row.errors_5xx),
        to_sql(row.errors),
        to_sql(row.sum_us),
        to_sql(row.max_us),
        codec::encode(&row.buckets),
    ])?;
    Ok(())
}

/// Columns of the system table, in [`SystemPoint::values`] order.
pub(crate) const SYSTEM_FIELDS: [&str; 5] = ["rss", "heap", "cpu", "busy", "delay"];

fn add_system(
    tx: &Transaction<'_>,
    step: Step,
    t: i64,
    point: &SystemPoint,
) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO system (tier, t) VALUES (?, ?)")?
        .execute(params![step.tier(), t])?;
    for (field, value) in SYSTEM_FIELDS.iter().zip(point.values()) {
        let Some(v) = value.filter(|v| v.is_finite()) else {
            continue;
        };
        // Sum and count for the mean, max for the peak; each field on its own (a figure
        // measured in some minutes only averages over those).
        let sql = format!(
            "UPDATE system SET {field}_sum = coalesce({field}_sum, 0) + ?1, \
             {field}_n = coalesce({field}_n, 0) + 1, \
             {field}_max = max(coalesce({field}_max, ?1), ?1) WHERE tier = ?2 AND t = ?3"
        );
        tx.prepare_cached(&sql)?
            .execute(params![v, step.tier(), t])?;
    }
    Ok(())
}
