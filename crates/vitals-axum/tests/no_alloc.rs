//! `MonitorLayer` adds no allocation to a request for a known route in the steady state, but for
//! the histogram chunks a latency touches for the first time (a bounded, one-off cost): a small
//! buffered response allocates as often as under a layer that does nothing (any layer under
//! `Router::layer` costs axum's boxing of the route), and a streamed one as often as under a
//! layer that only wraps the body (which any body-timing layer must do). Counted with a global
//! allocator that counts this thread's allocations.

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt as _;
use tower::{Service, ServiceExt};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn requests(n: usize, path: &str, with_id: bool) -> Vec<Request<Body>> {
    (0..n)
        .map(|i| {
            let mut req = Request::get(path);
            if with_id {
                req = req.header("x-request-id", format!("client-id-{i}"));
            }
            req.body(Body::empty()).unwrap()
        })
        .collect()
}

/// Counted requests per variant.
const N: usize = 500;

/// First touches of histogram chunks that a run may hit (the latency of a debug build
/// wanders): well under one per request.
const CHUNK_FIRST_TOUCHES: u64 = 24;

/// Allocations for `N` requests through `app`, after a warm-up of as many.
async fn allocations(app: Router, path: &str, with_id: bool) -> u64 {
    // As `axum::serve` does: resolve the handlers once, not per request.
    let mut app = app.with_state(());
    for (counted, batch) in [
        (false, requests(N, path, with_id)),
        (true, requests(N, path, with_id)),
    ] {
        ALLOCATIONS.with(|n| n.set(0));
        COUNTING.with(|on| on.set(counted));
        for req in batch {
            let res = ServiceExt::<Request<Body>>::ready(&mut app)
                .await
                .unwrap()
                .call(req)
                .await
                .unwrap();
            let mut body = res.into_body();
            while let Some(frame) = body.frame().await {
                drop(frame.unwrap());
            }
        }
        COUNTING.with(|on| on.set(false));
    }
    ALLOCATIONS.with(Cell::get)
}

const SMALL: &str = "/orgs/acme/items/7";
const STREAMED: &str = "/orgs/acme/items/7/stream";

fn routes() -> Router {
    Router::new()
        .route(
            "/orgs/{orgId}/items/{id}",
            get(|| async { "an item of a known tenant" }),
        )
        .route(
            "/orgs/{orgId}/items/{id}/stream",
            get(|| async {
                let chunks = ["an item ", "in chunks"].map(Ok::<_, std::io::Error>);
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
}

#[tokio::test(flavor = "current_thread")]
async fn the_monitor_allocates_no_more_than_the_layer_it_must_be() {
    let nothing = || {
        routes().layer(tower::util::MapResponseLayer::new(
            |res: axum::response::Response| res,
        ))
    };
    // Wraps the body and, as the monitor echoes the request id, adds a header (the streamed
    // response has none, so the first one allocates the header map).
    let passthrough = || {
        routes().layer(tower::util::MapResponseLayer::new(
            |mut res: axum::response::Response| {
                res.headers_mut().insert(
                    http::HeaderName::from_static("x-request-id"),
                    http::HeaderValue::from_static("client-id"),
                );
                // `map_err` with the identity: a wrapper that forwards every call, size hint
                // included, so axum treats the response as without the layer.
                res.map(|inner| Body::new(inner.map_err(std::convert::identity)))
            },
        ))
    };
    let monitor = vitals::Monitor::default();
    let monitored = routes().layer(vitals_axum::MonitorLayer::new(monitor.clone()));
    let within = |count: u64, floor: u64| (floor..=floor + CHUNK_FIRST_TOUCHES).contains(&count);

    // A small buffered body: recorded at once, the body passed through untouched.
    let floor = allocations(nothing(), SMALL, true).await;
    assert!(floor >= N as u64, "the counter counts: {floor}");
    let small = allocations(monitored.clone(), SMALL, true).await;
    assert!(
        within(small, floor),
        "{N} small responses: MonitorLayer with a client's x-request-id made {small} \
         allocations, a layer that does nothing {floor}"
    );
    // A generated id is echoed in a header value cut from the thread's 4 KiB header buffer:
    // two allocations (the buffer and its shared header) per buffer of 256 ids (16 bytes
    // each), none per id.
    let generated = allocations(monitored.clone(), SMALL, false).await;
    let refills = 2 * (N as u64 * 16).div_ceil(4096);
    assert!(
        (floor..=floor + refills + CHUNK_FIRST_TOUCHES).contains(&generated),
        "{N} requests with generated ids: {generated} allocations, expected {floor} plus at \
         most {refills} for header buffers"
    );
    // A streamed body: timed to its end, through a wrapper, as a pass-through body costs.
    let floor = allocations(passthrough(), STREAMED, true).await;
    let streamed = allocations(monitored, STREAMED, true).await;
    assert!(
        within(streamed, floor),
        "{N} streamed responses: MonitorLayer made {streamed} allocations, a pass-through \
         body layer {floor}"
    );

    // Every request was recorded, under its template and the tenant.
    let stats = monitor.route_stats(vitals::Window::SinceStart);
    let count = |route: &str| {
        stats
            .iter()
            .find(|r| &*r.route == route)
            .map(|r| r.stats.count)
    };
    assert_eq!(count("/orgs/{orgId}/items/{id}"), Some(4 * N as u64));
    assert_eq!(count("/orgs/{orgId}/items/{id}/stream"), Some(2 * N as u64));
    let orgs = monitor.organizations();
    let acme = orgs
        .iter()
        .find(|o| &*o.organization_id == "acme")
        .expect("tenant recorded");
    assert_eq!(acme.since_start.count, 6 * N as u64);
}
