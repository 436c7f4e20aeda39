//! Benchmark (not run in CI): the alert engine's transitions queued to a dead channel.
//!
//! `cargo run --release -p vitals-axum --example notify_dead_channel [transitions]` (default
//! 10,000). A webhook channel points at a loopback port nothing listens on (connection
//! refused), so nothing is ever delivered. The example:
//!
//! 1. serves requests through `vitals.layers()` in process and reports requests per second
//!    before the backlog;
//! 2. drives a core `AlertEngine` (fire / resolve alternately) until it has produced the
//!    transitions, maps and queues each evaluation's batch with `Notifier::notify` (what the
//!    sampling loop does), and reports queued, dropped, the queue depth against its bound, the
//!    time per `notify` call and RSS before and after;
//! 3. serves the same requests again with the dead channel's queue full and retrying.
//!
//! Request rates on a shared machine are noisy: read them as "unchanged within noise", not to
//! the percent. The request path never calls the notifier (only the sampling loop does).

use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use tower::ServiceExt;
use vitals::{AlertEngine, AlertThresholds, AlertTransitionKind, Level, Signals};
use vitals_notify::{ChannelKind, Config, DeliveryOptions, Notification, Severity, Transition};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn requests_per_second(app: &Router, n: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let res = app
            .clone()
            .oneshot(Request::get("/hello").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let _ = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let transitions: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let options = DeliveryOptions::defaults(ChannelKind::Webhook);
    let capacity = options.capacity;
    let notifier = Config::new()
        .webhook(
            format!("http://{dead}/hook"),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .options(ChannelKind::Webhook, options)
        .start()
        .expect("a valid channel");
    let vitals = vitals_axum::Vitals::builder().notifier(notifier).build();
    let app: Router = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .merge(vitals.router())
        .layer(vitals.layers());
    let notifier = vitals.notifier().expect("configured");

    let _ = requests_per_second(&app, 20_000).await; // warm-up
    let before_rps = requests_per_second(&app, 50_000).await;
    let rss_before = rss_kib();

    let mut engine = AlertEngine::new(
        AlertThresholds::default()
            .rss(Level::OFF)
            .heap(Level::mib(100, 200)),
    );
    let t0 = SystemTime::now();
    let (mut produced, mut queued, mut notify_time, mut calls) = (0, 0, Duration::ZERO, 0u32);
    let mut step = 0u64;
    while produced < transitions {
        let mut signals = Signals::new(t0 + Duration::from_secs(step));
        signals.heap_bytes = Some(if step % 2 == 0 { 150 } else { 10 } << 20);
        step += 1;
        let batch: Vec<Notification> = engine
            .evaluate(&signals)
            .into_iter()
            .map(|t| {
                let transition = match t.kind {
                    AlertTransitionKind::Fired => Transition::Fired,
                    AlertTransitionKind::Escalated => Transition::Escalated,
                    AlertTransitionKind::Resolved => Transition::Resolved,
                };
                let mut n = Notification::new(
                    format!("bench/memory/{step}"),
                    "VitalsHeapHigh",
                    Severity::Warning,
                    transition,
                );
                n.summary.clone_from(&t.alert.message);
                n.values.insert("memory_mib".into(), t.alert.value);
                n.thresholds.insert("memory_mib".into(), t.alert.threshold);
                n
            })
            .collect();
        produced += batch.len();
        let start = Instant::now();
        queued += notifier.notify(&batch);
        notify_time += start.elapsed();
        calls += 1;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // let the channel task take them in
    let rss_after = rss_kib();
    let c = notifier.snapshot().channels.remove(0);
    let after_rps = requests_per_second(&app, 50_000).await;

    println!("transitions produced by the engine: {produced} in {calls} evaluations");
    println!(
        "queued {queued}, dropped {} (queue bound {capacity}), queue depth {} (<= bound: {})",
        c.dropped,
        c.queue_depth,
        c.queue_depth <= capacity
    );
    println!(
        "failed attempts {}, last error: {}",
        c.failed_attempts,
        c.last_error.as_deref().unwrap_or("-")
    );
    println!(
        "notify(): {:.0} ns per call (mean of {calls}), in the sampling loop only",
        notify_time.as_nanos() as f64 / f64::from(calls)
    );
    println!(
        "RSS before {rss_before} KiB, after {rss_after} KiB (+{} KiB)",
        rss_after.saturating_sub(rss_before)
    );
    println!(
        "requests/s through vitals.layers(): before {before_rps:.0}, with the dead channel's \
         backlog {after_rps:.0}"
    );
}
