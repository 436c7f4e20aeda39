//! In-process tests of the endpoints `Vitals::router` serves: the IETF health check format,
//! `/health`, the health score, the dashboard (alerts, recommendations, slowest paths, trends),
//! memory and reclaim, Prometheus and JSON metrics, and operator access.
//!
//! Every test builds `Vitals` inside a multi-thread runtime (so the sampler and the alert
//! evaluation run in the background), merges its router into a small app and calls the app
//! with `oneshot`, setting the peer address through `ConnectInfo` as
//! `into_make_service_with_connect_info` would.
//!
//! The runtime rules (busy ratio, scheduling delay) are switched off wherever a test asserts an
//! exact status: they judge the test host (two CPUs shared with parallel tests and builds),
//! not the endpoint under test. Memory and HTTP rules stay on.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vitals::{AlertThresholds, Level};
use vitals_axum::{MemorySettings, OperatorAuth, Vitals};

const LOOPBACK: &str = "127.0.0.1:1";
const REMOTE: &str = "10.0.0.1:1";
const MIB: u64 = 1024 * 1024;

/// Latency the `/slow` route sleeps.
const SLOW: Duration = Duration::from_millis(20);

/// The default thresholds without the runtime rules (see the module docs).
fn quiet() -> AlertThresholds {
    AlertThresholds::default()
        .busy_ratio(Level::OFF)
        .scheduling_delay_p99(Level::OFF)
}

/// [`quiet`] with a p95 latency warning at 5 ms (critical at 10 s), so `/slow` warns.
fn latency_warns() -> AlertThresholds {
    quiet().latency_p95(Level::new(
        Duration::from_millis(5),
        Duration::from_secs(10),
    ))
}

/// The app: a fast route, a slow one, a failing one with a path parameter, and vitals.
fn app(vitals: &Vitals) -> Router {
    Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "slow"
            }),
        )
        .route(
            "/orders/{id}/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .merge(vitals.router())
        .layer(vitals.layer())
}

fn request(method: Method, uri: &str, peer: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    if let Some(peer) = peer {
        req.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
    }
    req
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    fn header(&self, name: &header::HeaderName) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

/// Sends `req` and reads the whole body (the monitor records a request once its body ends).
async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `GET uri` from the loopback peer.
async fn get_from_loopback(app: &Router, uri: &str) -> Reply {
    send(app, request(Method::GET, uri, Some(LOOPBACK))).await
}

/// `GET uri` from the loopback peer, expecting 200 and JSON.
async fn get_json(app: &Router, uri: &str) -> Value {
    let reply = get_from_loopback(app, uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text());
    reply.json()
}

/// `n` concurrent `GET uri` requests, all of which must answer `expected`.
async fn traffic(app: &Router, uri: &str, n: usize, expected: StatusCode) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let app = app.clone();
        let uri = uri.to_owned();
        set.spawn(async move { send(&app, request(Method::GET, &uri, Some(LOOPBACK))).await });
    }
    while let Some(reply) = set.join_next().await {
        assert_eq!(reply.unwrap().status, expected, "{uri}");
    }
}

/// Asserts `v` is an RFC 3339 time within a minute of now.
fn assert_recent_rfc3339(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    let t = humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{what} = {s:?}: {e}"));
    let now = SystemTime::now();
    let skew = now
        .duration_since(t)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap();
    assert!(skew < Duration::from_secs(60), "{what} = {s} is not recent");
}

/// A `/metrics/health` answer: health+json, 200 for pass and warn, 503 for fail.
fn assert_health_json(reply: &Reply) {
    assert_eq!(
        reply.header(&header::CONTENT_TYPE),
        "application/health+json",
        "{}",
        reply.text()
    );
    let body = reply.json();
    let expected = match body["status"].as_str() {
        Some("pass" | "warn") => StatusCode::OK,
        Some("fail") => StatusCode::SERVICE_UNAVAILABLE,
        _ => panic!("status is not pass|warn|fail: {body:#}"),
    };
    assert_eq!(reply.status, expected, "{body:#}");
}

