//! What the store takes in once a minute: a [`MinuteBatch`] of request [`Point`]s, one
//! [`SystemPoint`] and the alert transitions of the minute.
//!
//! The types are the store's own, so that the store depends only on the core's histogram
//! index space: buckets are the core histogram's indexes (DDSketch mapping, γ ≈ 1.0202, see
//! [`vitals::histogram`]), and conversions from the core's types make the adapter that reads
//! a `Monitor` short.

use std::fmt;
use std::str::FromStr;

use vitals::Aggregate;
use vitals::HistogramSnapshot;
use vitals::Method;

/// Longest series name (route template or tenant id) the store keeps, in bytes; longer names
/// are refused so that no stranger-chosen string grows the series table without bound.
pub const MAX_NAME_BYTES: usize = 512;

/// A request series: the whole service, one route and method, or one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKey {
    /// Every request.
    Service,
    /// One route template and method.
    Route {
        /// Request method.
        method: Method,
        /// Route template, e.g. `/api/orgs/{orgId}`.
        template: String,
    },
    /// One tenant (organization id).
    Tenant(String),
}

impl SeriesKey {
    /// The series of a route template and method.
    #[must_use]
    pub fn route(method: Method, template: impl Into<String>) -> Self {
        SeriesKey::Route {
            method,
            template: template.into(),
        }
    }

    /// `(kind, method, name)` as stored.
    pub(crate) fn parts(&self) -> (i64, &str, &str) {
        match self {
            SeriesKey::Service => (0, "", ""),
            SeriesKey::Route { method, template } => (1, method.as_str(), template),
            SeriesKey::Tenant(id) => (2, "", id),
        }
    }

    /// The key stored as `(kind, method, name)`; `None` for a kind this version does not know.
    pub(crate) fn from_parts(kind: i64, method: &str, name: String) -> Option<Self> {
        match kind {
            0 => Some(SeriesKey::Service),
            1 => Some(SeriesKey::Route {
                method: Method::from_bytes(method.as_bytes()),
                template: name,
            }),
            2 => Some(SeriesKey::Tenant(name)),
            _ => None,
        }
    }
}

/// `service`, `route:<METHOD> <template>` or `tenant:<id>`: the `series=` spelling of the
/// history endpoint.
impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeriesKey::Service => f.write_str("service"),
            SeriesKey::Route { method, template } => {
                write!(f, "route:{} {template}", method.as_str())
            }
            SeriesKey::Tenant(id) => write!(f, "tenant:{id}"),
        }
    }
}

/// A series name that [`HistorySeries::from_str`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown series syntax (expected service, system, route:<METHOD> <template> or tenant:<id>)"
)]
pub struct SeriesSyntaxError;

/// What a history query names: a request series or the system figures.
///
/// ```
/// use vitals::Method;
/// use vitals_store::{HistorySeries, SeriesKey};
///
/// let s: HistorySeries = "route:GET /api/orgs/{orgId}".parse().unwrap();
/// assert_eq!(s, HistorySeries::Requests(SeriesKey::route(Method::Get, "/api/orgs/{orgId}")));
/// assert_eq!(s.to_string(), "route:GET /api/orgs/{orgId}");
/// assert_eq!("system".parse::<HistorySeries>().unwrap(), HistorySeries::System);
/// assert!("route:/x".parse::<HistorySeries>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HistorySeries {
    /// A request series.
    Requests(SeriesKey),
    /// Memory, CPU and runtime figures.
    System,
}

impl fmt::Display for HistorySeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistorySeries::Requests(key) => key.fmt(f),
            HistorySeries::System => f.write_str("system"),
        }
    }
}

impl FromStr for HistorySeries {
    type Err = SeriesSyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = match s {
            "service" => SeriesKey::Service,
            "system" => return Ok(HistorySeries::System),
            _ => {
                if let Some(rest) = s.strip_prefix("route:") {
                    let (method, template) = rest.split_once(' ').ok_or(SeriesSyntaxError)?;
                    let known = Method::from_bytes(method.as_bytes());
                    if known.as_str() != method || !template.starts_with('/') {
                        return Err(SeriesSyntaxError);
                    }
                    SeriesKey::route(known, template)
                } else if let Some(id) = s.strip_prefix("tenant:") {
                    if id.is_empty() {
                        return Err(SeriesSyntaxError);
                    }
                    SeriesKey::Tenant(id.to_owned())
                } else {
                    return Err(SeriesSyntaxError);
                }
            }
        };
        Ok(HistorySeries::Requests(key))
    }
}

