//! The request monitor: where every request is recorded and every report is read.
//!
//! [`Monitor`] is a cheap handle (`Arc` inside) shared by the middleware that records and the
//! endpoints that read. Recording ([`Monitor::record`]) looks the route and organization up in
//! lock-free maps (`papaya`), adds the duration to two cells of each series (totals and the
//! current minute) and writes the request into the [ring](crate::ring). It takes no lock and,
//! once a route, method and status class have been seen, allocates nothing.
//!
//! # Bounded by construction
//!
//! - Routes are route templates. At most [`MonitorConfig::max_routes`] distinct templates get
//!   their own series; later ones fold into [`OVERFLOW`]. Requests that matched no route fold
//!   into [`UNMATCHED`], whatever their path.
//! - Organizations: at most [`MonitorConfig::max_organizations`] get their own series, later
//!   ones fold into [`OVERFLOW`]. A request answered 404 never creates an organization series
//!   (so a scan of made-up tenant ids lands in the overflow series), nor does an id that is not
//!   1 to 64 bytes of `A-Z a-z 0-9 . _ - : @ ~`.
//! - The ring has a fixed number of slots.
//!
//! Each series holds 8 cells (totals plus 7 one-minute slots) of a few dozen bytes plus
//! histogram chunks of 256 bytes allocated as latencies land in them; see
//! [`MemoryReport`] and ARCHITECTURE.md for the bound.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey, Window};
//!
//! let monitor = Monitor::new(MonitorConfig::default());
//! monitor.record(&RequestSample {
//!     method: Method::Get,
//!     route: RouteKey::Template("/api/orgs/{orgId}/properties"),
//!     status: 200,
//!     start: Instant::now(),
//!     duration: Duration::from_millis(12),
//!     organization: Some("acme"),
//!     ..RequestSample::default()
//! });
//! let overall = monitor.overall(Window::SinceStart);
//! assert_eq!(overall.count, 1);
//! assert_eq!(monitor.organization_stats("acme").unwrap().since_start.count, 1);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::race::OnceBox;
use serde::{Serialize, Serializer};

use crate::Method;
use crate::ring::{Entry, EntryRef, Ring};
use crate::series::{Aggregate, Observation, PrometheusCounts, Series};

/// Route label of requests that matched no route.
pub const UNMATCHED: &str = "(unmatched)";
/// Label of the series that collects routes or organizations beyond the cap.
pub const OVERFLOW: &str = "(overflow)";

/// Number of status classes tracked per route and method: 1xx..5xx and "other".
pub const STATUS_CLASSES: usize = 6;

/// Settings of a [`Monitor`]. Every field has a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MonitorConfig {
    /// Slots of the recent-request ring. Default 2000 (the seed's).
    pub ring_capacity: usize,
    /// A request slower than this is a slow request. Default 1 s.
    pub slow_threshold: Duration,
    /// Distinct route templates with their own series. Default 1000.
    pub max_routes: usize,
    /// Distinct organizations with their own series. Default 10,000.
    pub max_organizations: usize,
    /// A request that used more CPU than this is `isHighCpu`. Default 100 ms (the seed's).
    pub high_cpu_threshold: Duration,
    /// A request that allocated more than this is `isHighMemory`. Default 16 MiB.
    pub high_memory_threshold: u64,
    /// A single poll longer than this blocked the runtime. Default 10 ms.
    pub blocking_poll_threshold: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            ring_capacity: 2000,
            slow_threshold: Duration::from_secs(1),
            max_routes: 1000,
            max_organizations: 10_000,
            high_cpu_threshold: Duration::from_millis(100),
            high_memory_threshold: 16 << 20,
            blocking_poll_threshold: Duration::from_millis(10),
        }
    }
}

impl MonitorConfig {
    /// Sets [`MonitorConfig::ring_capacity`].
    #[must_use]
    pub fn ring_capacity(mut self, slots: usize) -> Self {
        self.ring_capacity = slots.max(1);
        self
    }

    /// Sets [`MonitorConfig::slow_threshold`].
    #[must_use]
    pub fn slow_threshold(mut self, threshold: Duration) -> Self {
        self.slow_threshold = threshold;
        self
    }

    /// Sets [`MonitorConfig::max_routes`].
    #[must_use]
    pub fn max_routes(mut self, routes: usize) -> Self {
        self.max_routes = routes;
        self
    }

    /// Sets [`MonitorConfig::max_organizations`].
    #[must_use]
    pub fn max_organizations(mut self, organizations: usize) -> Self {
        self.max_organizations = organizations;
        self
    }

