//! `RateLimitLayer`'s keyed state stays within its cap however many distinct keys arrive
//! between two cleanups: counted keys, refusals and live heap bytes (a counting global
//! allocator, alone in this test binary so no other test's allocations mix in).

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use tower::{Layer, Service, ServiceExt};
use vitals_axum::RateLimitLayer;

struct Counting;

/// Bytes allocated and not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);

#[allow(clippy::cast_possible_wrap)] // allocation sizes are below isize::MAX by contract
fn size(layout: Layout) -> isize {
    layout.size() as isize
}

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(size(layout), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(size(layout), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        #[allow(clippy::cast_possible_wrap)]
        LIVE.fetch_add(new_size as isize - size(layout), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

async fn ok(_req: Request<Body>) -> Result<Response, Infallible> {
    Ok("ok".into_response())
}

#[tokio::test(flavor = "current_thread")]
async fn distinct_keys_beyond_the_cap_share_one_state_and_memory_stays_bounded() {
    const CAP: usize = 5_000;
    const KEYS: u32 = 100_000;
    // A long window: no key becomes idle during the test, so only the cap bounds the table.
    let layer = RateLimitLayer::per_window(5, Duration::from_secs(600)).max_keys(CAP);
    let mut svc = layer.layer(tower::service_fn(ok));
    let request = |i: u32| {
        let mut req = Request::get("/api/x").body(Body::empty()).unwrap();
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((
            Ipv4Addr::from(0x0a00_0000 + i),
            1000,
        ))));
        req
    };
    // Warm-up: one key, so the table, the runtime and the header buffers exist before counting.
    let res = svc.ready().await.unwrap().call(request(0)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(res);
    let before = LIVE.load(Ordering::Relaxed);

    let (mut admitted, mut refused) = (0u32, 0u32);
    for i in 1..KEYS {
        let res = svc.ready().await.unwrap().call(request(i)).await.unwrap();
        match res.status() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let grown = LIVE.load(Ordering::Relaxed) - before;

    // The first CAP keys (the warm-up's included) got their own state and their first request
    // in; every later key shared the overflow state, whose burst of 5 admitted five.
    assert_eq!(layer.tracked_keys(), CAP);
    assert_eq!(admitted, (CAP as u32 - 1) + 5);
    assert_eq!(refused, KEYS - 1 - admitted);
    assert_eq!(layer.overflowed_total(), u64::from(KEYS) - CAP as u64);
    assert_eq!(layer.refused_total(), u64::from(refused));
    // The documented bound: 40 to 75 bytes per IP key, so under 75 bytes times the cap (plus
    // the table's power-of-two rounding, which the upper figure already covers).
    eprintln!("{KEYS} distinct keys, cap {CAP}: live heap grew by {grown} bytes");
    let bound = 75 * CAP as isize;
    assert!(
        grown < bound,
        "{grown} bytes grown for {KEYS} distinct keys, bound {bound}"
    );

    // A key admitted before the table filled keeps its own exact count: 4 more of its 5.
    for _ in 0..4 {
        let res = svc.ready().await.unwrap().call(request(1)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = svc.ready().await.unwrap().call(request(1)).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}
