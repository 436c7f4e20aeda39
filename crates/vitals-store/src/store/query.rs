//! Reads: request history per series, system history, alert history, the series list.
//!
//! A step's point is its tier's row: every minute was added to its hour and day rows when
//! written, so an hour or a day is the merge of its minutes' buckets, and its percentiles
//! are read from the merged buckets with the core's representative value per bucket (within
//! 1% of the true value at that rank), never averaged. Steps without requests are absent.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Step, Store, lock};
use crate::codec;
use crate::error::{HistoryError, QueryError, StoreError};
use crate::model::{AlertTransition, HistorySeries, SeriesKey, Transition};
use crate::store::write::Row;

/// Most points (or alert transitions) one query returns.
pub const MAX_POINTS: i64 = 10_000;

/// One step of a request series. Durations in milliseconds; `None` without requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// Start of the step, unix seconds.
    pub t: i64,
    /// Requests.
    pub count: u64,
    /// Requests answered with status 400 or above.
    pub errors: u64,
    /// Requests answered 5xx.
    pub errors_5xx: u64,
    /// `errors / count`.
    pub error_ratio: f64,
    /// Median latency, ms.
    pub p50: Option<f64>,
    /// 95th percentile, ms.
    pub p95: Option<f64>,
    /// 99th percentile, ms.
    pub p99: Option<f64>,
    /// Mean latency, ms.
    pub mean: Option<f64>,
    /// Longest request, ms.
    pub max: Option<f64>,
}

impl HistoryPoint {
    pub(crate) fn from_row(t: i64, row: &Row) -> Self {
        let snap = row.buckets.to_snapshot();
        let q = |q: f64| snap.quantile(q).map(|ns| ns as f64 / 1e6);
        let some = row.count > 0;
        HistoryPoint {
            t,
            count: row.count,
            errors: row.errors,
            errors_5xx: row.errors_5xx,
            error_ratio: if some {
                row.errors as f64 / row.count as f64
            } else {
                0.0
            },
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
            mean: some.then(|| row.sum_us as f64 / row.count as f64 / 1e3),
            max: some.then(|| row.max_us as f64 / 1e3),
        }
    }
}

/// Mean and peak of a gauge over a step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GaugeStat {
    /// Mean of the minutes sampled.
    pub mean: f64,
    /// Highest minute.
    pub max: f64,
}

/// One step of the system figures (`None`: not measured in the step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SystemHistoryPoint {
    /// Start of the step, unix seconds.
    pub t: i64,
    /// Resident memory, bytes.
    pub rss_bytes: Option<GaugeStat>,
    /// Heap allocated, bytes.
    pub heap_bytes: Option<GaugeStat>,
    /// CPU use; 100 = one core.
    pub cpu_percent: Option<GaugeStat>,
    /// Runtime busy ratio.
    pub busy_ratio: Option<GaugeStat>,
    /// Scheduling delay (p99 of each minute), ms.
    pub scheduling_delay_ms: Option<GaugeStat>,
}

/// A parsed, validated history query: what `GET /metrics/history` takes.
///
/// ```
/// use vitals_store::{HistoryRequest, QueryError, Step};
///
/// let r = HistoryRequest::parse("service", "1700000000", "2023-11-15T00:00:00Z", "1h").unwrap();
/// assert_eq!((r.from, r.to, r.step), (1_700_000_000, 1_700_006_400, Step::Hour));
/// assert!(matches!(
///     HistoryRequest::parse("service", "0", "86400000", "1m"),
///     Err(QueryError::TooManyPoints { .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The series.
    pub series: HistorySeries,
    /// Start, unix seconds.
    pub from: i64,
    /// End (inclusive), unix seconds.
    pub to: i64,
    /// Resolution.
    pub step: Step,
}

/// Unix seconds or RFC 3339.
fn parse_time(s: &str) -> Result<i64, QueryError> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|_| QueryError::BadTime(s.to_owned()))?;
    let secs = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
    };
    secs.ok_or_else(|| QueryError::BadTime(s.to_owned()))
}