    /// Sets [`MonitorConfig::high_cpu_threshold`].
    #[must_use]
    pub fn high_cpu_threshold(mut self, threshold: Duration) -> Self {
        self.high_cpu_threshold = threshold;
        self
    }

    /// Sets [`MonitorConfig::high_memory_threshold`].
    #[must_use]
    pub fn high_memory_threshold(mut self, bytes: u64) -> Self {
        self.high_memory_threshold = bytes;
        self
    }

    /// Sets [`MonitorConfig::blocking_poll_threshold`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = vitals::MonitorConfig::default().blocking_poll_threshold(Duration::from_millis(50));
    /// assert_eq!(config.blocking_poll_threshold, Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn blocking_poll_threshold(mut self, threshold: Duration) -> Self {
        self.blocking_poll_threshold = threshold;
        self
    }
}

/// How a request names its route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RouteKey<'a> {
    /// A route template from the router (`/api/orgs/{orgId}`): used as is.
    Template(&'a str),
    /// A raw path from a framework without templates: folded by
    /// [`normalize_path`](crate::normalize::normalize_path) first.
    Path(&'a str),
    /// No route matched (a 404 from the router's fallback).
    #[default]
    Unmatched,
}

/// One finished request, as the middleware hands it to [`Monitor::record`].
#[derive(Debug, Clone, Copy)]
pub struct RequestSample<'a> {
    /// Request method.
    pub method: Method,
    /// Route template, raw path, or unmatched.
    pub route: RouteKey<'a>,
    /// Response status (499 when the client went away first).
    pub status: u16,
    /// When the request arrived (monotonic clock).
    pub start: Instant,
    /// From arrival to the end (or drop) of the response body.
    pub duration: Duration,
    /// Tenant, if known.
    pub organization: Option<&'a str>,
    /// Correlation id (empty: none).
    pub correlation_id: &'a str,
    /// W3C trace id, if the request carried one.
    pub trace_id: Option<[u8; 16]>,
    /// The client went away before the response ended.
    pub aborted: bool,
    /// The handler panicked.
    pub panicked: bool,
    /// What the request's polls consumed, when measured (sampled; see [`Resources`]).
    pub resources: Option<Resources>,
    /// How many times the request's future and body were polled and the longest poll, when the
    /// integration timed them (the axum layer does for every request).
    pub polls: Option<Polls>,
}

/// What a request's polls consumed: CPU time read from the thread's CPU clock around each poll
/// of the request's future and of its response body, and bytes allocated and freed on the
/// thread during those polls. Reading the CPU clock is a system call, so integrations measure
/// one request in N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU time of the polls.
    pub cpu: Duration,
    /// Bytes allocated during the polls (`None`: no allocator that reports per thread).
    pub allocated_bytes: Option<u64>,
    /// Bytes freed during the polls.
    pub freed_bytes: Option<u64>,
}

/// How a request was polled: its future and its response body, each poll timed on the
/// monotonic clock. A poll longer than [`MonitorConfig::blocking_poll_threshold`] held its
/// worker thread that long, blocking the other tasks queued on it.
///
/// ```
/// use std::time::Duration;
/// let polls = vitals::Polls { count: 2, longest: Duration::from_millis(3) };
/// assert_eq!(polls.count, 2);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polls {
    /// Number of polls.
    pub count: u32,
    /// The longest single poll (wall time).
    pub longest: Duration,
}

impl Default for RequestSample<'_> {
    fn default() -> Self {
        Self {
            method: Method::Get,
            route: RouteKey::Unmatched,
            status: 200,
            start: Instant::now(),
            duration: Duration::ZERO,
            organization: None,
            correlation_id: "",
            trace_id: None,
            aborted: false,
            panicked: false,
            resources: None,
            polls: None,
        }
    }
}

/// A window of time the aggregates cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The current minute and the one before it (60 to 120 s).
    LastMinute,
    /// The current minute and the five before it (300 to 360 s).
    LastFiveMinutes,
    /// Everything since the monitor started.
    SinceStart,
}

impl Window {
    /// All windows, shortest first.
    pub const ALL: [Window; 3] = [
        Window::LastMinute,
        Window::LastFiveMinutes,
        Window::SinceStart,
    ];

    fn minutes(self) -> Option<u64> {
        match self {
            Window::LastMinute => Some(1),
            Window::LastFiveMinutes => Some(5),
            Window::SinceStart => None,
        }
    }

