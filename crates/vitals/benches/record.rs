//! Cost of recording one request: one thread, and two threads recording into the same series.
//!
//! `cargo bench -p vitals-core --bench record`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use vitals::{Method, Monitor, Polls, RequestSample, RouteKey};

/// A request as the axum layer hands over a fast one: answered in one poll (shorter than a
/// tenth of the blocking threshold, so the route's poll totals are not touched), not measured.
fn sample(start: Instant, i: u64) -> RequestSample<'static> {
    let duration = Duration::from_nanos(200_000 + (i * 7_919) % 2_000_000);
    RequestSample {
        method: Method::Get,
        route: RouteKey::Template("/api/orgs/{orgId}/properties/{propertyId}"),
        status: 200,
        start,
        duration,
        organization: Some("acme"),
        tenant_source: vitals::TenantSource::Observed,
        correlation_id: "0b6f9c1e-3c57-4c0e-9d55-0c1f6b3a8e11",
        polls: Some(Polls {
            count: 1,
            longest: duration.min(Duration::from_micros(500)),
            busy: duration.min(Duration::from_micros(500)),
        }),
        ..RequestSample::default()
    }
}

fn record(c: &mut Criterion) {
    let monitor = Monitor::default();
    let start = Instant::now();
    for i in 0..10_000 {
        monitor.record(&sample(start, i)); // warm: series and chunks exist
    }
    let mut group = c.benchmark_group("record");
    let mut i = 0u64;
    group.bench_function("one_thread", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            monitor.record(black_box(&sample(start, i)));
        });
    });

    // A second thread records into the same series the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(2));
    let background = {
        let (monitor, stop, ready) = (monitor.clone(), Arc::clone(&stop), Arc::clone(&ready));
        std::thread::spawn(move || {
            ready.wait();
            let mut j = 0u64;
            while !stop.load(Ordering::Relaxed) {
                j = j.wrapping_add(1);
                monitor.record(&sample(start, j));
            }
        })
    };
    ready.wait();
    group.bench_function("two_threads_contending", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            monitor.record(black_box(&sample(start, i)));
        });
    });
    stop.store(true, Ordering::Relaxed);
    background.join().unwrap();
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
