//! A flood of 100,000 distinct label values through the layer path: every request names a new
//! organization (read by tenant attribution) and a new search term (a label keyed by user
//! input). The registry's caps hold, `/metrics` stays within the documented bound, and once the
//! caps are full the live heap stops growing with the flood.
//!
//! Alone in its test binary: it counts the heap of the whole process.

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vitals_axum::vitals_metrics::{Config, Registry, TenantScope};
use vitals_axum::{OperatorAuth, Vitals, metrics_config};

/// Live heap bytes of the process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        debug_assert!(
            layout.size() > 0,
            "GlobalAlloc::alloc is never called for zero bytes"
        );
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        debug_assert!(!ptr.is_null(), "dealloc of a null pointer");
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        debug_assert!(!ptr.is_null(), "realloc of a null pointer");
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TOKEN: &str = "flood-token";
const FLOOD: usize = 100_000;
/// Distinct values sent before the heap is measured: past every cap (the registry's 1,000 label
/// sets per name and 100 tenants, the monitor's 10,000 organizations).
const WARM_UP: usize = 20_000;

#[derive(serde::Deserialize)]
struct Search {
    q: String,
}

#[test]
fn a_flood_of_distinct_label_values_stays_within_the_caps() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::new(metrics_config(
        Config::default()
            .tenant_scope(TenantScope::Names(vec!["searches_by_tenant".into()]))
            .tenant_label("organization"),
    ));
    let _local = metrics::set_default_local_recorder(&registry);
    let limits = Config::default().limits();
    runtime.block_on(async {
        let vitals = Vitals::builder()
            .operator_auth(OperatorAuth::token(TOKEN))
            .metrics_registry(registry.clone())
            .build();
        let app: Router = Router::new()
            .route(
                "/api/orgs/{orgId}/search",
                get(
                    |Path(org): Path<String>, Query(search): Query<Search>| async move {
                        // Vouched for, as an auth layer would: labelled from the first request.
                        assert!(vitals_axum::Organization::new(&org).set_current());
                        metrics::counter!("searches", "term" => search.q).increment(1);
                        metrics::counter!("searches_by_tenant").increment(1);
                        StatusCode::OK
                    },
                ),
            )
            .merge(vitals.router())
            .layer(vitals.layers());
        let mut heap_after_warm_up = 0;
        for i in 0..FLOOD {
            if i == WARM_UP {
                heap_after_warm_up = LIVE.load(Ordering::Relaxed);
            }
            // 100-byte terms, each distinct.
            let uri = format!("/api/orgs/org-{i}/search?q=term-{i:0>95}");
            let response = app
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        let growth = LIVE.load(Ordering::Relaxed) - heap_after_warm_up;

        let snapshot = registry.snapshot();
        let series_of = |name: &str| {
            snapshot
                .families
                .iter()
                .find(|f| f.name == name)
                .map_or(0, |f| f.series.len())
        };
        // 1,000 label sets plus the overflow series; the tenants vitals names (the first 100,
        // `top_tenants`, until the first choice a minute after start) plus `(other)`.
        let top_tenants = vitals.monitor().config().top_tenants;
        assert_eq!(series_of("searches"), limits.max_label_sets + 1);
        assert_eq!(series_of("searches_by_tenant"), top_tenants + 1);
        assert_eq!(snapshot.overflowed, (FLOOD - limits.max_label_sets) as u64);

        let response = app
            .clone()
            .oneshot(
                Request::get("/metrics")
                    .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let text = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(text.to_vec()).unwrap();
        let custom_lines = text.lines().filter(|l| l.starts_with("searches")).count();
        assert_eq!(
            custom_lines,
            limits.max_label_sets + 1 + top_tenants + 1,
            "one line per series"
        );
        let longest = text
            .lines()
            .filter(|l| l.starts_with("searches"))
            .map(str::len)
            .max()
            .unwrap();
        assert!(longest <= 352, "a line of {longest} bytes");
        // Once every cap is full, 80,000 more distinct values leave the live heap where it was
        // (give or take the buffers of a request in flight).
        eprintln!(
            "flood: {FLOOD} requests, heap growth after the first {WARM_UP}: {growth} bytes; \
             /metrics {} bytes, {} lines ({custom_lines} application series lines)",
            text.len(),
            text.lines().count()
        );
        assert!(
            growth < 256 * 1024,
            "the heap grew by {growth} bytes after the caps were full"
        );
    });
}