    /// The camelCase key used in JSON (`lastMinute`, `lastFiveMinutes`, `sinceStart`).
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Window::LastMinute => "lastMinute",
            Window::LastFiveMinutes => "lastFiveMinutes",
            Window::SinceStart => "sinceStart",
        }
    }

    /// Parses [`Window::key`] or the short forms `1m`, `5m`, `all`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1m" | "lastMinute" => Some(Window::LastMinute),
            "5m" | "lastFiveMinutes" => Some(Window::LastFiveMinutes),
            "all" | "sinceStart" => Some(Window::SinceStart),
            _ => None,
        }
    }
}

/// Latency and error figures of one window. Durations serialize as fractional milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowStats {
    /// Requests.
    pub count: u64,
    /// Requests answered with status >= 400 (client aborts and panics included).
    pub errors: u64,
    /// Sum of durations.
    pub total: Duration,
    /// Longest duration.
    pub max: Duration,
    /// Median (within 1%).
    pub p50: Duration,
    /// 95th percentile (within 1%).
    pub p95: Duration,
    /// 99th percentile (within 1%).
    pub p99: Duration,
}

impl WindowStats {
    /// Mean duration (zero when empty).
    #[must_use]
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            let ns = self.total.as_nanos() / u128::from(self.count);
            Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
        }
    }

    /// Errors over requests, 0..1 (0 when empty).
    #[must_use]
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }

    /// Builds the figures from an aggregate.
    #[must_use]
    pub fn from_aggregate(agg: &Aggregate) -> Self {
        // A bucket's representative value may pass the exact maximum by up to 1%: clamp.
        let q = |q| Duration::from_nanos(agg.histogram.quantile(q).unwrap_or(0).min(agg.max_ns));
        Self {
            count: agg.histogram.count(),
            errors: agg.errors,
            total: Duration::from_nanos(agg.sum_ns),
            max: Duration::from_nanos(agg.max_ns),
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// Fractional milliseconds of a duration.
#[must_use]
pub fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Serialize for WindowStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct View {
            count: u64,
            errors: u64,
            error_rate: f64,
            mean_ms: f64,
            p50_ms: f64,
            p95_ms: f64,
            p99_ms: f64,
            max_ms: f64,
        }
        View {
            count: self.count,
            errors: self.errors,
            error_rate: self.error_rate(),
            mean_ms: as_ms(self.mean()),
            p50_ms: as_ms(self.p50),
            p95_ms: as_ms(self.p95),
            p99_ms: as_ms(self.p99),
            max_ms: as_ms(self.max),
        }
        .serialize(s)
    }
}

/// Requests per status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// 1xx
    #[serde(rename = "1xx")]
    pub informational: u64,
    /// 2xx
    #[serde(rename = "2xx")]
    pub success: u64,
    /// 3xx
    #[serde(rename = "3xx")]
    pub redirection: u64,
    /// 4xx (and 499 client aborts)
    #[serde(rename = "4xx")]
    pub client_error: u64,
    /// 5xx
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// Anything else
    #[serde(rename = "other")]
    pub other: u64,
}

impl StatusCounts {
    fn add(&mut self, class: usize, n: u64) {
        let slot = match class {
            0 => &mut self.informational,
            1 => &mut self.success,
            2 => &mut self.redirection,
            3 => &mut self.client_error,
            4 => &mut self.server_error,
            _ => &mut self.other,
        };
        *slot += n;
    }
}

/// The status class index of a status code (0 = 1xx .. 4 = 5xx, 5 = other).
#[must_use]
pub fn status_class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => 5,
    }
}

/// The label of a status class index (`"2xx"`, …, `"other"`).
#[must_use]
pub fn status_class_label(class: usize) -> &'static str {
    ["1xx", "2xx", "3xx", "4xx", "5xx", "other"][class.min(5)]
}

/// One route and method over one window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStats {
    /// Route template (or [`UNMATCHED`] / [`OVERFLOW`]).
    pub route: Arc<str>,
    /// Method.
    pub method: Method,
    /// Latency and errors.
    #[serde(flatten)]
    pub stats: WindowStats,
    /// Requests per status class.
    pub status: StatusCounts,
    /// CPU, allocation and polls since start (whatever the window), once the route has a
    /// measured request or a poll of a tenth of the blocking threshold or more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<RouteResources>,
}

/// One organization over every window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStats {
    /// Organization id (or [`OVERFLOW`]).
    pub organization_id: Arc<str>,
    /// Last minute (60 to 120 s).
    pub last_minute: WindowStats,
    /// Last five minutes (300 to 360 s).
    pub last_five_minutes: WindowStats,
    /// Since start.
    pub since_start: WindowStats,
}

