//! Recording a request for a route, method, status class and organization already seen
//! allocates nothing. Proven with a counting global allocator.

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vitals::{Method, Monitor, RequestSample, RouteKey};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn recording_a_known_route_allocates_nothing() {
    let monitor = Monitor::default();
    let start = Instant::now();
    let sample = |micros: u64| RequestSample {
        method: Method::Get,
        route: RouteKey::Template("/api/orgs/{orgId}/properties/{propertyId}"),
        status: 200,
        start,
        duration: Duration::from_micros(micros),
        organization: Some("acme"),
        tenant_source: vitals::TenantSource::Observed,
        correlation_id: "0b6f9c1e-3c57-4c0e-9d55-0c1f6b3a8e11",
        trace_id: Some([1; 16]),
        ..RequestSample::default()
    };
    // Warm up: the first requests create the series and the histogram chunks they touch.
    for micros in 100..200 {
        monitor.record(&sample(micros));
    }
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..10_000 {
        for micros in 100..200 {
            monitor.record(&sample(micros));
        }
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
    assert_eq!(monitor.recorded(), 1_000_100);

    // Made-up tenants on client errors mint nothing: they count under the overflow series,
    // without an allocation (the application's known-tenant hook is asked, and says no).
    let monitor = Monitor::new(vitals::MonitorConfig::default().is_known_tenant(|id| id == "acme"));
    let strangers: Vec<String> = (0..1_000).map(|i| format!("stranger-{i}")).collect();
    let stranger = |org: &'static str| RequestSample {
        status: 404,
        organization: Some(org),
        ..sample(150)
    };
    let strangers: Vec<&'static str> = strangers.into_iter().map(|s| &*s.leak()).collect();
    for org in &strangers[..10] {
        monitor.record(&stranger(org));
    }
    COUNTING.store(true, Ordering::SeqCst);
    for org in &strangers {
        monitor.record(&stranger(org));
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
    assert_eq!(monitor.memory().organizations, 0);
}
