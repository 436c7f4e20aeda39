//! End-to-end tests of the `vitals-server` binary.
//!
//! Each test starts the real binary (`PORT=0`, `HOST=127.0.0.1`, its own temporary SQLite
//! file), reads the port from the `listening on http://ADDR` log line and drives it over HTTP.
//! Every test has its own server, so the tests run in parallel and the counts they assert are
//! exact. The monitoring endpoints are monitored too, so figures are always filtered by route.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Answer, Server, is_generated_id, is_rfc3339};

const PROPERTIES_ROUTE: &str = "/api/orgs/{orgId}/properties";

/// The `routes` entries of a v2 stats document for `route` (any method).
fn route_entries<'a>(stats: &'a Value, route: &str) -> Vec<&'a Value> {
    stats["routes"]
        .as_array()
        .expect("`routes` is an array")
        .iter()
        .filter(|r| r["route"] == route)
        .collect()
}

/// The single `routes` entry of a v2 stats document for `route` and `method`.
#[track_caller]
fn route_entry<'a>(stats: &'a Value, route: &str, method: &str) -> &'a Value {
    let matching: Vec<&Value> = route_entries(stats, route)
        .into_iter()
        .filter(|r| r["method"] == method)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one `{method} {route}` entry in {:#}",
        stats["routes"]
    );
    matching[0]
}

/// The ring record carrying `correlation_id`, which must be unique.
#[track_caller]
fn record_with_id<'a>(ring: &'a [Value], correlation_id: &str) -> &'a Value {
    let matching: Vec<&Value> = ring
        .iter()
        .filter(|r| r["correlationId"] == correlation_id)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one ring record with correlationId `{correlation_id}` in {ring:#?}"
    );
    matching[0]
}

