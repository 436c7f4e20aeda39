//! `/metrics/health`, `/health/performance/v2/health` and the JSON dashboard: the verdicts the
//! core's rules give on the signals `report` gathers. Alerts are evaluated by the sampling task
//! (`tasks`), so their lifecycle (firing since, resolved at) does not depend on anyone looking.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Value, json};
use vitals::Window;
use vitals::as_ms;

use crate::query::StrictQuery;
use crate::report::{latest, memory_report, signals_with_dependencies};
use crate::shared::AppState;
use crate::shared::Shared;
use crate::util::rfc3339;

/// `GET /metrics/health`: the "Health Check Response Format for HTTP APIs" draft, with the
/// dependency checks run now. 200 for pass and warn, 503 for fail; cacheable for 5 s.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/health", tag = "health", responses((status = 200, description = "pass or warn", body = super::schemas::HealthReportDoc, content_type = "application/health+json"), (status = 503, description = "fail", body = super::schemas::HealthReportDoc, content_type = "application/health+json"))))]
pub(crate) async fn health_check_format(State(state): State<AppState>) -> Response {
    let s = signals_with_dependencies(&state).await;
    let report = vitals::health_report(&s, &state.thresholds, &state.version, Some(&state.service));
    let status = StatusCode::from_u16(report.status.http_status())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut res = (status, Json(report)).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/health+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=5"));
    res
}

/// `GET /health/performance/v2/health`: the health score, its factors and their weights.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/v2/health", tag = "performance", security(("operatorToken" = [])), responses((status = 200, description = "The health score", body = super::schemas::HealthScoreDoc))))]
pub(crate) async fn health_score(State(state): State<AppState>) -> Response {
    let s = signals_with_dependencies(&state).await;
    let score = vitals::health_score(&s, &state.thresholds);
    Json(json!({
        "timestamp": rfc3339(s.at),
        "score": score.score,
        "status": score.status,
        "factors": score.factors,
        "weights": vitals::HEALTH_FACTOR_WEIGHTS
            .iter()
            .map(|(name, weight)| (name.to_string(), json!(weight)))
            .collect::<serde_json::Map<_, _>>(),
    }))
    .into_response()
}

fn requests_per_second(state: &Shared, over: Duration) -> f64 {
    let now_total = state.monitor.recorded();
    let history = state
        .sampler
        .history()
        .snapshots(over + state.sampler.history().interval());
    let now = SystemTime::now();
    // The oldest snapshot at least `over` old, else the oldest there is.
    let base = history
        .iter()
        .rev()
        .find(|s| now.duration_since(s.taken_at).is_ok_and(|age| age >= over))
        .or_else(|| history.first());
    match base {
        Some(b) => {
            let secs = now
                .duration_since(b.taken_at)
                .unwrap_or_default()
                .as_secs_f64();
            if secs > 0.0 {
                now_total.saturating_sub(b.requests_total) as f64 / secs
            } else {
                0.0
            }
        }
        None => 0.0,
    }
}

/// `GET /metrics/dashboard[?minutes=60]`: the live page to a browser (an `Accept` that prefers
/// `text/html`, see [`super::page`]), else the JSON below; `Vary: Accept` either way. `minutes`
/// (`1..=1440`, default 60) is how many one-minute trend points the JSON carries; another
/// value is a 400 problem.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/dashboard", tag = "dashboard", security(("operatorToken" = [])), params(("minutes" = Option<u32>, Query, minimum = 1, maximum = 1440, description = "Trend points in the JSON (default 60)")), responses((status = 200, description = "The page for a browser (`Accept` preferring `text/html`), else the JSON dashboard", content((super::schemas::DashboardDoc = "application/json"), (String = "text/html; charset=utf-8"))), (status = 400, description = "A bad `minutes`", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    #[cfg(feature = "dashboard")]
    if super::page::prefers_html(&headers) {
        return super::page::shell(StatusCode::OK);
    }
    #[cfg(not(feature = "dashboard"))]
    let _ = headers;
    let query = StrictQuery::parse(uri.query());
    let mut res = match query.limit("minutes", 60, vitals::MINUTE_POINTS) {
        Ok(minutes) => dashboard_json(State(state), minutes).await,
        Err(problem) => problem.with_instance(uri.path()).into_response(),
    };
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    res
}

