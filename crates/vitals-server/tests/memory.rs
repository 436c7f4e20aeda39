//! End-to-end test of memory monitoring on the real `vitals-server` binary (jemalloc).
//!
//! The server samples every 200 ms (`VITALS_SAMPLE_INTERVAL_MS=200`), so the sampled figures
//! of `/metrics/memory` and `/health/performance/v2/system` follow the leak demo quickly. Every
//! wait is a poll for a behaviour with a generous deadline, never a fixed sleep followed by an
//! assertion on timing.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Answer, Server};

const MIB: u64 = 1024 * 1024;
/// The sampling interval the server is started with.
const SAMPLE_INTERVAL_MS: &str = "200";
/// How long a sampled figure may take to reflect a change (many intervals).
const SAMPLE_DEADLINE: Duration = Duration::from_secs(10);

/// `GET /metrics/memory`, asserted 200 JSON.
async fn memory_report(server: &Server) -> Value {
    let answer = server.get("/metrics/memory").await;
    answer.assert_ok_json();
    answer.json
}

/// `GET /health/performance/v2/system`, asserted 200 JSON.
async fn system(server: &Server) -> Value {
    let answer = server.get("/health/performance/v2/system").await;
    answer.assert_ok_json();
    answer.json
}

/// `value[key]` as an unsigned integer.
#[track_caller]
fn uint(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned integer in {value:#}"))
}

/// POST `path` with an empty body.
async fn post(server: &Server, path: &str) -> Answer {
    server.send(server.client().post(server.url(path))).await
}

/// Polls `/metrics/memory` until `done` holds for it; panics with the last report after
/// [`SAMPLE_DEADLINE`].
async fn memory_until(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SAMPLE_DEADLINE;
    loop {
        let report = memory_report(server).await;
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "within {SAMPLE_DEADLINE:?}: {what}; last /metrics/memory:\n{report:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts the trend section: heap basis, the 5/15/30 minute windows, and no leak verdict
/// from a few seconds of samples.
#[track_caller]
fn assert_young_trend(report: &Value) {
    let trend = &report["trend"];
    assert_eq!(trend["basis"], "heap", "{trend:#}");
    let minutes: Vec<u64> = trend["windows"]
        .as_array()
        .expect("`trend.windows` is an array")
        .iter()
        .map(|w| uint(w, "minutes"))
        .collect();
    assert_eq!(minutes, [5, 15, 30], "{trend:#}");
    assert_eq!(trend["leak"]["leaking"], false, "{trend:#}");
    assert_eq!(trend["leak"]["reason"], "insufficientData", "{trend:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn leak_is_seen_then_reclaimed() {
    let server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        ("VITALS_SAMPLE_INTERVAL_MS", SAMPLE_INTERVAL_MS),
    ]);

    // A few samples in: the sampler runs at the configured interval.
    let before = memory_until(&server, "at least 3 samples in the history", |r| {
        r["history"].as_array().is_some_and(|h| h.len() >= 3)
    })
    .await;
    assert_eq!(
        before["trend"]["sampleIntervalSeconds"], 0.2,
        "VITALS_SAMPLE_INTERVAL_MS=200 is not honoured: {:#}",
        before["trend"]
    );
    let summary = &before["summary"];
    assert_eq!(summary["heapSource"], "jemalloc", "{summary:#}");
    let heap_before = uint(summary, "heapBytes");
    let rss_before = uint(summary, "rssBytes");
    assert!(heap_before > 0 && rss_before > 0, "{summary:#}");
    let history_before = before["history"].as_array().expect("history").len();
    assert_young_trend(&before);

    let system_before = system(&server).await;
    assert_eq!(
        system_before["sampleIntervalSeconds"], 0.2,
        "{system_before:#}"
    );
    assert_eq!(
        system_before["memory"]["heapSource"], "jemalloc",
        "{system_before:#}"
    );
    let system_heap_before = uint(&system_before["memory"], "heapBytes");

    // Hold 200 MiB.
    let leak = post(&server, "/api/demo/leak?mb=200").await;
    leak.assert_ok_json();
    assert_eq!(leak.json["addedMib"], 200, "{}", leak.text);
    assert_eq!(leak.json["heldMib"], 200, "{}", leak.text);
    assert_eq!(leak.json["capped"], false, "{}", leak.text);

    // The sampled heap and RSS follow.
    let holding = memory_until(&server, "heapBytes rises by 190 MiB", |r| {
        r["summary"]["heapBytes"]
            .as_u64()
            .is_some_and(|h| h >= heap_before + 190 * MIB)
    })
    .await;
    let summary = &holding["summary"];
    let rss_holding = uint(summary, "rssBytes");
    assert!(
        rss_holding >= rss_before + 150 * MIB,
        "RSS rose by less than 150 MiB while holding 200 MiB (before {rss_before}): {summary:#}"
    );
    let history = holding["history"].as_array().expect("history");
    assert!(
        history.len() > history_before,
        "history did not grow ({history_before} -> {})",
        history.len()
    );
    let last = history.last().expect("a history entry");
    assert!(
        uint(last, "heapBytes") >= heap_before + 190 * MIB,
        "last history entry does not show the leak: {last:#}"
    );
    let system_holding = system(&server).await;
    let system_heap = uint(&system_holding["memory"], "heapBytes");
    assert!(
        system_heap >= system_heap_before + 190 * MIB,
        "v2/system heapBytes {system_heap} is not 190 MiB above {system_heap_before}: \
         {system_holding:#}"
    );
    // The highest RSS seen while holding.
    let rss_peak = history
        .iter()
        .filter_map(|h| h["rssBytes"].as_u64())
        .chain([rss_holding])
        .chain(system_holding["memory"]["rssBytes"].as_u64())
        .max()
        .unwrap_or(rss_holding);

    // Let go, then reclaim.
    let free = post(&server, "/api/demo/leak/free").await;
    free.assert_ok_json();
    assert_eq!(free.json["freedMib"], 200, "{}", free.text);
    assert_eq!(free.json["heldMib"], 0, "{}", free.text);

    let gc = post(&server, "/metrics/memory/gc").await;
    gc.assert_ok_json();
    assert_eq!(gc.json["method"], "jemalloc-purge", "{}", gc.text);
    assert_eq!(gc.json["ok"], true, "{}", gc.text);
    let rss_gc_before = uint(&gc.json, "rssBeforeBytes");
    let rss_gc_after = uint(&gc.json, "rssAfterBytes");
    let released = uint(&gc.json, "releasedBytes");
    // Released is what the purge gave back: before - after, never negative (another thread
    // may allocate a page while it runs).
    assert_eq!(
        released,
        rss_gc_before.saturating_sub(rss_gc_after),
        "{}",
        gc.text
    );
    let duration_ms = gc.json["durationMs"]
        .as_f64()
        .unwrap_or_else(|| panic!("`durationMs` is not a number: {}", gc.text));
    assert!(duration_ms >= 0.0, "{}", gc.text);
    assert!(
        rss_gc_after + 100 * MIB <= rss_peak,
        "after free + reclaim RSS is {rss_gc_after}, not 100 MiB below the peak {rss_peak} \
         seen while holding: {}",
        gc.text
    );

    // At most one reclaim per interval.
    let again = post(&server, "/metrics/memory/gc").await;
    again.assert_problem(429);
    let retry_after: u64 = again
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", again.headers))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After is not an integer ({e}): {:?}", again.headers));
    assert!(
        (1..=10).contains(&retry_after),
        "Retry-After {retry_after} is outside 1..=10"
    );

    // Reclaim is an action.
    let get_gc = server.get("/metrics/memory/gc").await;
    get_gc.assert_problem(405);
    assert_eq!(get_gc.header("allow"), Some("POST"), "{:?}", get_gc.headers);

    // The leak demo caps what it holds.
    let capped = post(&server, "/api/demo/leak?mb=600").await;
    capped.assert_ok_json();
    let added = uint(&capped.json, "addedMib");
    assert!(added <= 512, "{}", capped.text);
    assert_eq!(added, 512, "nothing was held before: {}", capped.text);
    assert_eq!(capped.json["capped"], true, "{}", capped.text);
    assert_eq!(capped.json["heldMib"], 512, "{}", capped.text);
    assert_eq!(capped.json["capMib"], 512, "{}", capped.text);
    let free = post(&server, "/api/demo/leak/free").await;
    free.assert_ok_json();
    assert_eq!(free.json["freedMib"], 512, "{}", free.text);

    let bad = post(&server, "/api/demo/leak?mb=abc").await;
    bad.assert_problem(400);

    // The reclaim is remembered, and seconds of samples are still too few for a verdict.
    let after = memory_report(&server).await;
    assert!(
        after["summary"]["lastReclaim"]
            .as_str()
            .is_some_and(support::is_rfc3339),
        "{:#}",
        after["summary"]
    );
    assert_young_trend(&after);
}