fn assert_problem(reply: &Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    assert!(
        reply
            .header(&header::CONTENT_TYPE)
            .starts_with("application/problem+json"),
        "{what}: {:?}",
        reply.headers
    );
    let body = reply.json();
    assert_eq!(body["status"], status.as_u16(), "{what}: {body}");
    assert!(body["title"].is_string(), "{what}: {body}");
}

// ---------------------------------------------------------------------------------------------
// 1. /metrics/health

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_passes_with_a_passing_check() {
    let vitals = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .thresholds(quiet())
        .build();
    let app = app(&vitals);
    let reply = get_from_loopback(&app, "/metrics/health").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.header(&header::CONTENT_TYPE),
        "application/health+json"
    );
    let cache = reply.header(&header::CACHE_CONTROL);
    assert!(cache.contains("max-age"), "Cache-Control: {cache}");

    let body = reply.json();
    assert_eq!(body["status"], "pass", "{body:#}");
    assert!(body.get("output").is_none(), "no output on pass: {body:#}");
    assert!(body["version"].is_string(), "{body:#}");
    let checks = body["checks"].as_object().expect("checks is an object");
    let db = &checks["database:responseTime"];
    let first = &db.as_array().expect("a check holds an array")[0];
    assert!(first["observedValue"].is_number(), "{first}");
    assert!(first["observedValue"].as_f64().unwrap() >= 0.0, "{first}");
    assert_eq!(first["observedUnit"], "ms");
    assert_eq!(first["status"], "pass");
    assert_recent_rfc3339(&first["time"], "database time");
    assert!(first.get("output").is_none(), "{first}");
    // Every check of a pass report passes.
    for (key, results) in checks {
        for r in results.as_array().unwrap() {
            assert_eq!(r["status"], "pass", "{key}: {r}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_fails_with_a_failing_check() {
    let vitals = Vitals::builder()
        .health_check("database", || async { Err("down".into()) })
        .thresholds(quiet())
        .build();
    let app = app(&vitals);
    let reply = get_from_loopback(&app, "/metrics/health").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.header(&header::CONTENT_TYPE),
        "application/health+json"
    );
    assert!(reply.header(&header::CACHE_CONTROL).contains("max-age"));
    let body = reply.json();
    assert_eq!(body["status"], "fail", "{body:#}");
    let output = body["output"].as_str().expect("output on fail");
    assert!(output.contains("database"), "{output}");
    let db = &body["checks"]["database:responseTime"][0];
    assert_eq!(db["status"], "fail", "{db}");
    assert!(db["output"].is_string(), "{db}");
    assert_eq!(db["observedUnit"], "ms");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_fails_fast_when_a_check_hangs() {
    let vitals = Vitals::builder()
        .health_check("database", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .check_timeout(Duration::from_millis(100))
        .thresholds(quiet())
        .build();
    let app = app(&vitals);
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        get_from_loopback(&app, "/metrics/health"),
    )
    .await
    .expect("the check timeout bounds the endpoint");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = reply.json();
    assert_eq!(body["status"], "fail", "{body:#}");
    let db = &body["checks"]["database:responseTime"][0];
    assert_eq!(db["status"], "fail", "{db}");
    // It gave up at about the timeout.
    let observed = db["observedValue"].as_f64().unwrap();
    assert!((90.0..2000.0).contains(&observed), "{db}");
}

// ---------------------------------------------------------------------------------------------
// 2. /health

#[tokio::test(flavor = "multi_thread")]
async fn health_passes_and_fails_with_its_checks() {
    let ok = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .build();
    let reply = get_from_loopback(&app(&ok), "/health").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["status"], "pass", "{body:#}");
    assert_eq!(body["checks"]["database"]["status"], "pass", "{body:#}");
    assert!(body["checks"]["database"]["responseTimeMs"].is_number());
    assert!(body["checks"]["database"].get("output").is_none());

    let failing = Vitals::builder()
        .health_check("database", || async { Err("down".into()) })
        .build();
    let reply = get_from_loopback(&crate::app(&failing), "/health").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = reply.json();
    assert_eq!(body["status"], "fail", "{body:#}");
    assert_eq!(body["checks"]["database"]["status"], "fail", "{body:#}");
    assert_eq!(body["checks"]["database"]["output"], "down");

    let hanging = Vitals::builder()
        .health_check("database", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .check_timeout(Duration::from_millis(100))
        .build();
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        get_from_loopback(&app(&hanging), "/health"),
    )
    .await
    .expect("the check timeout bounds /health");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["checks"]["database"]["status"], "fail");
}

