//! The readers: windows, routes, organizations, series for exposition, the ring's requests
//! and the memory held.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, UNIX_EPOCH};

use crate::method::Method;
use crate::monitor::sample::{OVERFLOW, Polls, Resources};
use crate::monitor::state::{Monitor, OrgEntry, ResourceTotals, RouteEntry};
use crate::monitor::views::{
    MemoryReport, OrganizationStats, RequestRecord, RouteStats, SeriesSnapshot,
};
use crate::monitor::window::{StatusCounts, Window, WindowStats};
use crate::ring::Entry;
use crate::series::{Aggregate, PrometheusCounts, Series};

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| {
            [
                char::from(HEX[usize::from(b >> 4)]),
                char::from(HEX[usize::from(b & 0xF)]),
            ]
        })
        .collect()
}

impl Monitor {
    /// The span a window covers right now (capped at the uptime).
    #[must_use]
    pub fn window_span(&self, window: Window) -> Duration {
        let uptime = self.uptime();
        match window.minutes() {
            None => uptime,
            Some(m) => {
                let into_minute = Duration::from_secs(uptime.as_secs() % 60)
                    + Duration::from_nanos(u64::from(uptime.subsec_nanos()));
                (Duration::from_secs(m * 60) + into_minute).min(uptime)
            }
        }
    }

    /// Every route and method seen, over `window` (routes with no request in it left out).
    #[must_use]
    pub fn route_stats(&self, window: Window) -> Vec<RouteStats> {
        let now = self.now_minute();
        let mut out = Vec::new();
        for entry in self.all_routes() {
            for (m, classes) in entry.series.iter().enumerate() {
                let mut agg = Aggregate::default();
                let mut status = StatusCounts::default();
                for (class, series) in classes.iter().enumerate() {
                    if let Some(series) = series.get() {
                        let mut part = Aggregate::default();
                        series.add_window_to(now, window.minutes(), &mut part);
                        status.add(class, part.histogram.count());
                        agg.merge(&part);
                    }
                }
                if agg.histogram.count() > 0 {
                    out.push(RouteStats {
                        route: Arc::clone(&entry.name),
                        method: Method::from_index(m),
                        stats: WindowStats::from_aggregate(&agg),
                        status,
                        resources: entry.resources[m].get().map(ResourceTotals::snapshot),
                    });
                }
            }
        }
        out
    }

    /// All requests over `window`.
    #[must_use]
    pub fn overall(&self, window: Window) -> WindowStats {
        WindowStats::from_aggregate(&self.overall_aggregate(window))
    }

    /// All requests over `window`, as a mergeable aggregate.
    #[must_use]
    pub fn overall_aggregate(&self, window: Window) -> Aggregate {
        let now = self.now_minute();
        let mut agg = Aggregate::default();
        for entry in self.all_routes() {
            for (_, _, series) in entry.each_series() {
                series.add_window_to(now, window.minutes(), &mut agg);
            }
        }
        agg
    }

    /// All requests of the last complete minute (minutes count from the monitor's start).
    #[must_use]
    pub fn last_full_minute(&self) -> WindowStats {
        let Some(minute) = self.now_minute().checked_sub(1) else {
            return WindowStats::default();
        };
        let mut agg = Aggregate::default();
        for entry in self.all_routes() {
            for (_, _, series) in entry.each_series() {
                series.add_minute_to(minute, &mut agg);
            }
        }
        WindowStats::from_aggregate(&agg)
    }

    /// Requests per status class over `window`.
    #[must_use]
    pub fn status_counts(&self, window: Window) -> StatusCounts {
        let now = self.now_minute();
        let mut counts = StatusCounts::default();
        for entry in self.all_routes() {
            for (_, class, series) in entry.each_series() {
                let mut agg = Aggregate::default();
                series.add_window_to(now, window.minutes(), &mut agg);
                counts.add(class, agg.histogram.count());
            }
        }
        counts
    }

    /// Cumulative figures of every (route, method, status class) series, ordered by route id.
    #[must_use]
    pub fn series(&self) -> Vec<SeriesSnapshot> {
        let mut out = Vec::new();
        for entry in self.all_routes() {
            for (method, status_class, series) in entry.each_series() {
                out.push(SeriesSnapshot {
                    route: Arc::clone(&entry.name),
                    method,
                    status_class,
                    counts: series.prometheus_counts(),
                });
            }
        }
        out
    }

    /// Calls `f` with the route, method, status class index ([`status_class_label`](crate::status_class_label)) and
    /// cumulative figures of every (route, method, status class) series: the same series, in
    /// the same order, as [`Monitor::series`], without building snapshots (no `Arc` clone or
    /// `Vec` per series). Each series is read once. The series of one route come one after
    /// the other with the same `&str` (same address), and every route name stays allocated
    /// until the call returns.
    pub fn for_each_series(&self, mut f: impl FnMut(&str, Method, usize, &PrometheusCounts)) {
        for entry in self.all_routes() {
            for (method, status_class, series) in entry.each_series() {
                f(
                    &entry.name,
                    method,
                    status_class,
                    &series.prometheus_counts(),
                );
            }
        }
    }

    fn org_stats(&self, entry: &OrgEntry) -> OrganizationStats {
        let now = self.now_minute();
        let window = |w: Window| {
            let mut agg = Aggregate::default();
            entry.series.add_window_to(now, w.minutes(), &mut agg);
            WindowStats::from_aggregate(&agg)
        };
        OrganizationStats {
            organization_id: Arc::clone(&entry.name),
            last_minute: window(Window::LastMinute),
            last_five_minutes: window(Window::LastFiveMinutes),
            since_start: window(Window::SinceStart),
        }
    }

