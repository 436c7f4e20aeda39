//! End-to-end tests of the protection layers on the real `vitals-server` binary: load shedding
//! under memory pressure (and recovery), with the health endpoints still answering.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use support::Server;

/// Polls `check` every 50 ms until it returns true or `deadline` passes.
async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn sheds_under_heap_pressure_keeps_health_up_and_recovers() {
    let server = Server::start_with(&[
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_PRESSURE_MAX_HEAP_MB", "100"),
    ]);
    let status = server.get("/health/pressure").await;
    status.assert_ok_json();
    assert_eq!(status.json["underPressure"], false);
    assert_eq!(
        status.json["thresholds"]["maxHeapUsedBytes"],
        100 * 1024 * 1024
    );
    assert_eq!(server.get("/api/orgs/acme/properties").await.status, 200);

    // Hold 150 MiB: over the 100 MiB heap threshold.
    let held = server
        .send(server.client().post(server.url("/api/demo/leak?mb=150")))
        .await;
    assert_eq!(held.status, 200, "{}", held.text);
    let shedding = eventually(Duration::from_secs(10), || async {
        server.get("/api/orgs/acme/properties").await.status == 503
    })
    .await;
    assert!(
        shedding,
        "no shedding within 10 s; log:\n{}",
        server.output()
    );

    let shed = server.get("/api/orgs/acme/properties").await;
    shed.assert_problem(503);
    let retry: u64 = shed
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert_eq!(retry, 10);
    assert_eq!(shed.json["reason"], "heapUsedBytes");

    // Load balancers and operators still get answers.
    assert_eq!(server.get("/health/ping").await.status, 200);
    let pressure = server.get("/health/pressure").await;
    assert_eq!(pressure.status, 503);
    assert_eq!(pressure.json["underPressure"], true);
    assert_eq!(pressure.json["reason"], "heapUsedBytes");
    assert!(pressure.json["since"].is_string());
    assert!(pressure.json["shed"]["heapUsedBytes"].as_u64().unwrap() >= 2);
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.lines().any(|l| l == "vitals_under_pressure 1"),
        "{}",
        metrics.text
    );

    // The demo routes are exempt in the reference server, so the memory can be let go.
    let free = server
        .send(server.client().post(server.url("/api/demo/leak/free")))
        .await;
    assert_eq!(free.status, 200, "{}", free.text);
    let recovered = eventually(Duration::from_secs(10), || async {
        server.get("/api/orgs/acme/properties").await.status == 200
    })
    .await;
    assert!(recovered, "still shedding 10 s after the memory was freed");
    let pressure = server.get("/health/pressure").await;
    assert_eq!(pressure.status, 200);
    assert_eq!(pressure.json["underPressure"], false);
    assert!(pressure.json["since"].is_null());
}
