//! In-process tests of `MonitorLayer`: what it records for aborts, panics, streams, tenants
//! and correlation ids, and that it leaves the inner service's error type alone.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use vitals::{Monitor, RequestRecord};
use vitals_axum::{MonitorLayer, Organization, RequestId};

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn only_record(monitor: &Monitor) -> RequestRecord {
    let recent = monitor.recent();
    assert_eq!(recent.len(), 1, "{recent:#?}");
    recent.into_iter().next().unwrap()
}

#[tokio::test]
async fn records_route_template_status_and_duration() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(|| async { (StatusCode::CREATED, "made") }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    let res = app.oneshot(get_req("/items/42")).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let _ = res.into_body().collect().await.unwrap();
    let r = only_record(&monitor);
    assert_eq!(&*r.route, "/items/{id}");
    assert_eq!(r.status_code, 201);
    assert!(!r.client_aborted && !r.panicked && !r.is_error_response);
}

#[tokio::test]
async fn unmatched_requests_fold_into_one_series() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route("/known", get(|| async { "ok" }))
        .layer(MonitorLayer::new(monitor.clone()));
    for path in ["/a/1", "/b/2/c", "/wp-login.php"] {
        let res = app.clone().oneshot(get_req(path)).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let _ = res.into_body().collect().await.unwrap();
    }
    let routes = monitor.route_stats(vitals::Window::SinceStart);
    assert_eq!(routes.len(), 1);
    assert_eq!(&*routes[0].route, vitals::UNMATCHED);
    assert_eq!(routes[0].stats.count, 3);
}

#[tokio::test]
async fn client_abort_before_the_response_is_recorded_as_499() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    let pending = app.oneshot(get_req("/slow"));
    // The client goes away after 20 ms: the response future is dropped.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), pending)
            .await
            .is_err()
    );
    let r = only_record(&monitor);
    assert_eq!(r.status_code, 499);
    assert!(r.client_aborted);
    assert_eq!(monitor.in_flight(), 0);
    assert!(r.duration >= Duration::from_millis(20));
}

#[tokio::test]
async fn client_abort_during_the_body_keeps_the_status_and_flags_it() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u32, |n| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((Ok::<_, Infallible>(format!("chunk {n}\n")), n + 1))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    let res = app.oneshot(get_req("/stream")).await.unwrap();
    let mut body = res.into_body();
    let _first = body.frame().await.unwrap().unwrap();
    assert!(
        monitor.recent().is_empty(),
        "recorded before the body ended"
    );
    drop(body);
    let r = only_record(&monitor);
    assert_eq!(r.status_code, 200);
    assert!(r.client_aborted);
}

#[tokio::test]
async fn timing_ends_when_a_streaming_body_ends() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u32, |n| async move {
                    if n == 5 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Ok::<_, Infallible>(format!("chunk {n}\n")), n + 1))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    let res = app.oneshot(get_req("/stream")).await.unwrap();
    assert!(
        monitor.recent().is_empty(),
        "recorded when headers were sent"
    );
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 5 * "chunk 0\n".len());
    let r = only_record(&monitor);
    assert!(r.duration >= Duration::from_millis(100), "{:?}", r.duration);
    assert!(!r.client_aborted);
    assert_eq!(monitor.in_flight(), 0);
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_service_keeps_serving() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(CatchPanicLayer::new())
        .layer(MonitorLayer::new(monitor.clone()));
    let res = app.clone().oneshot(get_req("/boom")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let _ = res.into_body().collect().await.unwrap();
    let res = app.oneshot(get_req("/ok")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let _ = res.into_body().collect().await.unwrap();
    let recent = monitor.recent();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].status_code, 500);
    assert!(recent[0].is_error_response);
    assert_eq!(recent[1].status_code, 200);
}

#[tokio::test]
async fn a_panic_without_catch_panic_is_still_recorded_as_a_500() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    // As hyper does, the request runs in its own task; the panic ends only that task.
    let joined = tokio::spawn(app.oneshot(get_req("/boom"))).await;
    assert!(joined.unwrap_err().is_panic());
    let r = only_record(&monitor);
    assert_eq!(r.status_code, 500);
    assert!(r.panicked);
}

