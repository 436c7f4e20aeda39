//! The JSON the endpoints answer, described for the OpenAPI document (feature `openapi`).
//!
//! The handlers build their bodies with `json!` from the core's views; these types state the
//! shape of each top level (names, types, which fields may be `null`) and leave the core's
//! nested views (window figures, routes, alerts…) open as any JSON value. They are never
//! built: `schemathesis` checks every answer of the running server against them
//! (`crates/vitals-server/tests/schemathesis.rs`).

#![allow(dead_code)] // descriptions only: the handlers serialize `json!` values

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;

/// `pass`, `warn` or `fail`.
#[derive(ToSchema)]
#[schema(as = CheckStatus, rename_all = "lowercase")]
pub(crate) enum CheckStatusDoc {
    Pass,
    Warn,
    Fail,
}

/// `GET /health/ping`.
#[derive(ToSchema)]
#[schema(as = Ping)]
pub(crate) struct PingDoc {
    /// Always `ok`.
    status: String,
    /// RFC 3339.
    timestamp: String,
}

/// One dependency check of `GET /health`.
#[derive(ToSchema)]
#[schema(as = CheckResult)]
#[schema(rename_all = "camelCase")]
pub(crate) struct CheckResultDoc {
    status: CheckStatusDoc,
    response_time_ms: f64,
    /// Why it failed (no secrets).
    #[schema(nullable = false)]
    output: Option<String>,
}

/// `GET /health`: the dependency checks.
#[derive(ToSchema)]
#[schema(as = Health)]
#[schema(rename_all = "camelCase")]
pub(crate) struct HealthDoc {
    status: CheckStatusDoc,
    service: String,
    version: String,
    timestamp: String,
    uptime_seconds: f64,
    /// The circuit breakers' snapshots.
    breakers: Value,
    checks: BTreeMap<String, CheckResultDoc>,
    /// The rate limit's shared store, when there is one.
    #[schema(nullable = false)]
    rate_limit_store: Option<Value>,
}

/// `pass` or `fail`: a probe's answer.
#[derive(ToSchema)]
#[schema(as = ProbeStatus, rename_all = "lowercase")]
pub(crate) enum ProbeStatusDoc {
    Pass,
    Fail,
}

/// `GET /health/live`, `/health/ready`, `/health/startup`: the verdict, the process' state and
/// the group's checks.
#[derive(ToSchema)]
#[schema(as = ProbeResult)]
#[schema(rename_all = "camelCase")]
pub(crate) struct ProbeDoc {
    status: ProbeStatusDoc,
    /// `live`, `ready` or `startup`.
    probe: String,
    /// Start-up has completed.
    started: bool,
    /// False from the shutdown signal on.
    accepting_traffic: bool,
    checks: BTreeMap<String, CheckResultDoc>,
    /// Why it fails.
    #[schema(nullable = false)]
    output: Option<String>,
}

/// `GET /health/debug`: configuration (no secrets), the monitor's memory, process facts.
#[derive(ToSchema)]
#[schema(as = Debug)]
#[schema(rename_all = "camelCase")]
pub(crate) struct DebugDoc {
    service: String,
    version: String,
    pid: u32,
    started_at: String,
    uptime_seconds: f64,
    requests_recorded: u64,
    config: Value,
    monitor_memory: Value,
    runtime: Value,
}

/// `GET /health/pressure`: values, thresholds, what tripped and since when.
#[derive(ToSchema)]
#[schema(as = PressureStatus)]
#[schema(rename_all = "camelCase")]
pub(crate) struct PressureDoc {
    under_pressure: bool,
    #[schema(nullable = false)]
    rate_limit_store: Option<Value>,
}

/// `GET /health/performance/stats` (v1 field names).
#[derive(ToSchema)]
#[schema(as = StatsV1)]
#[schema(rename_all = "camelCase")]
pub(crate) struct StatsV1Doc {
    total_requests: u64,
    error_count: u64,
    error_rate: f64,
    average_response_time: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    max_response_time: f64,
    slow_requests: u64,
    uptime_seconds: f64,
    status_codes: Value,
}

/// `GET /health/performance/summary`: the last five minutes.
#[derive(ToSchema)]
#[schema(as = Summary)]
#[schema(rename_all = "camelCase")]
pub(crate) struct SummaryDoc {
    window: String,
    requests: u64,
    requests_per_second: f64,
    error_rate: f64,
    p95_ms: f64,
    total_requests: u64,
    uptime_seconds: f64,
}

/// How `slow` and `slow-paths` rank.
#[derive(ToSchema)]
#[schema(as = Ranking, rename_all = "lowercase")]
pub(crate) enum RankingDoc {
    Duration,
    Busy,
    Cpu,
    Allocated,
}

/// A window of `slow-paths`.
#[derive(ToSchema)]
#[schema(as = Window)]
pub(crate) enum WindowDoc {
    #[schema(rename = "1m")]
    LastMinute,
    #[schema(rename = "5m")]
    LastFiveMinutes,
    #[schema(rename = "all")]
    SinceStart,
}

