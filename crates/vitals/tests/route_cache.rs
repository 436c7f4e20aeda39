//! The per-thread route cache must never credit one monitor's route to another, nor one
//! route's requests to another route with a similar name (same length, same last byte: the
//! same cache slot).

use vitals::{Monitor, RequestSample, RouteKey, Window};

fn counts(monitor: &Monitor) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = monitor
        .route_stats(Window::SinceStart)
        .into_iter()
        .filter(|r| r.stats.count > 0)
        .map(|r| (r.route.to_string(), r.stats.count))
        .collect();
    out.sort();
    out
}

#[test]
fn two_monitors_on_one_thread_keep_their_own_counts() {
    let (a, b) = (Monitor::default(), Monitor::default());
    for i in 0..10 {
        let monitor = if i % 2 == 0 { &a } else { &b };
        monitor.record(&RequestSample {
            route: RouteKey::Template("/items/{id}"),
            ..RequestSample::default()
        });
    }
    assert_eq!(counts(&a), vec![("/items/{id}".to_owned(), 5)]);
    assert_eq!(counts(&b), vec![("/items/{id}".to_owned(), 5)]);
}

#[test]
fn routes_sharing_a_cache_slot_are_told_apart() {
    let monitor = Monitor::default();
    // Same length and last byte: the same slot of the direct-mapped cache.
    let routes = ["/a/{x}", "/b/{x}", "/c/{x}"];
    for i in 0..30 {
        monitor.record(&RequestSample {
            route: RouteKey::Template(routes[i % 3]),
            ..RequestSample::default()
        });
    }
    assert_eq!(
        counts(&monitor),
        vec![
            ("/a/{x}".to_owned(), 10),
            ("/b/{x}".to_owned(), 10),
            ("/c/{x}".to_owned(), 10)
        ]
    );
}

#[test]
fn a_new_monitor_does_not_find_a_dropped_ones_routes() {
    let one = |monitor: &Monitor| {
        monitor.record(&RequestSample {
            route: RouteKey::Template("/reused"),
            ..RequestSample::default()
        });
    };
    let old = Monitor::default();
    one(&old);
    one(&old);
    drop(old);
    // Likely at the old one's address; the cache keys by a per-monitor id, not the address.
    let new = Monitor::default();
    one(&new);
    assert_eq!(counts(&new), vec![("/reused".to_owned(), 1)]);
}
