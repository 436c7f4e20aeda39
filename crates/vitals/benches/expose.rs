//! Cost of rendering `/metrics` for a large monitor: 500 route templates × 3 methods (GET,
//! POST, PUT) × 5 status classes (1xx..5xx) = 7,500 request series, plus 1,000 organizations.
//! The requirement is that the whole render takes under 5 ms.
//!
//! Benchmarks, in group `expose`:
//!
//! - `families`: building the metric model ([`vitals::metric_families`]), including
//!   dropping it;
//! - `encode_text`: rendering prebuilt families in the Prometheus text format 0.0.4;
//! - `families_and_encode_text`: both, into a `String` whose capacity is reused (one scrape);
//! - `families_and_encode_openmetrics`: the same in OpenMetrics 1.0 text;
//! - `render_text`, `render_openmetrics`: the direct renderer
//!   ([`vitals::render_metrics`]), which writes the same bytes as the two above, into
//!   a `String` whose capacity is reused.
//!
//! `cargo bench -p vitals-core --bench expose -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey};
use vitals::{
    MetricsFormat as Format, encode_openmetrics, encode_text, metric_families as families,
    render_metrics as render,
};

const ROUTES: usize = 500;
const METHODS: [Method; 3] = [Method::Get, Method::Post, Method::Put];
/// One status per class, 1xx..5xx.
const STATUSES: [u16; 5] = [101, 200, 301, 404, 500];
const ORGANIZATIONS: usize = 1_000;
/// Requests per (route, method, status class) series.
const REQUESTS_PER_SERIES: u64 = 4;

/// A monitor holding exactly 7,500 request series and 1,000 organization series.
fn populated_monitor() -> Monitor {
    let monitor = Monitor::new(MonitorConfig::default().max_routes(1000));
    let templates: Vec<String> = (0..ROUTES)
        .map(|i| format!("/api/v1/resource{i}/{{id}}/items"))
        .collect();
    let organizations: Vec<String> = (0..ORGANIZATIONS).map(|i| format!("org-{i:04}")).collect();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut next_org = 0;
    let start = Instant::now();
    for template in &templates {
        for method in METHODS {
            for status in STATUSES {
                for _ in 0..REQUESTS_PER_SERIES {
                    // Log-uniform from 100 µs to ~10 s, so every histogram spreads over buckets.
                    let duration = Duration::from_nanos((1e5 * 10f64.powf(rng.f64() * 5.0)) as u64);
                    // A 404 never creates an organization series: give organizations the rest,
                    // round robin, so each of the 1,000 gets requests.
                    let organization = (status != 404).then(|| {
                        next_org = (next_org + 1) % ORGANIZATIONS;
                        organizations[next_org].as_str()
                    });
                    monitor.record(&RequestSample {
                        method,
                        route: RouteKey::Template(template),
                        status,
                        start,
                        duration,
                        organization,
                        correlation_id: "0b6f9c1e-3c57-4c0e-9d55-0c1f6b3a8e11",
                        ..RequestSample::default()
                    });
                }
            }
        }
    }
    assert_eq!(
        monitor.series().len(),
        ROUTES * METHODS.len() * STATUSES.len()
    );
    assert_eq!(monitor.organization_counts().len(), ORGANIZATIONS);
    monitor
}

fn expose(c: &mut Criterion) {
    let monitor = populated_monitor();
    let prebuilt = families(&monitor, None);
    let mut body = String::new();
    encode_text(&prebuilt, &mut body);
    eprintln!(
        "expose: text output of {} series and {} organizations: {} lines, {} bytes",
        monitor.series().len(),
        monitor.organization_counts().len(),
        body.lines().count(),
        body.len()
    );
    for format in [Format::Text, Format::OpenMetrics] {
        let mut expected = String::new();
        format.encode(&prebuilt, &mut expected);
        let mut rendered = String::new();
        render(&monitor, None, format, &mut rendered);
        assert!(
            rendered == expected,
            "render differs from families + encode ({format:?})"
        );
    }

    let mut group = c.benchmark_group("expose");
    group.sample_size(20);
    group.bench_function("families", |b| {
        b.iter(|| families(black_box(&monitor), None));
    });
    group.bench_function("encode_text", |b| {
        b.iter(|| {
            body.clear();
            encode_text(black_box(&prebuilt), &mut body);
            black_box(body.len())
        });
    });
    group.bench_function("families_and_encode_text", |b| {
        b.iter(|| {
            body.clear();
            encode_text(&families(black_box(&monitor), None), &mut body);
            black_box(body.len())
        });
    });
    group.bench_function("families_and_encode_openmetrics", |b| {
        b.iter(|| {
            body.clear();
            encode_openmetrics(&families(black_box(&monitor), None), &mut body);
            black_box(body.len())
        });
    });
    group.bench_function("render_text", |b| {
        b.iter(|| {
            body.clear();
            render(black_box(&monitor), None, Format::Text, &mut body);
            black_box(body.len())
        });
    });
    group.bench_function("render_openmetrics", |b| {
        b.iter(|| {
            body.clear();
            render(black_box(&monitor), None, Format::OpenMetrics, &mut body);
            black_box(body.len())
        });
    });
    group.finish();
}

criterion_group!(benches, expose);
criterion_main!(benches);
