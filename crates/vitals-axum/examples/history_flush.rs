//! The minute flush of history (feature `history`) for 500 routes × 3 methods and 100 tenants
//! (printed, not judged): how long `Monitor::minute_report` takes (the only part that reads
//! what the request path writes), how long the whole flush takes (report, points, one SQLite
//! transaction), and what a thread recording requests meanwhile sees: its rate and its longest
//! `record()` call with and without flushes running, since the flush takes no lock that
//! `record()` takes (the report reads atomics under papaya's epoch pins, which never block a
//! writer; the flusher's own mutex and the store are touched by the history task only).
//!
//! `cargo run --release -p vitals-axum --features history --example history_flush -- [rounds]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vitals::{AtomicHistogram, Method, Monitor, RequestSample, RouteKey};
use vitals_axum::Vitals;
use vitals_store::StoreConfig;

const ROUTES: usize = 500;
const METHODS: [Method; 3] = [Method::Get, Method::Post, Method::Put];
const TENANTS: usize = 100;
/// Requests per route and method per round (60,000 a round).
const PER_SERIES: usize = 40;

/// One round of traffic: every route and method, tenants in turn.
fn traffic(monitor: &Monitor, routes: &[String], tenants: &[String], seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let now = Instant::now();
    for (i, route) in routes.iter().enumerate() {
        for n in 0..PER_SERIES {
            monitor.record(&RequestSample {
                method: METHODS[i % 3],
                route: RouteKey::Template(route),
                status: if rng.u32(..100) == 0 { 500 } else { 200 },
                start: now,
                duration: Duration::from_micros(500 + rng.u64(..200_000)),
                organization: Some(&tenants[(i + n) % TENANTS]),
                ..RequestSample::default()
            });
        }
    }
}

/// Records on the calling thread until `stop`, each call's duration into `calls`; returns
/// how many.
fn recorder(monitor: &Monitor, stop: &AtomicBool, calls: &AtomicHistogram) -> u64 {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        monitor.record(&RequestSample {
            method: Method::Get,
            route: RouteKey::Template("/hot/{id}"),
            status: 200,
            start: t,
            duration: Duration::from_micros(700),
            ..RequestSample::default()
        });
        calls.record(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        n += 1;
    }
    n
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(10, |a| a.parse().expect("rounds"));
    let dir = tempfile::tempdir().expect("temp dir");
    // Built outside a runtime: no background tasks, the flushes below are the only ones.
    let vitals = Vitals::builder()
        .history_at(dir.path().join("history.sqlite"), StoreConfig::default())
        .build();
    let monitor = vitals.monitor().clone();
    let routes: Vec<String> = (0..ROUTES * 3)
        .map(|i| format!("/api/v1/resource{}/{{id}}", i / 3))
        .collect();
    let tenants: Vec<String> = (0..TENANTS).map(|t| format!("tenant-{t:03}")).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");

    let mut reports = Vec::new();
    let mut flushes = Vec::new();
    let mut series = 0;
    for round in 0..rounds {
        traffic(&monitor, &routes, &tenants, round as u64);
        let t = Instant::now();
        let report = monitor.minute_report(monitor.current_minute(), TENANTS);
        reports.push(t.elapsed());
        series = report.routes.len() + report.organizations.len() + 1;
        let t = Instant::now();
        runtime.block_on(vitals.flush_history());
        flushes.push(t.elapsed());
    }
    println!(
        "{rounds} rounds of {} requests; each flush writes {series} series",
        ROUTES * 3 * PER_SERIES
    );
    println!(
        "minute_report (reads the request path's atomics): median {:.2} ms, max {:.2} ms",
        ms(median(reports.clone())),
        ms(*reports.iter().max().unwrap()),
    );
    println!(
        "whole flush (report + points + one SQLite transaction): median {:.1} ms, max {:.1} ms",
        ms(median(flushes.clone())),
        ms(*flushes.iter().max().unwrap()),
    );

    // A recording thread, first alone, then while flushes run back to back.
    let stop = Arc::new(AtomicBool::new(false));
    for phase in ["alone", "during flushes"] {
        stop.store(false, Ordering::Relaxed);
        let calls = Arc::new(AtomicHistogram::new());
        let (m, s, l) = (monitor.clone(), Arc::clone(&stop), Arc::clone(&calls));
        let thread = std::thread::spawn(move || recorder(&m, &s, &l));
        let start = Instant::now();
        if phase == "alone" {
            std::thread::sleep(Duration::from_secs(2));
        } else {
            // Reports of the full minute, and flushes (which report again), back to back.
            while start.elapsed() < Duration::from_secs(2) {
                let _ = monitor.minute_report(monitor.current_minute(), TENANTS);
                runtime.block_on(vitals.flush_history());
            }
        }
        stop.store(true, Ordering::Relaxed);
        let n = thread.join().expect("recorder");
        let snap = calls.snapshot();
        let q = |q: f64| snap.quantile(q).unwrap_or(0) as f64 / 1e3;
        println!(
            "recorder {phase}: {:.2} M records/s; record() p50 {:.2} µs, p99 {:.2} µs, \
             p99.9 {:.2} µs, max {:.0} µs",
            n as f64 / start.elapsed().as_secs_f64() / 1e6,
            q(0.5),
            q(0.99),
            q(0.999),
            q(1.0),
        );
    }
}