    /// One organization's figures; `None` if it was never seen (the overflow series answers
    /// to [`OVERFLOW`]).
    #[must_use]
    pub fn organization_stats(&self, id: &str) -> Option<OrganizationStats> {
        if id == OVERFLOW {
            return (self.inner.overflow_org.series.total_count() > 0)
                .then(|| self.org_stats(&self.inner.overflow_org));
        }
        let orgs = self.inner.orgs.pin();
        orgs.get(id).map(|entry| self.org_stats(entry))
    }

    /// Every organization seen (plus the overflow series if it has requests), busiest first.
    #[must_use]
    pub fn organizations(&self) -> Vec<OrganizationStats> {
        let orgs = self.inner.orgs.pin();
        let mut out: Vec<_> = orgs.values().map(|e| self.org_stats(e)).collect();
        if self.inner.overflow_org.series.total_count() > 0 {
            out.push(self.org_stats(&self.inner.overflow_org));
        }
        out.sort_by(|a, b| {
            b.since_start
                .count
                .cmp(&a.since_start.count)
                .then(a.organization_id.cmp(&b.organization_id))
        });
        out
    }

    /// Cumulative Prometheus figures per organization (overflow included when it has
    /// requests), sorted by id.
    #[must_use]
    pub fn organization_counts(&self) -> Vec<(Arc<str>, PrometheusCounts)> {
        let orgs = self.inner.orgs.pin();
        let mut out: Vec<_> = orgs
            .values()
            .map(|e| (Arc::clone(&e.name), e.series.prometheus_counts()))
            .collect();
        let overflow = self.inner.overflow_org.series.prometheus_counts();
        if overflow.count > 0 {
            out.push((Arc::clone(&self.inner.overflow_org.name), overflow));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Requests started and not yet finished.
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        let sum: i64 = self.inner.in_flight.iter().map(|p| p.0.load(Relaxed)).sum();
        u64::try_from(sum).unwrap_or(0)
    }

    /// The requests in the ring, oldest first.
    #[must_use]
    pub fn recent(&self) -> Vec<RequestRecord> {
        let names: Vec<Arc<str>> = {
            let all = self.all_routes();
            let max = all.iter().map(|e| e.id as usize).max().unwrap_or(0);
            let mut names = vec![Arc::<str>::from(OVERFLOW); max + 1];
            for e in all {
                names[e.id as usize] = Arc::clone(&e.name);
            }
            names
        };
        let slow = self.inner.config.slow_threshold;
        self.inner
            .ring
            .snapshot()
            .into_iter()
            .map(|e| {
                let duration = Duration::from_nanos(e.duration_ns);
                RequestRecord {
                    route: names
                        .get(e.route_id as usize)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(OVERFLOW)),
                    method: Method::from_index(e.method.into()),
                    status_code: e.status,
                    timestamp: UNIX_EPOCH + Duration::from_nanos(e.unix_ns),
                    duration,
                    organization_id: (!e.organization.is_empty())
                        .then(|| e.organization.as_str().to_owned()),
                    correlation_id: (!e.correlation_id.is_empty())
                        .then(|| e.correlation_id.as_str().to_owned()),
                    trace_id: (e.trace_id != [0; 16]).then(|| hex(&e.trace_id)),
                    is_slow_request: duration > slow,
                    is_error_response: e.status >= 400,
                    client_aborted: e.flags & Entry::ABORTED != 0,
                    panicked: e.flags & Entry::PANICKED != 0,
                    resources: (e.flags & Entry::MEASURED != 0).then(|| Resources {
                        cpu: Duration::from_nanos(e.cpu_ns),
                        allocated_bytes: Some(e.allocated_bytes).filter(|&b| b > 0),
                        freed_bytes: Some(e.freed_bytes).filter(|_| e.allocated_bytes > 0),
                    }),
                    polls: (e.polls != 0).then(|| Polls {
                        count: (e.polls & 0xFFFF_FFFF) as u32,
                        longest: Duration::from_micros(e.polls >> 32),
                        busy: Duration::from_nanos(e.busy_ns),
                    }),
                    is_high_cpu: e.flags & Entry::HIGH_CPU != 0,
                    is_high_memory: e.flags & Entry::HIGH_MEMORY != 0,
                    blocked_runtime: e.flags & Entry::BLOCKED != 0,
                }
            })
            .collect()
    }

    /// The `limit` slowest requests in the ring, slowest first.
    #[must_use]
    pub fn slowest(&self, limit: usize) -> Vec<RequestRecord> {
        let mut all = self.recent();
        all.sort_by_key(|r| std::cmp::Reverse(r.duration));
        all.truncate(limit);
        all
    }

    /// Requests pushed into the ring since start (equals requests recorded).
    #[must_use]
    pub fn recorded(&self) -> u64 {
        self.inner.ring.pushed()
    }

    /// What the monitor holds now.
    #[must_use]
    pub fn memory(&self) -> MemoryReport {
        let routes = self.all_routes();
        let series_size = size_of::<Series>();
        let mut series_bytes = 0;
        for entry in &routes {
            series_bytes += size_of::<RouteEntry>() + entry.name.len();
            for (_, _, s) in entry.each_series() {
                series_bytes += series_size + s.heap_bytes();
            }
        }
        let orgs = self.inner.orgs.pin();
        for entry in orgs.values() {
            series_bytes += size_of::<OrgEntry>() + entry.name.len() + entry.series.heap_bytes();
        }
        MemoryReport {
            routes: routes.len(),
            organizations: orgs.len(),
            series_bytes,
            ring_bytes: self.inner.ring.heap_bytes(),
        }
    }
}