/// The JSON dashboard: real-time figures, performance per window, health with its issues,
/// alerts, recommendations, slowest paths and the last `minutes` of trends.
async fn dashboard_json(State(state): State<AppState>, minutes: usize) -> Response {
    let s = signals_with_dependencies(&state).await;
    let snap = latest(&state);
    let report = vitals::health_report(&s, &state.thresholds, &state.version, Some(&state.service));
    let issues: Vec<Value> = report
        .checks
        .iter()
        .flat_map(|(key, results)| results.iter().map(move |r| (key, r)))
        .filter(|(_, r)| r.status != vitals::HealthStatus::Pass)
        .map(|(key, r)| {
            json!({ "check": key, "status": r.status, "observedValue": r.observed_value,
                    "observedUnit": r.observed_unit, "output": r.output })
        })
        .collect();
    let performance: serde_json::Map<String, Value> = Window::ALL
        .iter()
        .map(|&w| {
            let stats = state.monitor.overall(w);
            let mut v = json!(stats);
            v["spanSeconds"] = json!(state.monitor.window_span(w).as_secs_f64());
            (w.key().to_owned(), v)
        })
        .collect();
    let since_start = state.monitor.route_stats(Window::SinceStart);
    let top = |key| {
        super::performance::rank_routes(&since_start, key)
            .into_iter()
            .take(5)
            .map(|r| json!({ "route": r.route, "method": r.method, "resources": r.resources }))
            .collect::<Vec<_>>()
    };
    let top_cpu = top(super::performance::cpu_rank);
    let top_alloc = top(super::performance::allocation_rank);
    let mut slowest = state.monitor.route_stats(Window::LastFiveMinutes);
    slowest.sort_by_key(|r| std::cmp::Reverse(r.stats.p95));
    slowest.truncate(5);
    let (active, resolved) = {
        let engine = state
            .alerts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (engine.active(), engine.recently_resolved())
    };
    let trends: Vec<Value> = state
        .sampler
        .history()
        .minutes(minutes)
        .iter()
        .map(|m| {
            json!({
                "timestamp": rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(m.unix_ms)),
                "requests": m.requests,
                "errors": m.errors,
                "p95Ms": m.p95_ms,
                "rssBytes": m.rss_bytes,
                "heapBytes": m.heap_bytes,
                "cpuPercent": m.cpu_percent,
                "busyRatio": m.busy_ratio,
            })
        })
        .collect();
    let memory = memory_report(&state);
    let mut body = json!({
        "timestamp": rfc3339(s.at),
        "realTime": {
            "requestsPerSecond": requests_per_second(&state, Duration::from_secs(10)),
            "inFlightRequests": state.monitor.in_flight(),
            "memory": {
                "rssBytes": snap.process.rss_bytes,
                "heapBytes": snap.heap.map(|h| h.allocated_bytes),
                "limitBytes": state.memory.limit.bytes,
                "leak": memory["trend"]["leak"],
            },
            "cpu": { "percent": snap.cpu_percent },
            "runtime": snap.runtime,
            "sampledAt": rfc3339(snap.taken_at),
        },
        "performance": performance,
        "health": { "status": report.status, "issues": issues },
        "alerts": { "active": active, "recentlyResolved": resolved },
        "recommendations": vitals::recommend(&s, &state.thresholds),
        "slowestPaths": slowest.iter().map(|r| json!({
            "route": r.route, "method": r.method, "count": r.stats.count,
            "p50Ms": as_ms(r.stats.p50), "p95Ms": as_ms(r.stats.p95), "p99Ms": as_ms(r.stats.p99),
            "errorRate": r.stats.error_rate(),
        })).collect::<Vec<_>>(),
        "trends": { "resolution": "1m", "points": trends },
        "topCpuRoutes": top_cpu,
        "topAllocatingRoutes": top_alloc,
        "protection": {
            "pressure": state.pressure.status(),
            "breakers": state.breakers_json(),
            "rateLimit": state.rate_limit_json(),
        },
    });
    // Rendered by the page's Protection panel like the layers: one group per channel.
    if let Some(channels) = state.notifications_json() {
        body["protection"]["notifications"] = channels;
    }
    Json(body).into_response()
}