// ---------------------------------------------------------------------------------------------
// 3. Thresholds drive warn

#[tokio::test(flavor = "multi_thread")]
async fn latency_above_the_warning_threshold_warns_with_200() {
    let vitals = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .thresholds(latency_warns())
        .build();
    let app = app(&vitals);
    traffic(&app, "/slow", 10, StatusCode::OK).await;

    let reply = get_from_loopback(&app, "/metrics/health").await;
    assert_eq!(reply.status, StatusCode::OK, "warn is still 200");
    assert_eq!(
        reply.header(&header::CONTENT_TYPE),
        "application/health+json"
    );
    let body = reply.json();
    assert_eq!(body["status"], "warn", "{body:#}");
    let latency = &body["checks"]["http:latencyP95"][0];
    assert_eq!(latency["status"], "warn", "{latency}");
    assert_eq!(latency["observedUnit"], "ms");
    let p95 = latency["observedValue"].as_f64().unwrap();
    assert!(p95 >= 15.0, "p95 of 20 ms requests: {latency}");
    assert!(latency["output"].is_string(), "{latency}");
    assert!(
        body["output"].as_str().unwrap().contains("http:latencyP95"),
        "{body:#}"
    );
    assert_eq!(body["checks"]["database:responseTime"][0]["status"], "pass");
}

// ---------------------------------------------------------------------------------------------
// 4. Health score

fn assert_score_shape(body: &Value) -> u64 {
    let score = body["score"].as_u64().expect("score is an integer");
    assert!(score <= 100, "{body:#}");
    assert_recent_rfc3339(&body["timestamp"], "score timestamp");
    let factors = body["factors"].as_array().expect("factors is an array");
    assert!(!factors.is_empty(), "{body:#}");
    let mut sum = 0.0;
    for f in factors {
        assert!(f["name"].is_string(), "{f}");
        let weight = f["weight"].as_f64().expect("weight is a number");
        assert!(weight > 0.0 && weight <= 1.0, "{f}");
        sum += weight;
        let s = f["score"].as_f64().expect("score is a number");
        assert!((0.0..=100.0).contains(&s), "{f}");
        assert!(f["detail"].as_str().is_some_and(|d| !d.is_empty()), "{f}");
    }
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}: {body:#}");
    assert!(body["weights"].is_object(), "{body:#}");
    score
}

