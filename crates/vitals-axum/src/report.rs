//! What is measured, gathered for a verdict: the signals health, alerts and advice judge (the
//! monitor's last five minutes, the latest system snapshot, the memory trend, dependency
//! checks), the recommendations, and the memory report. Used by several endpoints and by the
//! sampling task; the core's rules do the judging.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use vitals::SystemSnapshot;
use vitals::Window;
use vitals::{DependencySignal, RouteSignal, Signals};

use crate::shared::Shared;
use crate::util::rfc3339;

/// Every registered dependency check, each bounded by the check timeout, run at most once a
/// second (see [`crate::check_cache`]).
pub(crate) async fn run_checks(state: &Shared) -> Vec<(DependencySignal, Option<String>)> {
    run_checks_in(state, None).await
}

/// Runs the checks of `probe`'s group (every check with `None`), each at most once a second
/// (see [`crate::check_cache`]) and bounded by the check timeout.
pub(crate) async fn run_checks_in(
    state: &Shared,
    probe: Option<crate::check::Probe>,
) -> Vec<(DependencySignal, Option<String>)> {
    let checks = state
        .checks
        .iter()
        .enumerate()
        .filter(|(_, check)| probe.is_none_or(|p| check.in_group(p)))
        .map(|(index, check)| {
            state.check_cache.get_or_run(index, async move {
                let timeout = state.check_timeout;
                let started = Instant::now();
                let outcome = tokio::time::timeout(timeout, (check.check)()).await;
                let response_time = started.elapsed();
                let (ok, output) = match outcome {
                    Ok(Ok(())) => (true, None),
                    Ok(Err(reason)) => (false, Some(reason.to_string())),
                    Err(_) => (
                        false,
                        Some(format!("no answer within {} ms", timeout.as_millis())),
                    ),
                };
                (
                    DependencySignal {
                        name: check.name.clone(),
                        ok,
                        response_time,
                    },
                    output,
                )
            })
        });
    futures_util::future::join_all(checks).await
}

/// Everything measured now, without dependencies (see [`run_checks`]).
pub(crate) fn signals(state: &Shared) -> Signals {
    let monitor = &state.monitor;
    let mut s = Signals::new(SystemTime::now());
    // Health, alerts and advice judge *server* errors (5xx, panics): a client's 4xx, a
    // scanner's 404 or a refused operator call must not take the instance out of rotation.
    // Per-request records and the route figures count every status >= 400 as an error.
    let five = monitor.overall(Window::LastFiveMinutes);
    let classes = monitor.status_counts(Window::LastFiveMinutes);
    s.requests_last_5m = five.count;
    if five.count > 0 {
        s.p95 = Some(five.p95);
        s.error_rate = Some(classes.server_error as f64 / five.count as f64);
    }
    s.routes = monitor
        .route_stats(Window::LastFiveMinutes)
        .into_iter()
        .map(|r| RouteSignal {
            route: r.route.to_string(),
            method: r.method.as_str().to_owned(),
            count: r.stats.count,
            p95: r.stats.p95,
            error_rate: if r.stats.count > 0 {
                r.status.server_error as f64 / r.stats.count as f64
            } else {
                0.0
            },
            // Since start (blocking is counted on every request; per-route resources are kept
            // since start only).
            blocked_polls: r.resources.map(|x| x.blocked_runtime),
        })
        .collect();
    if let Some(snap) = state.sampler.history().latest() {
        s.heap_bytes = snap.heap.map(|h| h.allocated_bytes);
        s.rss_bytes = snap.process.rss_bytes;
        s.fragmentation = snap.fragmentation();
        if let Some(rt) = snap.runtime {
            s.busy_ratio = Some(rt.busy_ratio);
            s.scheduling_delay_p99 =
                Some(Duration::from_secs_f64(rt.scheduling_delay_p99_ms / 1e3));
        }
    }
    s.memory_limit_bytes = Some(state.memory.limit.bytes);
    let points = state
        .sampler
        .history()
        .memory_points(Duration::from_secs(300));
    s.memory_growth_mb_per_min = vitals::fit_trend(&points)
        .filter(|f| f.span_secs >= 60.0)
        .map(|f| f.mib_per_min());
    s.last_reclaim = state
        .last_reclaim
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .map(|(_, at)| at);
    s
}

/// [`signals`] plus the dependency checks, run now.
pub(crate) async fn signals_with_dependencies(state: &Shared) -> Signals {
    let mut s = signals(state);
    s.dependencies = run_checks(state)
        .await
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    s
}

/// The current recommendations (memory, latency, errors, runtime).
pub(crate) fn recommendations(state: &Shared) -> Vec<vitals::Recommendation> {
    vitals::recommend(&signals(state), &state.thresholds)
}

/// The latest snapshot, or a fresh one when none has been taken yet.
pub(crate) fn latest(state: &Shared) -> SystemSnapshot {
    state
        .sampler
        .history()
        .latest()
        .unwrap_or_else(|| state.sampler.sample_now())
}

/// The memory summary, trend and history as JSON (shared with the dashboard).
pub(crate) fn memory_report(state: &Shared) -> Value {
    let s = latest(state);
    let settings = &state.memory;
    let limit = settings.limit;
    let thresholds = settings.thresholds.resolve(limit.bytes);
    let heap = s.heap.map(|h| h.allocated_bytes);
    let rss = s.process.rss_bytes;
    let history = state.sampler.history();
    let basis = if s.heap.is_some() { "heap" } else { "rss" };
    let window = settings.leak.window;
    let points = history.memory_points(window);
    let newest = points.last().map_or(0.0, |p| p.0);
    let windows: Vec<Value> = vitals::growth_rates(
        &points,
        newest,
        &[
            Duration::from_secs(300),
            Duration::from_secs(900),
            Duration::from_secs(1800),
        ],
    )
    .into_iter()
    .map(|(w, fit)| {
        json!({
            "minutes": w.as_secs() / 60,
            "growthMibPerMin": fit.as_ref().map(vitals::TrendFit::mib_per_min),
            "rSquared": fit.as_ref().map(|f| f.r_squared),
            "points": fit.as_ref().map_or(0, |f| f.points),
            "spanSeconds": fit.as_ref().map(|f| f.span_secs),
        })
    })
    .collect();
    let leak = settings.leak.assess(&points);
    let last_reclaim = state
        .last_reclaim
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .map(|(_, at)| rfc3339(at));
    let samples: Vec<Value> = history
        .snapshots(Duration::from_secs(1800))
        .iter()
        .map(|h| {
            json!({
                "timestamp": rfc3339(h.taken_at),
                "rssBytes": h.process.rss_bytes,
                "heapBytes": h.heap.map(|x| x.allocated_bytes),
            })
        })
        .collect();
    json!({
        "summary": {
            "timestamp": rfc3339(s.taken_at),
            "rssBytes": rss,
            "peakRssBytes": s.process.peak_rss_bytes,
            "heapBytes": heap,
            "heapSource": s.heap.map(|h| h.source),
            "fragmentation": s.fragmentation(),
            "limitBytes": limit.bytes,
            "limitSource": limit.source,
            "rssUtilization": rss.map(|r| r as f64 / limit.bytes as f64),
            "heapUtilization": heap.map(|h| h as f64 / limit.bytes as f64),
            "thresholds": thresholds,
            "status": thresholds.status(heap, rss),
            "lastReclaim": last_reclaim,
        },
        "trend": {
            "basis": basis,
            "sampleIntervalSeconds": history.interval().as_secs_f64(),
            "windows": windows,
            "leak": leak,
        },
        "history": samples,
    })
}
