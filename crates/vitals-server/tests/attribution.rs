//! End-to-end test of per-request resource attribution on the real `vitals-server` binary:
//! CPU time from the thread CPU clock around each poll, allocations from jemalloc's per-thread
//! counters, and the blocking-poll flag.

#[allow(dead_code)]
mod support;

use serde_json::Value;
use support::Server;

/// The `/v2/stats` entry of `route`.
fn route_entry<'s>(stats: &'s Value, route: &str) -> &'s Value {
    stats["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == route)
        .unwrap_or_else(|| panic!("no route {route} in {stats}"))
}

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
    let server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        ("VITALS_DEMO", "1"),
        ("VITALS_RESOURCES_EVERY", "1"),
    ]);

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
    assert!(alloc["freedBytes"].is_u64(), "{alloc}");

    // Per-route aggregates, and the dashboard's top CPU route and recommendation.
    let stats = server.stats().await;
    assert_eq!(
        route_entry(&stats, "/api/demo/cpu")["sinceStart"]["count"],
        1
    );
    let resources = |route: &str| route_entry(&stats, route)["resources"].clone();
    let cpu_res = resources("/api/demo/cpu");
    assert_eq!(cpu_res["measured"], 1, "{cpu_res}");
    let total = cpu_res["cpuMsTotal"].as_f64().unwrap();
    assert!((150.0..=400.0).contains(&total), "{cpu_res}");
    assert_eq!(cpu_res["highCpu"], 1);
    let block_res = resources("/api/demo/block");
    assert_eq!(block_res["blockedRuntime"], 1, "{block_res}");
    assert!(block_res["longestPollMs"].as_f64().unwrap() >= 50.0);
    let leak_res = resources("/api/demo/leak");
    assert!(
        leak_res["allocatedBytesPerRequest"].as_f64().unwrap() >= 20.0 * 1024.0 * 1024.0,
        "{leak_res}"
    );
    assert_eq!(leak_res["highMemory"], 1);
    let slow_res = resources("/api/slow");
    assert_eq!(slow_res["blockedRuntime"], 0, "{slow_res}");
    assert!(slow_res["pollsPerRequest"].as_f64().unwrap() >= 2.0);

    // The slow lists rank by CPU and by allocation too.
    let by_cpu = server.get("/health/performance/slow?by=cpu&limit=1").await;
    assert_eq!(by_cpu.status, 200, "{}", by_cpu.text);
    assert_eq!(by_cpu.json["by"], "cpu");
    assert_eq!(by_cpu.json["resourcesEvery"], 1);
    assert_eq!(by_cpu.json["requests"][0]["correlationId"], "attr-cpu");
    let by_alloc = server
        .get("/health/performance/slow?by=allocated&limit=1")
        .await;
    assert_eq!(by_alloc.json["requests"][0]["correlationId"], "attr-alloc");
    let paths = server
        .get("/health/performance/v2/slow-paths?by=cpu&limit=1")
        .await;
    assert_eq!(paths.status, 200, "{}", paths.text);
    assert_eq!(
        paths.json["paths"][0]["route"], "/api/demo/cpu",
        "{}",
        paths.text
    );
    let paths = server
        .get("/health/performance/v2/slow-paths?by=allocated&limit=1")
        .await;
    assert_eq!(
        paths.json["paths"][0]["route"], "/api/demo/leak",
        "{}",
        paths.text
    );
    let bad = server.get("/health/performance/slow?by=memory").await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.json["parameter"], "by");

    let dashboard = server.get("/metrics/dashboard").await;
    assert_eq!(
        dashboard.json["topCpuRoutes"][0]["route"], "/api/demo/cpu",
        "{}",
        dashboard.text
    );
    assert_eq!(
        dashboard.json["topAllocatingRoutes"][0]["route"], "/api/demo/leak",
        "{}",
        dashboard.text
    );
    let recs = dashboard.json["recommendations"].to_string();
    assert!(recs.contains("/api/demo/block"), "{recs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_default_sampling_every_blocking_request_is_still_flagged() {
    // Defaults: CPU and allocations measured one request in 64 per worker; polls timed always.
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    let debug = server.get("/health/debug").await;
    assert_eq!(debug.json["config"]["resourcesEvery"], 64, "{}", debug.text);
    assert_eq!(debug.json["config"]["blockingPollThresholdMs"], 10.0);
    for i in 0..3 {
        let id = format!("default-block-{i}");
        let res = server
            .get_with("/api/demo/block?ms=50", &[("x-request-id", &id)])
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let r = record(&server, &id).await;
        assert_eq!(r["blockedRuntime"], true, "{r}");
        assert_eq!(r["polls"], 1, "{r}");
        assert!(r["longestPollMs"].as_f64().unwrap() >= 50.0, "{r}");
    }
    let stats = server.stats().await;
    let block = route_entry(&stats, "/api/demo/block");
    assert_eq!(block["resources"]["blockedRuntime"], 3, "{block}");
    // None of the three was measured (one in 64): the route says so rather than show zeros.
    assert_eq!(block["resources"]["measured"], 0, "{block}");
    assert!(
        block["resources"].get("cpuMsPerRequest").is_none(),
        "{block}"
    );
    let dashboard = server.get("/metrics/dashboard").await;
    let recs = dashboard.json["recommendations"].to_string();
    assert!(recs.contains("/api/demo/block"), "{recs}");
}
