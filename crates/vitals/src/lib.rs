//! # vitals
//!
//! The framework-agnostic core of vitals: built-in performance monitoring for web services.
//! It records requests ([`Monitor`]), keeps latency percentiles per route and per
//! organization in time windows, a ring of recent requests and a path normalizer
//! ([`normalize_path`]) for frameworks without route templates; it judges measured
//! [`Signals`] into health reports, alerts and advice, and renders Prometheus and OpenMetrics
//! expositions.
//!
//! **Architecture invariant:** this crate knows no HTTP framework, server or database; the
//! axum integration lives in `vitals-axum`.
//!
//! Every item is re-exported here, at the crate root; name them as `vitals::Item`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vitals::{Method, Monitor, RequestSample, RouteKey, Window};
//!
//! let monitor = Monitor::default();
//! monitor.record(&RequestSample {
//!     method: Method::Post,
//!     route: RouteKey::Path("/orders/12345"),
//!     status: 201,
//!     start: Instant::now(),
//!     duration: Duration::from_micros(850),
//!     ..RequestSample::default()
//! });
//! let routes = monitor.route_stats(Window::SinceStart);
//! assert_eq!(&*routes[0].route, "/orders/{id}");
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod accept;
mod advice;
mod alerts;
mod alloc;
mod conditions;
mod correlation;
mod expose;
mod health;
mod heap;
mod histogram;
mod memory;
mod method;
mod monitor;
mod normalize;
mod process;
mod ring;
mod series;
mod signals;
mod system;
mod thresholds;
mod trend;
mod units;

pub use accept::{AcceptQuality, MediaRange, accept_quality, media_ranges};
pub use advice::{MAX_ROUTES as MAX_ADVICE_ROUTES, Priority, Recommendation, recommend};
pub use alerts::{
    Alert, AlertEngine, AlertTransition, AlertTransitionKind,
    RESOLVED_CAPACITY as RESOLVED_ALERTS_CAPACITY,
};
pub use alloc::{AllocatorStats, CountingAllocator, allocator_stats};
pub use conditions::{AlertCondition, MAX_CONDITION_ALERTS};
pub use correlation::{
    ORGANIZATION_HEADER, ORGANIZATION_PARAMS, REQUEST_ID_HEADER, TRACEPARENT_HEADER, TraceParent,
    is_valid_request_id, new_request_id, request_id_from, resolve_tenant,
};
pub use expose::{
    Family as MetricFamily, Format as MetricsFormat, HistogramValue, Labels as MetricLabels,
    MetricKind, OPENMETRICS_CONTENT_TYPE, Sample as MetricSample, SampleValue as MetricValue,
    TEXT_CONTENT_TYPE, encode_openmetrics, encode_text, negotiate as negotiate_format,
};
pub use expose::{
    families as metric_families, render as render_metrics,
    render_chunked as render_metrics_chunked, render_with as render_metrics_with,
};
pub use health::{
    CheckResult as HealthCheckResult, FACTOR_WEIGHTS as HEALTH_FACTOR_WEIGHTS,
    Factor as HealthFactor, HealthReport, HealthScore, HealthStatus, health_report, health_score,
};
pub use heap::{
    HeapSource, HeapStats, ReclaimOutcome, heap_stats, reclaim as reclaim_memory, thread_allocation,
};
pub use histogram::{
    AtomicHistogram, HistogramSnapshot, MAX_VALUE as HISTOGRAM_MAX_VALUE,
    MIN_VALUE as HISTOGRAM_MIN_VALUE, RELATIVE_ERROR as HISTOGRAM_RELATIVE_ERROR, bucket_count,
    bucket_index, bucket_upper_bound, bucket_value,
};
pub use memory::{
    DEFAULT_LIMIT_BYTES as DEFAULT_MEMORY_LIMIT_BYTES, MemoryStatus, MemoryThresholds,
    ResolvedThresholds as ResolvedMemoryThresholds, Threshold as MemoryThreshold,
};
pub use method::Method;
pub use monitor::{
    KnownTenants, MemoryReport, MinuteReport, Monitor, MonitorConfig, OTHER, OVERFLOW,
    OrganizationMinute, OrganizationStats, Polls, RequestRecord, RequestSample, Resources,
    RouteKey, RouteMinute, RouteResources, RouteStats, STATUS_CLASSES, SeriesSnapshot,
    StatusCounts, TenantSource, UNMATCHED, Window, WindowStats, is_valid_organization_id,
    status_class, status_class_label,
};
pub use normalize::{
    MAX_SEGMENT_LEN as MAX_PATH_SEGMENT_LEN, MAX_SEGMENTS as MAX_PATH_SEGMENTS, MAX_TEMPLATE_LEN,
    normalize_path, normalize_path_into, path_param,
};
pub use process::{
    LimitSource as MemoryLimitSource, MemoryLimit, ProcessSnapshot, detect_memory_limit,
    detect_memory_limit_from_env, detect_memory_limit_in, sample_process, thread_cpu_time,
};
pub use ring::{
    Entry as RingEntry, EntryRef as RingEntryRef, INLINE_BYTES, InlineStr, Ring,
    SLOT_BYTES as RING_SLOT_BYTES,
};
pub use series::{
    Aggregate, Cell as SeriesCell, MAX_WINDOW_MINUTES, Observation, PROMETHEUS_BUCKETS,
    PrometheusCounts, SLOTS as SERIES_SLOTS, Series,
};
pub use signals::{ComponentType, DependencySignal, RouteSignal, Signals};
pub use system::{
    History as SystemHistory, MINUTE_POINTS, MinutePoint, RuntimeFigures, SNAPSHOT_SPAN,
    SystemSnapshot,
};
pub use thresholds::{AlertThresholds, Level, Severity};
pub use trend::{
    Fit as TrendFit, LeakDetector, LeakReason, LeakVerdict, fit as fit_trend, growth_rates,
};
pub use units::{BYTES_PER_MIB, as_ms};
