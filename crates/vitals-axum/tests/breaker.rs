//! `CircuitBreaker` and `CircuitBreakerLayer`: closed → open after consecutive failures, fail
//! fast while open, one trial when half-open, timeouts, the route layer, and the snapshot.
//! Timing tests run on tokio's paused clock, so they are deterministic and instant.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};
use vitals_axum::{BreakerError, BreakerRegistry, BreakerSnapshot};
use vitals_axum::{BreakerState, CircuitBreaker, CircuitBreakerLayer};

const SECOND: Duration = Duration::from_secs(1);

async fn ok(b: &CircuitBreaker) -> Result<u32, BreakerError<&'static str>> {
    b.call(async { Ok(1) }).await
}

async fn fail(b: &CircuitBreaker) -> Result<u32, BreakerError<&'static str>> {
    b.call(async { Err("boom") }).await
}

/// Opens `b` (threshold 1 assumed) and checks it did.
async fn trip(b: &CircuitBreaker) {
    assert_eq!(fail(b).await, Err(BreakerError::Inner("boom")));
    assert_eq!(b.current_state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn opens_after_exactly_threshold_consecutive_failures() {
    let b = CircuitBreaker::new("db").failure_threshold(3);
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    assert_eq!(b.state().consecutive_failures, 2);
    // A success in between resets the count.
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state().consecutive_failures, 0);
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    assert_eq!(b.current_state(), BreakerState::Closed);
    assert_eq!(b.state().consecutive_failures, 2);
    // The third consecutive failure opens it.
    assert_eq!(fail(&b).await, Err(BreakerError::Inner("boom")));
    let s = b.state();
    assert_eq!(s.state, BreakerState::Open);
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.transitions_total, 1);
    assert_eq!(
        (s.failures_total, s.successes_total, s.rejected_total),
        (5, 1, 0)
    );
    assert!(s.opened_at.is_some());
    assert_eq!(s.opened_at, s.last_transition);
    assert!(ok(&b).await.unwrap_err().is_open());
}