/// The dashboard's assets.
#[derive(ToSchema)]
#[schema(as = Asset)]
pub(crate) enum AssetDoc {
    #[schema(rename = "app.js")]
    AppJs,
    #[schema(rename = "app.css")]
    AppCss,
    #[schema(rename = "uplot.min.js")]
    UplotJs,
    #[schema(rename = "uplot.min.css")]
    UplotCss,
    #[schema(rename = "uplot.LICENSE.txt")]
    UplotLicense,
}

/// The events of the dashboard's stream.
#[derive(ToSchema)]
#[schema(as = SseEventName, rename_all = "lowercase")]
pub(crate) enum SseEventNameDoc {
    Snapshot,
    History,
}

/// One event of `GET /metrics/dashboard/stream` (`text/event-stream`); `data` is JSON text.
#[derive(ToSchema)]
#[schema(as = SseEvent)]
pub(crate) struct SseEventDoc {
    event: SseEventNameDoc,
    data: String,
    /// Reconnection delay, ms (on the `history` event).
    #[schema(nullable = false)]
    retry: Option<u64>,
}

/// A window's figures (the core's `WindowStats`): durations in fractional milliseconds.
#[derive(ToSchema)]
#[schema(as = WindowFigures, rename_all = "camelCase")]
pub(crate) struct WindowFiguresDoc {
    count: u64,
    errors: u64,
    /// Errors over requests, 0..1.
    error_rate: f64,
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// A window's figures with its span and rate.
#[derive(ToSchema)]
#[schema(as = WindowSummary, rename_all = "camelCase")]
pub(crate) struct WindowSummaryDoc {
    count: u64,
    errors: u64,
    /// Errors over requests, 0..1.
    error_rate: f64,
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    span_seconds: f64,
    requests_per_second: f64,
}

/// One route and method over one window (the core's `RouteStats`).
#[derive(ToSchema)]
#[schema(as = RouteFigures, rename_all = "camelCase")]
pub(crate) struct RouteFiguresDoc {
    /// The route template.
    route: String,
    method: String,
    count: u64,
    errors: u64,
    /// Errors over requests, 0..1.
    error_rate: f64,
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    status: Value,
    /// Sampled CPU and allocation figures, when some request was measured.
    #[schema(nullable = false)]
    resources: Option<Value>,
}

/// One route and method in every window.
#[derive(ToSchema)]
#[schema(as = RouteWindows, rename_all = "camelCase")]
pub(crate) struct RouteWindowsDoc {
    route: String,
    method: String,
    last_minute: Option<WindowFiguresDoc>,
    last_five_minutes: Option<WindowFiguresDoc>,
    since_start: WindowFiguresDoc,
    status: Value,
    #[schema(nullable = false)]
    resources: Option<Value>,
}

/// A request from the ring of recent requests (the core's `RequestRecord`).
#[derive(ToSchema)]
#[schema(as = RecentRequest, rename_all = "camelCase")]
pub(crate) struct RecentRequestDoc {
    /// The route template.
    path: String,
    method: String,
    status_code: u16,
    timestamp: String,
    /// Milliseconds.
    duration: f64,
    #[schema(nullable = false)]
    organization_id: Option<String>,
    #[schema(nullable = false)]
    correlation_id: Option<String>,
    #[schema(nullable = false)]
    trace_id: Option<String>,
    is_slow_request: bool,
    is_error_response: bool,
    client_aborted: bool,
    panicked: bool,
    resources_measured: bool,
    #[schema(nullable = false)]
    cpu_time_ms: Option<f64>,
    #[schema(nullable = false)]
    allocated_bytes: Option<u64>,
    #[schema(nullable = false)]
    freed_bytes: Option<u64>,
    #[schema(nullable = false)]
    polls: Option<u32>,
    #[schema(nullable = false)]
    longest_poll_ms: Option<f64>,
    is_high_cpu: bool,
    is_high_memory: bool,
    blocked_runtime: bool,
}

/// `GET /health/performance/slow`: requests from the ring, first the slowest (or the most
/// CPU / allocation).
#[derive(ToSchema)]
#[schema(as = SlowRequests)]
#[schema(rename_all = "camelCase")]
pub(crate) struct SlowDoc {
    limit: u32,
    by: RankingDoc,
    ring_capacity: u64,
    slow_threshold_ms: f64,
    resources_every: u32,
    count: u32,
    requests: Vec<RecentRequestDoc>,
}

/// `GET /health/performance/v2/stats`: overall and per route, in every window.
#[derive(ToSchema)]
#[schema(as = StatsV2)]
#[schema(rename_all = "camelCase")]
pub(crate) struct StatsV2Doc {
    uptime_seconds: f64,
    windows: BTreeMap<String, WindowSummaryDoc>,
    status_codes: Value,
    routes: Vec<RouteWindowsDoc>,
    organizations: Value,
    monitor_memory: Value,
}

/// `GET /health/performance/v2/by-organization`.
#[derive(ToSchema)]
#[schema(as = OrganizationStats)]
#[schema(rename_all = "camelCase")]
pub(crate) struct ByOrganizationDoc {
    organization_id: String,
    windows: BTreeMap<String, WindowSummaryDoc>,
    recent_requests: Vec<RecentRequestDoc>,
}

/// `GET /health/performance/v2/slow-paths`.
#[derive(ToSchema)]
#[schema(as = SlowPaths)]
#[schema(rename_all = "camelCase")]
pub(crate) struct SlowPathsDoc {
    window: String,
    limit: u32,
    by: RankingDoc,
    resources_every: u32,
    paths: Vec<RouteFiguresDoc>,
}

/// `GET /health/performance/v2/system`: the latest sample of the process and runtime.
#[derive(ToSchema)]
#[schema(as = SystemSnapshot)]
#[schema(rename_all = "camelCase")]
pub(crate) struct SystemDoc {
    timestamp: String,
    memory: Value,
    cpu: Value,
    runtime: Value,
    process: Value,
    in_flight_requests: u64,
    sample_interval_seconds: f64,
}

/// `GET /health/performance/v2/health`: the health score and its factors.
#[derive(ToSchema)]
#[schema(as = HealthScore)]
pub(crate) struct HealthScoreDoc {
    timestamp: String,
    score: f64,
    status: String,
    factors: Value,
    weights: BTreeMap<String, f64>,
}

/// `GET /metrics/health`: the "Health Check Response Format for HTTP APIs" draft
/// (`application/health+json`).
#[derive(ToSchema)]
#[schema(as = HealthCheckFormat)]
#[schema(rename_all = "camelCase")]
pub(crate) struct HealthReportDoc {
    status: CheckStatusDoc,
    version: String,
    checks: BTreeMap<String, Vec<Value>>,
}

/// `GET /metrics/json`: the exposition's families, structured, and the application's own.
#[derive(ToSchema)]
#[schema(as = MetricsJson)]
pub(crate) struct MetricsJsonDoc {
    metrics: Vec<Value>,
    /// The application's own metrics, `null` without a registry.
    custom: Value,
}

/// `GET /metrics/memory`: memory figures, the leak trend and recommendations.
#[derive(ToSchema)]
#[schema(as = MemoryReport)]
pub(crate) struct MemoryDoc {
    recommendations: Vec<Value>,
}

/// `POST /metrics/memory/gc`: what reclaiming returned.
#[derive(ToSchema)]
#[schema(as = Reclaim)]
#[schema(rename_all = "camelCase")]
pub(crate) struct ReclaimDoc {
    method: String,
    ok: bool,
    error: Option<String>,
    rss_before_bytes: Option<u64>,
    rss_after_bytes: Option<u64>,
    released_bytes: Option<u64>,
    heap_before_bytes: Option<u64>,
    heap_after_bytes: Option<u64>,
    duration_ms: f64,
    timestamp: String,
}

/// `GET /metrics/dashboard` as JSON: figures, health, alerts, trends, protection.
#[derive(ToSchema)]
#[schema(as = Dashboard)]
#[schema(rename_all = "camelCase")]
pub(crate) struct DashboardDoc {
    timestamp: String,
    real_time: Value,
    performance: BTreeMap<String, Value>,
    health: Value,
    alerts: Value,
    recommendations: Vec<Value>,
    slowest_paths: Vec<Value>,
    trends: Value,
    top_cpu_routes: Vec<Value>,
    top_allocating_routes: Vec<Value>,
    protection: Value,
}

/// `GET /metrics/dashboard/organizations`: the busiest tenants.
#[derive(ToSchema)]
#[schema(as = Organizations)]
#[schema(rename_all = "camelCase")]
pub(crate) struct OrganizationsDoc {
    limit: u32,
    tracked: u64,
    max_organizations: u64,
    omitted: u64,
    organizations: Vec<Value>,
    /// The overflow series, `null` while the cap was never reached.
    overflow: Value,
}

/// `GET /metrics/dashboard/custom`: the application's metrics for the dashboard's panel.
#[derive(ToSchema)]
#[schema(as = CustomMetrics)]
pub(crate) struct CustomDoc {
    enabled: bool,
}

/// `GET /metrics/notifications`: the channels and their delivery state.
#[derive(ToSchema)]
#[schema(as = Notifications)]
pub(crate) struct NotificationsDoc {
    configured: bool,
    channels: Vec<Value>,
}

/// `POST /metrics/notifications/test`: test notifications queued.
#[derive(ToSchema)]
#[schema(as = NotificationTest)]
pub(crate) struct NotificationTestDoc {
    queued: u64,
    channels: u64,
}

/// `GET /metrics/history`: points of one series from the history store.
#[derive(ToSchema)]
#[schema(as = History)]
pub(crate) struct HistoryDoc {
    series: String,
    step: String,
    from: i64,
    to: i64,
    points: Vec<Value>,
}

/// `GET /health/performance/budgets`: the budgets and their latest evaluation.
#[derive(ToSchema)]
#[schema(as = Budgets)]
#[schema(rename_all = "camelCase")]
pub(crate) struct BudgetsDoc {
    history_enabled: bool,
    evaluated_at_minute: Option<i64>,
    configured: Vec<Value>,
    budgets: Value,
}