/// Cumulative figures of one (route, method, status class) series, for exposition.
#[derive(Debug, Clone)]
pub struct SeriesSnapshot {
    /// Route template.
    pub route: Arc<str>,
    /// Method.
    pub method: Method,
    /// Status class index ([`status_class_label`]).
    pub status_class: usize,
    /// Prometheus buckets, count, sum and errors since start.
    pub counts: PrometheusCounts,
}

/// A request from the ring, with names resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// Route template (the seed's normalized path).
    pub route: Arc<str>,
    /// Method.
    pub method: Method,
    /// Status code.
    pub status_code: u16,
    /// When the request arrived.
    pub timestamp: SystemTime,
    /// Until the end of the response body.
    pub duration: Duration,
    /// Tenant, if known.
    pub organization_id: Option<String>,
    /// Correlation id, if any.
    pub correlation_id: Option<String>,
    /// W3C trace id (32 lowercase hex), if any.
    pub trace_id: Option<String>,
    /// Slower than [`MonitorConfig::slow_threshold`].
    pub is_slow_request: bool,
    /// Status >= 400.
    pub is_error_response: bool,
    /// The client went away before the response ended.
    pub client_aborted: bool,
    /// The handler panicked.
    pub panicked: bool,
    /// CPU and allocation, when this request was measured (sampled).
    pub resources: Option<Resources>,
    /// Its polls, when the integration timed them.
    pub polls: Option<Polls>,
    /// Used more CPU than [`MonitorConfig::high_cpu_threshold`].
    pub is_high_cpu: bool,
    /// Allocated more than [`MonitorConfig::high_memory_threshold`].
    pub is_high_memory: bool,
    /// Had a poll longer than [`MonitorConfig::blocking_poll_threshold`].
    pub blocked_runtime: bool,
}

impl Serialize for RequestRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct View<'a> {
            path: &'a str,
            method: Method,
            status_code: u16,
            timestamp: String,
            duration: f64,
            #[serde(skip_serializing_if = "Option::is_none")]
            organization_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            correlation_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            trace_id: Option<&'a str>,
            is_slow_request: bool,
            is_error_response: bool,
            client_aborted: bool,
            panicked: bool,
            resources_measured: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            cpu_time_ms: Option<f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            allocated_bytes: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            freed_bytes: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            polls: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            longest_poll_ms: Option<f64>,
            is_high_cpu: bool,
            is_high_memory: bool,
            blocked_runtime: bool,
        }
        let r = self.resources;
        View {
            path: &self.route,
            method: self.method,
            status_code: self.status_code,
            timestamp: humantime::format_rfc3339_micros(self.timestamp).to_string(),
            duration: as_ms(self.duration),
            organization_id: self.organization_id.as_deref(),
            correlation_id: self.correlation_id.as_deref(),
            trace_id: self.trace_id.as_deref(),
            is_slow_request: self.is_slow_request,
            is_error_response: self.is_error_response,
            client_aborted: self.client_aborted,
            panicked: self.panicked,
            resources_measured: r.is_some(),
            cpu_time_ms: r.map(|r| as_ms(r.cpu)),
            allocated_bytes: r.and_then(|r| r.allocated_bytes),
            freed_bytes: r.and_then(|r| r.freed_bytes),
            polls: self.polls.map(|p| p.count),
            longest_poll_ms: self.polls.map(|p| as_ms(p.longest)),
            is_high_cpu: self.is_high_cpu,
            is_high_memory: self.is_high_memory,
            blocked_runtime: self.blocked_runtime,
        }
        .serialize(s)
    }
}

/// What the monitor holds in memory right now, and the most it can hold.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryReport {
    /// Route series with their own entry.
    pub routes: usize,
    /// Organizations with their own entry.
    pub organizations: usize,
    /// Bytes of series and histograms now.
    pub series_bytes: usize,
    /// Bytes of the ring (fixed).
    pub ring_bytes: usize,
}

struct RouteEntry {
    id: u32,
    name: Arc<str>,
    series: [[OnceBox<Series>; STATUS_CLASSES]; Method::ALL.len()],
    resources: [OnceBox<ResourceTotals>; Method::ALL.len()],
}

