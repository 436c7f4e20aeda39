//! The minute flush: from the monitor's minutes to the store's [`MinuteBatch`]es.
//!
//! Each flush writes every monitor minute not yet written in full (the series rings keep the
//! last five) and, when asked, the minute in progress so far. The store adds what it is given,
//! so a minute written in parts is written as differences: the flusher remembers, for the
//! minute in progress only, what it has written of each series, and writes the rest later.
//! That memory is bounded by the series of one minute (routes × methods, top tenants, one).

use std::collections::HashMap;

use vitals::{MAX_WINDOW_MINUTES, MinuteReport, Monitor};
use vitals_store::{Buckets, MinuteBatch, Point, SeriesKey, SystemPoint};

/// Tenants written per minute (the busiest).
pub(crate) const TOP_TENANTS: usize = 100;

/// What has been written so far; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Flusher {
    /// The first monitor minute not yet written in full.
    next: u64,
    /// The minute written in part, and what was written of each of its series.
    partial: Option<(u64, HashMap<SeriesKey, Point>)>,
}

/// The points of one minute's report.
fn points(report: &MinuteReport) -> Vec<Point> {
    let mut out = Vec::with_capacity(report.routes.len() + report.organizations.len() + 1);
    for r in &report.routes {
        out.push(Point::from_aggregate(
            SeriesKey::route(r.method, &*r.route),
            &r.figures,
            r.errors_5xx,
        ));
    }
    for o in &report.organizations {
        out.push(Point::from_aggregate(
            SeriesKey::Tenant(o.organization_id.to_string()),
            &o.figures,
            0,
        ));
    }
    if report.service.histogram.count() > 0 {
        out.push(Point::from_aggregate(
            SeriesKey::Service,
            &report.service,
            report.service_errors_5xx,
        ));
    }
    out
}

/// `full` less what was already written of it (`max` is kept: the store takes the larger).
fn minus(full: &Point, written: &Point) -> Point {
    let before: HashMap<u32, u64> = written.buckets.iter().copied().collect();
    let mut buckets = Buckets::default();
    for &(i, n) in full.buckets.iter() {
        let rest = n.saturating_sub(before.get(&i).copied().unwrap_or(0));
        if rest > 0 {
            buckets.add(i, rest);
        }
    }
    Point {
        series: full.series.clone(),
        count: full.count.saturating_sub(written.count),
        errors_5xx: full.errors_5xx.saturating_sub(written.errors_5xx),
        errors: full.errors.saturating_sub(written.errors),
        sum_us: full.sum_us.saturating_sub(written.sum_us),
        max_us: full.max_us,
        buckets,
    }
}

impl Flusher {
    /// The batches to write now: every full minute not yet written and, with
    /// `include_current`, the minute in progress so far. `system` goes with the newest batch.
    /// Call [`Flusher::written`] with each batch's outcome, in order.
    pub(crate) fn batches(
        &mut self,
        monitor: &Monitor,
        system: Option<SystemPoint>,
        include_current: bool,
    ) -> Vec<(u64, MinuteBatch)> {
        let now = monitor.current_minute();
        let first = self.next.max(now.saturating_sub(MAX_WINDOW_MINUTES));
        let last = if include_current {
            now
        } else if let Some(l) = now.checked_sub(1) {
            l
        } else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for minute in first..=last {
            let report = monitor.minute_report(minute, TOP_TENANTS);
            let mut pts = points(&report);
            if let Some((_, written)) = self.partial.as_ref().filter(|(m, _)| *m == minute) {
                pts = pts
                    .iter()
                    .map(|p| match written.get(&p.series) {
                        Some(w) => minus(p, w),
                        None => p.clone(),
                    })
                    .filter(|p| p.count > 0)
                    .collect();
            }
            out.push((
                minute,
                MinuteBatch {
                    minute: i64::try_from(report.unix_minute).unwrap_or(i64::MAX),
                    points: pts,
                    system: None,
                    alerts: Vec::new(),
                },
            ));
        }
        if let Some((_, last)) = out.last_mut() {
            last.system = system;
        }
        out
    }

