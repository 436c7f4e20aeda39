//! One minute's figures per route and method, per organization and for the whole service:
//! what a history store writes once a minute. Readers only (never on the request path), and
//! the mapping from the monitor's minute numbers (counted from its start) to unix minutes.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::method::Method;
use crate::monitor::state::Monitor;
use crate::series::Aggregate;

/// Index of the 5xx status class (see [`crate::status_class`]).
const CLASS_5XX: usize = 4;

/// One minute of one route and method, every status class folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMinute {
    /// The route template (or [`crate::UNMATCHED`] / [`crate::OVERFLOW`]).
    pub route: Arc<str>,
    /// The method.
    pub method: Method,
    /// Histogram, sum, max and errors (status >= 400) of the minute.
    pub figures: Aggregate,
    /// Requests of the minute answered 5xx.
    pub errors_5xx: u64,
}

/// One minute of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationMinute {
    /// The organization id (or [`crate::OVERFLOW`]).
    pub organization_id: Arc<str>,
    /// Histogram, sum, max and errors of the minute.
    pub figures: Aggregate,
}

/// Everything recorded in one minute: see [`Monitor::minute_report`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteReport {
    /// The monitor's minute number (minutes since it started).
    pub minute: u64,
    /// The unix minute (unix seconds / 60) the minute's start falls in.
    pub unix_minute: u64,
    /// Every route and method with requests in the minute, ordered by route id then method.
    pub routes: Vec<RouteMinute>,
    /// The busiest organizations of the minute (at most the number asked for), busiest first.
    pub organizations: Vec<OrganizationMinute>,
    /// Every request of the minute.
    pub service: Aggregate,
    /// Every request of the minute answered 5xx.
    pub service_errors_5xx: u64,
}

impl Monitor {
    /// The minute in progress, counted from the monitor's start.
    #[must_use]
    pub fn current_minute(&self) -> u64 {
        self.now_minute()
    }

    /// The unix minute (unix seconds / 60) in which monitor minute `minute` starts. A monitor
    /// minute straddles two unix minutes; it is attributed to the one its start falls in, so
    /// consecutive monitor minutes map to consecutive unix minutes.
    ///
    /// ```
    /// let monitor = vitals::Monitor::default();
    /// let start = monitor.started_at().duration_since(std::time::UNIX_EPOCH).unwrap();
    /// assert_eq!(monitor.unix_minute_of(0), start.as_secs() / 60);
    /// assert_eq!(monitor.unix_minute_of(3), monitor.unix_minute_of(0) + 3);
    /// ```
    #[must_use]
    pub fn unix_minute_of(&self, minute: u64) -> u64 {
        let start = self
            .inner
            .start_unix
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (start + minute * 60) / 60
    }