/// Since-start sums of one route and method: CPU, allocation and polls over the measured
/// requests; the longest poll and the blocking count over every request whose polls were timed.
///
/// Cache-line aligned: every request with a long poll reads `longest_poll_ns`, and a box
/// allocated next to a series' counters shared a line with words other threads write on every
/// request (two threads recording took 2.5 times as long).
#[derive(Debug, Default)]
#[repr(align(64))]
struct ResourceTotals {
    measured: AtomicU64,
    /// Measured requests whose allocations were known (an allocator that counts per thread).
    allocations_known: AtomicU64,
    cpu_ns: AtomicU64,
    allocated_bytes: AtomicU64,
    freed_bytes: AtomicU64,
    polls: AtomicU64,
    longest_poll_ns: AtomicU64,
    high_cpu: AtomicU64,
    high_memory: AtomicU64,
    blocked: AtomicU64,
}

/// Resource figures of one route and method since start. CPU, allocation and polls per
/// request are over the requests that were measured (sampled, `measured` of them); the longest
/// poll and `blocked_runtime` are over every request whose polls were timed (all of them under
/// the axum layer), counting polls of a tenth of the blocking threshold or more (1 ms by
/// default; each request's own record has its longest poll whatever its length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteResources {
    /// Requests measured.
    pub measured: u64,
    /// Mean CPU time per measured request, ms (`None`: none measured yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_request: Option<f64>,
    /// Total CPU time of measured requests, ms.
    pub cpu_ms_total: f64,
    /// Mean bytes allocated per measured request (`None`: none measured yet, or no allocator
    /// that counts per thread).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_bytes_per_request: Option<f64>,
    /// Mean bytes freed per measured request (`None` as for `allocated_bytes_per_request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freed_bytes_per_request: Option<f64>,
    /// Mean polls per measured request (`None`: none measured yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polls_per_request: Option<f64>,
    /// The longest single poll seen, ms (every timed request; 0 while no poll reached a tenth
    /// of the blocking threshold).
    pub longest_poll_ms: f64,
    /// Measured requests over the CPU threshold.
    pub high_cpu: u64,
    /// Measured requests over the allocation threshold.
    pub high_memory: u64,
    /// Requests with a poll over the blocking threshold (every timed request).
    pub blocked_runtime: u64,
}

impl ResourceTotals {
    fn snapshot(&self) -> RouteResources {
        let n = self.measured.load(Relaxed);
        let per = |v: u64| (n > 0).then(|| v as f64 / n as f64);
        let known = self.allocations_known.load(Relaxed);
        let per_known = |v: u64| (known > 0).then(|| v as f64 / known as f64);
        let cpu_ns = self.cpu_ns.load(Relaxed);
        RouteResources {
            measured: n,
            cpu_ms_per_request: per(cpu_ns).map(|ns| ns / 1e6),
            cpu_ms_total: cpu_ns as f64 / 1e6,
            allocated_bytes_per_request: per_known(self.allocated_bytes.load(Relaxed)),
            freed_bytes_per_request: per_known(self.freed_bytes.load(Relaxed)),
            polls_per_request: per(self.polls.load(Relaxed)),
            longest_poll_ms: self.longest_poll_ns.load(Relaxed) as f64 / 1e6,
            high_cpu: self.high_cpu.load(Relaxed),
            high_memory: self.high_memory.load(Relaxed),
            blocked_runtime: self.blocked.load(Relaxed),
        }
    }
}

impl RouteEntry {
    fn new(id: u32, name: &str) -> Self {
        Self {
            id,
            name: Arc::from(name),
            series: std::array::from_fn(|_| std::array::from_fn(|_| OnceBox::new())),
            resources: std::array::from_fn(|_| OnceBox::new()),
        }
    }

    #[inline]
    fn series(&self, method: Method, status: u16) -> &Series {
        self.series[method.index()][status_class(status)].get_or_init(Box::default)
    }

    fn each_series(&self) -> impl Iterator<Item = (Method, usize, &Series)> {
        self.series.iter().enumerate().flat_map(|(m, classes)| {
            classes
                .iter()
                .enumerate()
                .filter_map(move |(c, s)| s.get().map(|s| (Method::from_index(m), c, s)))
        })
    }
}

struct OrgEntry {
    name: Arc<str>,
    series: Series,
}

/// foldhash rather than the standard SipHash: route and tenant lookups happen on every request,
/// and SipHash was a quarter of the recording cost. Seeds stay random per map.
type Hasher = foldhash::fast::RandomState;