#[tokio::test(start_paused = true)]
async fn default_threshold_is_five() {
    let b = CircuitBreaker::new("db");
    for _ in 0..4 {
        fail(&b).await.unwrap_err();
    }
    assert_eq!(b.current_state(), BreakerState::Closed);
    fail(&b).await.unwrap_err();
    assert_eq!(b.current_state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn open_fails_fast_without_polling_and_reports_remaining_reset_time() {
    let b = CircuitBreaker::new("db")
        .failure_threshold(1)
        .reset_timeout(10 * SECOND);
    trip(&b).await;
    tokio::time::advance(3 * SECOND).await;

    let polled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&polled);
    let result: Result<(), BreakerError<()>> = b
        .call(async move {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert_eq!(
        result,
        Err(BreakerError::Open {
            retry_after: 7 * SECOND
        })
    );
    assert!(!polled.load(Ordering::SeqCst), "the future was polled");
    assert_eq!(b.state().rejected_total, 1);

    tokio::time::advance(6 * SECOND + Duration::from_millis(500)).await;
    let err = ok(&b).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(500)));
    assert_eq!(b.state().state, BreakerState::Open);
    assert_eq!(b.state().rejected_total, 2);
}

#[tokio::test(start_paused = true)]
async fn half_open_allows_one_trial_and_its_success_closes() {
    let b = CircuitBreaker::new("db")
        .failure_threshold(1)
        .reset_timeout(10 * SECOND);
    trip(&b).await;
    let opened_at = b.state().opened_at.unwrap();
    tokio::time::advance(10 * SECOND).await;
    // Reported half-open once due, stamped with the time it became due.
    let s = b.state();
    assert_eq!(s.state, BreakerState::HalfOpen);
    assert_eq!(s.last_transition, Some(opened_at + 10 * SECOND));
    assert_eq!(s.opened_at, Some(opened_at));

    let second_polled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&second_polled);
    let trial = b.call(async {
        tokio::time::sleep(2 * SECOND).await;
        Ok::<_, &str>("trial")
    });
    let second = async {
        // Let the trial start first.
        tokio::task::yield_now().await;
        let rejected = b
            .call(async move {
                flag.store(true, Ordering::SeqCst);
                Ok::<_, &str>("second")
            })
            .await;
        let state = b.current_state();
        (rejected, state)
    };
    let (trial, (second, state_during_trial)) = tokio::join!(trial, second);
    assert_eq!(trial, Ok("trial"));
    assert!(second.unwrap_err().is_open());
    assert!(!second_polled.load(Ordering::SeqCst));
    assert_eq!(state_during_trial, BreakerState::HalfOpen);

    let s = b.state();
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.opened_at, None);
    assert_eq!(s.transitions_total, 3);
    assert_eq!(s.rejected_total, 1);
    let path: Vec<_> = b.transitions().iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        path,
        [
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::HalfOpen),
            (BreakerState::HalfOpen, BreakerState::Closed),
        ]
    );
    assert_eq!(ok(&b).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn half_open_trial_failure_reopens_for_a_full_reset_timeout() {
    let b = CircuitBreaker::new("db")
        .failure_threshold(1)
        .reset_timeout(10 * SECOND);
    trip(&b).await;
    tokio::time::advance(10 * SECOND).await;
    assert_eq!(fail(&b).await, Err(BreakerError::Inner("boom")));
    let s = b.state();
    assert_eq!(s.state, BreakerState::Open);
    assert_eq!(s.transitions_total, 3);
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(
        ok(&b).await,
        Err(BreakerError::Open {
            retry_after: 10 * SECOND
        })
    );
    // And the next trial may close it.
    tokio::time::advance(10 * SECOND).await;
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.current_state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_frees_the_slot() {
    let b = CircuitBreaker::new("db")
        .failure_threshold(1)
        .reset_timeout(SECOND);
    trip(&b).await;
    tokio::time::advance(SECOND).await;
    let slow = b.call(async {
        tokio::time::sleep(60 * SECOND).await;
        Ok::<_, &str>(0)
    });
    // Poll the trial once, then drop it.
    let timed_out = tokio::time::timeout(Duration::from_millis(10), slow).await;
    assert!(timed_out.is_err());
    assert_eq!(b.current_state(), BreakerState::HalfOpen);
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.current_state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn call_timeout_counts_as_failure() {
    let b = CircuitBreaker::new("slow")
        .failure_threshold(2)
        .call_timeout(SECOND);
    let slow = || async {
        tokio::time::sleep(5 * SECOND).await;
        Ok::<_, &str>(())
    };
    let started = tokio::time::Instant::now();
    assert_eq!(b.call(slow()).await, Err(BreakerError::Timeout));
    assert_eq!(started.elapsed(), SECOND);
    let s = b.state();
    assert_eq!((s.state, s.consecutive_failures), (BreakerState::Closed, 1));
    assert!(b.call(slow()).await.unwrap_err().is_timeout());
    assert_eq!(b.current_state(), BreakerState::Open);
    assert_eq!(b.state().failures_total, 2);
}

#[tokio::test(start_paused = true)]
async fn stale_outcomes_do_not_move_the_state() {
    // A call admitted while closed that fails after the circuit opened and closed again must
    // not count toward the new closed period.
    let b = CircuitBreaker::new("db")
        .failure_threshold(1)
        .reset_timeout(SECOND);
    let straggler = b.call(async {
        tokio::time::sleep(5 * SECOND).await;
        Err::<(), _>("late")
    });
    let cycle = async {
        trip(&b).await;
        tokio::time::advance(SECOND).await;
        assert_eq!(ok(&b).await, Ok(1));
        assert_eq!(b.current_state(), BreakerState::Closed);
    };
    let (late, ()) = tokio::join!(straggler, cycle);
    assert_eq!(late, Err(BreakerError::Inner("late")));
    let s = b.state();
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.failures_total, 2);
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn json(res: Response) -> serde_json::Value {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(start_paused = true)]
async fn layer_opens_on_server_errors_rejects_without_calling_and_recovers() {
    let calls = Arc::new(AtomicU32::new(0));
    let healthy = Arc::new(AtomicBool::new(false));
    let breaker = CircuitBreaker::new("GET /flaky")
        .failure_threshold(3)
        .reset_timeout(10 * SECOND);
    let handler = {
        let calls = Arc::clone(&calls);
        let healthy = Arc::clone(&healthy);
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if healthy.load(Ordering::SeqCst) {
                (StatusCode::OK, "fine")
            } else {
                (StatusCode::INTERNAL_SERVER_ERROR, "broken")
            }
        }
    };
    let app = Router::new()
        .route("/flaky", get(handler))
        .route("/bad", get(|| async { StatusCode::BAD_REQUEST }))
        .route_layer(CircuitBreakerLayer::new(breaker.clone()));

    // 4xx are successes.
    let bad = app.clone().oneshot(get_req("/bad")).await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(breaker.state().successes_total, 1);
    for _ in 0..3 {
        let res = app.clone().oneshot(get_req("/flaky")).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(breaker.current_state(), BreakerState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    tokio::time::advance(4 * SECOND).await;
    let res = app.clone().oneshot(get_req("/flaky")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["retry-after"], "6");
    let body = json(res).await;
    assert_eq!(body["title"], "Service Unavailable");
    assert_eq!(body["status"], 503);
    assert_eq!(body["breaker"], "GET /flaky");
    assert!(
        body["detail"].as_str().unwrap().contains("`GET /flaky`"),
        "{body}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the handler ran while open"
    );
    assert_eq!(breaker.state().rejected_total, 1);

    // After the reset timeout, a successful trial closes it.
    tokio::time::advance(6 * SECOND).await;
    healthy.store(true, Ordering::SeqCst);
    let res = app.clone().oneshot(get_req("/flaky")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(breaker.current_state(), BreakerState::Closed);
    assert_eq!(breaker.state().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn layer_times_out_slow_handlers_as_failures() {
    let breaker = CircuitBreaker::new("slow")
        .failure_threshold(2)
        .call_timeout(SECOND)
        .reset_timeout(30 * SECOND);
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(60 * SECOND).await;
                "late"
            }),
        )
        .route_layer(CircuitBreakerLayer::new(breaker.clone()));

    let started = tokio::time::Instant::now();
    let res = app.clone().oneshot(get_req("/slow")).await.unwrap();
    assert_eq!(started.elapsed(), SECOND);
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().get("retry-after").is_none());
    let body = json(res).await;
    assert!(
        body["detail"].as_str().unwrap().contains("timed out"),
        "{body}"
    );
    assert_eq!(breaker.state().consecutive_failures, 1);

    // The timeout that opens the circuit says when to come back.
    let res = app.clone().oneshot(get_req("/slow")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "30");
    assert_eq!(breaker.current_state(), BreakerState::Open);
}

#[derive(Debug, PartialEq)]
struct InnerError;

#[tokio::test(start_paused = true)]
async fn layer_passes_inner_errors_through_and_counts_them() {
    let breaker = CircuitBreaker::new("svc").failure_threshold(2);
    let inner = tower::service_fn(|req: Request<Body>| async move {
        if req.uri().path() == "/err" {
            Err(InnerError)
        } else {
            Ok::<Response, InnerError>("ok".into_response())
        }
    });
    // The error type is the inner service's own.
    let mut svc = CircuitBreakerLayer::new(breaker.clone()).layer(inner);
    let err: InnerError = svc
        .ready()
        .await
        .unwrap()
        .call(get_req("/err"))
        .await
        .unwrap_err();
    assert_eq!(err, InnerError);
    assert_eq!(breaker.state().consecutive_failures, 1);
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(get_req("/ok"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(breaker.state().consecutive_failures, 0);
    for _ in 0..2 {
        svc.ready()
            .await
            .unwrap()
            .call(get_req("/err"))
            .await
            .unwrap_err();
    }
    // Open: answered by the layer, not an error.
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(get_req("/err"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "10");
}

#[tokio::test]
async fn layer_works_with_infallible_axum_services() {
    let breaker = CircuitBreaker::new("plain");
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(tower::service_fn(
        |_req: Request<Body>| async { Ok::<_, Infallible>(StatusCode::ACCEPTED.into_response()) },
    ));
    let res = svc.oneshot(get_req("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(breaker.state().successes_total, 1);
}

#[tokio::test(start_paused = true)]
async fn snapshot_json_is_camel_case_with_rfc3339_times() {
    let b = CircuitBreaker::new("db")
        .failure_threshold(1)
        .reset_timeout(SECOND);
    let closed = serde_json::to_value(b.state()).unwrap();
    assert_eq!(
        closed,
        serde_json::json!({
            "name": "db",
            "state": "closed",
            "consecutiveFailures": 0,
            "openedAt": null,
            "lastTransition": null,
            "transitionsTotal": 0,
            "rejectedTotal": 0,
            "failuresTotal": 0,
            "successesTotal": 0,
        })
    );

    trip(&b).await;
    let open = serde_json::to_value(b.state()).unwrap();
    assert_eq!(open["state"], "open");
    let opened_at = open["openedAt"].as_str().unwrap();
    humantime::parse_rfc3339(opened_at).unwrap();
    assert!(opened_at.ends_with('Z'), "{opened_at}");
    assert_eq!(open["lastTransition"], open["openedAt"]);
    assert_eq!(open["consecutiveFailures"], 1);
    assert_eq!(open["failuresTotal"], 1);

    tokio::time::advance(SECOND).await;
    assert_eq!(
        serde_json::to_value(b.state()).unwrap()["state"],
        "halfOpen"
    );
    let transitions = serde_json::to_value(b.transitions()).unwrap();
    assert_eq!(transitions[1]["from"], "open");
    assert_eq!(transitions[1]["to"], "halfOpen");
    assert!(transitions[1]["at"].is_string());
}

#[tokio::test]
async fn registry_lists_breakers_in_order_and_replaces_by_name() {
    let registry = BreakerRegistry::new();
    let db = registry.register(CircuitBreaker::new("db"));
    registry.register(CircuitBreaker::new("payments"));
    assert_eq!(ok(&db).await, Ok(1));
    let snapshots: Vec<BreakerSnapshot> = registry.clone().snapshots();
    let names: Vec<&str> = snapshots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "payments"]);
    assert_eq!(snapshots[0].successes_total, 1);

    registry.register(CircuitBreaker::new("db"));
    let snapshots = registry.snapshots();
    assert_eq!(snapshots.len(), 2);
    assert_eq!(snapshots[0].successes_total, 0);
    assert!(registry.get("payments").is_some());
    assert!(registry.get("nope").is_none());
}
