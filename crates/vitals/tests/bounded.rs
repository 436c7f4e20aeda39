//! A client that sends a million distinct paths and tenant ids cannot grow the monitor past its
//! documented bound: routes and tenants beyond their caps fold into one overflow series.

use std::time::{Duration, Instant};

use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey, Window};

#[test]
fn a_million_distinct_paths_and_tenants_stay_within_the_caps() {
    let config = MonitorConfig::default();
    let (max_routes, max_orgs) = (config.max_routes, config.max_organizations);
    let monitor = Monitor::new(config);
    let start = Instant::now();
    let mut path = String::new();
    let mut org = String::new();
    for i in 0..1_000_000u32 {
        use std::fmt::Write;
        path.clear();
        org.clear();
        // Literal words the normalizer cannot fold: each is a new candidate route.
        write!(path, "/page{}/view", i % 200_000).unwrap();
        write!(org, "tenant{i}").unwrap();
        monitor.record(&RequestSample {
            method: Method::Get,
            route: RouteKey::Path(&path),
            status: 200,
            start,
            duration: Duration::from_micros(u64::from(100 + i % 5_000)),
            organization: Some(&org),
            tenant_source: vitals::TenantSource::Observed,
            correlation_id: "",
            trace_id: None,
            aborted: false,
            panicked: false,
            resources: None,
            polls: None,
        });
    }
    let memory = monitor.memory();
    assert_eq!(
        memory.routes,
        max_routes + 2,
        "named routes + unmatched + overflow"
    );
    assert_eq!(memory.organizations, max_orgs);
    // Documented bound for series that saw requests in one minute only: 1.5 KB per tenant and
    // 12 KB per route series (ARCHITECTURE.md, "Memory bound").
    let bound = max_orgs * 1_536 + (max_routes + 2) * 12 * 1_024;
    println!("{memory:?}");
    assert!(
        memory.series_bytes <= bound,
        "{} > {bound}",
        memory.series_bytes
    );
    let all = monitor.overall(Window::SinceStart);
    assert_eq!(all.count, 1_000_000);
    let overflow = monitor.organization_stats(vitals::OVERFLOW).unwrap();
    assert_eq!(overflow.since_start.count, 1_000_000 - max_orgs as u64);
    // `/metrics` names the top tenants and folds the rest into `(other)`, which counts every
    // request not named.
    let exposed = monitor.tenant_counts();
    let top = monitor.config().top_tenants;
    assert_eq!(exposed.len(), top + 1);
    assert_eq!(exposed.iter().map(|(_, c)| c.count).sum::<u64>(), 1_000_000);
    let other = exposed
        .iter()
        .find(|(id, _)| &**id == vitals::OTHER)
        .unwrap();
    assert_eq!(other.1.count, 1_000_000 - top as u64);
}