#[tokio::test]
async fn tenant_sources_in_order_of_precedence() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route("/orgs/{orgId}/x", get(|| async { "x" }))
        .route("/organizations/{organizationId}/y", get(|| async { "y" }))
        .route("/plain", get(|| async { "plain" }))
        .route(
            "/auth",
            get(|| async { (Organization::new("from-handler"), "z") }),
        )
        // The header only counts when the application trusts it (see tests/tenants.rs).
        .layer(MonitorLayer::new(monitor.clone()).trust_organization_header(true));
    let cases = [
        (
            Request::get("/orgs/acme/x").body(Body::empty()).unwrap(),
            "acme",
        ),
        (
            Request::get("/organizations/globex/y")
                .body(Body::empty())
                .unwrap(),
            "globex",
        ),
        (
            Request::get("/plain")
                .header("x-organization-id", "initech")
                .body(Body::empty())
                .unwrap(),
            "initech",
        ),
        (
            Request::get("/auth")
                .header("x-organization-id", "header-loses")
                .body(Body::empty())
                .unwrap(),
            "from-handler",
        ),
    ];
    for (req, expected) in cases {
        let res = app.clone().oneshot(req).await.unwrap();
        let _ = res.into_body().collect().await.unwrap();
        let r = monitor.recent().pop().unwrap();
        assert_eq!(r.organization_id.as_deref(), Some(expected));
        assert_eq!(
            monitor
                .organization_stats(expected)
                .unwrap()
                .since_start
                .count,
            1
        );
    }
    // A header that is not a valid id is ignored.
    let req = Request::get("/plain")
        .header("x-organization-id", "bad id!")
        .body(Body::empty())
        .unwrap();
    let _ = app.oneshot(req).await.unwrap();
    assert_eq!(monitor.recent().pop().unwrap().organization_id, None);
}

#[tokio::test]
async fn correlation_id_is_taken_or_generated_echoed_and_reachable() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/id",
            get(|id: RequestId| async move { id.as_str().to_owned() }),
        )
        .layer(MonitorLayer::new(monitor.clone()));

    let req = Request::get("/id")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"abc-123");
    assert_eq!(
        monitor.recent().pop().unwrap().correlation_id.as_deref(),
        Some("abc-123")
    );

    let long = "x".repeat(65);
    for bad in ["has space", long.as_str(), "<script>"] {
        let req = Request::get("/id")
            .header("x-request-id", bad)
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, bad);
        assert_eq!(echoed.len(), 16);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            echoed.as_bytes(),
            "handler sees the generated id"
        );
        assert_eq!(
            monitor.recent().pop().unwrap().correlation_id.as_deref(),
            Some(echoed.as_str())
        );
    }
}

#[derive(Debug, PartialEq)]
struct MyError;

#[tokio::test]
async fn inner_errors_keep_their_type_and_count_as_500() {
    let monitor = Monitor::default();
    let inner = tower::service_fn(|req: Request<Body>| async move {
        if req.uri().path() == "/fail" {
            Err(MyError)
        } else {
            Ok::<_, MyError>(Response::new(Body::from("fine")))
        }
    });
    let mut svc = MonitorLayer::new(monitor.clone()).layer(inner);
    let err: MyError = svc
        .ready()
        .await
        .unwrap()
        .call(get_req("/fail"))
        .await
        .unwrap_err();
    assert_eq!(err, MyError);
    let ok = svc
        .ready()
        .await
        .unwrap()
        .call(get_req("/orders/123"))
        .await
        .unwrap();
    let _ = ok.into_body().collect().await.unwrap();
    let recent = monitor.recent();
    assert_eq!(recent[0].status_code, 500);
    // Without a router there is no template: the path is normalized.
    assert_eq!(&*recent[1].route, "/orders/{id}");
    assert_eq!(recent[1].status_code, 200);
}