struct Inner {
    /// Unique per monitor in the process ([`ROUTE_CACHE`]).
    id: u64,
    config: MonitorConfig,
    start: Instant,
    start_unix: SystemTime,
    start_unix_ns: u64,
    /// A tenth of the blocking threshold: polls this long or longer count in the per-route
    /// poll totals (divided once here rather than on every request).
    long_poll: Duration,
    routes: papaya::HashMap<Box<str>, Arc<RouteEntry>, Hasher>,
    route_slots: AtomicUsize,
    unmatched: Arc<RouteEntry>,
    overflow_route: Arc<RouteEntry>,
    /// Keyed by the entry's own name (one allocation of the id, not two).
    orgs: papaya::HashMap<Arc<str>, Arc<OrgEntry>, Hasher>,
    org_slots: AtomicUsize,
    overflow_org: Arc<OrgEntry>,
    ring: Ring,
    in_flight: [Padded; STRIPES],
}

/// The request monitor; see the [module docs](self).
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("config", &self.inner.config)
            .field("routes", &self.inner.routes.len())
            .field("organizations", &self.inner.orgs.len())
            .finish()
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new(MonitorConfig::default())
    }
}

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

/// True for ids that may name an organization series.
#[must_use]
pub fn is_valid_organization_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@' | b'~')
        })
}

const STRIPES: usize = 8;

/// A counter on its own cache lines (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(std::sync::atomic::AtomicI64);

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
    static PATH_BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    static ROUTE_CACHE: std::cell::RefCell<[Option<CachedRoute>; ROUTE_CACHE_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; ROUTE_CACHE_SLOTS]) };
}

/// Gives each monitor an id for [`ROUTE_CACHE`] (an address could be reused by a later one).
static NEXT_MONITOR_ID: AtomicU64 = AtomicU64::new(1);

/// Slots of the per-thread route cache: direct-mapped by the template's length and last byte.
const ROUTE_CACHE_SLOTS: usize = 16;

/// A route a worker thread recorded recently. The hot path finds a known route here, in memory
/// only this thread touches, instead of in the shared map (whose lookup pins an epoch, hashes
/// the template and probes a table: ~150 instructions and several cache misses per request in
/// the profile). Routes are never removed from a monitor, so an entry cannot go stale; it keeps
/// the route's entry alive until the slot is reused (at most 16 per thread).
struct CachedRoute {
    monitor: u64,
    entry: Arc<RouteEntry>,
}

fn route_cache_slot(template: &str) -> usize {
    let last = template.as_bytes().last().copied().unwrap_or(0);
    (template.len() ^ usize::from(last) << 2) % ROUTE_CACHE_SLOTS
}

