//! What the readers return, serialized camelCase for the JSON endpoints: route, organization
//! and series figures, requests from the ring, and the memory held. Durations serialize as
//! fractional milliseconds.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::method::Method;
use crate::monitor::sample::{Polls, Resources};
use crate::monitor::window::{StatusCounts, WindowStats};
use crate::series::PrometheusCounts;
use crate::units::as_ms;

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

/// One route and method over one window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStats {
    /// Route template (or [`UNMATCHED`](crate::UNMATCHED) / [`OVERFLOW`](crate::OVERFLOW)).
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
    /// Organization id (or [`OVERFLOW`](crate::OVERFLOW)).
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
    /// Status class index ([`status_class_label`](crate::status_class_label)).
    pub status_class: usize,
    /// Prometheus buckets, count, sum and errors since start.
    pub counts: PrometheusCounts,
}

/// A request from the ring, with names resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// Route template (serialized as `path`).
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
    /// Slower than [`MonitorConfig::slow_threshold`](crate::MonitorConfig::slow_threshold).
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
    /// Used more CPU than [`MonitorConfig::high_cpu_threshold`](crate::MonitorConfig::high_cpu_threshold): by its measured CPU time when
    /// `resources` is there, else by its busy time (`polls.busy`), an upper bound on CPU. The
    /// JSON view says which in `highCpuFrom` (`"cpu"` or `"busy"`).
    pub is_high_cpu: bool,
    /// Allocated more than [`MonitorConfig::high_memory_threshold`](crate::MonitorConfig::high_memory_threshold).
    pub is_high_memory: bool,
    /// Had a poll longer than [`MonitorConfig::blocking_poll_threshold`](crate::MonitorConfig::blocking_poll_threshold).
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
            #[serde(skip_serializing_if = "Option::is_none")]
            busy_ms: Option<f64>,
            is_high_cpu: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            high_cpu_from: Option<&'static str>,
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
            busy_ms: self.polls.map(|p| as_ms(p.busy)),
            is_high_cpu: self.is_high_cpu,
            high_cpu_from: match (r, self.polls) {
                (Some(_), _) => Some("cpu"),
                (None, Some(_)) => Some("busy"),
                (None, None) => None,
            },
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
    /// Requests over the CPU threshold: measured ones by their CPU time, the others by their
    /// busy time.
    pub high_cpu: u64,
    /// Measured requests over the allocation threshold.
    pub high_memory: u64,
    /// Requests with a poll over the blocking threshold (every timed request).
    pub blocked_runtime: u64,
    /// Requests whose polls were timed (all of them under the axum layer).
    pub timed: u64,
    /// Total busy time (the sum of each timed request's polls), ms: an upper bound on their
    /// CPU time (see [`Polls::busy`](crate::Polls::busy)).
    pub busy_ms_total: f64,
    /// Mean busy time per timed request, ms (`None`: none timed yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_ms_per_request: Option<f64>,
}
