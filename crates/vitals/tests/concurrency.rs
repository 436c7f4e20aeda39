//! Many threads recording at once: counts stay exact, nothing is lost or torn.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey, Window};

#[test]
fn threads_hammering_the_recorder_keep_exact_counts() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 25_000;
    let monitor = Monitor::new(MonitorConfig::default().ring_capacity(512));
    let barrier = Arc::new(Barrier::new(THREADS));
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let monitor = monitor.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let route = ["/a/{id}", "/b", "/c/{x}/d"][i % 3];
                    let org = ["acme", "globex", "initech", "umbrella"][(i + t) % 4];
                    let status = if i % 10 == 0 { 500 } else { 200 };
                    monitor.record(&RequestSample {
                        method: if i % 2 == 0 {
                            Method::Get
                        } else {
                            Method::Post
                        },
                        route: RouteKey::Template(route),
                        status,
                        start,
                        duration: Duration::from_micros(100 + (i % 1000) as u64),
                        organization: Some(org),
                        tenant_source: vitals::TenantSource::Observed,
                        correlation_id: "x",
                        ..RequestSample::default()
                    });
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = (THREADS * PER_THREAD) as u64;
    let all = monitor.overall(Window::SinceStart);
    assert_eq!(all.count, total);
    assert_eq!(all.errors, total / 10);
    assert_eq!(monitor.overall(Window::LastMinute).count, total);
    assert_eq!(monitor.recorded(), total);

    let routes = monitor.route_stats(Window::SinceStart);
    let per_route: u64 = routes.iter().map(|r| r.stats.count).sum();
    assert_eq!(per_route, total);
    // 25,000 per thread spread over 3 routes x 2 methods; each (route, method) pair is exact.
    for r in &routes {
        let expected = (0..PER_THREAD)
            .filter(|i| ["/a/{id}", "/b", "/c/{x}/d"][i % 3] == &*r.route)
            .filter(|i| (i % 2 == 0) == (r.method == Method::Get))
            .count() as u64
            * THREADS as u64;
        assert_eq!(r.stats.count, expected, "{} {}", r.method, r.route);
        assert_eq!(r.status.success + r.status.server_error, expected);
    }
    let orgs: u64 = monitor
        .organizations()
        .iter()
        .map(|o| o.since_start.count)
        .sum();
    assert_eq!(orgs, total);
    assert_eq!(
        monitor
            .organization_stats("acme")
            .unwrap()
            .since_start
            .count,
        total / 4
    );
    assert_eq!(monitor.recent().len(), 512);
}

#[test]
fn caps_fold_routes_and_organizations_into_overflow() {
    let monitor = Monitor::new(MonitorConfig::default().max_routes(10).max_organizations(5));
    for i in 0..1_000 {
        let route = format!("/r{i}");
        let org = format!("org-{i}");
        monitor.record(&RequestSample {
            route: RouteKey::Template(&route),
            organization: Some(&org),
            ..RequestSample::default()
        });
    }
    let memory = monitor.memory();
    assert_eq!(memory.routes, 10 + 2); // named + unmatched + overflow
    assert_eq!(memory.organizations, 5);
    let overflow = monitor
        .route_stats(Window::SinceStart)
        .into_iter()
        .find(|r| &*r.route == vitals::OVERFLOW)
        .unwrap();
    assert_eq!(overflow.stats.count, 990);
    assert_eq!(
        monitor
            .organization_stats(vitals::OVERFLOW)
            .unwrap()
            .since_start
            .count,
        995
    );
}

#[test]
fn unmatched_paths_fold_into_one_series_and_404s_mint_no_tenant() {
    let monitor = Monitor::default();
    for i in 0..500 {
        let path = format!("/scan/{i}/wp-admin-{i}.php");
        let org = format!("tenant{i}");
        monitor.record(&RequestSample {
            route: if i % 2 == 0 {
                RouteKey::Unmatched
            } else {
                RouteKey::Path(&path)
            },
            status: 404,
            organization: Some(&org),
            ..RequestSample::default()
        });
    }
    let routes = monitor.route_stats(Window::SinceStart);
    assert_eq!(routes.len(), 1);
    assert_eq!(&*routes[0].route, vitals::UNMATCHED);
    assert_eq!(routes[0].stats.count, 500);
    assert_eq!(monitor.memory().organizations, 0);
}
