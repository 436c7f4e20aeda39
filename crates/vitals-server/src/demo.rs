//! Demo routes that make the monitoring move: hold memory, burn CPU, block a worker.
//!
//! - `POST /api/demo/leak?mb=N`: holds N MiB more (written, so resident), at most 512 MiB in
//!   all; a request past the cap holds what still fits and says so.
//! - `POST /api/demo/leak/free`: lets go of everything held.
//! - `GET /api/demo/cpu?ms=N`: burns N ms of CPU time on the worker (capped at 5,000).
//! - `GET /api/demo/block?ms=N`: blocks the worker thread for N ms (capped at 5,000), the bug
//!   the scheduling-delay probe exists to catch.
//! - `POST /api/demo/db-fault?on=true|false`: while on, every database query fails, so the
//!   database circuit breaker opens after its threshold and closes after a successful trial.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{StatusCode, Uri};
use serde_json::json;
use vitals_axum::Problem;

const MIB: usize = 1024 * 1024;
/// Most the leak demo holds.
pub(crate) const LEAK_CAP_MIB: usize = 512;
const MAX_BURN_MS: u64 = 5_000;

#[derive(Clone, Default)]
struct Leak(Arc<Mutex<Vec<Vec<u8>>>>);

fn param(uri: &Uri, name: &str, default: u64, max: u64) -> Result<u64, Box<Problem>> {
    let Some(raw) = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Box::new(
            Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!(
                    "`{name}` must be an integer from 0 to {max}, got `{raw}`"
                ))
                .with_instance(uri.path()),
        )),
    }
}

async fn leak(State(leak): State<Leak>, uri: Uri) -> Response {
    let mb = match param(&uri, "mb", 10, u64::MAX) {
        Ok(mb) => usize::try_from(mb).unwrap_or(usize::MAX),
        Err(problem) => return problem.into_response(),
    };
    let mut held = leak
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = held.len();
    let room = LEAK_CAP_MIB.saturating_sub(before);
    let add = mb.min(room);
    for _ in 0..add {
        // Non-zero bytes: the pages are written, so they count in RSS.
        held.push(vec![0xA5; MIB]);
    }
    Json(json!({
        "requestedMib": mb,
        "addedMib": add,
        "heldMib": held.len(),
        "capMib": LEAK_CAP_MIB,
        "capped": add < mb,
    }))
    .into_response()
}

async fn free(State(leak): State<Leak>) -> Response {
    let mut held = leak
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let freed = held.len();
    *held = Vec::new();
    Json(json!({ "freedMib": freed, "heldMib": 0 })).into_response()
}

async fn cpu(uri: Uri) -> Response {
    let ms = match param(&uri, "ms", 100, MAX_BURN_MS) {
        Ok(ms) => ms,
        Err(problem) => return problem.into_response(),
    };
    // Burns CPU time, not wall time: on a loaded machine the thread gets less than the wall
    // clock, and the point of the route is a request that used N ms of CPU. The wall clock caps
    // it (ten times N) so a starved thread still answers.
    tracing::debug!(ms, "burning CPU");
    let burn = Duration::from_millis(ms);
    let wall_cap = Instant::now() + burn * 10;
    let cpu_start = vitals::thread_cpu_time();
    let burned = || match (cpu_start, vitals::thread_cpu_time()) {
        (Some(start), Some(now)) => now.saturating_sub(start) >= burn,
        _ => Instant::now() >= wall_cap - burn * 9,
    };
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rounds: u64 = 0;
    while !burned() && Instant::now() < wall_cap {
        for _ in 0..1_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        rounds += 1;
    }
    Json(json!({ "burnedMs": ms, "rounds": rounds, "checksum": x })).into_response()
}

async fn block(uri: Uri) -> Response {
    let ms = match param(&uri, "ms", 100, MAX_BURN_MS) {
        Ok(ms) => ms,
        Err(problem) => return problem.into_response(),
    };
    // Deliberately wrong: a blocking sleep on a runtime worker.
    std::thread::sleep(Duration::from_millis(ms));
    Json(json!({ "blockedMs": ms })).into_response()
}

async fn db_fault(State(db): State<crate::db::Db>, uri: Uri) -> Response {
    let on = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "on")
            .map(|(_, v)| v.into_owned())
    });
    let on = match on.as_deref() {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        other => {
            return Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!(
                    "`on` must be true or false, got `{}`",
                    other.unwrap_or("")
                ))
                .with_instance(uri.path())
                .into_response();
        }
    };
    db.set_fault(on);
    Json(json!({ "fault": on, "breaker": db.breaker().state() })).into_response()
}

/// The demo routes.
pub(crate) fn router(db: crate::db::Db) -> Router {
    Router::new()
        .route("/api/demo/db-fault", post(db_fault))
        .with_state(db)
        .route("/api/demo/leak", post(leak))
        .route("/api/demo/leak/free", post(free))
        .with_state(Leak::default())
        .route("/api/demo/cpu", get(cpu))
        .route("/api/demo/block", get(block))
}