/// Checks a span: `from <= to` and at most [`MAX_POINTS`] steps.
fn check_span(from: i64, to: i64, step: Step) -> Result<(i64, i64), QueryError> {
    if from > to {
        return Err(QueryError::FromAfterTo { from, to });
    }
    let (first, last) = (
        from.div_euclid(step.seconds()),
        to.div_euclid(step.seconds()),
    );
    // At least 60 s a step, so neither end nor the difference can overflow; checked anyway.
    let steps = last.saturating_sub(first).saturating_add(1);
    if steps > MAX_POINTS {
        return Err(QueryError::TooManyPoints {
            steps,
            max: MAX_POINTS,
        });
    }
    Ok((first, last))
}

impl HistoryRequest {
    /// Parses the endpoint's parameters: `series`, `from`/`to` (unix seconds or RFC 3339) and
    /// `step` (`1m`, `1h`, `1d`), checking the span. Every error is the client's (a 400).
    pub fn parse(series: &str, from: &str, to: &str, step: &str) -> Result<Self, QueryError> {
        let series = series.parse()?;
        let step = Step::parse(step).ok_or_else(|| QueryError::BadStep(step.to_owned()))?;
        let (from, to) = (parse_time(from)?, parse_time(to)?);
        check_span(from, to, step)?;
        Ok(HistoryRequest {
            series,
            from,
            to,
            step,
        })
    }
}

/// The answer to a [`HistoryRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum History {
    /// Points of a request series.
    Requests(Vec<HistoryPoint>),
    /// Points of the system figures.
    System(Vec<SystemHistoryPoint>),
}

fn gauge(sum: Option<f64>, n: Option<i64>, max: Option<f64>) -> Option<GaugeStat> {
    match (sum, n, max) {
        (Some(sum), Some(n), Some(max)) if n > 0 => Some(GaugeStat {
            mean: sum / n as f64,
            max,
        }),
        _ => None,
    }
}

impl Store {
    /// Answers a parsed request (see [`Store::query`] and [`Store::system_history`]).
    pub fn history(&self, request: &HistoryRequest) -> Result<History, HistoryError> {
        let HistoryRequest {
            series,
            from,
            to,
            step,
        } = request;
        Ok(match series {
            HistorySeries::Requests(key) => History::Requests(self.query(key, *from, *to, *step)?),
            HistorySeries::System => History::System(self.system_history(*from, *to, *step)?),
        })
    }

    /// The steps of `series` from `from` to `to` (unix seconds, both inclusive, aligned down
    /// to the step), read from the step's tier. Steps without requests are left out.
    pub fn query(
        &self,
        series: &SeriesKey,
        from: i64,
        to: i64,
        step: Step,
    ) -> Result<Vec<HistoryPoint>, HistoryError> {
        let (first, last) = check_span(from, to, step)?;
        let conn = lock(&self.reader);
        let (kind, method, name) = series.parts();
        let id: Option<i64> = conn
            .prepare_cached("SELECT id FROM series WHERE kind = ? AND method = ? AND name = ?")?
            .query_row(params![kind, method, name], |r| r.get(0))
            .optional()?;
        let id = id.ok_or_else(|| QueryError::UnknownSeries(series.to_string()))?;
        let mut out = Vec::new();
        read_rows(&conn, id, step, first, last, |t, row| {
            out.push(HistoryPoint::from_row(
                t.saturating_mul(step.seconds()),
                &row,
            ));
        })?;
        Ok(out)
    }

