//! Health, alerts, recommendations and the dashboard: everything that turns measurements
//! into a verdict.
//!
//! [`signals`] gathers what is measured (the monitor's last five minutes, the latest system
//! snapshot, the memory trend, dependency checks) into [`vitals::health::Signals`]; the core's
//! rules do the rest. Alerts are evaluated on every sample interval in the background, so their
//! lifecycle (firing since, resolved at) does not depend on anyone looking.

use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Value, json};
use vitals::Window;
use vitals::health::{DependencySignal, RouteSignal, Signals};
use vitals::monitor::as_ms;

use super::AppState;
use super::memory::{latest, memory_report};
use crate::Shared;
use crate::query::Query;
use crate::rfc3339;

/// Runs every registered dependency check, each bounded by the check timeout.
pub(crate) async fn run_checks(state: &AppState) -> Vec<(DependencySignal, Option<String>)> {
    let checks = state.checks.iter().map(|check| {
        let timeout = state.check_timeout;
        async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(timeout, (check.check)()).await;
            let response_time = started.elapsed();
            let (ok, output) = match outcome {
                Ok(Ok(())) => (true, None),
                Ok(Err(reason)) => (false, Some(reason)),
                Err(_) => (
                    false,
                    Some(format!("no answer within {} ms", timeout.as_millis())),
                ),
            };
            (
                DependencySignal {
                    name: check.name.clone(),
                    ok,
                    response_time,
                },
                output,
            )
        }
    });
    futures_util::future::join_all(checks).await
}

/// Everything measured now, without dependencies (see [`run_checks`]).
pub(crate) fn signals(state: &Shared) -> Signals {
    let monitor = &state.monitor;
    let mut s = Signals::new(SystemTime::now());
    // Health, alerts and advice judge *server* errors (5xx, panics): a client's 4xx, a
    // scanner's 404 or a refused operator call must not take the instance out of rotation.
    // Per-request records and the route figures keep the seed's `isErrorResponse` (>= 400).
    let five = monitor.overall(Window::LastFiveMinutes);
    let classes = monitor.status_counts(Window::LastFiveMinutes);
    s.requests_last_5m = five.count;
    if five.count > 0 {
        s.p95 = Some(five.p95);
        s.error_rate = Some(classes.server_error as f64 / five.count as f64);
    }
    s.routes = monitor
        .route_stats(Window::LastFiveMinutes)
        .into_iter()
        .map(|r| RouteSignal {
            route: r.route.to_string(),
            method: r.method.as_str().to_owned(),
            count: r.stats.count,
            p95: r.stats.p95,
            error_rate: if r.stats.count > 0 {
                r.status.server_error as f64 / r.stats.count as f64
            } else {
                0.0
            },
            // Since start (blocking is counted on every request; per-route resources are kept
            // since start only).
            blocked_polls: r.resources.map(|x| x.blocked_runtime),
        })
        .collect();
    if let Some(snap) = state.sampler.history().latest() {
        s.heap_bytes = snap.heap.map(|h| h.allocated_bytes);
        s.rss_bytes = snap.process.rss_bytes;
        s.fragmentation = snap.fragmentation();
        if let Some(rt) = snap.runtime {
            s.busy_ratio = Some(rt.busy_ratio);
            s.scheduling_delay_p99 =
                Some(Duration::from_secs_f64(rt.scheduling_delay_p99_ms / 1e3));
        }
    }
    s.memory_limit_bytes = Some(state.memory.limit.bytes);
    let points = state
        .sampler
        .history()
        .memory_points(Duration::from_secs(300));
    s.memory_growth_mb_per_min = vitals::trend::fit(&points)
        .filter(|f| f.span_secs >= 60.0)
        .map(|f| f.mib_per_min());
    s.last_reclaim = state
        .last_reclaim
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .map(|(_, at)| at);
    s
}

/// [`signals`] plus the dependency checks, run now.
async fn signals_with_dependencies(state: &AppState) -> Signals {
    let mut s = signals(state);
    s.dependencies = run_checks(state)
        .await
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    s
}

/// Every sample interval until `shared` is dropped: samples the system, re-evaluates the
/// pressure (so shedding starts and stops within one interval of a crossing), then the alerts.
pub(crate) fn spawn_sampling(shared: Weak<Shared>) {
    let Some(interval) = shared.upgrade().map(|s| s.sampler.history().interval()) else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // immediate; build() took the first sample
        loop {
            tick.tick().await;
            let Some(state) = shared.upgrade() else { break };
            let snapshot = state.sampler.sample_now();
            state.pressure.evaluate(&snapshot);
            let signals = signals(&state);
            state
                .alerts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .evaluate(&signals);
        }
    });
}

/// The current recommendations (memory, latency, errors, runtime).
pub(crate) fn recommendations(state: &Shared) -> Vec<vitals::advice::Recommendation> {
    vitals::advice::recommend(&signals(state), &state.thresholds)
}

/// `GET /metrics/health`: the "Health Check Response Format for HTTP APIs" draft, with the
/// dependency checks run now. 200 for pass and warn, 503 for fail; cacheable for 5 s.
pub(crate) async fn health_check_format(State(state): State<AppState>) -> Response {
    let s = signals_with_dependencies(&state).await;
    let report =
        vitals::health::health_report(&s, &state.thresholds, &state.version, Some(&state.service));
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
pub(crate) async fn health_score(State(state): State<AppState>) -> Response {
    let s = signals_with_dependencies(&state).await;
    let score = vitals::health::health_score(&s, &state.thresholds);
    Json(json!({
        "timestamp": rfc3339(s.at),
        "score": score.score,
        "status": score.status,
        "factors": score.factors,
        "weights": vitals::health::FACTOR_WEIGHTS
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
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if super::page::prefers_html(&headers) {
        return super::page::shell(StatusCode::OK);
    }
    let query = Query::parse(uri.query());
    let mut res = match query.limit("minutes", 60, vitals::system::MINUTE_POINTS) {
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
    let report =
        vitals::health::health_report(&s, &state.thresholds, &state.version, Some(&state.service));
    let issues: Vec<Value> = report
        .checks
        .iter()
        .flat_map(|(key, results)| results.iter().map(move |r| (key, r)))
        .filter(|(_, r)| r.status != vitals::health::HealthStatus::Pass)
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
    Json(json!({
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
        "recommendations": vitals::advice::recommend(&s, &state.thresholds),
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
            "breakers": state.breakers.snapshots(),
            "rateLimit": state.rate_limit.as_ref().map(|l| json!({
                "refusedTotal": l.refused_total(),
                "trackedKeys": l.tracked_keys(),
                "overflowedTotal": l.overflowed_total(),
            })),
        },
    }))
    .into_response()
}