impl Monitor {
    /// A monitor with the given settings. Allocates the ring now; everything else on demand.
    #[must_use]
    pub fn new(config: MonitorConfig) -> Self {
        let ring = Ring::new(config.ring_capacity);
        Self {
            inner: Arc::new(Inner {
                long_poll: config.blocking_poll_threshold / 10,
                id: NEXT_MONITOR_ID.fetch_add(1, Relaxed),
                start: Instant::now(),
                start_unix: SystemTime::now(),
                start_unix_ns: UNIX_EPOCH
                    .elapsed()
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0)),
                routes: papaya::HashMap::with_hasher(Hasher::default()),
                route_slots: AtomicUsize::new(0),
                unmatched: Arc::new(RouteEntry::new(0, UNMATCHED)),
                overflow_route: Arc::new(RouteEntry::new(1, OVERFLOW)),
                orgs: papaya::HashMap::with_hasher(Hasher::default()),
                org_slots: AtomicUsize::new(0),
                overflow_org: Arc::new(OrgEntry {
                    name: Arc::from(OVERFLOW),
                    series: Series::default(),
                }),
                ring,
                in_flight: Default::default(),
                config,
            }),
        }
    }

    /// True when both handles are the same monitor (clones of one another).
    ///
    /// ```
    /// use vitals::Monitor;
    ///
    /// let a = Monitor::default();
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&Monitor::default()));
    /// ```
    #[must_use]
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &MonitorConfig {
        &self.inner.config
    }

    /// When the monitor started.
    #[must_use]
    pub fn started_at(&self) -> SystemTime {
        self.inner.start_unix
    }

    /// Time since the monitor started.
    #[must_use]
    pub fn uptime(&self) -> Duration {
        self.inner.start.elapsed()
    }

    fn minute_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.inner.start).as_secs() / 60
    }

    /// Runs `f` on the route's entry, creating it if there is room. No `Arc` is cloned: a
    /// shared reference count would be one more cache line every worker writes.
    fn with_route<R>(&self, key: RouteKey<'_>, status: u16, f: impl FnOnce(&RouteEntry) -> R) -> R {
        match key {
            RouteKey::Unmatched => f(&self.inner.unmatched),
            RouteKey::Path(_) if status == 404 => f(&self.inner.unmatched),
            RouteKey::Template(t) => self.with_named_route(t, f),
            RouteKey::Path(p) => PATH_BUF.with_borrow_mut(|buf| {
                crate::normalize::normalize_path_into(p, buf);
                self.with_named_route(buf, f)
            }),
        }
    }

    fn with_named_route<R>(&self, template: &str, f: impl FnOnce(&RouteEntry) -> R) -> R {
        let inner = &*self.inner;
        let slot = route_cache_slot(template);
        // `f` runs inside the cache's borrow: cloning the entry's `Arc` out would write its
        // shared reference count, a cache line every worker contends for.
        let mut f = Some(f);
        let cached = ROUTE_CACHE.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let hit = cache[slot].as_ref()?;
            if hit.monitor != inner.id || *hit.entry.name != *template {
                return None;
            }
            f.take().map(|f| f(&hit.entry))
        });
        if let Ok(Some(done)) = cached {
            return done;
        }
        let Some(f) = f else {
            unreachable!("the cache's closure takes `f` only to return its result")
        };
        let routes = inner.routes.pin();
        if let Some(entry) = routes.get(template) {
            let _ = ROUTE_CACHE.try_with(|cache| {
                if let Ok(mut cache) = cache.try_borrow_mut() {
                    cache[slot] = Some(CachedRoute {
                        monitor: inner.id,
                        entry: Arc::clone(entry),
                    });
                }
            });
            return f(entry);
        }
        if inner.route_slots.fetch_add(1, Relaxed) >= inner.config.max_routes {
            inner.route_slots.fetch_sub(1, Relaxed);
            return f(&inner.overflow_route);
        }
        // Ids 0 and 1 are the unmatched and overflow routes.
        let id = u32::try_from(routes.len() + 2).unwrap_or(u32::MAX);
        let entry =
            routes.get_or_insert_with(template.into(), || Arc::new(RouteEntry::new(id, template)));
        if entry.id != id {
            inner.route_slots.fetch_sub(1, Relaxed); // lost the race to another thread
        }
        f(entry)
    }

    /// Runs `f` on the organization's series. Unknown ids get a series only when there is room,
    /// the id is valid and the request was not a 404.
    fn with_org<R>(&self, id: &str, valid: bool, status: u16, f: impl FnOnce(&Series) -> R) -> R {
        let inner = &*self.inner;
        let orgs = inner.orgs.pin();
        if let Some(entry) = orgs.get(id) {
            return f(&entry.series);
        }
        if status == 404 || !valid {
            return f(&inner.overflow_org.series);
        }
        if inner.org_slots.fetch_add(1, Relaxed) >= inner.config.max_organizations {
            inner.org_slots.fetch_sub(1, Relaxed);
            return f(&inner.overflow_org.series);
        }
        let mut created = false;
        let name: Arc<str> = Arc::from(id);
        let entry = orgs.get_or_insert_with(name.clone(), || {
            created = true;
            Arc::new(OrgEntry {
                name,
                series: Series::default(),
            })
        });
        if !created {
            inner.org_slots.fetch_sub(1, Relaxed);
        }
        f(&entry.series)
    }

    /// Records one finished request. Lock-free; allocation-free for a known route.
    pub fn record(&self, sample: &RequestSample<'_>) {
        let inner = &*self.inner;
        let since_start = sample.start.saturating_duration_since(inner.start);
        let minute = (since_start + sample.duration).as_secs() / 60;
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let duration_ns = ns(sample.duration);
        let is_error = sample.status >= 400;
        let observation = Observation::new(minute, duration_ns, is_error);

        let config = &inner.config;
        let mut flags = sample.resources.map_or(0, |r| {
            let mut f = Entry::MEASURED;
            if r.cpu > config.high_cpu_threshold {
                f |= Entry::HIGH_CPU;
            }
            if r.allocated_bytes
                .is_some_and(|b| b > config.high_memory_threshold)
            {
                f |= Entry::HIGH_MEMORY;
            }
            f
        });
        // The polls word of the ring entry (count, longest in µs).
        let mut polls_word = 0;
        if let Some(p) = sample.polls {
            if p.longest > config.blocking_poll_threshold {
                flags |= Entry::BLOCKED;
            }
            let longest_us = u64::try_from(p.longest.as_micros())
                .unwrap_or(u64::MAX)
                .min(u64::from(u32::MAX));
            polls_word = u64::from(p.count) | (longest_us << 32);
        }
        let route_id = self.with_route(sample.route, sample.status, |route| {
            route
                .series(sample.method, sample.status)
                .record(&observation);
            // Per route, polls of a tenth of the blocking threshold or more (1 ms by default):
            // a fast request's poll is not worth a cache line more per request.
            let long_poll = sample.polls.filter(|p| p.longest >= inner.long_poll);
            if sample.resources.is_none() && long_poll.is_none() {
                return route.id;
            }
            let t = route.resources[sample.method.index()].get_or_init(Box::default);
            if let Some(p) = long_poll {
                let longest = ns(p.longest);
                // A load first: `fetch_max` is a locked compare-exchange loop even when the
                // value does not change, and a new maximum is rare.
                if longest > t.longest_poll_ns.load(Relaxed) {
                    t.longest_poll_ns.fetch_max(longest, Relaxed);
                }
                if flags & Entry::BLOCKED != 0 {
                    t.blocked.fetch_add(1, Relaxed);
                }
            }
            if let Some(r) = sample.resources {
                t.measured.fetch_add(1, Relaxed);
                t.cpu_ns.fetch_add(ns(r.cpu), Relaxed);
                if let Some(allocated) = r.allocated_bytes {
                    t.allocations_known.fetch_add(1, Relaxed);
                    t.allocated_bytes.fetch_add(allocated, Relaxed);
                    t.freed_bytes.fetch_add(r.freed_bytes.unwrap_or(0), Relaxed);
                }
                t.polls
                    .fetch_add(u64::from(sample.polls.map_or(0, |p| p.count)), Relaxed);
                t.high_cpu
                    .fetch_add(u64::from(flags & Entry::HIGH_CPU != 0), Relaxed);
                t.high_memory
                    .fetch_add(u64::from(flags & Entry::HIGH_MEMORY != 0), Relaxed);
            }
            route.id
        });

        let mut organization = "";
        if let Some(org) = sample.organization {
            let valid = is_valid_organization_id(org);
            self.with_org(org, valid, sample.status, |series| {
                series.record(&observation);
            });
            if valid {
                organization = org;
            }
        }

        let unix_ns = inner.start_unix_ns + u64::try_from(since_start.as_nanos()).unwrap_or(0);
        inner.ring.push(&EntryRef {
            unix_ns,
            duration_ns,
            route_id,
            method: sample.method.index() as u8,
            status: sample.status,
            flags: (u8::from(sample.aborted) * Entry::ABORTED)
                | (u8::from(sample.panicked) * Entry::PANICKED)
                | flags,
            organization,
            correlation_id: sample.correlation_id,
            trace_id: sample.trace_id.unwrap_or_default(),
            cpu_ns: sample.resources.map_or(0, |r| ns(r.cpu)),
            allocated_bytes: sample
                .resources
                .and_then(|r| r.allocated_bytes)
                .unwrap_or(0),
            freed_bytes: sample.resources.and_then(|r| r.freed_bytes).unwrap_or(0),
            polls: polls_word,
        });
    }

    /// Resets, ahead of time, the one-minute slots the next minute will use. The axum
    /// integration calls it every second; without it, recording still works (see
    /// [`crate::series`]).
    pub fn maintain(&self) {
        let minute = self.minute_of(Instant::now());
        let routes = self.inner.routes.pin();
        let specials = [&self.inner.unmatched, &self.inner.overflow_route];
        for entry in routes.values().chain(specials) {
            for (_, _, series) in entry.each_series() {
                series.prepare(minute);
            }
        }
        for entry in self.inner.orgs.pin().values() {
            entry.series.prepare(minute);
        }
        self.inner.overflow_org.series.prepare(minute);
    }

    fn all_routes(&self) -> Vec<Arc<RouteEntry>> {
        let routes = self.inner.routes.pin();
        let mut all: Vec<_> = routes.values().cloned().collect();
        all.push(Arc::clone(&self.inner.unmatched));
        all.push(Arc::clone(&self.inner.overflow_route));
        all.sort_by_key(|e| e.id);
        all
    }

    fn now_minute(&self) -> u64 {
        self.minute_of(Instant::now())
    }

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

    /// Calls `f` with the route, method, status class index ([`status_class_label`]) and
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

    /// Marks a request as started (for [`Monitor::in_flight`]); pair with
    /// [`Monitor::request_finished`]. Each thread adds to its own cache line.
    pub fn request_started(&self) {
        let stripe = STRIPE.with(|s| *s);
        self.inner.in_flight[stripe].0.fetch_add(1, Relaxed);
    }

    /// Marks a request as finished (possibly on another thread than it started).
    pub fn request_finished(&self) {
        let stripe = STRIPE.with(|s| *s);
        self.inner.in_flight[stripe].0.fetch_sub(1, Relaxed);
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