    /// Records that the batch of monitor minute `minute` was written (its points being what
    /// [`Flusher::batches`] gave): a full minute moves `next` on; the minute in progress is
    /// remembered so that the next flush writes only the rest.
    pub(crate) fn written(&mut self, monitor: &Monitor, minute: u64, batch: &MinuteBatch) {
        if minute < monitor.current_minute() {
            self.next = self.next.max(minute + 1);
            if self.partial.as_ref().is_some_and(|(m, _)| *m <= minute) {
                self.partial = None;
            }
            return;
        }
        let written = match self.partial.take() {
            Some((m, written)) if m == minute => written,
            _ => HashMap::new(),
        };
        let mut written = written;
        for p in &batch.points {
            let total = written.entry(p.series.clone()).or_insert_with(|| Point {
                series: p.series.clone(),
                count: 0,
                errors_5xx: 0,
                errors: 0,
                sum_us: 0,
                max_us: 0,
                buckets: Buckets::default(),
            });
            total.count += p.count;
            total.errors_5xx += p.errors_5xx;
            total.errors += p.errors;
            total.sum_us += p.sum_us;
            total.max_us = total.max_us.max(p.max_us);
            total.buckets.merge(&p.buckets);
        }
        self.partial = Some((minute, written));
    }
}

/// The sum of a report's points, for tests.
#[cfg(test)]
fn total(batches: &[(u64, MinuteBatch)], key: &SeriesKey) -> (u64, u64, Buckets) {
    let mut out = (0, 0, Buckets::default());
    for (_, b) in batches {
        for p in b.points.iter().filter(|p| &p.series == key) {
            out.0 += p.count;
            out.1 += p.errors;
            out.2.merge(&p.buckets);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use vitals::{Method, RequestSample, RouteKey};

    use super::*;

    fn record(monitor: &Monitor, ms: u64, status: u16) {
        monitor.record(&RequestSample {
            method: Method::Get,
            route: RouteKey::Template("/a/{id}"),
            status,
            start: Instant::now(),
            duration: Duration::from_millis(ms),
            organization: Some("acme"),
            ..RequestSample::default()
        });
    }

    #[test]
    fn a_minute_written_in_parts_sums_to_the_whole() {
        let monitor = Monitor::default();
        let mut flusher = Flusher::default();
        let mut all = Vec::new();
        for (ms, status) in [(3, 200), (40, 500), (3, 200)] {
            record(&monitor, ms, status);
        }
        for batch in flusher.batches(&monitor, None, true) {
            flusher.written(&monitor, batch.0, &batch.1);
            all.push(batch);
        }
        for (ms, status) in [(90, 404), (3, 200)] {
            record(&monitor, ms, status);
        }
        for batch in flusher.batches(&monitor, Some(SystemPoint::default()), true) {
            flusher.written(&monitor, batch.0, &batch.1);
            all.push(batch);
        }
        // Nothing new: the third flush writes no point.
        let empty = flusher.batches(&monitor, None, true);
        assert!(empty.iter().all(|(_, b)| b.points.is_empty()), "{empty:?}");

        let key = SeriesKey::route(Method::Get, "/a/{id}");
        let (count, errors, buckets) = total(&all, &key);
        assert_eq!((count, errors, buckets.total()), (5, 2, 5));
        let whole = monitor.minute_report(monitor.current_minute(), 10);
        assert_eq!(
            buckets,
            Buckets::from(&whole.routes[0].figures.histogram),
            "the parts' buckets merge to the minute's"
        );
        let (service, _, _) = total(&all, &SeriesKey::Service);
        assert_eq!(service, 5);
        let (tenant, _, _) = total(&all, &SeriesKey::Tenant("acme".into()));
        assert_eq!(tenant, 5);
        let e5: u64 = all
            .iter()
            .flat_map(|(_, b)| &b.points)
            .filter(|p| p.series == key)
            .map(|p| p.errors_5xx)
            .sum();
        assert_eq!(e5, 1);
        assert!(all.last().unwrap().1.system.is_some());
    }

    #[test]
    fn without_the_current_minute_nothing_is_written_in_the_first_minute() {
        let monitor = Monitor::default();
        record(&monitor, 3, 200);
        let mut flusher = Flusher::default();
        if monitor.current_minute() == 0 {
            assert!(flusher.batches(&monitor, None, false).is_empty());
        }
    }
}
