//! Figures of the store (printed, not judged): the minute write for 500 routes × 3 methods +
//! 100 tenants + the service, the size after a simulated stretch of that traffic, the bytes
//! per route-minute, and the query time of a 7-day route history.
//!
//! `cargo run --release -p vitals-store --example store_bench -- [minutes] [dir] [query]`
//! (default 10,080 minutes, a week; dir: a temporary directory; with `query`, writes nothing
//! and times the queries on the `bench.db` in `dir`, holding `minutes` minutes: for a run
//! stopped early).

use std::time::{Duration, Instant};

use vitals::AtomicHistogram;
use vitals::Method;
use vitals_store::{Buckets, MinuteBatch, Point, SeriesKey, Step, Store, StoreConfig, SystemPoint};

const ROUTES: usize = 500;
const METHODS: [Method; 3] = [Method::Get, Method::Post, Method::Put];
const TENANTS: usize = 100;
const START: i64 = 28_333_320;

fn point(rng: &mut fastrand::Rng, series: SeriesKey, base_ms: f64, requests: u64) -> Point {
    let h = AtomicHistogram::new();
    let (mut sum, mut max) = (0u64, 0u64);
    for _ in 0..requests {
        // Log-normal-ish around the route's base latency (σ ≈ 0.5).
        let z: f64 = (0..6).map(|_| rng.f64()).sum::<f64>() - 3.0;
        let ns = (base_ms * 1e6 * (0.5 * z).exp()) as u64;
        h.record(ns);
        sum += ns / 1_000;
        max = max.max(ns / 1_000);
    }
    let errors = u64::from(rng.u32(..100) == 0);
    Point {
        series,
        count: requests,
        errors_5xx: errors,
        errors,
        sum_us: sum,
        max_us: max,
        buckets: Buckets::from(&h.snapshot()),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let minutes: i64 = args.next().map_or(10_080, |a| a.parse().expect("minutes"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let path = dir.join("bench.db");
    let config = StoreConfig::default().max_bytes(64 << 30);
    if args.next().as_deref() == Some("query") {
        let store = Store::open(&path, config).expect("open");
        let size = std::fs::metadata(&path).expect("size").len();
        println!(
            "{minutes} minutes: file {:.1} MiB",
            size as f64 / (1 << 20) as f64
        );
        queries(&store, minutes);
        return;
    }
    let _ = std::fs::remove_file(&path);
    let store = Store::open(&path, config).expect("open");
    let mut rng = fastrand::Rng::with_seed(42);
    let base: Vec<f64> = (0..ROUTES * METHODS.len())
        .map(|_| 2.0 + rng.f64() * 200.0)
        .collect();

    let mut flush = Vec::with_capacity(minutes as usize);
    let mut route_minutes = 0u64;
    let mut buckets_per_point = 0u64;
    for m in 0..minutes {
        let mut points = Vec::with_capacity(ROUTES * METHODS.len() + TENANTS + 1);
        let mut total = 0;
        for (i, &b) in base.iter().enumerate() {
            let requests = 20 + rng.u64(..80);
            total += requests;
            let key = SeriesKey::route(METHODS[i % 3], format!("/api/v1/resource{}/{{id}}", i / 3));
            points.push(point(&mut rng, key, b, requests));
        }
        for t in 0..TENANTS {
            let key = SeriesKey::Tenant(format!("tenant-{t:03}"));
            let requests = 50 + rng.u64(..100);
            points.push(point(&mut rng, key, 40.0, requests));
        }
        points.push(point(&mut rng, SeriesKey::Service, 40.0, total.min(5_000)));
        route_minutes += (ROUTES * METHODS.len()) as u64;
        buckets_per_point += points[..ROUTES * 3]
            .iter()
            .map(|p| p.buckets.len() as u64)
            .sum::<u64>();
        let batch = MinuteBatch {
            minute: START + m,
            points,
            system: Some(SystemPoint {
                rss_bytes: Some(200 << 20),
                heap_bytes: Some(120 << 20),
                cpu_percent: Some(35.0),
                busy_ratio: Some(0.3),
                scheduling_delay_ms: Some(0.2),
            }),
            alerts: vec![],
        };
        let t = Instant::now();
        store.write_minute(&batch).expect("write");
        flush.push(t.elapsed());
        if (m + 1) % 1_440 == 0 {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            println!(
                "day {}: file {:.1} MiB",
                (m + 1) / 1_440,
                size as f64 / (1 << 20) as f64
            );
        }
    }
    flush.sort_unstable();
    let mean = flush.iter().sum::<Duration>() / flush.len() as u32;
    println!(
        "minute write ({} points): mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ROUTES * 3 + TENANTS + 1,
        mean.as_secs_f64() * 1e3,
        flush[flush.len() / 2].as_secs_f64() * 1e3,
        flush[flush.len() * 99 / 100].as_secs_f64() * 1e3,
        flush[flush.len() - 1].as_secs_f64() * 1e3,
    );
    drop(store);
    let store = Store::open(&path, config).expect("reopen");
    let wal = std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
    let size = std::fs::metadata(&path).expect("size").len();
    let all_points = (minutes as u64) * (ROUTES * 3 + TENANTS + 1) as u64;
    println!(
        "after {minutes} minutes: file {:.1} MiB (+ WAL {:.1} MiB); {:.0} bytes per point-minute \
         (all tiers, all series); mean {:.1} non-empty buckets per route-minute of ~{:.0} requests",
        size as f64 / (1 << 20) as f64,
        wal as f64 / (1 << 20) as f64,
        size as f64 / all_points as f64,
        buckets_per_point as f64 / route_minutes as f64,
        60.0,
    );

    queries(&store, minutes);
}

/// Times the queries of one route over the last 7 days (or all written) at hour steps, and
/// over the last 10,000 minutes at minute steps.
fn queries(store: &Store, minutes: i64) {
    let key = SeriesKey::route(Method::Get, "/api/v1/resource7/{id}");
    let (to, from) = (
        (START + minutes - 1) * 60,
        (START + minutes - 10_080).max(START) * 60,
    );
    for (step, from) in [(Step::Hour, from), (Step::Minute, to - 9_999 * 60)] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..20 {
            let t = Instant::now();
            n = store.query(&key, from, to, step).expect("query").len();
            times.push(t.elapsed());
        }
        times.sort_unstable();
        println!(
            "query of one route, {:.1} days at {step:?} steps ({n} points): median {:.2} ms",
            (to - from) as f64 / 86_400.0,
            times[10].as_secs_f64() * 1e3
        );
    }
}
