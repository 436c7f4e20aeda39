//! Shedding, recovery and the order of the checks, through the layer.

use super::*;
use crate::pressure::PressureLayer;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use tower::ServiceExt;
use vitals::{HeapSource, HeapStats};

fn snapshot(heap: u64) -> SystemSnapshot {
    let mut s = SystemSnapshot::empty(SystemTime::now());
    s.heap = Some(HeapStats {
        allocated_bytes: heap,
        active_bytes: None,
        resident_bytes: None,
        source: HeapSource::Jemalloc,
    });
    s.process.rss_bytes = Some(10);
    s
}

#[tokio::test]
async fn sheds_over_threshold_spares_exempt_paths_and_recovers() {
    let pressure = Pressure::builder().max_heap_bytes(Some(100)).build();
    let app = Router::new()
        .route("/api/x", get(|| async { "x" }))
        .route("/health/ping", get(|| async { "pong" }))
        .layer(PressureLayer::new(pressure.clone()));
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();

    pressure.evaluate(&snapshot(100)); // not strictly greater
    assert_eq!(
        app.clone().oneshot(get("/api/x")).await.unwrap().status(),
        200
    );

    pressure.evaluate(&snapshot(101));
    let res = app.clone().oneshot(get("/api/x")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()[header::RETRY_AFTER], "10");
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(
        app.clone()
            .oneshot(get("/health/ping"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(pressure.shed_total(PressureReason::HeapUsedBytes), 1);
    let status = pressure.status();
    assert!(status.under_pressure);
    assert_eq!(status.reason, Some(PressureReason::HeapUsedBytes));
    assert!(status.since.is_some());

    pressure.evaluate(&snapshot(50));
    assert_eq!(app.oneshot(get("/api/x")).await.unwrap().status(), 200);
    assert!(!pressure.status().under_pressure);
}

#[tokio::test]
async fn thresholds_switch_off_and_order_names_the_reason() {
    let pressure = Pressure::builder()
        .max_heap_bytes(None)
        .max_rss_bytes(Some(5))
        .max_busy_ratio(Some(0.5))
        .build();
    let mut s = snapshot(u64::MAX);
    s.runtime = Some(vitals::RuntimeFigures {
        busy_ratio: 0.9,
        ..Default::default()
    });
    pressure.evaluate(&s);
    assert_eq!(pressure.current(), Some(PressureReason::RssBytes));
    s.process.rss_bytes = Some(1);
    pressure.evaluate(&s);
    assert_eq!(pressure.current(), Some(PressureReason::BusyRatio));
}

#[tokio::test]
async fn scheduling_delay_trips_first_and_recovers() {
    let pressure = Pressure::builder()
        .max_heap_bytes(Some(100))
        .max_scheduling_delay(Some(Duration::from_millis(20)))
        .build();
    let mut s = snapshot(1_000); // over the heap threshold too
    s.runtime = Some(vitals::RuntimeFigures {
        scheduling_delay_p99_ms: 25.0,
        ..Default::default()
    });
    pressure.evaluate(&s);
    // The scheduling delay is checked before the heap.
    assert_eq!(pressure.current(), Some(PressureReason::SchedulingDelay));
    let status = pressure.status();
    assert_eq!(status.values.scheduling_delay_ms, Some(25.0));
    assert_eq!(status.thresholds.max_scheduling_delay_ms, Some(20.0));

    s.heap = snapshot(1).heap;
    s.runtime = Some(vitals::RuntimeFigures {
        scheduling_delay_p99_ms: 20.0, // not strictly greater
        ..Default::default()
    });
    pressure.evaluate(&s);
    assert_eq!(pressure.current(), None);
}

#[tokio::test]
async fn custom_response_and_failing_health_check() {
    let pressure = Pressure::builder()
        .health_check(
            Duration::from_millis(10),
            Duration::from_millis(50),
            || async { false },
        )
        .response(|reason| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("busy: {}", reason.as_str()),
            )
                .into_response()
        })
        .build();
    tokio::time::sleep(Duration::from_millis(30)).await;
    pressure.evaluate(&snapshot(1));
    assert_eq!(pressure.current(), Some(PressureReason::HealthCheck));
    let res = pressure.shed_response(PressureReason::HealthCheck);
    assert_eq!(res.headers()[header::RETRY_AFTER], "10");
}

#[tokio::test]
async fn the_monitor_sheds_in_place_of_the_layer_and_records_the_shed() {
    // `Vitals::layers` has the monitor do the pressure check itself: same answers as the
    // layer, the inner service not called, and the shed request recorded with its id.
    let pressure = Pressure::builder().max_heap_bytes(Some(100)).build();
    let monitor = vitals::Monitor::default();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/api/x",
            get(move || async move {
                counted.fetch_add(1, Ordering::Relaxed);
                "x"
            }),
        )
        .route("/health/ping", get(|| async { "pong" }))
        .layer(
            crate::MonitorLayer::new(monitor.clone())
                .in_router(true)
                .shed_under(pressure.clone()),
        );
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();

    pressure.evaluate(&snapshot(101));
    let res = app.clone().oneshot(get("/api/x")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()[header::RETRY_AFTER], "10");
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(res.headers()["x-request-id"].len(), 16);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        0,
        "the handler ran while shedding"
    );
    assert_eq!(
        app.clone()
            .oneshot(get("/health/ping"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(pressure.shed_total(PressureReason::HeapUsedBytes), 1);

    pressure.evaluate(&snapshot(50));
    assert_eq!(app.oneshot(get("/api/x")).await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let statuses: Vec<u16> = monitor.recent().iter().map(|r| r.status_code).collect();
    assert_eq!(statuses, [503, 200, 200]);
}
