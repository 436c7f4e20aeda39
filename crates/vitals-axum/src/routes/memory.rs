//! `/metrics/memory`, `/metrics/memory/gc` and `/health/performance/v2/system`.

use crate::rfc3339;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use vitals::system::SystemSnapshot;

use super::AppState;
use crate::Problem;

/// The latest snapshot, or a fresh one when none has been taken yet.
pub(crate) fn latest(state: &AppState) -> SystemSnapshot {
    state
        .sampler
        .history()
        .latest()
        .unwrap_or_else(|| state.sampler.sample_now())
}

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
pub(crate) async fn system(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    let mut body = snapshot_json(&s);
    body["sampleIntervalSeconds"] = json!(state.sampler.history().interval().as_secs_f64());
    Json(body).into_response()
}

/// The memory summary, trend and history as JSON (shared with the dashboard).
pub(crate) fn memory_report(state: &AppState) -> Value {
    let s = latest(state);
    let settings = &state.memory;
    let limit = settings.limit;
    let thresholds = settings.thresholds.resolve(limit.bytes);
    let heap = s.heap.map(|h| h.allocated_bytes);
    let rss = s.process.rss_bytes;
    let history = state.sampler.history();
    let basis = if s.heap.is_some() { "heap" } else { "rss" };
    let window = settings.leak.window;
    let points = history.memory_points(window);
    let newest = points.last().map_or(0.0, |p| p.0);
    let windows: Vec<Value> = vitals::trend::growth_rates(
        &points,
        newest,
        &[
            Duration::from_secs(300),
            Duration::from_secs(900),
            Duration::from_secs(1800),
        ],
    )
    .into_iter()
    .map(|(w, fit)| {
        json!({
            "minutes": w.as_secs() / 60,
            "growthMibPerMin": fit.as_ref().map(vitals::trend::Fit::mib_per_min),
            "rSquared": fit.as_ref().map(|f| f.r_squared),
            "points": fit.as_ref().map_or(0, |f| f.points),
            "spanSeconds": fit.as_ref().map(|f| f.span_secs),
        })
    })
    .collect();
    let leak = settings.leak.assess(&points);
    let last_reclaim = state
        .last_reclaim
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .map(|(_, at)| rfc3339(at));
    let samples: Vec<Value> = history
        .snapshots(Duration::from_secs(1800))
        .iter()
        .map(|h| {
            json!({
                "timestamp": rfc3339(h.taken_at),
                "rssBytes": h.process.rss_bytes,
                "heapBytes": h.heap.map(|x| x.allocated_bytes),
            })
        })
        .collect();
    json!({
        "summary": {
            "timestamp": rfc3339(s.taken_at),
            "rssBytes": rss,
            "peakRssBytes": s.process.peak_rss_bytes,
            "heapBytes": heap,
            "heapSource": s.heap.map(|h| h.source),
            "fragmentation": s.fragmentation(),
            "limitBytes": limit.bytes,
            "limitSource": limit.source,
            "rssUtilization": rss.map(|r| r as f64 / limit.bytes as f64),
            "heapUtilization": heap.map(|h| h as f64 / limit.bytes as f64),
            "thresholds": thresholds,
            "status": thresholds.status(heap, rss),
            "lastReclaim": last_reclaim,
        },
        "trend": {
            "basis": basis,
            "sampleIntervalSeconds": history.interval().as_secs_f64(),
            "windows": windows,
            "leak": leak,
        },
        "history": samples,
    })
}

/// `GET /metrics/memory`.
pub(crate) async fn memory(State(state): State<AppState>) -> Response {
    let mut report = memory_report(&state);
    report["recommendations"] = json!(super::insight::recommendations(&state));
    Json(report).into_response()
}

/// `GET /metrics/memory/gc`: reclaim is an action.
pub(crate) async fn gc_get() -> Response {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail("reclaim is an action: use POST /metrics/memory/gc")
        .with_header(header::ALLOW, HeaderValue::from_static("POST"))
        .into_response()
}

/// `POST /metrics/memory/gc`: asks the allocator to return free memory; at most one per
/// reclaim interval, else 429 with `Retry-After`.
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
        let before = vitals::process::sample_process()
            .ok()
            .and_then(|p| p.rss_bytes);
        let heap_before = vitals::heap::heap_stats();
        let started = Instant::now();
        let outcome = vitals::heap::reclaim();
        let took = started.elapsed();
        let after = vitals::process::sample_process()
            .ok()
            .and_then(|p| p.rss_bytes);
        let heap_after = vitals::heap::heap_stats();
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
        "durationMs": vitals::monitor::as_ms(took),
        "timestamp": rfc3339(SystemTime::now()),
    }))
    .into_response()
}