    /// The figures of monitor minute `minute` (a full one is `current_minute() - 1`; the one in
    /// progress gives its figures so far): per route and method, the busiest
    /// `max_organizations` organizations, and the service. The series rings keep the last
    /// [`crate::MAX_WINDOW_MINUTES`] full minutes; older minutes come back empty.
    ///
    /// Reads every series once; allocates the report. Call it from a background task.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use vitals::{Method, Monitor, RequestSample, RouteKey};
    ///
    /// let monitor = Monitor::default();
    /// for status in [200, 503] {
    ///     monitor.record(&RequestSample {
    ///         method: Method::Get,
    ///         route: RouteKey::Template("/users/{id}"),
    ///         status,
    ///         start: Instant::now(),
    ///         duration: Duration::from_millis(3),
    ///         organization: Some("acme"),
    ///         ..RequestSample::default()
    ///     });
    /// }
    /// let report = monitor.minute_report(monitor.current_minute(), 100);
    /// assert_eq!(report.routes.len(), 1);
    /// assert_eq!(report.routes[0].figures.histogram.count(), 2);
    /// assert_eq!((report.routes[0].errors_5xx, report.routes[0].figures.errors), (1, 1));
    /// assert_eq!(&*report.organizations[0].organization_id, "acme");
    /// assert_eq!(report.service.histogram.count(), 2);
    /// ```
    #[must_use]
    pub fn minute_report(&self, minute: u64, max_organizations: usize) -> MinuteReport {
        let mut report = MinuteReport {
            minute,
            unix_minute: self.unix_minute_of(minute),
            ..MinuteReport::default()
        };
        for entry in self.all_routes() {
            for (m, classes) in entry.series.iter().enumerate() {
                let mut figures = Aggregate::default();
                let mut errors_5xx = 0;
                for (class, series) in classes.iter().enumerate() {
                    let Some(series) = series.get() else { continue };
                    let mut part = Aggregate::default();
                    series.add_minute_to(minute, &mut part);
                    if class == CLASS_5XX {
                        errors_5xx += part.histogram.count();
                    }
                    figures.merge(&part);
                }
                if figures.histogram.count() > 0 {
                    report.service.merge(&figures);
                    report.service_errors_5xx += errors_5xx;
                    report.routes.push(RouteMinute {
                        route: Arc::clone(&entry.name),
                        method: Method::from_index(m),
                        figures,
                        errors_5xx,
                    });
                }
            }
        }
        if max_organizations > 0 {
            let orgs = self.inner.orgs.pin();
            let all = orgs
                .values()
                .map(|e| &**e)
                .chain(std::iter::once(&*self.inner.overflow_org));
            for entry in all {
                let mut figures = Aggregate::default();
                entry.series.add_minute_to(minute, &mut figures);
                if figures.histogram.count() > 0 {
                    report.organizations.push(OrganizationMinute {
                        organization_id: Arc::clone(&entry.name),
                        figures,
                    });
                }
            }
            report.organizations.sort_by(|a, b| {
                b.figures
                    .histogram
                    .count()
                    .cmp(&a.figures.histogram.count())
                    .then(a.organization_id.cmp(&b.organization_id))
            });
            report.organizations.truncate(max_organizations);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::monitor::config::MonitorConfig;
    use crate::monitor::sample::{RequestSample, RouteKey};

    use super::*;

    fn record(monitor: &Monitor, at: Instant, route: &str, method: Method, status: u16, org: &str) {
        monitor.record(&RequestSample {
            method,
            route: RouteKey::Template(route),
            status,
            start: at,
            duration: Duration::from_millis(10),
            organization: Some(org),
            ..RequestSample::default()
        });
    }

    #[test]
    fn folds_status_classes_and_splits_methods() {
        let monitor = Monitor::new(MonitorConfig::default());
        let now = Instant::now();
        for status in [200, 201, 404, 500, 503] {
            record(&monitor, now, "/a", Method::Get, status, "t1");
        }
        record(&monitor, now, "/a", Method::Post, 200, "t2");
        let r = monitor.minute_report(monitor.current_minute(), 10);
        assert_eq!(r.routes.len(), 2);
        let get = r.routes.iter().find(|r| r.method == Method::Get).unwrap();
        assert_eq!(get.figures.histogram.count(), 5);
        assert_eq!(get.figures.errors, 3);
        assert_eq!(get.errors_5xx, 2);
        assert_eq!(r.service.histogram.count(), 6);
        assert_eq!(r.service_errors_5xx, 2);
        assert_eq!(r.service.sum_ns, 6 * 10_000_000);
        assert_eq!(r.service.max_ns, 10_000_000);
    }

    #[test]
    fn keeps_the_busiest_organizations() {
        let monitor = Monitor::new(MonitorConfig::default());
        let now = Instant::now();
        for (org, n) in [("small", 1), ("big", 5), ("mid", 3)] {
            for _ in 0..n {
                record(&monitor, now, "/a", Method::Get, 200, org);
            }
        }
        let r = monitor.minute_report(monitor.current_minute(), 2);
        let ids: Vec<&str> = r
            .organizations
            .iter()
            .map(|o| &*o.organization_id)
            .collect();
        assert_eq!(ids, ["big", "mid"]);
        assert!(
            monitor
                .minute_report(monitor.current_minute(), 0)
                .organizations
                .is_empty()
        );
    }

    #[test]
    fn other_minutes_are_empty_and_unix_minutes_follow() {
        let monitor = Monitor::new(MonitorConfig::default());
        record(&monitor, Instant::now(), "/a", Method::Get, 200, "t");
        let now = monitor.current_minute();
        let next = monitor.minute_report(now + 1, 10);
        assert!(next.routes.is_empty() && next.organizations.is_empty());
        assert_eq!(next.service.histogram.count(), 0);
        assert_eq!(next.unix_minute, monitor.unix_minute_of(now) + 1);
        let wall = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60;
        assert!(monitor.unix_minute_of(now).abs_diff(wall) <= 1);
    }
}
