//! `/health/ping`, `/health`, the probes (`/health/live`, `/health/ready`, `/health/startup`)
//! and `/health/debug`.

use crate::util::rfc3339;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

use crate::check::Probe;
use crate::shared::AppState;

/// `GET /health/ping`: answers at once, touches no dependency.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/ping", tag = "health", responses((status = 200, description = "Alive", body = super::schemas::PingDoc))))]
pub(crate) async fn ping() -> Response {
    let mut res =
        Json(json!({ "status": "ok", "timestamp": rfc3339(SystemTime::now()) })).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckResult {
    status: &'static str,
    response_time_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
}

/// `GET /health`: every registered dependency check, each bounded by the check timeout.
/// 200 when all pass, 503 when any fails (its `output` says why, without secrets).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Every check passes (or warns)", body = super::schemas::HealthDoc), (status = 503, description = "A check fails", body = super::schemas::HealthDoc))))]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let results: Vec<(String, CheckResult)> = crate::report::run_checks(&state)
        .await
        .into_iter()
        .map(|(dep, output)| {
            let status = if dep.ok { "pass" } else { "fail" };
            let result = CheckResult {
                status,
                response_time_ms: vitals::as_ms(dep.response_time),
                output,
            };
            (dep.name, result)
        })
        .collect();
    #[cfg_attr(not(feature = "history"), allow(unused_mut))]
    let mut results = results;
    // A history store that cannot be opened or written: `warn`, still 200 (serving goes on).
    #[cfg(feature = "history")]
    if let Some(reason) = state.history.warning() {
        results.push((
            "history".to_owned(),
            CheckResult {
                status: "warn",
                response_time_ms: 0.0,
                output: Some(reason),
            },
        ));
    }
    let failed = results.iter().any(|(_, r)| r.status == "fail");
    let warned = results.iter().any(|(_, r)| r.status == "warn");
    let store = state.rate_limit_store_json();
    let warn = warned || store.as_ref().is_some_and(|s| s["status"] == "warn");
    let mut body = json!({
        "status": if failed { "fail" } else if warn { "warn" } else { "pass" },
        "service": state.service,
        "version": state.version,
        "timestamp": rfc3339(SystemTime::now()),
        "uptimeSeconds": state.monitor.uptime().as_secs_f64(),
        "breakers": state.breakers_json(),
        "checks": results
            .into_iter()
            .map(|(name, result)| (name, json!(result)))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    if let Some(store) = store {
        // A rate limit deciding locally is a warning (the instance still serves), not a failure.
        body["rateLimitStore"] = store;
    }
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A probe's answer: `pass` (200) or `fail` (503), why, and its group's checks.
async fn probe(state: &AppState, probe: Probe) -> Response {
    let lifecycle = &state.lifecycle;
    let mut reasons = Vec::new();
    if matches!(probe, Probe::Ready | Probe::Startup) && !lifecycle.started() {
        reasons.push("start-up has not completed".to_owned());
    }
    if probe == Probe::Ready && lifecycle.refusing() {
        reasons
            .push("shutting down: refusing new traffic while in-flight requests drain".to_owned());
    }
    let checks: serde_json::Map<String, serde_json::Value> =
        crate::report::run_checks_in(state, Some(probe))
            .await
            .into_iter()
            .map(|(dep, output)| {
                if !dep.ok {
                    reasons.push(format!(
                        "{}: {}",
                        dep.name,
                        output.as_deref().unwrap_or("failed")
                    ));
                }
                let result = CheckResult {
                    status: if dep.ok { "pass" } else { "fail" },
                    response_time_ms: vitals::as_ms(dep.response_time),
                    output,
                };
                (dep.name, json!(result))
            })
            .collect();
    let pass = reasons.is_empty();
    let mut body = json!({
        "status": if pass { "pass" } else { "fail" },
        "probe": probe.as_str(),
        "started": lifecycle.started(),
        "acceptingTraffic": !lifecycle.refusing(),
        "checks": checks,
    });
    if !pass {
        body["output"] = json!(reasons.join("; "));
    }
    let status = if pass {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut res = (status, Json(body)).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/health+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /health/live`: the process answers (Kubernetes' liveness probe). 503 only when a check
/// of the `live` group fails (none by default): traffic cannot fail it.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive", body = super::schemas::ProbeDoc, content_type = "application/health+json"), (status = 503, description = "A liveness check fails", body = super::schemas::ProbeDoc, content_type = "application/health+json"))))]
pub(crate) async fn live(State(state): State<AppState>) -> Response {
    probe(&state, Probe::Live).await
}

/// `GET /health/ready`: the process takes traffic (Kubernetes' readiness probe): start-up done,
/// not shutting down, and every check of the `ready` group (by default, every check) passing.
/// Request figures (error rate, latency) play no part, so clients cannot fail it.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/ready", tag = "health", responses((status = 200, description = "Ready for traffic", body = super::schemas::ProbeDoc, content_type = "application/health+json"), (status = 503, description = "Starting, shutting down, or a readiness check fails", body = super::schemas::ProbeDoc, content_type = "application/health+json"))))]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    probe(&state, Probe::Ready).await
}

/// `GET /health/startup`: start-up has completed (Kubernetes' startup probe) and every check of
/// the `startup` group passes.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/startup", tag = "health", responses((status = 200, description = "Started", body = super::schemas::ProbeDoc, content_type = "application/health+json"), (status = 503, description = "Still starting, or a startup check fails", body = super::schemas::ProbeDoc, content_type = "application/health+json"))))]
pub(crate) async fn startup(State(state): State<AppState>) -> Response {
    probe(&state, Probe::Startup).await
}

/// `GET /health/debug`: configuration (no secrets), monitor memory, process facts.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/debug", tag = "health", security(("operatorToken" = [])), responses((status = 200, description = "Configuration and monitor memory", body = super::schemas::DebugDoc))))]
pub(crate) async fn debug(State(state): State<AppState>) -> Response {
    let config = state.monitor.config();
    Json(json!({
        "service": state.service,
        "version": state.version,
        "pid": std::process::id(),
        "startedAt": rfc3339(state.monitor.started_at()),
        "uptimeSeconds": state.monitor.uptime().as_secs_f64(),
        "requestsRecorded": state.monitor.recorded(),
        "config": {
            "ringCapacity": config.ring_capacity,
            "slowThresholdMs": vitals::as_ms(config.slow_threshold),
            "maxRoutes": config.max_routes,
            "maxOrganizations": config.max_organizations,
            "resourcesEvery": state.resources_every,
            "highCpuThresholdMs": vitals::as_ms(config.high_cpu_threshold),
            "highMemoryBytes": config.high_memory_threshold,
            "blockingPollThresholdMs": vitals::as_ms(config.blocking_poll_threshold),
            "operatorAuth": if state.auth.has_token() { "bearer-token" } else { "loopback-only" },
            "healthChecks": state.checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "healthCheckGroups": state.checks.iter()
                .map(|c| (c.name.clone(), json!(c.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>())))
                .collect::<serde_json::Map<_, _>>(),
            "healthCheckTimeoutMs": Duration::as_millis(&state.check_timeout) as u64,
        },
        "monitorMemory": state.monitor.memory(),
        "runtime": {
            "workers": tokio::runtime::Handle::current().metrics().num_workers(),
            "availableParallelism": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        },
        "reporters": state.reporters.iter()
            .map(|r| (r.name().to_owned(), r.debug_json()))
            .collect::<serde_json::Map<_, _>>(),
    }))
    .into_response()
}

/// `GET /health/pressure`: current values, thresholds, which one tripped and since when. 503
/// while under pressure (so a load balancer takes the instance out), 200 otherwise.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/pressure", tag = "health", responses((status = 200, description = "Not under pressure", body = super::schemas::PressureDoc), (status = 503, description = "Under pressure: requests are shed", body = super::schemas::PressureDoc))))]
pub(crate) async fn pressure(State(state): State<AppState>) -> Response {
    let status = state.pressure.status();
    let code = if status.under_pressure {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut body = json!(status);
    if let Some(store) = state.rate_limit_store_json() {
        body["rateLimitStore"] = store;
    }
    let mut res = (code, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
