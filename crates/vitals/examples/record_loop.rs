//! Records a fixed number of requests: a deterministic workload for
//! `valgrind --tool=callgrind` (instruction counts do not depend on machine noise).
//!
//! `cargo build --release -p vitals-core --example record_loop &&
//!  valgrind --tool=callgrind target/release/examples/record_loop 100000`

use std::time::{Duration, Instant};

use vitals::{Method, Monitor, Polls, RequestSample, RouteKey};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let monitor = Monitor::default();
    let start = Instant::now();
    for i in 0..n {
        let duration = Duration::from_nanos(200_000 + (i * 7_919) % 2_000_000);
        monitor.record(&RequestSample {
            method: Method::Get,
            route: RouteKey::Template("/api/orgs/{orgId}/properties/{propertyId}"),
            status: 200,
            start,
            duration,
            organization: Some("acme"),
            tenant_source: vitals::TenantSource::Observed,
            correlation_id: "0b6f9c1e-3c57-4c0e-9d55-0c1f6b3a8e11",
            trace_id: None,
            aborted: false,
            panicked: false,
            resources: None,
            // As the axum layer passes it for a request answered in one poll.
            polls: Some(Polls {
                count: 1,
                longest: duration,
                busy: duration,
            }),
        });
    }
    println!("{}", monitor.recorded());
}
