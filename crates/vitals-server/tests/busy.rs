//! Busy time on the real `vitals-server` binary with default sampling (CPU measured for one
//! request in 64): a request that burns 200 ms of CPU is flagged `isHighCpu` on the first
//! try, from its busy time, and leads `/slow?by=busy` and `/v2/slow-paths?by=busy`; a request
//! that waits 200 ms without working is slow but not busy.

#[allow(dead_code)]
mod support;

use support::Server;

#[tokio::test(flavor = "multi_thread")]
async fn a_cpu_burning_request_is_flagged_on_the_first_try_by_its_busy_time() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    let debug = server.get("/health/debug").await;
    assert_eq!(debug.json["config"]["resourcesEvery"], 64, "{}", debug.text);

    let cpu = server
        .get_with("/api/demo/cpu?ms=200", &[("x-request-id", "busy-cpu")])
        .await;
    assert_eq!(cpu.status, 200, "{}", cpu.text);
    let slow = server
        .get_with("/api/slow?ms=200", &[("x-request-id", "busy-sleep")])
        .await;
    assert_eq!(slow.status, 200, "{}", slow.text);

    let ring = server.ring().await;
    let record = |id: &str| {
        ring.iter()
            .find(|r| r["correlationId"] == id)
            .unwrap_or_else(|| panic!("no record {id} in {ring:?}"))
            .clone()
    };
    let burn = record("busy-cpu");
    // The first request on its worker: not the one in 64 whose CPU clock is read.
    assert_eq!(burn["resourcesMeasured"], false, "{burn}");
    assert!(burn["busyMs"].as_f64().unwrap() >= 200.0, "{burn}");
    assert_eq!(burn["isHighCpu"], true, "{burn}");
    assert_eq!(burn["highCpuFrom"], "busy", "{burn}");
    let sleep = record("busy-sleep");
    assert!(sleep["duration"].as_f64().unwrap() >= 200.0, "{sleep}");
    assert!(sleep["busyMs"].as_f64().unwrap() < 100.0, "{sleep}");
    assert_eq!(sleep["isHighCpu"], false, "{sleep}");

    let by_busy = server.get("/health/performance/slow?by=busy&limit=1").await;
    assert_eq!(by_busy.status, 200, "{}", by_busy.text);
    assert_eq!(by_busy.json["by"], "busy");
    assert_eq!(
        by_busy.json["requests"][0]["correlationId"], "busy-cpu",
        "{}",
        by_busy.text
    );
    let paths = server
        .get("/health/performance/v2/slow-paths?by=busy&limit=1")
        .await;
    assert_eq!(paths.status, 200, "{}", paths.text);
    let top = &paths.json["paths"][0];
    assert_eq!(top["route"], "/api/demo/cpu", "{}", paths.text);
    assert!(
        top["resources"]["busyMsTotal"].as_f64().unwrap() >= 200.0,
        "{top}"
    );
    assert_eq!(top["resources"]["highCpu"], 1, "{top}");

    let bad = server.get("/health/performance/slow?by=Busy").await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}
