//! End-to-end test of per-request resource attribution on the real `vitals-server` binary:
//! CPU time from the thread CPU clock around each poll, allocations from jemalloc's per-thread
//! counters, and the blocking-poll flag.

#[allow(dead_code)]
mod support;

use serde_json::Value;
use support::Server;

/// The ring record of the request with this correlation id.
async fn record(server: &Server, id: &str) -> Value {
    server
        .ring()
        .await
        .into_iter()
        .find(|r| r["correlationId"] == id)
        .unwrap_or_else(|| panic!("no record for {id}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_allocation_and_blocking_are_attributed_to_the_request() {
    let server = Server::start_with(&[("VITALS_RESOURCES_EVERY", "1")]);

    let cpu = server
        .get_with("/api/demo/cpu?ms=200", &[("x-request-id", "attr-cpu")])
        .await;
    assert_eq!(cpu.status, 200, "{}", cpu.text);
    let slow = server
        .get_with("/api/slow?ms=200", &[("x-request-id", "attr-slow")])
        .await;
    assert_eq!(slow.status, 200);
    let block = server
        .get_with("/api/demo/block?ms=50", &[("x-request-id", "attr-block")])
        .await;
    assert_eq!(block.status, 200);
    let leak = server
        .send(
            server
                .client()
                .post(server.url("/api/demo/leak?mb=20"))
                .header("x-request-id", "attr-alloc"),
        )
        .await;
    assert_eq!(leak.status, 200);

    let cpu = record(&server, "attr-cpu").await;
    assert_eq!(cpu["resourcesMeasured"], true);
    let cpu_ms = cpu["cpuTimeMs"].as_f64().unwrap();
    assert!(
        (150.0..=400.0).contains(&cpu_ms),
        "burning 200 ms recorded {cpu_ms} ms of CPU"
    );
    assert_eq!(cpu["isHighCpu"], true);
    assert_eq!(
        cpu["blockedRuntime"], true,
        "a 200 ms burn is one long poll"
    );

    let slow = record(&server, "attr-slow").await;
    let slow_ms = slow["cpuTimeMs"].as_f64().unwrap();
    assert!(
        slow_ms < 20.0,
        "sleeping 200 ms recorded {slow_ms} ms of CPU"
    );
    assert!(slow["duration"].as_f64().unwrap() >= 200.0);
    assert_eq!(slow["isHighCpu"], false);
    assert_eq!(
        slow["blockedRuntime"], false,
        "an async sleep does not block"
    );
    assert!(
        slow["polls"].as_u64().unwrap() >= 2,
        "the sleep yields: {slow}"
    );

    let block = record(&server, "attr-block").await;
    assert_eq!(block["blockedRuntime"], true);
    assert!(block["longestPollMs"].as_f64().unwrap() >= 50.0);

    let alloc = record(&server, "attr-alloc").await;
    assert!(
        alloc["allocatedBytes"].as_u64().unwrap() >= 20 * 1024 * 1024,
        "{alloc}"
    );
    assert_eq!(alloc["isHighMemory"], true);

    // Per-route aggregates, and the dashboard's top CPU route and recommendation.
    let stats = server.stats().await;
    let cpu_route = stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/api/demo/cpu")
        .expect("cpu route");
    assert_eq!(cpu_route["sinceStart"]["count"], 1);
    let dashboard = server.get("/metrics/dashboard").await;
    assert_eq!(
        dashboard.json["topCpuRoutes"][0]["route"], "/api/demo/cpu",
        "{}",
        dashboard.text
    );
    let recs = dashboard.json["recommendations"].to_string();
    assert!(recs.contains("/api/demo/block"), "{recs}");
}