/// Sparse histogram buckets in the core histogram's index space: `(index, count)`, indexes
/// ascending, counts non-zero. Merging adds counts, so the percentiles of any span come from
/// merged buckets, never from averaged percentiles.
///
/// ```
/// use vitals::AtomicHistogram;
/// use vitals_store::Buckets;
///
/// let h = AtomicHistogram::new();
/// h.record(1_000_000);
/// h.record(3_000_000);
/// let mut b = Buckets::from(&h.snapshot());
/// b.merge(&Buckets::from(&h.snapshot()));
/// assert_eq!(b.total(), 4);
/// assert_eq!(b.to_snapshot().quantile(1.0), h.snapshot().quantile(1.0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets(Vec<(u32, u64)>);

impl Buckets {
    /// Wraps pairs already sorted by index with non-zero counts.
    pub(crate) fn from_sorted_unchecked(pairs: Vec<(u32, u64)>) -> Self {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(pairs.iter().all(|&(_, n)| n > 0));
        Buckets(pairs)
    }

    /// Adds `n` to bucket `index` (no-op for `n == 0`).
    pub fn add(&mut self, index: u32, n: u64) {
        if n == 0 {
            return;
        }
        match self.0.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(pos) => self.0[pos].1 = self.0[pos].1.saturating_add(n),
            Err(pos) => self.0.insert(pos, (index, n)),
        }
    }

    /// Adds every count of `other` (a linear merge of two sorted lists).
    pub fn merge(&mut self, other: &Buckets) {
        if other.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0.clone_from(&other.0);
            return;
        }
        let mut out = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&(i, n)), Some(&&(j, m))) => {
                    if i == j {
                        out.push((i, n.saturating_add(m)));
                        a.next();
                        b.next();
                    } else if i < j {
                        out.push((i, n));
                        a.next();
                    } else {
                        out.push((j, m));
                        b.next();
                    }
                }
                (Some(_), None) => out.extend(a.by_ref().copied()),
                (None, Some(_)) => out.extend(b.by_ref().copied()),
                (None, None) => break,
            }
        }
        self.0 = out;
    }

    /// The pairs, ascending by index.
    pub fn iter(&self) -> impl Iterator<Item = &(u32, u64)> {
        self.0.iter()
    }

    /// Number of non-empty buckets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no bucket holds a value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sum of all counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |t, &(_, n)| t.saturating_add(n))
    }

    /// Sum of the counts of buckets at most `last_index`.
    #[must_use]
    pub fn total_up_to(&self, last_index: u32) -> u64 {
        self.0
            .iter()
            .take_while(|&&(i, _)| i <= last_index)
            .fold(0u64, |t, &(_, n)| t.saturating_add(n))
    }

    /// A core snapshot of these buckets, for its quantiles (the same representative value per
    /// bucket as every other percentile vitals reports).
    #[must_use]
    pub fn to_snapshot(&self) -> HistogramSnapshot {
        let mut snap = HistogramSnapshot::default();
        for &(i, n) in &self.0 {
            snap.add(i as usize, n);
        }
        snap
    }
}

impl From<&HistogramSnapshot> for Buckets {
    fn from(snap: &HistogramSnapshot) -> Self {
        Buckets::from_sorted_unchecked(
            snap.buckets()
                .iter()
                .copied()
                .filter(|&(_, n)| n > 0)
                .collect(),
        )
    }
}

/// One minute of one request series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Which series.
    pub series: SeriesKey,
    /// Requests finished in the minute.
    pub count: u64,
    /// Requests answered 5xx.
    pub errors_5xx: u64,
    /// Requests answered with status 400 or above (5xx included), as the core counts errors.
    pub errors: u64,
    /// Sum of durations, µs.
    pub sum_us: u64,
    /// Longest duration, µs.
    pub max_us: u64,
    /// Latency histogram.
    pub buckets: Buckets,
}

impl Point {
    /// A point from a core aggregate (a window of one or more series), given the 5xx count the
    /// aggregate does not keep apart.
    ///
    /// ```
    /// use vitals::{Aggregate, Observation, Series};
    /// use vitals_store::{Point, SeriesKey};
    ///
    /// let s = Series::default();
    /// s.record(&Observation::new(0, 2_000_000, true));
    /// let mut agg = Aggregate::default();
    /// s.add_minute_to(0, &mut agg);
    /// let p = Point::from_aggregate(SeriesKey::Service, &agg, 1);
    /// assert_eq!((p.count, p.errors, p.errors_5xx, p.max_us), (1, 1, 1, 2_000));
    /// ```
    #[must_use]
    pub fn from_aggregate(series: SeriesKey, agg: &Aggregate, errors_5xx: u64) -> Self {
        Point {
            series,
            count: agg.histogram.count(),
            errors_5xx,
            errors: agg.errors,
            sum_us: agg.sum_ns / 1_000,
            max_us: agg.max_ns / 1_000,
            buckets: Buckets::from(&agg.histogram),
        }
    }
}

