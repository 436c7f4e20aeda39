//! The Redis store against the local limiter: requests per second and latency per request
//! through `RateLimitLayer` in front of an empty handler (no HTTP, so the figures are the
//! limiter's). Not run in CI.
//!
//! ```sh
//! redis-server --port 6399 --save '' --appendonly no &
//! REDIS_URL=redis://127.0.0.1:6399/ cargo run --release -p vitals-axum --features redis --example redis_bench
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::Request;
use tower::ServiceExt as _;
use vitals_axum::{RateLimitLayer, RedisStore};

const CONCURRENCY: usize = 16;
const PER_TASK: usize = 5_000;

async fn run(name: &str, layer: RateLimitLayer) {
    let app: Router = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|t| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut latency = Duration::ZERO;
                for i in 0..PER_TASK {
                    // 1,000 clients, none of them near its quota.
                    let ip = [10, 0, (i % 4) as u8, ((t * 61 + i) % 250) as u8];
                    let mut req = Request::get("/").body(Body::empty()).expect("request");
                    req.extensions_mut()
                        .insert(ConnectInfo(SocketAddr::from((ip, 1234))));
                    let one = Instant::now();
                    let res = app.clone().oneshot(req).await.expect("infallible");
                    latency += one.elapsed();
                    assert_eq!(res.status(), 200);
                }
                latency
            })
        })
        .collect();
    let mut latency = Duration::ZERO;
    for task in tasks {
        latency += task.await.expect("task");
    }
    let n = (CONCURRENCY * PER_TASK) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{name:>6}: {:>9.0} req/s, mean latency {:>7.1} µs ({CONCURRENCY} concurrent, {n} requests)",
        n / elapsed,
        latency.as_secs_f64() / n * 1e6,
    );
}

#[tokio::main]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let layer = || RateLimitLayer::per_window(1_000_000_000, Duration::from_secs(60));
    run("local", layer()).await;
    let store = RedisStore::open(&url).expect("REDIS_URL");
    let redis = layer().redis(store);
    run("redis", redis.clone()).await;
    let status = redis.store_status().expect("a Redis store");
    println!(
        "fallbacks: {} (must be 0 for the figures to be Redis')",
        status.fallbacks_total
    );
}
