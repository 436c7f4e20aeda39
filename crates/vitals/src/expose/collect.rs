//! What vitals exposes: the metric families built from a [`Monitor`] and the latest
//! [`SystemSnapshot`].
//!
//! | family | type | labels |
//! | --- | --- | --- |
//! | `http_server_request_duration_seconds` | histogram | `route`, `method`, `status` (class) |
//! | `http_server_requests_total` | counter | `route`, `method`, `status` |
//! | `http_server_errors_total` | counter | `route`, `method`, `status` (4xx, 5xx) |
//! | `http_server_active_requests` | gauge | |
//! | `vitals_organization_requests_total` | counter | `organization` (top tenants, `(other)`) |
//! | `vitals_organization_errors_total` | counter | `organization` (4xx, 5xx) |
//! | `vitals_organization_request_duration_seconds` | histogram | `organization` (only with [`MonitorConfig::tenant_histograms`](crate::MonitorConfig::tenant_histograms)) |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_start_time_seconds`, `process_threads` | standard | |
//! | `vitals_heap_allocated_bytes`, `vitals_heap_resident_bytes`, `vitals_heap_fragmentation_ratio` | gauge | when an allocator reports them |
//! | `vitals_runtime_workers`, `vitals_runtime_busy_ratio`, `vitals_runtime_scheduling_delay_{p50,p99,max}_seconds` | gauge | |
//!
//! Route labels are templates (plus `(unmatched)` and `(overflow)`), and organization labels
//! the busiest [`top_tenants`](crate::MonitorConfig::top_tenants) tenants plus `(other)`
//! ([`Monitor::tenant_counts`]), so the number of series is bounded. Durations are in seconds, sizes in bytes (Prometheus base units). Buckets are
//! [`PROMETHEUS_BUCKETS`], counted exactly (`value <= le`).
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vitals::{encode_text, metric_families};
//! use vitals::{Method, Monitor, RequestSample, RouteKey};
//!
//! let monitor = Monitor::default();
//! monitor.record(&RequestSample {
//!     method: Method::Get,
//!     route: RouteKey::Template("/hello"),
//!     status: 200,
//!     start: Instant::now(),
//!     duration: Duration::from_millis(3),
//!     ..RequestSample::default()
//! });
//! let mut text = String::new();
//! encode_text(&metric_families(&monitor, None), &mut text);
//! assert!(text.contains(r#"http_server_requests_total{route="/hello",method="GET",status="2xx"} 1"#));
//! assert!(text.contains(r#"http_server_request_duration_seconds_bucket{route="/hello",method="GET",status="2xx",le="0.005"} 1"#));
//! ```

use crate::expose::families::{
    active_family, duration_family, errors_family, histogram, org_duration_family,
    org_errors_family, org_requests_family, requests_family, system_families,
};
use crate::expose::model::{Family, Labels};
use crate::monitor::{Monitor, status_class_label};
use crate::system::SystemSnapshot;

/// Builds every family; `system` adds the process, heap and runtime ones.
///
/// [`render`](crate::expose::render) writes the same bytes as encoding these families, several times faster.
#[must_use]
pub fn families(monitor: &Monitor, system: Option<&SystemSnapshot>) -> Vec<Family> {
    let mut duration = duration_family();
    let mut requests = requests_family();
    let mut errors = errors_family();
    for s in monitor.series() {
        let labels: Labels = vec![
            ("route", s.route.to_string()),
            ("method", s.method.as_str().to_owned()),
            ("status", status_class_label(s.status_class).to_owned()),
        ];
        requests.push(labels.clone(), s.counts.count as f64);
        if s.counts.errors > 0 {
            errors.push(labels.clone(), s.counts.errors as f64);
        }
        duration.push_histogram(labels, histogram(&s.counts));
    }
    let active = active_family(monitor);

    let mut org_requests = org_requests_family();
    let mut org_errors = org_errors_family();
    let mut org_duration = org_duration_family();
    let histograms = monitor.config().tenant_histograms;
    for (org, counts) in monitor.tenant_counts() {
        let labels: Labels = vec![("organization", org.to_string())];
        org_requests.push(labels.clone(), counts.count as f64);
        if counts.errors > 0 {
            org_errors.push(labels.clone(), counts.errors as f64);
        }
        if histograms {
            org_duration.push_histogram(labels, histogram(&counts));
        }
    }

    let mut out = vec![
        duration,
        requests,
        errors,
        active,
        org_requests,
        org_errors,
        org_duration,
    ];
    if let Some(system) = system {
        out.extend(system_families(system));
    }
    out.retain(|f| !f.samples.is_empty());
    out
}