/// `GET /health/performance/v2/by-organization?organizationId=org`.
async fn organization(server: &Server, org: &str) -> Answer {
    server
        .get(&format!(
            "/health/performance/v2/by-organization?organizationId={org}"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn api_answers_and_problems() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    // List: the seeded organization has three properties.
    let list = server.get("/api/orgs/acme/properties").await;
    list.assert_ok_json();
    let properties = list.json.as_array().expect("an array of properties");
    assert_eq!(properties.len(), 3, "{}", list.text);
    for property in properties {
        assert_eq!(property["organizationId"], "acme");
    }

    // Create, then read it back through the Location header.
    let created = server
        .post_json(
            "/api/orgs/acme/properties",
            r#"{"name":"E2E Tower","address":"1 Test Street","units":7}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type(), "application/json");
    let id = created.json["id"].as_i64().expect("numeric id");
    assert_eq!(created.json["organizationId"], "acme");
    assert_eq!(created.json["name"], "E2E Tower");
    assert_eq!(created.json["address"], "1 Test Street");
    assert_eq!(created.json["units"], 7);
    assert!(
        created.json["createdAt"].as_str().is_some_and(is_rfc3339),
        "{}",
        created.text
    );
    let location = created.header("location").expect("Location header");
    assert_eq!(location, format!("/api/orgs/acme/properties/{id}"));
    let fetched = server.get(location).await;
    fetched.assert_ok_json();
    assert_eq!(fetched.json, created.json);
    let list = server.get("/api/orgs/acme/properties").await;
    assert_eq!(list.json.as_array().map(Vec::len), Some(4), "{}", list.text);

    // Unknown organization.
    let unknown = server.get("/api/orgs/no-such-org/properties").await;
    unknown.assert_problem(404);
    assert_eq!(unknown.json["organizationId"], "no-such-org");

    // Malformed JSON.
    let malformed = server
        .post_json("/api/orgs/acme/properties", r#"{"name": "x", "#)
        .await;
    malformed.assert_problem(400);

    // Well-formed JSON with a missing field.
    let missing = server
        .post_json(
            "/api/orgs/acme/properties",
            r#"{"name":"No Units","address":"2 Test Street"}"#,
        )
        .await;
    missing.assert_problem(422);
    let errors = missing.json["errors"].as_array().expect("`errors` array");
    assert_eq!(errors.len(), 1, "{}", missing.text);
    assert_eq!(errors[0]["field"], "units");

    // Nothing was created by the failed attempts.
    let list = server.get("/api/orgs/acme/properties").await;
    assert_eq!(list.json.as_array().map(Vec::len), Some(4), "{}", list.text);

    // Non-numeric property id.
    let bad_id = server.get("/api/orgs/acme/properties/abc").await;
    bad_id.assert_problem(400);

    // Unknown path.
    let nowhere = server.get("/definitely/not/here").await;
    nowhere.assert_problem(404);
    assert_eq!(nowhere.json["instance"], "/definitely/not/here");
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_counts_after_known_traffic() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    for _ in 0..7 {
        assert_eq!(server.get("/api/orgs/acme/properties").await.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(server.get("/api/orgs/globex/properties").await.status, 200);
    }
    for _ in 0..2 {
        server.get("/api/fail?status=503").await.assert_problem(503);
    }
    let unknown_paths = ["/nope/1", "/nope/2", "/x/abc", "/y"];
    for path in unknown_paths {
        server.get(path).await.assert_problem(404);
    }

    let stats = server.stats().await;

    let properties = route_entry(&stats, PROPERTIES_ROUTE, "GET");
    assert_eq!(properties["sinceStart"]["count"], 10, "{properties:#}");
    assert_eq!(properties["sinceStart"]["errors"], 0, "{properties:#}");
    // The recent windows hold the same traffic (all of it within the last minute).
    assert_eq!(properties["lastMinute"]["count"], 10, "{properties:#}");
    assert_eq!(properties["lastFiveMinutes"]["count"], 10, "{properties:#}");
    assert_eq!(properties["status"]["2xx"], 10, "{properties:#}");
    assert_eq!(
        route_entries(&stats, PROPERTIES_ROUTE).len(),
        1,
        "only GET was sent"
    );

    let fail = route_entry(&stats, "/api/fail", "GET");
    assert_eq!(fail["sinceStart"]["count"], 2, "{fail:#}");
    assert_eq!(fail["sinceStart"]["errors"], 2, "{fail:#}");
    assert_eq!(fail["status"]["5xx"], 2, "{fail:#}");

    let unmatched = route_entries(&stats, "(unmatched)");
    assert_eq!(
        unmatched.len(),
        1,
        "one (unmatched) entry: {:#}",
        stats["routes"]
    );
    assert_eq!(unmatched[0]["method"], "GET");
    assert_eq!(unmatched[0]["sinceStart"]["count"], 4, "{:#}", unmatched[0]);
    assert_eq!(
        unmatched[0]["sinceStart"]["errors"], 4,
        "{:#}",
        unmatched[0]
    );
    assert_eq!(unmatched[0]["status"]["4xx"], 4, "{:#}", unmatched[0]);

    // No raw path became a route.
    for route in stats["routes"].as_array().expect("routes") {
        let name = route["route"].as_str().expect("route name");
        assert!(
            !unknown_paths.contains(&name)
                && !name.starts_with("/nope")
                && !name.starts_with("/x/")
                && name != "/y",
            "raw path `{name}` appears as a route: {:#}",
            stats["routes"]
        );
    }
    // Only the routes this test used (and nothing else) appear.
    let mut names: Vec<&str> = stats["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r["route"].as_str().expect("route name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["(unmatched)", "/api/fail", PROPERTIES_ROUTE]);

    let acme = organization(&server, "acme").await;
    acme.assert_ok_json();
    assert_eq!(acme.json["organizationId"], "acme");
    assert_eq!(
        acme.json["windows"]["sinceStart"]["count"], 7,
        "{}",
        acme.text
    );
    assert_eq!(
        acme.json["windows"]["sinceStart"]["errors"], 0,
        "{}",
        acme.text
    );
    let globex = organization(&server, "globex").await;
    globex.assert_ok_json();
    assert_eq!(
        globex.json["windows"]["sinceStart"]["count"], 3,
        "{}",
        globex.text
    );
    assert_eq!(
        stats["organizations"]["tracked"], 2,
        "{:#}",
        stats["organizations"]
    );

    // The seed's v1 totals: the 16 requests above plus the three monitoring requests since
    // (v2 stats and two organization lookups; a request is recorded once answered, so the
    // stats above did not count themselves, and this one does not either).
    let v1 = server.get("/health/performance/stats").await;
    v1.assert_ok_json();
    assert_eq!(v1.json["totalRequests"], 19, "{}", v1.text);
    assert_eq!(v1.json["errorCount"], 6, "{}", v1.text);
    assert_eq!(v1.json["statusCodes"]["2xx"], 13, "{}", v1.text);
    assert_eq!(v1.json["statusCodes"]["4xx"], 4, "{}", v1.text);
    assert_eq!(v1.json["statusCodes"]["5xx"], 2, "{}", v1.text);
    let rate = v1.json["errorRate"].as_f64().expect("errorRate");
    assert!((rate - 6.0 / 19.0).abs() < 1e-9, "{}", v1.text);
    // The five-minute summary: all of it, and the v1 request.
    let summary = server.get("/health/performance/summary").await;
    summary.assert_ok_json();
    assert_eq!(summary.json["requests"], 20, "{}", summary.text);
    assert_eq!(summary.json["totalRequests"], 20, "{}", summary.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_ring_orders_slowest_first() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    assert_eq!(server.get("/api/slow?ms=300").await.status, 200);
    for _ in 0..2 {
        assert_eq!(server.get("/api/slow?ms=50").await.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(server.get("/health/ping").await.status, 200);
    }
    assert_eq!(server.get("/api/slow?ms=0").await.status, 200);
    server.get("/api/fail?status=418").await.assert_problem(418);

    let slow = server.get("/health/performance/slow?limit=2").await;
    slow.assert_ok_json();
    assert_eq!(slow.json["limit"], 2, "{}", slow.text);
    assert_eq!(slow.json["count"], 2, "{}", slow.text);
    let requests = slow.json["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 2, "{}", slow.text);
    let first = &requests[0];
    let second = &requests[1];
    assert_eq!(first["path"], "/api/slow", "{first:#}");
    assert!(
        first["duration"].as_f64().expect("duration") >= 300.0,
        "{first:#}"
    );
    assert_eq!(second["path"], "/api/slow", "{second:#}");
    assert!(
        second["duration"].as_f64().expect("duration") >= 50.0,
        "{second:#}"
    );
    assert!(
        first["duration"].as_f64() >= second["duration"].as_f64(),
        "slowest first: {}",
        slow.text
    );
    for record in requests {
        assert_eq!(record["method"], "GET", "{record:#}");
        assert_eq!(record["statusCode"], 200, "{record:#}");
        assert!(
            record["correlationId"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{record:#}"
        );
        assert!(
            record["timestamp"].as_str().is_some_and(is_rfc3339),
            "{record:#}"
        );
        assert_eq!(record["isSlowRequest"], false, "{record:#}");
        assert_eq!(record["isErrorResponse"], false, "{record:#}");
        assert_eq!(record["clientAborted"], false, "{record:#}");
    }

    // Past the 1 s threshold: a slow request.
    let answer = server
        .get_with("/api/slow?ms=1100", &[("x-request-id", "over-threshold")])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let slowest = server.get("/health/performance/slow?limit=1").await;
    slowest.assert_ok_json();
    let record = &slowest.json["requests"][0];
    assert_eq!(record["correlationId"], "over-threshold", "{record:#}");
    assert_eq!(record["path"], "/api/slow");
    assert!(
        record["duration"].as_f64().expect("duration") >= 1100.0,
        "{record:#}"
    );
    assert_eq!(record["isSlowRequest"], true, "{record:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn correlation_ids_are_echoed_and_recorded() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    // A valid incoming id is kept.
    let kept = server
        .get_with("/api/slow?ms=1", &[("x-request-id", "test-abc-123")])
        .await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.header("x-request-id"), Some("test-abc-123"));

    // Invalid incoming ids are replaced by a generated one.
    let long = "a".repeat(100);
    let mut generated = Vec::new();
    for bad in ["bad id with spaces", long.as_str()] {
        let answer = server
            .get_with("/api/slow?ms=1", &[("x-request-id", bad)])
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let id = answer.header("x-request-id").expect("x-request-id echoed");
        assert_ne!(id, bad);
        assert!(is_generated_id(id), "{id}");
        generated.push(id.to_owned());
    }

    // No incoming id: one is generated.
    let none = server.get("/api/slow?ms=1").await;
    assert_eq!(none.status, 200, "{}", none.text);
    let id = none.header("x-request-id").expect("x-request-id echoed");
    assert!(is_generated_id(id), "{id}");
    generated.push(id.to_owned());

    // Error answers carry one too.
    let problem = server
        .get_with("/nope", &[("x-request-id", "err-id-1")])
        .await;
    problem.assert_problem(404);
    assert_eq!(problem.header("x-request-id"), Some("err-id-1"));

    let mut unique = generated.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "generated ids must differ: {generated:?}");

    let ring = server.ring().await;
    let record = record_with_id(&ring, "test-abc-123");
    assert_eq!(record["path"], "/api/slow");
    assert_eq!(record["statusCode"], 200);
    for id in &generated {
        let record = record_with_id(&ring, id);
        assert_eq!(record["path"], "/api/slow");
    }
    let record = record_with_id(&ring, "err-id-1");
    assert_eq!(record["path"], "(unmatched)");
    assert_eq!(record["statusCode"], 404);
    assert!(
        !ring
            .iter()
            .any(|r| r["correlationId"] == "bad id with spaces" || r["correlationId"] == long),
        "an invalid id was recorded: {ring:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn monitoring_endpoints_reject_bad_input() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    for endpoint in [
        "/health/performance/slow",
        "/health/performance/v2/slow-paths",
    ] {
        for limit in ["0", "abc", "-1", "100000", ""] {
            let path = format!("{endpoint}?limit={limit}");
            let answer = server.get(&path).await;
            assert_eq!(answer.status, 400, "GET {path}: {}", answer.text);
            answer.assert_problem(400);
            assert_eq!(
                answer.json["parameter"], "limit",
                "GET {path}: {}",
                answer.text
            );
        }
        // The defaults and the edges are accepted.
        let ok = server.get(&format!("{endpoint}?limit=1")).await;
        ok.assert_ok_json();
        assert_eq!(ok.json["limit"], 1);
        server.get(endpoint).await.assert_ok_json();
    }
    server
        .get("/health/performance/slow?limit=500")
        .await
        .assert_ok_json();
    server
        .get("/health/performance/slow?limit=501")
        .await
        .assert_problem(400);
    server
        .get("/health/performance/v2/slow-paths?limit=100")
        .await
        .assert_ok_json();
    server
        .get("/health/performance/v2/slow-paths?limit=101")
        .await
        .assert_problem(400);
    server
        .get("/health/performance/v2/slow-paths?window=2h")
        .await
        .assert_problem(400);

    let missing = server.get("/health/performance/v2/by-organization").await;
    missing.assert_problem(400);
    assert_eq!(missing.json["parameter"], "organizationId");
    let empty = server
        .get("/health/performance/v2/by-organization?organizationId=")
        .await;
    empty.assert_problem(400);
    let blank = server
        .get("/health/performance/v2/by-organization?organizationId=%20%20")
        .await;
    blank.assert_problem(400);
    let unknown = organization(&server, "nobody-here").await;
    unknown.assert_problem(404);
    assert_eq!(unknown.json["organizationId"], "nobody-here");
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_endpoints_need_the_token() {
    const TOKEN: &str = "s3cret-operator-token-0123456789ab";
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_ADMIN_TOKEN", TOKEN)]);
    let mut bodies = Vec::new();

    let stats = "/health/performance/v2/stats";
    let anonymous = server.get(stats).await;
    anonymous.assert_problem(401);
    let challenge = anonymous
        .header("www-authenticate")
        .expect("WWW-Authenticate header on 401");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    bodies.push(anonymous.text);

    let wrong = server
        .get_with(stats, &[("authorization", "Bearer not-the-token")])
        .await;
    wrong.assert_problem(401);
    assert!(wrong.header("www-authenticate").is_some());
    bodies.push(wrong.text);

    let prefix = server
        .get_with(stats, &[("authorization", "Bearer s3cre")])
        .await;
    prefix.assert_problem(401);
    bodies.push(prefix.text);

    let not_bearer = server
        .get_with(stats, &[("authorization", "Basic czNjcmV0")])
        .await;
    not_bearer.assert_problem(401);
    bodies.push(not_bearer.text);

    let bearer = format!("Bearer {TOKEN}");
    let authorized = server
        .get_with(stats, &[("authorization", bearer.as_str())])
        .await;
    authorized.assert_ok_json();
    bodies.push(authorized.text);

    for path in [
        "/health/debug",
        "/health/performance/stats",
        "/health/performance/summary",
        "/health/performance/slow",
        "/health/performance/v2/slow-paths",
    ] {
        let denied = server.get(path).await;
        assert_eq!(
            denied.status, 401,
            "GET {path} without token: {}",
            denied.text
        );
        denied.assert_problem(401);
        bodies.push(denied.text);
        let allowed = server
            .get_with(path, &[("authorization", bearer.as_str())])
            .await;
        assert_eq!(
            allowed.status, 200,
            "GET {path} with token: {}",
            allowed.text
        );
        allowed.assert_ok_json();
        if path == "/health/debug" {
            assert_eq!(
                allowed.json["config"]["operatorAuth"], "bearer-token",
                "{}",
                allowed.text
            );
        }
        bodies.push(allowed.text);
    }

    // Load-balancer endpoints are public.
    let ping = server.get("/health/ping").await;
    ping.assert_ok_json();
    bodies.push(ping.text);
    let health = server.get("/health").await;
    health.assert_ok_json();
    bodies.push(health.text);

    for body in &bodies {
        assert!(!body.contains(TOKEN), "the token leaked in a body: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_endpoints_pass() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    let health = server.get("/health").await;
    health.assert_ok_json();
    assert_eq!(health.json["status"], "pass", "{}", health.text);
    assert_eq!(
        health.json["checks"]["database"]["status"], "pass",
        "{}",
        health.text
    );
    assert_eq!(health.json["service"], "vitals-server", "{}", health.text);
    assert_eq!(
        health.json["version"],
        env!("CARGO_PKG_VERSION"),
        "{}",
        health.text
    );
    assert!(
        health.json["uptimeSeconds"]
            .as_f64()
            .is_some_and(|u| u >= 0.0),
        "{}",
        health.text
    );
    assert!(
        health.json["timestamp"].as_str().is_some_and(is_rfc3339),
        "{}",
        health.text
    );

    let ping = server.get("/health/ping").await;
    ping.assert_ok_json();
    assert_eq!(ping.json["status"], "ok", "{}", ping.text);
    assert!(
        ping.json["timestamp"].as_str().is_some_and(is_rfc3339),
        "{}",
        ping.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_abort_is_recorded_as_499() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let error = impatient
        .get(server.url("/api/slow?ms=2000"))
        .header("x-request-id", "impatient-1")
        .send()
        .await
        .expect_err("the request must time out");
    assert!(error.is_timeout(), "{error:?}");

    // The handler would end at 2 s; look after that, whatever the server detected earlier.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ring = server.ring().await;
    let record = record_with_id(&ring, "impatient-1");
    assert_eq!(record["path"], "/api/slow", "{record:#}");
    assert_eq!(record["statusCode"], 499, "{record:#}");
    assert_eq!(record["clientAborted"], true, "{record:#}");
    assert_eq!(record["isErrorResponse"], true, "{record:#}");

    let stats = server.stats().await;
    let slow = route_entry(&stats, "/api/slow", "GET");
    assert_eq!(slow["sinceStart"]["count"], 1, "{slow:#}");
    assert_eq!(slow["sinceStart"]["errors"], 1, "{slow:#}");
    assert_eq!(slow["status"]["4xx"], 1, "{slow:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    let request = server.client().get(server.url("/api/slow?ms=1500")).send();
    let in_flight = tokio::spawn(async move {
        let response = request.await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        Ok::<_, reqwest::Error>((status, body))
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    server.terminate();

    let (status, body) = in_flight.await.expect("request task").unwrap_or_else(|e| {
        panic!(
            "in-flight request failed: {e:?}; output:\n{}",
            server.output()
        )
    });
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "sleptMs": 1500 }));

    let exit = server.wait_exit(Duration::from_secs(10)).await;
    assert!(
        exit.success(),
        "exit status {exit}; output:\n{}",
        server.output()
    );
    assert!(signalled.elapsed() < Duration::from_secs(10));
    let output = server.output();
    assert!(
        output.contains("shutdown signal received"),
        "output:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_from_header_is_recorded() {
    // Untrusted by default: a client's header names no tenant.
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    let answer = server
        .get_with("/api/slow?ms=1", &[("x-organization-id", "initech-hdr")])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let org = organization(&server, "initech-hdr").await;
    assert_eq!(org.status, 404, "{}", org.text);
    drop(server);

    // Trusted when a gateway sets it.
    let server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        ("VITALS_TRUST_ORGANIZATION_HEADER", "1"),
    ]);

    let answer = server
        .get_with("/api/slow?ms=1", &[("x-organization-id", "initech-hdr")])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    let org = organization(&server, "initech-hdr").await;
    org.assert_ok_json();
    assert_eq!(org.json["organizationId"], "initech-hdr");
    assert_eq!(
        org.json["windows"]["sinceStart"]["count"], 1,
        "{}",
        org.text
    );
    let recent = org.json["recentRequests"]
        .as_array()
        .expect("recentRequests");
    assert_eq!(recent.len(), 1, "{}", org.text);
    assert_eq!(recent[0]["path"], "/api/slow");
    assert_eq!(recent[0]["organizationId"], "initech-hdr");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tenant_flood_mints_no_series() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);

    // A known tenant first, so that `tracked` has something to stay at.
    assert_eq!(server.get("/api/orgs/acme/properties").await.status, 200);
    let before = server.stats().await;
    let tracked = before["organizations"]["tracked"].clone();
    assert_eq!(tracked, 1, "{:#}", before["organizations"]);

    for i in 0..50 {
        server
            .get(&format!("/api/orgs/random-{i}/properties"))
            .await
            .assert_problem(404);
    }

    organization(&server, "random-1").await.assert_problem(404);
    organization(&server, "random-49").await.assert_problem(404);

    let after = server.stats().await;
    assert_eq!(
        after["organizations"]["tracked"], tracked,
        "{:#}",
        after["organizations"]
    );
    let properties = route_entry(&after, PROPERTIES_ROUTE, "GET");
    assert_eq!(properties["sinceStart"]["count"], 51, "{properties:#}");
    assert_eq!(properties["sinceStart"]["errors"], 50, "{properties:#}");
    assert_eq!(properties["status"]["4xx"], 50, "{properties:#}");
    assert_eq!(
        after["monitorMemory"]["organizations"], 1,
        "{:#}",
        after["monitorMemory"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_database_url_the_database_is_created_under_data_and_sigint_stops_cleanly() {
    let dir = std::env::temp_dir().join(format!(
        "vitals-server-defaults-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut server = Server::start_in(&dir);
    // Created and migrated on first start, with the sample organizations.
    assert!(
        dir.join("data").join("vitals.db").is_file(),
        "no ./data/vitals.db in {dir:?}"
    );
    let acme = server.get("/api/orgs/acme/properties").await;
    acme.assert_ok_json();
    assert!(
        !acme.json.as_array().expect("properties").is_empty(),
        "{}",
        acme.text
    );

    server.interrupt();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "exit after SIGINT: {status:?}; output:\n{}",
        server.output()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
