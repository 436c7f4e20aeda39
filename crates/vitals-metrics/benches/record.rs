//! Cost of recording through the `metrics` facade into vitals-metrics.
//!
//! `cargo bench -p vitals-metrics --bench record`
//!
//! - `handle_increment`: a `metrics::Counter` kept from `register_counter` (one atomic add);
//! - `macro_static_labels`: `counter!("x", "k" => "v").increment(1)` each time (key cache hit);
//! - `macro_dynamic_label`: `counter!("x", "k" => value.clone())` with a `String` value known to
//!   the registry (builds a `Key` with owned labels, then the cache hit);
//! - `histogram_record`: a kept `metrics::Histogram` recording seconds;
//! - `tenant_macro`: `counter!` on a tenant-attributed metric (sanitises every call: not cached).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use metrics::{Key, Label, Recorder};
use vitals_metrics::{Config, Registry, TenantScope};

fn record(c: &mut Criterion) {
    let registry = Registry::new(
        Config::default()
            .tenant_hook(|| Some("acme"))
            .tenant_scope(TenantScope::Names(vec!["tenant_orders".into()])),
    );
    let metadata = metrics::Metadata::new("bench", metrics::Level::INFO, None);
    let mut group = c.benchmark_group("metrics");

    let counter = registry.register_counter(
        &Key::from_parts("orders_created", vec![Label::new("channel", "web")]),
        &metadata,
    );
    group.bench_function("handle_increment", |b| {
        b.iter(|| counter.increment(black_box(1)));
    });

    let histogram =
        registry.register_histogram(&Key::from_name("db_query_duration_seconds"), &metadata);
    let mut value = 0.000_5;
    group.bench_function("histogram_record", |b| {
        b.iter(|| {
            value = if value > 2.0 { 0.000_5 } else { value * 1.01 };
            histogram.record(black_box(value));
        });
    });

    let _guard = metrics::set_default_local_recorder(&registry);
    group.bench_function("macro_static_labels", |b| {
        b.iter(|| metrics::counter!("orders_created", "channel" => "web").increment(1));
    });
    let channel = String::from("web");
    group.bench_function("macro_dynamic_label", |b| {
        b.iter(|| metrics::counter!("orders_created", "channel" => channel.clone()).increment(1));
    });
    group.bench_function("tenant_macro", |b| {
        b.iter(|| metrics::counter!("tenant_orders", "channel" => "web").increment(1));
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
