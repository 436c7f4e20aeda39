//! Exemplars for the request-duration histogram in OpenMetrics: for each series and bucket, a
//! recent request with a trace id, the slowest one the recent-request ring still holds. Read
//! at scrape time from that fixed ring, so recording a request pays nothing for them and their
//! memory is bounded by the ring (at most one exemplar per ring slot).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::method::Method;
use crate::monitor::{Monitor, status_class};
use crate::series::PROMETHEUS_BUCKETS;

/// Buckets per series: the finite bounds and `+Inf`.
const BUCKETS: usize = PROMETHEUS_BUCKETS.len() + 1;

/// One request shown as an exemplar.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Exemplar {
    /// 32 lowercase hex digits.
    pub(super) trace_id: String,
    /// Duration in seconds.
    pub(super) seconds: f64,
    /// When it started, seconds since the Unix epoch.
    pub(super) timestamp: f64,
}

/// The exemplars of one series, by bucket (`None`: no traced request in that bucket).
pub(super) type SeriesExemplars = [Option<Exemplar>; BUCKETS];

/// Exemplars by route, then (method, status class).
#[derive(Debug, Default)]
pub(super) struct Exemplars(HashMap<Arc<str>, HashMap<(Method, usize), SeriesExemplars>>);

impl Exemplars {
    /// The slowest traced recent request of each series and bucket.
    pub(super) fn collect(monitor: &Monitor) -> Self {
        let mut map: HashMap<Arc<str>, HashMap<(Method, usize), SeriesExemplars>> = HashMap::new();
        for record in monitor.recent() {
            let Some(trace_id) = record.trace_id else {
                continue;
            };
            let seconds = record.duration.as_secs_f64();
            let bucket = PROMETHEUS_BUCKETS.partition_point(|&le| le < seconds);
            let key = (record.method, status_class(record.status_code));
            let slot = &mut map.entry(record.route).or_default().entry(key).or_default()[bucket];
            // `recent` lists oldest first: `>=` keeps the newer of equally slow requests.
            if slot.as_ref().is_none_or(|e| seconds >= e.seconds) {
                let timestamp = record
                    .timestamp
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                *slot = Some(Exemplar {
                    trace_id,
                    seconds,
                    timestamp,
                });
            }
        }
        Self(map)
    }

    /// The exemplars of one series, if any of its buckets has one.
    pub(super) fn get(
        &self,
        route: &str,
        method: Method,
        class: usize,
    ) -> Option<&SeriesExemplars> {
        self.0.get(route)?.get(&(method, class))
    }
}

/// ` # {trace_id="…"} <seconds> <timestamp>` (before the line's newline).
pub(super) fn write_exemplar(out: &mut String, exemplar: &Exemplar) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        " # {{trace_id=\"{}\"}} {} {:.3}",
        exemplar.trace_id, exemplar.seconds, exemplar.timestamp
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::monitor::{RequestSample, RouteKey};

    fn record(monitor: &Monitor, ms: u64, trace: Option<u8>) {
        monitor.record(&RequestSample {
            method: Method::Get,
            route: RouteKey::Template("/a"),
            status: 200,
            start: Instant::now(),
            duration: Duration::from_millis(ms),
            trace_id: trace.map(|t| [t; 16]),
            ..RequestSample::default()
        });
    }

    #[test]
    fn keeps_the_slowest_traced_request_of_each_bucket() {
        let monitor = Monitor::default();
        record(&monitor, 30, Some(1)); // (0.025, 0.05]
        record(&monitor, 45, Some(2)); // same bucket, slower
        record(&monitor, 40, Some(3)); // same bucket, faster: not kept
        record(&monitor, 49, None); // slowest but untraced
        record(&monitor, 3000, Some(4)); // (2.5, 5], bucket 9
        let exemplars = Exemplars::collect(&monitor);
        let series = exemplars.get("/a", Method::Get, status_class(200)).unwrap();
        let kept: Vec<(usize, &str)> = series
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, &e.as_ref()?.trace_id[..2])))
            .collect();
        assert_eq!(kept, vec![(3, "02"), (9, "04")]);
        assert!((series[3].as_ref().unwrap().seconds - 0.045).abs() < 1e-9);
    }

    #[test]
    fn openmetrics_carries_them_and_text_does_not() {
        let monitor = Monitor::default();
        record(&monitor, 45, Some(2));
        record(&monitor, 45, None);
        let mut om = String::new();
        crate::expose::fast::render(
            &monitor,
            None,
            crate::expose::prometheus::Format::OpenMetrics,
            &mut om,
        );
        let trace = "02".repeat(16);
        let line = om
            .lines()
            .find(|l| l.contains("_bucket{") && l.contains("le=\"0.05\""))
            .unwrap();
        assert!(
            line.contains(&format!("}} 2 # {{trace_id=\"{trace}\"}} 0.045 ")),
            "{line}"
        );
        // Only the bucket the request fell in has one.
        assert_eq!(om.matches(" # {trace_id=").count(), 1, "{om}");
        let mut text = String::new();
        crate::expose::fast::render(
            &monitor,
            None,
            crate::expose::prometheus::Format::Text,
            &mut text,
        );
        assert!(!text.contains("trace_id"), "{text}");
    }
}