#[tokio::test]
async fn empty_bodies_are_recorded_as_complete() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/empty",
            get(|| async { StatusCode::NO_CONTENT.into_response() }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    let res = app.oneshot(get_req("/empty")).await.unwrap();
    drop(res);
    let r = only_record(&monitor);
    assert_eq!(r.status_code, 204);
    assert!(!r.client_aborted);
}

#[tokio::test]
async fn traceparent_is_validated_propagated_and_recorded() {
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/orgs/{orgId}/t",
            get(|| async {
                let ctx = vitals_axum::RequestContext::current().expect("context in scope");
                format!(
                    "{}|{}|{}",
                    ctx.route
                        .as_ref()
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_default(),
                    ctx.organization().unwrap_or_default().to_owned(),
                    ctx.trace.map(|t| t.trace_id_hex()).unwrap_or_default(),
                )
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()).trace_context(true));

    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let req = Request::get("/orgs/acme/t")
        .header("traceparent", incoming)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let out = res.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(
        out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{out}"
    );
    assert!(!out.contains("00f067aa0ba902b7"), "a new span id: {out}");
    assert!(out.ends_with("-01"));
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        b"/orgs/{orgId}/t|acme|4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let r = monitor.recent().pop().unwrap();
    assert_eq!(
        r.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );

    for invalid in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // v00 with extra
        "garbage",
    ] {
        let req = Request::get("/orgs/acme/t")
            .header("traceparent", invalid)
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let out = res.headers()["traceparent"].to_str().unwrap().to_owned();
        assert_eq!(out.len(), 55, "{out}");
        assert!(
            !out.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
            "replaced: {invalid} -> {out}"
        );
        let _ = res.into_body().collect().await.unwrap();
    }
    // A future version with extra fields is accepted.
    let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abcd";
    let req = Request::get("/orgs/acme/t")
        .header("traceparent", future)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert!(
        res.headers()["traceparent"]
            .to_str()
            .unwrap()
            .contains("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let _ = res.into_body().collect().await.unwrap();

    // Without `traceparent`: a new trace, seen by the handler and recorded, and no header back.
    let res = app.oneshot(get_req("/orgs/acme/t")).await.unwrap();
    assert!(res.headers().get("traceparent").is_none());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body = std::str::from_utf8(&body).unwrap();
    let handler_trace = body.rsplit('|').next().unwrap();
    assert_eq!(handler_trace.len(), 32, "{body}");
    let r = monitor.recent().pop().unwrap();
    assert_eq!(r.trace_id.as_deref(), Some(handler_trace));
}

#[tokio::test]
async fn event_streams_are_recorded_when_their_headers_go_out() {
    use axum::response::sse::{Event, Sse};
    let monitor = Monitor::default();
    let app = Router::new()
        .route(
            "/events",
            get(|| async {
                let events = futures_util::stream::unfold(0u32, |n| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((
                        Ok::<_, Infallible>(Event::default().data(n.to_string())),
                        n + 1,
                    ))
                });
                Sse::new(events)
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()));
    let res = app.oneshot(get_req("/events")).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // Recorded before any event is read, and not counted in flight while it streams.
    let r = only_record(&monitor);
    assert_eq!(&*r.route, "/events");
    assert_eq!(r.status_code, 200);
    assert_eq!(monitor.in_flight(), 0);
    drop(res);
    assert_eq!(
        monitor.recent().len(),
        1,
        "dropping the stream records nothing more"
    );
}

#[tokio::test]
async fn small_buffered_bodies_are_recorded_as_they_leave_others_when_they_end() {
    let small = "x".repeat(100);
    let big = "y".repeat(20 * 1024);
    let routes = move || {
        let (small, big) = (small.clone(), big.clone());
        Router::new()
            .route("/small", get(move || async move { small }))
            .route("/big", get(move || async move { big }))
            .route(
                "/stream",
                get(|| async {
                    let chunks = ["a", "b"].map(Ok::<_, Infallible>);
                    Body::from_stream(futures_util::stream::iter(chunks))
                }),
            )
    };
    let count = |m: &Monitor| m.recent().len();

    // Default limit (16 KiB): the small body is recorded before it is read, and passes
    // through unchanged; the big and the streamed ones only once they end.
    let monitor = Monitor::default();
    let app = routes().layer(MonitorLayer::new(monitor.clone()));
    let res = app.clone().oneshot(get_req("/small")).await.unwrap();
    assert_eq!(count(&monitor), 1, "recorded at the head");
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes().len(),
        100
    );
    for (path, before) in [("/big", 1), ("/stream", 2)] {
        let res = app.clone().oneshot(get_req(path)).await.unwrap();
        assert_eq!(count(&monitor), before, "{path}: not before its body ends");
        let _ = res.into_body().collect().await.unwrap();
        assert_eq!(count(&monitor), before + 1, "{path}: once it ends");
    }
    assert_eq!(count(&monitor), 3);

    // Limit 0: every body with data is timed to its end.
    let monitor = Monitor::default();
    let app = routes().layer(MonitorLayer::new(monitor.clone()).buffered_body_limit(0));
    let res = app.oneshot(get_req("/small")).await.unwrap();
    assert_eq!(count(&monitor), 0, "timed to the end of the body");
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(count(&monitor), 1);
}

