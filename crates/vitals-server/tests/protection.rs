//! End-to-end tests of the protection layers on the real `vitals-server` binary: load shedding
//! under memory pressure (and recovery), with the health endpoints still answering.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use support::Server;

/// The value of the sample whose name and labels are exactly `series` in a text exposition.
fn metric_value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample `{series}` in:\n{exposition}"))
}

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
        ("VITALS_DEMO", "1"),
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
    let shed = metric_value(
        &metrics.text,
        r#"vitals_pressure_shed_requests_total{reason="heapUsedBytes"}"#,
    );
    assert!(shed >= 2.0, "{}", metrics.text);
    let dashboard = server.get("/metrics/dashboard").await;
    let shown = &dashboard.json["protection"]["pressure"]["shed"]["heapUsedBytes"];
    assert!(shown.as_u64().is_some_and(|n| n >= 2), "{}", dashboard.text);

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

#[tokio::test(flavor = "multi_thread")]
async fn database_breaker_opens_fails_fast_and_closes_after_a_good_trial() {
    let server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        ("VITALS_DB_BREAKER_THRESHOLD", "3"),
        ("VITALS_DB_BREAKER_RESET_MS", "1500"),
    ]);
    let health = server.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json["breakers"][0]["name"], "database");
    assert_eq!(health.json["breakers"][0]["state"], "closed");

    let fault = server
        .send(
            server
                .client()
                .post(server.url("/api/demo/db-fault?on=true")),
        )
        .await;
    assert_eq!(fault.status, 200, "{}", fault.text);
    // Three failing queries: each a 500 problem, and the third opens the circuit.
    for _ in 0..3 {
        server
            .get("/api/orgs/acme/properties")
            .await
            .assert_problem(500);
    }
    let open = server.get("/api/orgs/acme/properties").await;
    open.assert_problem(503);
    assert!(open.header("retry-after").is_some());
    assert_eq!(open.json["breaker"], "database");
    // The checks' result is cached for a second (a probe flood is not a query flood), so the
    // failing check shows within the next run.
    let failing = eventually(Duration::from_secs(10), || async {
        server.get("/health").await.status == 503
    })
    .await;
    assert!(failing, "the database check fails fast while open");
    let health = server.get("/health").await;
    assert_eq!(health.json["breakers"][0]["state"], "open");
    assert!(
        health.json["breakers"][0]["rejectedTotal"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let metrics = server.get("/metrics").await;
    let state = r#"vitals_circuit_breaker_state{breaker="database",state="open"}"#;
    assert_eq!(metric_value(&metrics.text, state), 1.0);
    // Closed -> open is one transition; the open circuit refused the call above.
    let transitions = r#"vitals_circuit_breaker_transitions_total{breaker="database"}"#;
    assert_eq!(metric_value(&metrics.text, transitions), 1.0);
    let rejected = r#"vitals_circuit_breaker_rejected_calls_total{breaker="database"}"#;
    assert!(metric_value(&metrics.text, rejected) >= 1.0);

    // The dependency recovers; after the reset timeout one trial call goes through and closes it.
    server
        .send(
            server
                .client()
                .post(server.url("/api/demo/db-fault?on=false")),
        )
        .await;
    let closed = eventually(Duration::from_secs(10), || async {
        server.get("/api/orgs/acme/properties").await.status == 200
    })
    .await;
    assert!(closed, "the breaker never closed");
    let passing = eventually(Duration::from_secs(10), || async {
        server.get("/health").await.status == 200
    })
    .await;
    assert!(passing, "the database check passes again");
    let health = server.get("/health").await;
    assert_eq!(health.json["breakers"][0]["state"], "closed");
    let metrics = server.get("/metrics").await;
    let state = r#"vitals_circuit_breaker_state{breaker="database",state="closed"}"#;
    assert_eq!(metric_value(&metrics.text, state), 1.0);
    // Open -> half-open -> closed: two more.
    assert!(metric_value(&metrics.text, transitions) >= 3.0);
    let dashboard = server.get("/metrics/dashboard").await;
    assert_eq!(
        dashboard.json["protection"]["breakers"][0]["state"],
        "closed"
    );
    assert!(
        dashboard.json["protection"]["breakers"][0]["transitionsTotal"]
            .as_u64()
            .unwrap()
            >= 3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_of_n_admits_exactly_n_per_organization() {
    let server = Server::start_with(&[
        ("VITALS_RATE_LIMIT_MAX", "5"),
        ("VITALS_RATE_LIMIT_WINDOW_MS", "60000"),
    ]);
    for i in 0..5u32 {
        let ok = server.get("/api/orgs/globex/properties").await;
        assert_eq!(ok.status, 200, "request {i}: {}", ok.text);
        assert_eq!(ok.header("x-ratelimit-limit"), Some("5"));
        let remaining = (4 - i).to_string();
        assert_eq!(ok.header("x-ratelimit-remaining"), Some(remaining.as_str()));
        assert_eq!(ok.header("ratelimit-policy"), Some(r#""default";q=5;w=60"#));
        let expected = format!(r#""default";r={remaining};"#);
        assert!(
            ok.header("ratelimit").unwrap().starts_with(&expected),
            "{:?}",
            ok.header("ratelimit")
        );
    }
    let refused = server.get("/api/orgs/globex/properties").await;
    refused.assert_problem(429);
    let retry: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        refused
            .header("ratelimit")
            .unwrap()
            .starts_with(r#""default";r=0;"#)
    );
    // Another organization has its own budget; health stays reachable.
    assert_eq!(server.get("/api/orgs/acme/properties").await.status, 200);
    assert_eq!(server.get("/health/ping").await.status, 200);
    let metrics = server.get("/metrics").await;
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l == "vitals_rate_limit_refused_requests_total 1"),
        "{}",
        metrics.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_header_sets_follow_the_configuration() {
    let server = Server::start_with(&[("VITALS_RATE_LIMIT_HEADERS", "legacy")]);
    let ok = server.get("/api/orgs/acme/properties").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.header("x-ratelimit-limit"), Some("1000"));
    assert_eq!(ok.header("ratelimit-policy"), None);
    assert_eq!(ok.header("ratelimit"), None);
}