/// The process and runtime figures of one minute (each `None` when not measured).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemPoint {
    /// Resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Heap allocated by the application, bytes.
    pub heap_bytes: Option<u64>,
    /// CPU use; 100 = one core.
    pub cpu_percent: Option<f64>,
    /// Runtime workers' busy ratio, 0 to 1.
    pub busy_ratio: Option<f64>,
    /// 99th percentile scheduling delay of the runtime probe, ms.
    pub scheduling_delay_ms: Option<f64>,
}

impl SystemPoint {
    /// The figures as stored, in column order.
    pub(crate) fn values(&self) -> [Option<f64>; 5] {
        [
            self.rss_bytes.map(|v| v as f64),
            self.heap_bytes.map(|v| v as f64),
            self.cpu_percent,
            self.busy_ratio,
            self.scheduling_delay_ms,
        ]
    }
}

impl From<&vitals::SystemSnapshot> for SystemPoint {
    fn from(s: &vitals::SystemSnapshot) -> Self {
        SystemPoint {
            rss_bytes: s.process.rss_bytes,
            heap_bytes: s.heap.map(|h| h.allocated_bytes),
            cpu_percent: s.cpu_percent,
            busy_ratio: s.runtime.as_ref().map(|r| r.busy_ratio),
            scheduling_delay_ms: s.runtime.as_ref().map(|r| r.scheduling_delay_p99_ms),
        }
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// Started firing.
    Fired,
    /// Moved to a higher severity.
    Escalated,
    /// Moved to a lower severity, still firing.
    Deescalated,
    /// Stopped firing.
    Resolved,
}

impl Transition {
    /// `fired`, `escalated`, `deescalated` or `resolved`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Fired => "fired",
            Transition::Escalated => "escalated",
            Transition::Deescalated => "deescalated",
            Transition::Resolved => "resolved",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            Transition::Fired,
            Transition::Escalated,
            Transition::Deescalated,
            Transition::Resolved,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// One alert transition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertTransition {
    /// The alert's id (stable across its transitions).
    pub id: String,
    /// The rule, e.g. `memory` or a budget's name.
    pub rule: String,
    /// Severity after the transition, e.g. `warning`, `critical`, `page`, `ticket`.
    pub severity: String,
    /// What happened.
    pub transition: Transition,
    /// When, unix milliseconds.
    pub at_ms: i64,
}

/// An alert active when it was stored (see [`Store::set_active_alerts`](crate::Store::set_active_alerts)):
/// what the core's alert engine needs to hold it across a restart, and the identity its
/// notifications carried (`id`, `instance`, `service`), so a resolve after the restart names
/// the same alert instance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActiveAlert {
    /// The alert's `type` (its rule, e.g. `memory`, or a condition such as `budgetPage:api`).
    pub rule: String,
    /// The notification id (PagerDuty's dedup key).
    pub id: String,
    /// `warning` or `critical`.
    pub severity: String,
    /// The alert's message.
    pub message: String,
    /// Latest value (NaN when unknown).
    pub value: f64,
    /// Threshold of the current severity (NaN when none).
    pub threshold: f64,
    /// When it started firing, unix milliseconds.
    pub firing_since_ms: i64,
    /// When `value` was observed, unix milliseconds.
    pub at_ms: i64,
    /// The instance its notifications named.
    pub instance: String,
    /// The service its notifications named.
    pub service: String,
}

/// Everything the store takes for one minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinuteBatch {
    /// Unix minute (unix seconds / 60) the figures belong to.
    pub minute: i64,
    /// One point per request series with traffic in the minute.
    pub points: Vec<Point>,
    /// The process figures, if sampled.
    pub system: Option<SystemPoint>,
    /// Alert transitions of the minute.
    pub alerts: Vec<AlertTransition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn merge_equals_adding_one_by_one(
            a in proptest::collection::vec((0u32..2000, 1u64..1000), 0..60),
            b in proptest::collection::vec((0u32..2000, 1u64..1000), 0..60),
        ) {
            let (mut x, mut y, mut both) = (Buckets::default(), Buckets::default(), Buckets::default());
            for &(i, n) in &a { x.add(i, n); both.add(i, n); }
            for &(i, n) in &b { y.add(i, n); both.add(i, n); }
            x.merge(&y);
            prop_assert_eq!(x, both);
        }

        #[test]
        fn series_names_round_trip(template in "/[a-z{}/]{0,20}", id in "[a-z0-9]{1,10}") {
            for key in [
                SeriesKey::Service,
                SeriesKey::route(Method::Post, template.clone()),
                SeriesKey::Tenant(id.clone()),
            ] {
                let parsed: HistorySeries = key.to_string().parse().unwrap();
                prop_assert_eq!(parsed, HistorySeries::Requests(key));
            }
        }
    }

    #[test]
    fn bad_series_names_are_refused() {
        for bad in [
            "",
            "route:",
            "route:GET",
            "route:get /x",
            "tenant:",
            "routes",
            "route:GET x",
        ] {
            assert!(bad.parse::<HistorySeries>().is_err(), "{bad:?}");
        }
    }
}