#[tokio::test]
async fn two_monitors_on_one_thread_each_record_their_own_requests() {
    // Record boxes are reused per thread and keep their last monitor; a box reused by the
    // other layer must record into that layer's monitor.
    let (a, b) = (Monitor::default(), Monitor::default());
    let app = |monitor: &Monitor| {
        Router::new()
            .route("/x", get(|| async { "x" }))
            .layer(MonitorLayer::new(monitor.clone()))
    };
    let (app_a, app_b) = (app(&a), app(&b));
    for i in 0..10 {
        let app = if i % 3 == 0 { &app_a } else { &app_b };
        let res = app.clone().oneshot(get_req("/x")).await.unwrap();
        let _ = res.into_body().collect().await.unwrap();
    }
    assert_eq!(a.recorded(), 4);
    assert_eq!(b.recorded(), 6);
    assert_eq!(a.in_flight() + b.in_flight(), 0);
}

#[tokio::test]
async fn every_request_has_its_polls_timed_and_a_blocking_poll_flagged() {
    // No CPU or allocation measurement at all: polls are timed on every request regardless.
    // A blocking threshold of 50 ms (default 10) and polls of 150 ms vs about nothing keep a
    // loaded test machine's pauses from deciding the outcome.
    let monitor = Monitor::new(
        vitals::MonitorConfig::default().blocking_poll_threshold(Duration::from_millis(50)),
    );
    let app = Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/waits",
            get(|| async {
                // Two polls: one that yields, one that answers; neither blocks.
                tokio::time::sleep(Duration::from_millis(30)).await;
                "waited"
            }),
        )
        .route(
            "/blocks",
            get(|| async {
                // Holds the worker thread for 150 ms in one poll.
                std::thread::sleep(Duration::from_millis(150));
                "blocked"
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u32, |n| async move {
                    if n == 3 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Some((Ok::<_, Infallible>(format!("chunk {n}")), n + 1))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(MonitorLayer::new(monitor.clone()).resources_every(0));
    for path in ["/fast", "/waits", "/blocks", "/stream"] {
        let res = app.clone().oneshot(get_req(path)).await.unwrap();
        let _ = res.into_body().collect().await.unwrap();
    }
    let records = monitor.recent();
    let by_route = |route: &str| {
        records
            .iter()
            .find(|r| &*r.route == route)
            .unwrap_or_else(|| panic!("no record for {route}: {records:#?}"))
    };

    let fast = by_route("/fast");
    assert!(fast.resources.is_none(), "CPU is not measured: {fast:?}");
    let polls = fast.polls.expect("polls are always timed");
    assert_eq!(polls.count, 1);
    assert!(polls.longest <= fast.duration, "{fast:?}");
    assert!(!fast.blocked_runtime);

    let waits = by_route("/waits");
    let polls = waits.polls.unwrap();
    assert_eq!(polls.count, 2, "{waits:?}");
    assert!(polls.longest < Duration::from_millis(50), "{waits:?}");
    assert!(waits.duration >= Duration::from_millis(30));
    assert!(!waits.blocked_runtime);

    let blocks = by_route("/blocks");
    let polls = blocks.polls.unwrap();
    assert_eq!(polls.count, 1);
    assert!(polls.longest >= Duration::from_millis(150), "{blocks:?}");
    assert!(blocks.blocked_runtime);

    // The body's polls count too: the future's one, then one per chunk wait and one per chunk
    // (hyper is not involved here, `collect` polls until the end).
    let stream = by_route("/stream");
    let polls = stream.polls.unwrap();
    assert!(polls.count >= 4, "{stream:?}");
    assert!(!stream.blocked_runtime);

    // Per route, the blocking count and the longest poll cover every request, not a sample.
    let stats = monitor.route_stats(vitals::Window::SinceStart);
    let resources = |route: &str| {
        stats
            .iter()
            .find(|s| &*s.route == route)
            .unwrap_or_else(|| panic!("no stats for {route}"))
            .resources
    };
    let blocks = resources("/blocks").expect("a long poll makes the route's totals");
    assert_eq!(blocks.blocked_runtime, 1);
    assert_eq!(blocks.measured, 0);
    assert!(blocks.longest_poll_ms >= 150.0);
    // Fast polls only, nothing measured: no totals (or, had the machine paused a poll past a
    // tenth of the threshold, no blocking in them).
    for route in ["/waits", "/fast"] {
        assert!(
            resources(route).is_none_or(|r| r.blocked_runtime == 0),
            "{route}"
        );
    }

    // And the JSON record says so.
    let json = serde_json::to_value(by_route("/blocks")).unwrap();
    assert_eq!(json["polls"], 1);
    assert_eq!(json["blockedRuntime"], true);
    assert_eq!(json["resourcesMeasured"], false);
    assert!(json.get("cpuTimeMs").is_none());
}

#[tokio::test]
async fn inside_a_router_every_unmatched_request_folds_into_unmatched_whatever_its_status() {
    for status in [
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::OK,
    ] {
        let monitor = Monitor::default();
        let app = Router::new()
            .route("/known", get(|| async { "ok" }))
            .fallback(move || async move { status })
            .layer(MonitorLayer::new(monitor.clone()).in_router(true));
        for i in 0..50 {
            let path = format!("/stranger-{i}/x{i}y");
            let res = app.clone().oneshot(get_req(&path)).await.unwrap();
            assert_eq!(res.status(), status);
        }
        let res = app.clone().oneshot(get_req("/known")).await.unwrap();
        let _ = res.into_body().collect().await.unwrap();
        let routes: std::collections::BTreeSet<String> = monitor
            .recent()
            .iter()
            .map(|r| r.route.to_string())
            .collect();
        assert_eq!(
            routes,
            [vitals::UNMATCHED.to_owned(), "/known".to_owned()].into(),
            "status {status}"
        );
    }
}

#[tokio::test]
async fn vitals_layers_fold_rate_limited_unmatched_requests() {
    let vitals = vitals_axum::Vitals::builder()
        .rate_limit(vitals_axum::RateLimitLayer::per_window(
            1,
            Duration::from_secs(60),
        ))
        .build();
    let app: Router = Router::new()
        .route("/known", get(|| async { "ok" }))
        .merge(vitals.router())
        .layer(vitals.layers());
    let mut statuses = Vec::new();
    for i in 0..20 {
        let mut req = get_req(&format!("/flood/{i}abc/z{i}"));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [10, 0, 0, 1],
                5000,
            ))));
        statuses.push(app.clone().oneshot(req).await.unwrap().status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let recent = vitals.monitor().recent();
    assert_eq!(recent.len(), 20);
    for r in &recent {
        assert_eq!(&*r.route, vitals::UNMATCHED, "{r:?}");
    }
}
