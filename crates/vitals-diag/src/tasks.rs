//! `GET /debug/tasks`: Tokio's task dump where the build allows it, and always the in-flight
//! requests (see [`crate::InFlight`]).
//!
//! `Handle::dump()` needs `RUSTFLAGS="--cfg tokio_unstable --cfg tokio_taskdump"` (and Tokio's
//! `taskdump` feature, which this crate turns on under that cfg), Linux, x86-64 or aarch64.
//! It waits for every task to yield, so it is bounded by [`DUMP_TIMEOUT`]: a worker blocked
//! in a poll is exactly when it cannot finish, and then the in-flight list is the answer.

use std::time::Duration;

use crate::inflight::InFlight;

/// Longest wait for a task dump.
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(2);

/// The task dump as JSON: `{taskDump: {available, reason?, tasks?}, inFlight: [...],
/// inFlightCapacity, untracked}`.
pub async fn task_dump_json(in_flight: &InFlight) -> serde_json::Value {
    serde_json::json!({
        "taskDump": dump().await,
        "inFlight": in_flight.snapshot(),
        "inFlightCapacity": in_flight.capacity(),
        "untracked": in_flight.untracked(),
    })
}

#[cfg(all(tokio_unstable, tokio_taskdump))]
async fn dump() -> serde_json::Value {
    let handle = tokio::runtime::Handle::current();
    match tokio::time::timeout(DUMP_TIMEOUT, handle.dump()).await {
        Ok(dump) => {
            let tasks: Vec<serde_json::Value> = dump
                .tasks()
                .iter()
                .map(|t| serde_json::json!({ "id": t.id().to_string(), "trace": t.trace().to_string() }))
                .collect();
            serde_json::json!({ "available": true, "tasks": tasks })
        }
        Err(_) => serde_json::json!({
            "available": false,
            "reason": format!(
                "the dump did not finish within {} s: some task does not yield (see the \
                 in-flight requests polling now)",
                DUMP_TIMEOUT.as_secs()
            ),
        }),
    }
}

#[cfg(not(all(tokio_unstable, tokio_taskdump)))]
#[allow(clippy::unused_async)] // the same signature as the dumping build's
async fn dump() -> serde_json::Value {
    serde_json::json!({
        "available": false,
        "reason": "this build has no Tokio task dumps: build with RUSTFLAGS=\"--cfg \
                   tokio_unstable --cfg tokio_taskdump\" (Linux, x86-64 or aarch64)",
    })
}
