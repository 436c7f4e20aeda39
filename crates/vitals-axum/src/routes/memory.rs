//! `/metrics/memory`, `/metrics/memory/gc` and `/health/performance/v2/system`.

use crate::util::rfc3339;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use vitals::SystemSnapshot;

use crate::problem::Problem;
use crate::report::{latest, memory_report};
use crate::shared::AppState;

pub(crate) fn snapshot_json(s: &SystemSnapshot) -> Value {
    let p = &s.process;
    json!({
        "timestamp": rfc3339(s.taken_at),
        "memory": {
            "rssBytes": p.rss_bytes,
            "peakRssBytes": p.peak_rss_bytes,
            "virtualBytes": p.virtual_bytes,
            "heapBytes": s.heap.map(|h| h.allocated_bytes),
            "heapActiveBytes": s.heap.and_then(|h| h.active_bytes),
            "heapResidentBytes": s.heap.and_then(|h| h.resident_bytes),
            "heapSource": s.heap.map(|h| h.source),
            "fragmentation": s.fragmentation(),
        },
        "cpu": {
            "percent": s.cpu_percent,
            "userSeconds": p.cpu_user.map(|d| d.as_secs_f64()),
            "systemSeconds": p.cpu_system.map(|d| d.as_secs_f64()),
        },
        "runtime": s.runtime,
        "process": {
            "pid": std::process::id(),
            "threads": p.threads,
            "openFds": p.open_fds,
            "maxFds": p.max_fds,
            "uptimeSeconds": p.uptime().map(|d| d.as_secs_f64()),
            "startTimeUnixSeconds": p.start_time_unix_secs,
        },
        "inFlightRequests": s.in_flight,
    })
}

/// `GET /health/performance/v2/system`: the latest snapshot of everything sampled.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/v2/system", tag = "performance", security(("operatorToken" = [])), responses((status = 200, description = "The latest sample", body = super::schemas::SystemDoc))))]
pub(crate) async fn system(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    let mut body = snapshot_json(&s);
    body["sampleIntervalSeconds"] = json!(state.sampler.history().interval().as_secs_f64());
    Json(body).into_response()
}

/// `GET /metrics/memory`.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/memory", tag = "metrics", security(("operatorToken" = [])), responses((status = 200, description = "Memory figures, trend and advice", body = super::schemas::MemoryDoc))))]
pub(crate) async fn memory(State(state): State<AppState>) -> Response {
    let mut report = memory_report(&state);
    report["recommendations"] = json!(crate::report::recommendations(&state));
    Json(report).into_response()
}

/// `GET /metrics/memory/gc`: reclaim is an action.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/memory/gc", tag = "metrics", security(("operatorToken" = [])), responses((status = 405, description = "Reclaim is an action: POST", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn gc_get() -> Response {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail("reclaim is an action: use POST /metrics/memory/gc")
        .with_header(header::ALLOW, HeaderValue::from_static("POST"))
        .into_response()
}

/// `POST /metrics/memory/gc`: asks the allocator to return free memory; at most one per
/// reclaim interval, else 429 with `Retry-After`.
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/metrics/memory/gc", tag = "metrics", security(("operatorToken" = [])), responses((status = 200, description = "What reclaiming returned", body = super::schemas::ReclaimDoc), (status = 429, description = "Reclaimed less than an interval ago (`Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn gc_post(State(state): State<AppState>) -> Response {
    let now = Instant::now();
    {
        let mut last = state
            .last_reclaim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, _)) = *last {
            let since = now.duration_since(at);
            if since < state.memory.reclaim_interval {
                let wait = (state.memory.reclaim_interval - since)
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64;
                return Problem::new(StatusCode::TOO_MANY_REQUESTS)
                    .with_detail(format!(
                        "reclaim runs at most once every {} s; retry in {wait} s",
                        state.memory.reclaim_interval.as_secs()
                    ))
                    .with_header(header::RETRY_AFTER, HeaderValue::from(wait))
                    .into_response();
            }
        }
        *last = Some((now, SystemTime::now()));
    }
    let outcome = tokio::task::spawn_blocking(|| {
        let before = vitals::sample_process().ok().and_then(|p| p.rss_bytes);
        let heap_before = vitals::heap_stats();
        let started = Instant::now();
        let outcome = vitals::reclaim_memory();
        let took = started.elapsed();
        let after = vitals::sample_process().ok().and_then(|p| p.rss_bytes);
        let heap_after = vitals::heap_stats();
        (before, after, heap_before, heap_after, took, outcome)
    })
    .await;
    let Ok((before, after, heap_before, heap_after, took, outcome)) = outcome else {
        return Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("reclaim did not complete")
            .into_response();
    };
    let released = match (before, after) {
        (Some(b), Some(a)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Json(json!({
        "method": outcome.method,
        "ok": outcome.ok,
        "error": outcome.error,
        "rssBeforeBytes": before,
        "rssAfterBytes": after,
        "releasedBytes": released,
        "heapBeforeBytes": heap_before.map(|h| h.allocated_bytes),
        "heapAfterBytes": heap_after.map(|h| h.allocated_bytes),
        "durationMs": vitals::as_ms(took),
        "timestamp": rfc3339(SystemTime::now()),
    }))
    .into_response()
}
