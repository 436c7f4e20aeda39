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
        busy: Duration::from_micros(longest_us * u64::from(count)),
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
    // Under a tenth of the blocking threshold, unmeasured: busy time only.
    let fast = totals("/fast").expect("every timed request adds its busy time");
    assert_eq!((fast.timed, fast.measured), (1, 0));
    assert!((fast.busy_ms_total - 0.5).abs() < 1e-9);
    assert_eq!(fast.longest_poll_ms, 0.0, "a fast poll is not a long one");
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

#[test]
fn busy_time_is_kept_per_request_and_route_and_flags_high_cpu_when_not_measured() {
    let monitor = Monitor::default(); // high CPU above 100 ms
    // Unmeasured, 3 polls of up to 80 ms, 210 ms busy in all: high CPU by busy time.
    record(
        &monitor,
        "/burn",
        Polls {
            count: 3,
            longest: Duration::from_millis(80),
            busy: Duration::from_millis(210),
        },
        None,
    );
    // One poll of 150 ms: its busy time is that poll (kept to the µs in the ring).
    record(&monitor, "/burn", polls(1, 150_000), None);
    // Measured: the CPU time decides, even when busy time is over the threshold.
    record(
        &monitor,
        "/burn",
        polls(2, 100_000),
        Some(Resources {
            cpu: Duration::from_millis(5),
            ..Resources::default()
        }),
    );
    record(&monitor, "/idle", polls(2, 1_000), None);

    let recent = monitor.recent();
    let burn: Vec<_> = recent.iter().filter(|r| &*r.route == "/burn").collect();
    assert_eq!(
        burn[0].polls.map(|p| p.busy),
        Some(Duration::from_millis(210))
    );
    assert!(burn[0].is_high_cpu);
    assert_eq!(
        burn[1].polls.map(|p| p.busy),
        Some(Duration::from_millis(150))
    );
    assert!(burn[1].is_high_cpu);
    assert!(!burn[2].is_high_cpu, "measured CPU 5 ms: not high");
    let json = serde_json::to_value(burn[0]).unwrap();
    assert_eq!(json["busyMs"], 210.0);
    assert_eq!(json["highCpuFrom"], "busy");
    assert_eq!(json["resourcesMeasured"], false);
    let json = serde_json::to_value(burn[2]).unwrap();
    assert_eq!(json["highCpuFrom"], "cpu");
    let idle = recent.iter().find(|r| &*r.route == "/idle").unwrap();
    assert!(!idle.is_high_cpu);

    let stats = monitor.route_stats(Window::SinceStart);
    let burn = stats
        .iter()
        .find(|s| &*s.route == "/burn")
        .and_then(|s| s.resources)
        .expect("totals");
    assert_eq!(burn.timed, 3);
    assert!((burn.busy_ms_total - 560.0).abs() < 1e-6, "{burn:?}");
    assert_eq!(burn.high_cpu, 2, "two by busy time, none by measured CPU");
}