    /// The system figures from `from` to `to` (unix seconds, inclusive) per `step`.
    pub fn system_history(
        &self,
        from: i64,
        to: i64,
        step: Step,
    ) -> Result<Vec<SystemHistoryPoint>, HistoryError> {
        let (first, last) = check_span(from, to, step)?;
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT t, rss_sum, rss_n, rss_max, heap_sum, heap_n, heap_max, cpu_sum, cpu_n, \
             cpu_max, busy_sum, busy_n, busy_max, delay_sum, delay_n, delay_max \
             FROM system WHERE tier = ? AND t BETWEEN ? AND ? ORDER BY t",
        )?;
        let rows = stmt.query_map(params![step.tier(), first, last], |r| {
            let g = |i: usize| -> rusqlite::Result<Option<GaugeStat>> {
                Ok(gauge(r.get(i)?, r.get(i + 1)?, r.get(i + 2)?))
            };
            Ok(SystemHistoryPoint {
                t: r.get::<_, i64>(0)?.saturating_mul(step.seconds()),
                rss_bytes: g(1)?,
                heap_bytes: g(4)?,
                cpu_percent: g(7)?,
                busy_ratio: g(10)?,
                scheduling_delay_ms: g(13)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Alert transitions from `from` to `to` (unix seconds, inclusive), oldest first; the
    /// newest [`MAX_POINTS`] when there are more.
    pub fn alert_history(&self, from: i64, to: i64) -> Result<Vec<AlertTransition>, HistoryError> {
        if from > to {
            return Err(QueryError::FromAfterTo { from, to }.into());
        }
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT at_ms, id, rule, severity, transition FROM alerts \
             WHERE at_ms BETWEEN ? AND ? ORDER BY at_ms DESC, seq DESC LIMIT ?",
        )?;
        let rows = stmt.query_map(
            params![
                from.saturating_mul(1000),
                to.saturating_mul(1000).saturating_add(999),
                MAX_POINTS
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (at_ms, id, rule, severity, transition) = row?;
            // A transition this version does not know is skipped, not an error.
            if let Some(transition) = Transition::parse(&transition) {
                out.push(AlertTransition {
                    id,
                    rule,
                    severity,
                    transition,
                    at_ms,
                });
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Every request series with history, sorted.
    pub fn list_series(&self) -> Result<Vec<SeriesKey>, StoreError> {
        Ok(self
            .series_with_ids()?
            .into_iter()
            .map(|(_, k)| k)
            .collect())
    }

    /// Every request series with its id, sorted by key.
    pub(crate) fn series_with_ids(&self) -> Result<Vec<(i64, SeriesKey)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT id, kind, method, name FROM series")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, method, name) = row?;
            if let Some(key) = SeriesKey::from_parts(kind, &method, name) {
                out.push((id, key));
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }

    /// Calls `f` with each row of the series `ids` in `step`'s tier with `first <= t <= last`.
    pub(crate) fn for_each_row(
        &self,
        ids: &[i64],
        step: Step,
        first: i64,
        last: i64,
        mut f: impl FnMut(i64, Row),
    ) -> Result<(), StoreError> {
        let conn = lock(&self.reader);
        for &id in ids {
            read_rows(&conn, id, step, first, last, &mut f)?;
        }
        Ok(())
    }
}

fn read_rows(
    conn: &rusqlite::Connection,
    id: i64,
    step: Step,
    first: i64,
    last: i64,
    mut f: impl FnMut(i64, Row),
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t, count, errors_5xx, errors, sum_us, max_us, buckets FROM points \
         WHERE series = ? AND tier = ? AND t BETWEEN ? AND ? ORDER BY t",
    )?;
    let mut rows = stmt.query(params![id, step.tier(), first, last])?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    while let Some(r) = rows.next()? {
        let row = Row {
            count: n(r.get(1)?),
            errors_5xx: n(r.get(2)?),
            errors: n(r.get(3)?),
            sum_us: n(r.get(4)?),
            max_us: n(r.get(5)?),
            buckets: codec::decode(r.get_ref(6)?.as_blob().map_err(rusqlite::Error::from)?)?,
        };
        f(r.get(0)?, row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_times_are_client_errors_never_a_panic() {
        for step in ["1m", "1h", "1d"] {
            for (from, to) in [
                (i64::MIN, i64::MAX),
                (i64::MIN, i64::MIN),
                (i64::MAX, i64::MAX),
                (i64::MAX, i64::MIN),
            ] {
                let r = HistoryRequest::parse("service", &from.to_string(), &to.to_string(), step);
                if from == to {
                    assert!(r.is_ok(), "{from} {to} {step}: {r:?}");
                } else {
                    assert!(
                        matches!(
                            r,
                            Err(QueryError::TooManyPoints { .. } | QueryError::FromAfterTo { .. })
                        ),
                        "{from} {to} {step}: {r:?}"
                    );
                }
            }
        }
    }
}