#[tokio::test(flavor = "multi_thread")]
async fn health_score_weighs_factors_and_drops_on_a_failing_dependency() {
    let ok = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .thresholds(quiet())
        .build();
    let body = get_json(&app(&ok), "/health/performance/v2/health").await;
    let score = assert_score_shape(&body);
    assert_eq!(score, 100, "{body:#}");
    assert_eq!(body["status"], "pass", "{body:#}");
    let names: Vec<&str> = body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"dependencies"), "{names:?}");

    let failing = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .health_check("payments", || async { Err("refused".into()) })
        .thresholds(quiet())
        .build();
    let body = get_json(&crate::app(&failing), "/health/performance/v2/health").await;
    let score = assert_score_shape(&body);
    assert!(score < 100, "{body:#}");
    assert_eq!(body["status"], "fail", "{body:#}");
    let dep = body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "dependencies")
        .expect("a dependencies factor");
    assert_eq!(dep["status"], "fail", "{dep}");
    assert_eq!(dep["score"].as_f64().unwrap(), 50.0, "{dep}");
    assert!(
        dep["detail"].as_str().unwrap().contains("payments"),
        "{dep}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Dashboard

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_has_every_section() {
    let vitals = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .thresholds(quiet())
        .build();
    let app = app(&vitals);
    traffic(&app, "/fast", 5, StatusCode::OK).await;
    traffic(&app, "/slow", 5, StatusCode::OK).await;

    let d = get_json(&app, "/metrics/dashboard").await;
    assert_recent_rfc3339(&d["timestamp"], "dashboard timestamp");

    let rt = &d["realTime"];
    assert!(rt["requestsPerSecond"].is_number(), "{rt:#}");
    assert!(rt["requestsPerSecond"].as_f64().unwrap() >= 0.0, "{rt:#}");
    if cfg!(target_os = "linux") {
        assert!(rt["memory"]["rssBytes"].is_u64(), "{rt:#}");
        assert!(rt["memory"]["rssBytes"].as_u64().unwrap() > 0, "{rt:#}");
    }
    assert!(rt["memory"]["limitBytes"].is_u64(), "{rt:#}");
    assert!(rt.get("cpu").is_some(), "{rt:#}");

    let perf = &d["performance"];
    let last_minute = &perf["lastMinute"];
    assert_eq!(last_minute["count"], 10, "{perf:#}");
    let p95 = last_minute["p95Ms"].as_f64().expect("p95Ms is a number");
    assert!(
        p95 >= 15.0,
        "p95 with five 20 ms requests out of ten: {perf:#}"
    );
    for key in ["p50Ms", "p99Ms", "errorRate"] {
        assert!(last_minute[key].is_number(), "{key}: {perf:#}");
    }
    assert!(perf["lastFiveMinutes"].is_object(), "{perf:#}");
    assert!(perf["lastFiveMinutes"]["p95Ms"].is_number(), "{perf:#}");
    assert!(perf["sinceStart"].is_object(), "{perf:#}");
    assert_eq!(perf["sinceStart"]["count"], 10, "{perf:#}");

    assert_eq!(d["health"]["status"], "pass", "{:#}", d["health"]);
    assert!(d["health"]["issues"].is_array(), "{:#}", d["health"]);
    assert!(d["alerts"]["active"].is_array(), "{:#}", d["alerts"]);
    assert!(
        d["alerts"]["recentlyResolved"].is_array(),
        "{:#}",
        d["alerts"]
    );
    assert!(d["recommendations"].is_array(), "{d:#}");

    let slowest = d["slowestPaths"]
        .as_array()
        .expect("slowestPaths is an array");
    assert!(slowest.len() >= 2, "{slowest:#?}");
    for p in slowest {
        assert!(p["route"].is_string(), "{p}");
        assert!(p["method"].is_string(), "{p}");
        assert!(p["count"].is_u64(), "{p}");
        assert!(p["p95Ms"].is_number(), "{p}");
    }
    let p95s: Vec<f64> = slowest
        .iter()
        .map(|p| p["p95Ms"].as_f64().unwrap())
        .collect();
    assert!(
        p95s.windows(2).all(|w| w[0] >= w[1]),
        "slowest first: {slowest:#?}"
    );
    assert_eq!(slowest[0]["route"], "/slow", "{slowest:#?}");
    assert_eq!(slowest[0]["method"], "GET");
    assert_eq!(slowest[0]["count"], 5);
    let fast = slowest
        .iter()
        .find(|p| p["route"] == "/fast")
        .expect("/fast is listed");
    assert_eq!(fast["count"], 5);

    assert!(d["trends"]["points"].is_array(), "{:#}", d["trends"]);
    assert_eq!(d["trends"]["resolution"], "1m");
}

// ---------------------------------------------------------------------------------------------
// 6. Alerts lifecycle

#[tokio::test(flavor = "multi_thread")]
async fn slow_traffic_fires_a_latency_alert_in_the_background() {
    let vitals = Vitals::builder()
        .sample_interval(Duration::from_millis(100))
        .thresholds(latency_warns())
        .build();
    let app = app(&vitals);
    let before_traffic = SystemTime::now();
    traffic(&app, "/slow", 20, StatusCode::OK).await;

    tokio::time::sleep(Duration::from_millis(400)).await;
    // A few more sample intervals of grace on a loaded host.
    let deadline = Instant::now() + Duration::from_secs(3);
    let alert = loop {
        let d = get_json(&app, "/metrics/dashboard").await;
        let active = d["alerts"]["active"].as_array().unwrap().clone();
        if let Some(a) = active.into_iter().find(|a| a["type"] == "latency") {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no latency alert: {:#}",
            d["alerts"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert["severity"], "warning", "{alert:#}");
    let message = alert["message"].as_str().expect("message");
    assert!(message.contains("P95"), "{message}");
    let value = alert["value"].as_f64().expect("value is a number");
    assert!(value >= 15.0, "{alert:#}");
    assert_eq!(alert["threshold"].as_f64(), Some(5.0), "{alert:#}");
    assert_recent_rfc3339(&alert["timestamp"], "alert timestamp");
    assert_recent_rfc3339(&alert["firingSince"], "alert firingSince");
    let since = humantime::parse_rfc3339(alert["firingSince"].as_str().unwrap()).unwrap();
    let at = humantime::parse_rfc3339(alert["timestamp"].as_str().unwrap()).unwrap();
    assert!(since <= at, "{alert:#}");
    // It fired once the slow traffic was recorded (by the background evaluation: the
    // dashboard only reads the engine). Times are truncated to milliseconds.
    assert!(
        since + Duration::from_millis(1) >= before_traffic,
        "{alert:#}"
    );
    assert!(alert.get("resolvedAt").is_none(), "{alert:#}");
}

// ---------------------------------------------------------------------------------------------
// 7. Recommendations

#[tokio::test(flavor = "multi_thread")]
async fn failing_route_is_recommended_by_its_template() {
    let vitals = Vitals::builder().thresholds(quiet()).build();
    let app = app(&vitals);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..25 {
        let app = app.clone();
        set.spawn(async move {
            send(
                &app,
                request(Method::GET, &format!("/orders/{i}/fail"), Some(LOOPBACK)),
            )
            .await
        });
    }
    while let Some(reply) = set.join_next().await {
        assert_eq!(reply.unwrap().status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    let d = get_json(&app, "/metrics/dashboard").await;
    let recs = d["recommendations"].as_array().expect("recommendations");
    for r in recs {
        for key in ["type", "priority", "message", "action"] {
            assert!(r[key].is_string(), "{key} in {r}");
        }
    }
    let template = "/orders/{id}/fail";
    let rec = recs
        .iter()
        .find(|r| {
            r["message"].as_str().unwrap().contains(template)
                || r["action"].as_str().unwrap().contains(template)
        })
        .unwrap_or_else(|| panic!("no recommendation names {template}: {recs:#?}"));
    assert_eq!(rec["type"], "reliability", "{rec:#}");
    assert_eq!(rec["priority"], "high", "{rec:#}");
    assert_eq!(rec.as_object().unwrap().len(), 4, "{rec:#}");
    // The template, never a concrete path.
    let all = serde_json::to_string(recs).unwrap();
    assert!(!all.contains("/orders/1/fail"), "{all}");

    // /metrics/memory serves the same recommendations.
    let m = get_json(&app, "/metrics/memory").await;
    assert!(
        m["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["message"].as_str().unwrap().contains(template)),
        "{:#}",
        m["recommendations"]
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Memory and reclaim

fn memory_settings() -> MemorySettings {
    MemorySettings {
        limit: vitals::MemoryLimit {
            bytes: 4096 * MIB,
            source: vitals::MemoryLimitSource::Env,
        },
        ..MemorySettings::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_report_has_summary_trend_history_and_recommendations() {
    let vitals = Vitals::builder()
        .memory(memory_settings())
        .thresholds(quiet())
        .build();
    let app = app(&vitals);
    let m = get_json(&app, "/metrics/memory").await;

    let summary = &m["summary"];
    if cfg!(target_os = "linux") {
        assert!(
            summary["rssBytes"].as_u64().is_some_and(|b| b > 0),
            "{summary:#}"
        );
    }
    assert_eq!(summary["limitBytes"], 4096 * MIB, "{summary:#}");
    assert_eq!(
        summary["thresholds"]["heapWarningBytes"],
        512 * MIB,
        "{summary:#}"
    );
    assert_eq!(summary["thresholds"]["rssCriticalBytes"], 1300 * MIB);
    assert_eq!(summary["status"], "ok", "{summary:#}");
    assert_recent_rfc3339(&summary["timestamp"], "summary timestamp");

    let trend = &m["trend"];
    let basis = trend["basis"].as_str().expect("basis");
    assert!(basis == "heap" || basis == "rss", "{trend:#}");
    let windows = trend["windows"].as_array().expect("windows");
    let minutes: Vec<u64> = windows
        .iter()
        .map(|w| w["minutes"].as_u64().unwrap())
        .collect();
    assert_eq!(minutes, [5, 15, 30], "{trend:#}");
    // Just started: too little data to call a leak.
    assert_eq!(trend["leak"]["reason"], "insufficientData", "{trend:#}");
    assert_eq!(trend["leak"]["leaking"], false, "{trend:#}");

    let history = m["history"].as_array().expect("history");
    assert!(!history.is_empty(), "build() takes the first sample");
    assert_recent_rfc3339(&history[0]["timestamp"], "history timestamp");
    assert!(m["recommendations"].is_array(), "{m:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reclaim_is_a_rate_limited_post() {
    let vitals = Vitals::builder().memory(memory_settings()).build();
    let app = app(&vitals);

    let first = send(
        &app,
        request(Method::POST, "/metrics/memory/gc", Some(LOOPBACK)),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let body = first.json();
    assert!(
        body["method"].is_string() || body["method"].is_null(),
        "{body:#}"
    );
    assert!(body["ok"].is_boolean(), "{body:#}");
    assert!(body["durationMs"].is_number(), "{body:#}");
    assert_recent_rfc3339(&body["timestamp"], "reclaim timestamp");

    let second = send(
        &app,
        request(Method::POST, "/metrics/memory/gc", Some(LOOPBACK)),
    )
    .await;
    assert_problem(&second, StatusCode::TOO_MANY_REQUESTS, "second reclaim");
    let retry: u64 = second
        .header(&header::RETRY_AFTER)
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=10).contains(&retry), "Retry-After: {retry}");

    // The reclaim shows in the memory summary.
    let m = get_json(&app, "/metrics/memory").await;
    assert_recent_rfc3339(&m["summary"]["lastReclaim"], "lastReclaim");

    let get = get_from_loopback(&app, "/metrics/memory/gc").await;
    assert_problem(&get, StatusCode::METHOD_NOT_ALLOWED, "GET reclaim");
    assert_eq!(get.header(&header::ALLOW), "POST");
}

// ---------------------------------------------------------------------------------------------
// 9. Prometheus and JSON metrics

#[tokio::test(flavor = "multi_thread")]
async fn metrics_negotiates_text_or_openmetrics_and_json_lists_families() {
    let vitals = Vitals::builder().build();
    let app = app(&vitals);
    traffic(&app, "/fast", 3, StatusCode::OK).await;

    let text = get_from_loopback(&app, "/metrics").await;
    assert_eq!(text.status, StatusCode::OK);
    let ct = text.header(&header::CONTENT_TYPE);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(ct.contains("version=0.0.4"), "{ct}");
    let body = text.text();
    assert!(
        body.contains("# TYPE http_server_requests_total counter"),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with("http_server_requests_total{")
                && l.contains(r#"route="/fast""#)
                && l.ends_with(" 3")),
        "{body}"
    );
    assert!(!body.contains("# EOF"), "{body}");

    let mut req = request(Method::GET, "/metrics", Some(LOOPBACK));
    req.headers_mut().insert(
        header::ACCEPT,
        "application/openmetrics-text; version=1.0.0"
            .parse()
            .unwrap(),
    );
    let om = send(&app, req).await;
    assert_eq!(om.status, StatusCode::OK);
    let ct = om.header(&header::CONTENT_TYPE);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let body = om.text();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(body.matches("# EOF").count(), 1, "{body}");
    assert!(body.contains("http_server_requests"), "{body}");

    let json = get_json(&app, "/metrics/json").await;
    let metrics = json["metrics"].as_array().expect("metrics is an array");
    let requests = metrics
        .iter()
        .find(|m| m["name"] == "http_server_requests_total")
        .unwrap_or_else(|| panic!("no http_server_requests_total: {json:#}"));
    assert_eq!(requests["type"], "counter", "{requests:#}");
    let values = requests["values"].as_array().expect("values");
    assert!(
        values
            .iter()
            .any(|v| v["labels"]["route"] == "/fast" && v["value"].as_f64() == Some(3.0)),
        "{requests:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Operator access

const OPERATOR_ENDPOINTS: [(&str, &str); 14] = [
    ("GET", "/health/debug"),
    ("GET", "/health/performance/stats"),
    ("GET", "/health/performance/summary"),
    ("GET", "/health/performance/slow"),
    ("GET", "/health/performance/v2/stats"),
    (
        "GET",
        "/health/performance/v2/by-organization?organizationId=acme",
    ),
    ("GET", "/health/performance/v2/slow-paths"),
    ("GET", "/health/performance/v2/system"),
    ("GET", "/health/performance/v2/health"),
    ("GET", "/metrics"),
    ("GET", "/metrics/json"),
    ("GET", "/metrics/memory"),
    ("GET", "/metrics/dashboard"),
    ("POST", "/metrics/memory/gc"),
];

#[tokio::test(flavor = "multi_thread")]
async fn operator_endpoints_refuse_remote_peers_and_public_ones_answer() {
    let vitals = Vitals::builder()
        .health_check("database", || async { Ok(()) })
        .thresholds(quiet())
        .build();
    let app = app(&vitals);

    for (method, uri) in OPERATOR_ENDPOINTS {
        let method: Method = method.parse().unwrap();
        let remote = send(&app, request(method.clone(), uri, Some(REMOTE))).await;
        assert_problem(
            &remote,
            StatusCode::FORBIDDEN,
            &format!("{method} {uri} remote"),
        );
        // Served without `into_make_service_with_connect_info`: a wiring error, answered 500
        // with the fix named, not a 403 that looks like the client's fault.
        let unknown = send(&app, request(method, uri, None)).await;
        assert_problem(
            &unknown,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{uri} without peer"),
        );
        assert!(
            unknown.json()["detail"]
                .as_str()
                .is_some_and(|d| d.contains("into_make_service_with_connect_info::<SocketAddr>()")),
            "{uri}: {}",
            unknown.text()
        );
    }
    // The refused calls reclaimed nothing: the first loopback reclaim runs.
    let gc = send(
        &app,
        request(Method::POST, "/metrics/memory/gc", Some(LOOPBACK)),
    )
    .await;
    assert_eq!(gc.status, StatusCode::OK, "{}", gc.text());
    // IPv6 loopback is loopback.
    let v6 = send(&app, request(Method::GET, "/metrics/json", Some("[::1]:1"))).await;
    assert_eq!(v6.status, StatusCode::OK);

    // Public: answered (200 or 503 by its verdict), never refused. Whether the refusals
    // above may turn the verdict to fail is `refused_calls_do_not_fail_the_health_check`.
    let health = send(&app, request(Method::GET, "/metrics/health", Some(REMOTE))).await;
    assert_health_json(&health);
    for uri in ["/health", "/health/ping", "/health/pressure"] {
        let reply = send(&app, request(Method::GET, uri, Some(REMOTE))).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text());
    }

    // Public means public when failing too: 503, not 403.
    let failing = Vitals::builder()
        .health_check("database", || async { Err("down".into()) })
        .build();
    let reply = send(
        &crate::app(&failing),
        request(Method::GET, "/metrics/health", Some(REMOTE)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["status"], "fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_replaces_the_loopback_rule() {
    let vitals = Vitals::builder()
        .operator_auth(OperatorAuth::token("s3cret"))
        .build();
    let app = app(&vitals);
    let bare = send(
        &app,
        request(Method::GET, "/metrics/dashboard", Some(LOOPBACK)),
    )
    .await;
    assert_problem(&bare, StatusCode::UNAUTHORIZED, "loopback without token");
    assert!(bare.header(&header::WWW_AUTHENTICATE).starts_with("Bearer"));

    let mut req = request(Method::GET, "/metrics/dashboard", Some(REMOTE));
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    let ok = send(&app, req).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert!(!ok.text().contains("s3cret"));
}

/// Client mistakes (refused operator calls, unknown paths) are the clients' errors, not the
/// service's: they must not turn the public health check to `fail` (503), or any remote client
/// could take the instance out of its load balancer with 20 requests.
#[tokio::test(flavor = "multi_thread")]
async fn refused_calls_do_not_fail_the_health_check() {
    for (uri, refused) in [
        ("/metrics", StatusCode::FORBIDDEN),
        ("/wp-login.php", StatusCode::NOT_FOUND),
    ] {
        let vitals = Vitals::builder()
            .health_check("database", || async { Ok(()) })
            .thresholds(quiet())
            .build();
        let app = app(&vitals);
        for _ in 0..25 {
            let reply = send(&app, request(Method::GET, uri, Some(REMOTE))).await;
            assert_eq!(reply.status, refused, "{uri}");
        }
        let health = send(&app, request(Method::GET, "/metrics/health", Some(REMOTE))).await;
        assert_health_json(&health);
        assert_eq!(
            health.status,
            StatusCode::OK,
            "after 25 x {refused} on {uri}: {}",
            health.text()
        );
        let body = health.json();
        assert_eq!(
            body["checks"]["http:errorRate"][0]["status"], "pass",
            "{body:#}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn public_health_endpoints_run_the_checks_at_most_once_a_second() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let vitals = Vitals::builder()
        .health_check("database", move || {
            counted.fetch_add(1, Ordering::Relaxed);
            async { Ok(()) }
        })
        .build();
    let app: Router = Router::new().merge(vitals.router());
    let probe = |path: &'static str| {
        let app = app.clone();
        async move {
            let res = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
        }
    };
    for _ in 0..100 {
        probe("/health").await;
        probe("/metrics/health").await;
    }
    assert_eq!(runs.load(Ordering::Relaxed), 1, "200 probes, one check run");
    tokio::time::advance(Duration::from_millis(1_001)).await;
    probe("/health").await;
    assert_eq!(
        runs.load(Ordering::Relaxed),
        2,
        "a second later the check runs again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_metrics_scrapes_are_capped() {
    let vitals = Vitals::builder()
        .monitor_config(vitals::MonitorConfig::default().max_organizations(6_000))
        .build();
    let start = Instant::now();
    for i in 0..5_000 {
        let org = format!("tenant-{i}");
        vitals.monitor().record(&vitals::RequestSample {
            method: vitals::Method::Get,
            route: vitals::RouteKey::Template("/api/orgs/{orgId}/properties"),
            status: 200,
            start,
            duration: Duration::from_micros(200 + i),
            organization: Some(&org),
            ..vitals::RequestSample::default()
        });
    }
    let app: Router = Router::new().merge(vitals.router());
    // MAX_SCRAPES readers that never read: their renders wait for them, holding their places.
    let mut held = Vec::new();
    for _ in 0..vitals_axum::MAX_SCRAPES {
        let res = app
            .clone()
            .oneshot(request(Method::GET, "/metrics", Some("127.0.0.1:1")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        held.push(res);
    }
    let refused = app
        .clone()
        .oneshot(request(Method::GET, "/metrics", Some("127.0.0.1:1")))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.headers()[header::CONTENT_TYPE],
        vitals_axum::PROBLEM_JSON
    );
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    // The readers leave: their renders end and the places come back.
    drop(held);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..200 {
        let res = app
            .clone()
            .oneshot(request(Method::GET, "/metrics", Some("127.0.0.1:1")))
            .await
            .unwrap();
        status = res.status();
        if status == StatusCode::OK {
            let _ = res.into_body().collect().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "a place came back after the readers left"
    );
}
