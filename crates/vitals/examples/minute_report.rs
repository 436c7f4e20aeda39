//! Times `Monitor::minute_report` (what the history flush reads once a minute, on a blocking
//! thread) for 500 routes × 3 methods and 100 tenants, 60 requests per route and method.
//!
//! `cargo run --release -p vitals --example minute_report`

use std::time::{Duration, Instant};

use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey};

fn main() {
    let monitor = Monitor::new(MonitorConfig::default().max_routes(1_000));
    let routes: Vec<String> = (0..500).map(|i| format!("/api/r{i}/{{id}}")).collect();
    let tenants: Vec<String> = (0..100).map(|i| format!("tenant-{i}")).collect();
    let start = Instant::now();
    let mut n = 0u64;
    for route in &routes {
        for method in [Method::Get, Method::Post, Method::Put] {
            for k in 0..60u64 {
                n += 1;
                monitor.record(&RequestSample {
                    method,
                    route: RouteKey::Template(route),
                    status: if k % 50 == 0 { 503 } else { 200 },
                    start,
                    duration: Duration::from_micros(500 + (n * 7_919) % 200_000),
                    organization: Some(&tenants[(n % 100) as usize]),
                    ..RequestSample::default()
                });
            }
        }
    }
    let minute = monitor.current_minute();
    let mut times = Vec::new();
    let mut report = monitor.minute_report(minute, 100);
    for _ in 0..20 {
        let t = Instant::now();
        report = monitor.minute_report(minute, 100);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{n} requests; minute_report: {} route points, {} tenant points; median {:?}, max {:?} (20 runs)",
        report.routes.len(),
        report.organizations.len(),
        times[times.len() / 2],
        times[times.len() - 1],
    );
}
