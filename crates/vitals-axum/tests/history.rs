//! History (feature `history`): requests recorded, flushed into a real SQLite store, read back
//! by `GET /metrics/history` (also after a rebuild on the same file); bad queries are 400
//! problem+json; an unopenable store is a `warn` in `/health` while serving goes on; budgets
//! are evaluated after a flush and exposed.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vitals_axum::Vitals;
use vitals_store::StoreConfig;
use vitals_store::budget::Budget;

fn app(vitals: &Vitals) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/boom",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .merge(vitals.router())
        .layer(vitals.layer())
}

async fn call(app: &Router, uri: &str) -> (StatusCode, String, Value) {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo::<SocketAddr>("127.0.0.1:1".parse().unwrap()));
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, ct, json)
}

fn build(path: &std::path::Path) -> Vitals {
    Vitals::builder()
        .history_at(path, StoreConfig::default())
        .budgets(vec![
            Budget::availability("users-available", "/users/*")
                .unwrap()
                .objective(0.99)
                .unwrap(),
        ])
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_minutes_are_read_back_after_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let vitals = build(&path);
        let app = app(&vitals);
        for i in 0..20 {
            let (s, _, _) = call(&app, &format!("/users/{i}")).await;
            assert_eq!(s, StatusCode::OK);
        }
        call(&app, "/boom").await;
        vitals.flush_history().await;

        let (s, _, body) = call(
            &app,
            "/metrics/history?series=route:GET%20/users/%7Bid%7D&step=1m",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let points = body["points"].as_array().unwrap();
        let count: u64 = points.iter().map(|p| p["count"].as_u64().unwrap()).sum();
        assert_eq!(count, 20, "{body}");
        assert!(points[0]["p95"].as_f64().is_some() && points[0]["errorRatio"] == 0.0);

        let (_, _, service) = call(&app, "/metrics/history?series=service&step=1h").await;
        let total: u64 = service["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_u64().unwrap())
            .sum();
        // 20 users and one boom: the flush came before the history calls.
        assert_eq!(total, 21, "{service}");

        let (_, _, budgets) = call(&app, "/health/performance/budgets").await;
        let b = &budgets["budgets"][0];
        assert_eq!(b["name"], "users-available", "{budgets}");
        assert_eq!(b["total"], 20);
        assert_eq!(b["status"], "ok");
        assert_eq!(b["burnRates"].as_array().unwrap().len(), 7);

        let mut req = Request::get("/metrics").body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>("127.0.0.1:1".parse().unwrap()));
        let res = app.clone().oneshot(req).await.unwrap();
        let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        assert!(
            text.contains("vitals_budget_remaining_ratio{budget=\"users-available\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("vitals_budget_burn_rate{budget=\"users-available\",window=\"5m\"} 0")
        );
    }
    // A new Vitals on the same file answers the same history.
    let vitals = build(&path);
    let app = app(&vitals);
    let (s, _, body) = call(&app, "/metrics/history?series=route:GET%20/users/%7Bid%7D").await;
    assert_eq!(s, StatusCode::OK);
    let count: u64 = body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(count, 20, "{body}");
    let (s, _, body) = call(&app, "/metrics/history?series=system").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!body["points"].as_array().unwrap().is_empty(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_400_problems() {
    let dir = tempfile::tempdir().unwrap();
    let vitals = build(&dir.path().join("h.sqlite"));
    let app = app(&vitals);
    for (query, parameter) in [
        ("", "series"),
        ("series=nope", "series"),
        ("series=service&from=yesterday", "from"),
        ("series=service&from=2000&to=1000", "from"),
        ("series=service&from=0&to=86400000&step=1m", "step"),
        ("series=service&step=5m", "step"),
    ] {
        let (s, ct, body) = call(&app, &format!("/metrics/history?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(ct, "application/problem+json", "{query}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    // Well-formed, but nothing recorded for it: not found rather than a bad request.
    let (s, ct, body) = call(&app, "/metrics/history?series=route:GET%20/never").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["parameter"], "series", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_store_is_a_warning_and_serving_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.sqlite");
    std::fs::write(&path, vec![0x42; 16_384]).unwrap();
    let vitals = build(&path);
    let app = app(&vitals);
    let (s, _, _) = call(&app, "/users/1").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, health) = call(&app, "/health").await;
    assert_eq!(s, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "warn");
    assert_eq!(health["checks"]["history"]["status"], "warn");
    let output = health["checks"]["history"]["output"].as_str().unwrap();
    // The public check says what is wrong, not where the file is.
    assert_eq!(output, "the history store is corrupt or not a database");
    assert!(!health.to_string().contains("corrupt.sqlite"), "{health}");
    vitals.flush_history().await; // no store: nothing to do, no panic
    // The operator's view has the file and SQLite's report.
    let (s, ct, body) = call(&app, "/metrics/history?series=service").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ct, "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap().contains("corrupt.sqlite"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_endpoints_are_operator_only() {
    let dir = tempfile::tempdir().unwrap();
    let vitals = build(&dir.path().join("h.sqlite"));
    let app = app(&vitals);
    for uri in [
        "/metrics/history?series=service",
        "/health/performance/budgets",
    ] {
        let mut req = Request::get(uri).body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>("10.0.0.1:1".parse().unwrap()));
        let res = app.clone().oneshot(req).await.unwrap();
        assert!(res.status().is_client_error(), "{uri}: {}", res.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_minutes_are_read_back_from_a_store_without_requests() {
    // A process that sampled but served nothing writes system rows and no service series; its
    // minutes come back at the next start rather than being dropped with "unknown series".
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quiet.sqlite");
    let minute = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60,
    )
    .unwrap()
        - 3;
    {
        let store = vitals_store::Store::open(&path, StoreConfig::default()).unwrap();
        let batch = vitals_store::MinuteBatch {
            minute,
            system: Some(vitals_store::SystemPoint {
                rss_bytes: Some(123_456_789),
                ..Default::default()
            }),
            ..Default::default()
        };
        store.write_minute(&batch).unwrap();
    }
    let vitals = build(&path);
    let minutes = vitals.sampler().history().minutes(60);
    assert!(
        minutes
            .iter()
            .any(|m| m.unix_ms == u64::try_from(minute * 60_000).unwrap()
                && m.rss_bytes == Some(123_456_789)),
        "{minutes:?}"
    );
}
