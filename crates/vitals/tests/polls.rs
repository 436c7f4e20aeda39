//! Poll figures: what a request's record keeps of them, when a route gets resource totals, and
//! how blocking is counted.

use std::time::{Duration, Instant};

use vitals::{Method, Monitor, Polls, RequestSample, Resources, RouteKey, Window};

fn record(monitor: &Monitor, route: &'static str, polls: Polls, resources: Option<Resources>) {
    monitor.record(&RequestSample {
        method: Method::Get,
        route: RouteKey::Template(route),
        status: 200,
        start: Instant::now(),
        duration: polls.longest * 2,
        polls: Some(polls),
        resources,
        ..RequestSample::default()
    });
}

fn polls(count: u32, longest_us: u64) -> Polls {
    Polls {
        count,
        longest: Duration::from_micros(longest_us),
    }
}

#[test]
fn records_keep_polls_and_routes_count_long_polls_only() {
    let monitor = Monitor::default(); // blocking threshold 10 ms
    record(&monitor, "/fast", polls(1, 500), None);
    record(&monitor, "/some", polls(3, 2_000), None);
    record(&monitor, "/blocks", polls(1, 20_000), None);
    record(&monitor, "/blocks", polls(2, 30_000), None);
    record(
        &monitor,
        "/measured",
        polls(4, 100),
        Some(Resources {
            cpu: Duration::from_millis(3),
            allocated_bytes: Some(4_096),
            freed_bytes: Some(1_024),
        }),
    );

    // Measured without an allocator that counts per thread: no allocation means, not zeros.
    record(
        &monitor,
        "/cpu-only",
        polls(1, 100),
        Some(Resources {
            cpu: Duration::from_millis(1),
            allocated_bytes: None,
            freed_bytes: None,
        }),
    );

    let recent = monitor.recent();
    let by = |route: &str| -> Vec<_> { recent.iter().filter(|r| &*r.route == route).collect() };
    // Every record keeps its own polls, whatever their length (µs resolution).
    assert_eq!(by("/fast")[0].polls, Some(polls(1, 500)));
    assert!(!by("/fast")[0].blocked_runtime);
    assert_eq!(by("/some")[0].polls, Some(polls(3, 2_000)));
    assert_eq!(
        by("/blocks").iter().filter(|r| r.blocked_runtime).count(),
        2
    );
    let measured = by("/measured")[0];
    assert_eq!(measured.polls, Some(polls(4, 100)));
    let r = measured.resources.expect("measured");
    assert_eq!(r.cpu, Duration::from_millis(3));
    assert_eq!(
        (r.allocated_bytes, r.freed_bytes),
        (Some(4_096), Some(1_024))
    );

    let stats = monitor.route_stats(Window::SinceStart);
    let totals = |route: &str| {
        stats
            .iter()
            .find(|s| &*s.route == route)
            .unwrap_or_else(|| panic!("no {route}"))
            .resources
    };
    // Under a tenth of the blocking threshold, unmeasured: no totals.
    assert!(totals("/fast").is_none());
    let some = totals("/some").expect("a 2 ms poll");
    assert_eq!((some.measured, some.blocked_runtime), (0, 0));
    assert!((some.longest_poll_ms - 2.0).abs() < 1e-9);
    assert_eq!(some.cpu_ms_per_request, None, "nothing measured: no means");
    let blocks = totals("/blocks").expect("blocking polls");
    assert_eq!(blocks.blocked_runtime, 2);
    assert!((blocks.longest_poll_ms - 30.0).abs() < 1e-9);
    let m = totals("/measured").expect("a measured request");
    assert_eq!(m.measured, 1);
    assert_eq!(m.cpu_ms_per_request, Some(3.0));
    assert_eq!(m.allocated_bytes_per_request, Some(4_096.0));
    assert_eq!(m.freed_bytes_per_request, Some(1_024.0));
    assert_eq!(m.polls_per_request, Some(4.0));
    let c = totals("/cpu-only").expect("a measured request");
    assert_eq!(c.measured, 1);
    assert_eq!(c.cpu_ms_per_request, Some(1.0));
    assert_eq!(c.allocated_bytes_per_request, None);
    assert_eq!(c.freed_bytes_per_request, None);
}
