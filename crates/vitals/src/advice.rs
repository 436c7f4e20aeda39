//! Recommendations: actionable advice derived from the same [`Signals`] and [`AlertThresholds`] as
//! alerts and health.

use std::cmp::Reverse;
use std::time::Duration;

use serde::Serialize;

use crate::signals::{RouteSignal, Signals};
use crate::thresholds::AlertThresholds;
use crate::units::{BYTES_PER_MIB, as_ms};

/// Routes named per route rule (slowest, most failing, most blocking).
pub const MAX_ROUTES: usize = 3;

/// Priority of a recommendation, `low < medium < high < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Worth a look.
    Low,
    /// Act soon.
    Medium,
    /// Act now.
    High,
    /// Act immediately.
    Critical,
}

/// A recommendation: `{type, priority, message, action}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// `optimization`, `memory`, `reliability` or `runtime`.
    #[serde(rename = "type")]
    pub type_: String,
    /// How urgent.
    pub priority: Priority,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub action: String,
}

impl Recommendation {
    fn new(type_: &str, priority: Priority, message: String, action: String) -> Self {
        Self {
            type_: type_.to_owned(),
            priority,
            message,
            action,
        }
    }
}

/// Applies the rules below to `signals`.
///
/// [`recommend`] applies these rules (each is off when the threshold it uses is off, and none
/// fires on a signal that is not measured):
///
/// | rule | priority | `type` |
/// | --- | --- | --- |
/// | overall p95 above the critical latency threshold (2 s): names the 3 slowest routes | high | `optimization` |
/// | a route with an error rate above the critical error threshold (10%) and at least [`AlertThresholds::error_rate_min_requests`] (20) requests; the 3 worst | high | `reliability` |
/// | heap above the critical heap threshold (1 GiB): reclaim now | critical | `memory` |
/// | heap above the warning heap threshold (512 MiB) and no reclaim within [`AlertThresholds::reclaim_interval`] (5 min); not when the critical rule fires | medium | `memory` |
/// | memory growth above [`AlertThresholds::memory_growth_mib_per_min`] (50 MiB/min) with fragmentation above [`AlertThresholds::fragmentation`] (0.5) | high | `memory` |
/// | a route whose requests blocked the runtime (`blocked_polls > 0`); the 3 worst | high | `runtime` |
/// | runtime busy ratio above the warning busy threshold (0.9) | high | `runtime` |
///
/// The three memory rules recommend an allocator reclaim (`POST /metrics/memory/gc`). Reclaim returns free pages to the OS; it
/// does not free live allocations, so a heap that stays high after a reclaim points to a leak
/// or a cache to bound, which the actions say.
///
/// Fragmentation is `held / allocated − 1` (see [`Signals::fragmentation`]): above 0.5 the
/// process holds more than 1.5 times the memory it uses.
///
/// The result is sorted by priority (critical first), then by `type`; recommendations of one
/// rule keep the rule's order (worst route first).
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use vitals::{Priority, recommend};
/// use vitals::AlertThresholds;
/// use vitals::Signals;
///
/// let mut signals = Signals::new(SystemTime::now());
/// signals.p95 = Some(Duration::from_millis(2500));
/// let advice = recommend(&signals, &AlertThresholds::default());
/// assert_eq!(advice[0].type_, "optimization");
/// assert_eq!(advice[0].priority, Priority::High);
/// assert_eq!(advice[0].message, "P95 response time exceeds 2 seconds");
/// ```
#[must_use]
pub fn recommend(signals: &Signals, thresholds: &AlertThresholds) -> Vec<Recommendation> {
    let mut out = Vec::new();
    latency(signals, thresholds, &mut out);
    failing_routes(signals, thresholds, &mut out);
    memory(signals, thresholds, &mut out);
    blocking_routes(signals, &mut out);
    busy(signals, thresholds, &mut out);
    out.sort_by(|a, b| {
        Reverse(a.priority)
            .cmp(&Reverse(b.priority))
            .then_with(|| a.type_.cmp(&b.type_))
    });
    out
}

fn latency(s: &Signals, t: &AlertThresholds, out: &mut Vec<Recommendation>) {
    let (Some(p95), Some(limit)) = (s.p95, t.latency_p95.critical) else {
        return;
    };
    if p95 <= limit {
        return;
    }
    let mut routes: Vec<&RouteSignal> = s.routes.iter().filter(|r| r.count > 0).collect();
    routes.sort_by(|a, b| {
        b.p95
            .cmp(&a.p95)
            .then_with(|| a.route.cmp(&b.route))
            .then_with(|| a.method.cmp(&b.method))
    });
    let action = if routes.is_empty() {
        "Review slowest paths and consider optimization".to_owned()
    } else {
        let names: Vec<String> = routes
            .iter()
            .take(MAX_ROUTES)
            .map(|r| format!("{} (p95 {:.0} ms)", r.label(), as_ms(r.p95)))
            .collect();
        format!(
            "Review the slowest routes and consider optimization: {}",
            names.join(", ")
        )
    };
    out.push(Recommendation::new(
        "optimization",
        Priority::High,
        format!("P95 response time exceeds {}", human(limit)),
        action,
    ));
}

fn failing_routes(s: &Signals, t: &AlertThresholds, out: &mut Vec<Recommendation>) {
    let Some(limit) = t.error_rate.critical else {
        return;
    };
    let mut routes: Vec<&RouteSignal> = s
        .routes
        .iter()
        .filter(|r| r.error_rate > limit && r.count >= t.error_rate_min_requests.max(1))
        .collect();
    routes.sort_by(|a, b| {
        b.error_rate
            .total_cmp(&a.error_rate)
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.route.cmp(&b.route))
            .then_with(|| a.method.cmp(&b.method))
    });
    for r in routes.into_iter().take(MAX_ROUTES) {
        let label = r.label();
        out.push(Recommendation::new(
            "reliability",
            Priority::High,
            format!(
                "High error rate on {label}: {} of {} requests in the last 5 minutes",
                percent(r.error_rate),
                r.count
            ),
            format!(
                "Inspect the recent failures of {label} (logs by correlation id) and the \
                 dependencies it calls; consider a circuit breaker for a failing dependency"
            ),
        ));
    }
}

fn memory(s: &Signals, t: &AlertThresholds, out: &mut Vec<Recommendation>) {
    if let Some(heap) = s.heap_bytes {
        let mib = heap as f64 / BYTES_PER_MIB;
        if let Some(critical) = t.heap.critical.filter(|&c| heap > c) {
            out.push(Recommendation::new(
                "memory",
                Priority::Critical,
                format!(
                    "Heap usage {mib:.0} MiB exceeds {:.0} MiB",
                    critical as f64 / BYTES_PER_MIB
                ),
                "Reclaim memory immediately: POST /metrics/memory/gc. Reclaim frees no live \
                 allocations: if the heap stays high, check /metrics/memory for a leak and \
                 bound caches and buffers"
                    .to_owned(),
            ));
        } else if let Some(warning) = t
            .heap
            .warning
            .filter(|&w| heap > w && !reclaimed_recently(s, t.reclaim_interval))
        {
            out.push(Recommendation::new(
                "memory",
                Priority::Medium,
                format!(
                    "Heap usage {mib:.0} MiB exceeds {:.0} MiB with no reclaim in the last {}",
                    warning as f64 / BYTES_PER_MIB,
                    human(t.reclaim_interval)
                ),
                "Consider POST /metrics/memory/gc to return free pages to the OS; if the heap \
                 keeps growing, check /metrics/memory for a leak"
                    .to_owned(),
            ));
        }
    }

    let (Some(growth), Some(frag), Some(max_growth), Some(max_frag)) = (
        s.memory_growth_mb_per_min,
        s.fragmentation,
        t.memory_growth_mib_per_min,
        t.fragmentation,
    ) else {
        return;
    };
    if growth > max_growth && frag > max_frag {
        out.push(Recommendation::new(
            "memory",
            Priority::High,
            format!(
                "Memory growing {growth:.1} MiB/min with high fragmentation ({frag:.2}: the \
                 process holds {:.1}x what it uses)",
                1.0 + frag
            ),
            "Reclaim memory (POST /metrics/memory/gc) to return fragmented free pages to the \
             OS; if growth continues after reclaim, check /metrics/memory for a leak"
                .to_owned(),
        ));
    }
}

/// A reclaim ran within `interval` before `s.at` (or, with clocks out of step, after it).
fn reclaimed_recently(s: &Signals, interval: Duration) -> bool {
    match s.last_reclaim {
        None => false,
        Some(last) => match s.at.duration_since(last) {
            Ok(ago) => ago <= interval,
            Err(_) => true,
        },
    }
}

fn blocking_routes(s: &Signals, out: &mut Vec<Recommendation>) {
    let mut routes: Vec<(&RouteSignal, u64)> = s
        .routes
        .iter()
        .filter_map(|r| r.blocked_polls.filter(|&n| n > 0).map(|n| (r, n)))
        .collect();
    routes.sort_by(|(a, an), (b, bn)| {
        bn.cmp(an)
            .then_with(|| a.route.cmp(&b.route))
            .then_with(|| a.method.cmp(&b.method))
    });
    for (r, n) in routes.into_iter().take(MAX_ROUTES) {
        let label = r.label();
        let times = if n == 1 { "request" } else { "requests" };
        out.push(Recommendation::new(
            "runtime",
            Priority::High,
            format!("{label} blocked the runtime in {n} {times}"),
            format!(
                "Move CPU-bound or blocking work in {label} to tokio::task::spawn_blocking \
                 (or a dedicated thread pool) so it stops stalling other requests"
            ),
        ));
    }
}

fn busy(s: &Signals, t: &AlertThresholds, out: &mut Vec<Recommendation>) {
    let (Some(ratio), Some(limit)) = (s.busy_ratio, t.busy_ratio.warning) else {
        return;
    };
    if ratio.is_nan() || ratio <= limit {
        return;
    }
    out.push(Recommendation::new(
        "runtime",
        Priority::High,
        format!(
            "Runtime busy {} of worker time (above {})",
            percent(ratio),
            percent(limit)
        ),
        "Find CPU-heavy handlers (routes that block the runtime), move CPU-bound work to \
         spawn_blocking, or add worker threads or instances"
            .to_owned(),
    ));
}

/// `2 seconds`, `1 second`, `5 minutes`, `1500 ms`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    let plural = |n: u128, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if ms > 0 && ms % 60_000 == 0 {
        plural(ms / 60_000, "minute")
    } else if ms > 0 && ms % 1000 == 0 {
        plural(ms / 1000, "second")
    } else {
        format!("{:.0} ms", as_ms(d))
    }
}

/// A fraction as a percentage with at most one decimal (`0.25` → `25%`, `0.125` → `12.5%`).
fn percent(fraction: f64) -> String {
    let s = format!("{:.1}", fraction * 100.0);
    format!("{}%", s.strip_suffix(".0").unwrap_or(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    const MIB: u64 = 1024 * 1024;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_705_314_600)
    }

    fn signals() -> Signals {
        Signals::new(at())
    }

    fn route(path: &str, p95_ms: u64, count: u64, error_rate: f64) -> RouteSignal {
        RouteSignal {
            route: path.into(),
            method: "GET".into(),
            count,
            p95: Duration::from_millis(p95_ms),
            error_rate,
            blocked_polls: None,
        }
    }

    fn run(s: &Signals) -> Vec<Recommendation> {
        recommend(s, &AlertThresholds::default())
    }

    #[test]
    fn nothing_measured_nothing_recommended() {
        assert!(run(&signals()).is_empty());
    }

    #[test]
    fn slow_p95_names_the_three_slowest_routes() {
        let mut s = signals();
        s.routes = vec![
            route("/a", 100, 10, 0.0),
            route("/b", 4000, 10, 0.0),
            route("/c", 2500, 10, 0.0),
            route("/d", 3000, 10, 0.0),
            route("/idle", 9000, 0, 0.0),
        ];
        s.p95 = Some(Duration::from_millis(2000)); // at the threshold: not above it
        assert!(run(&s).is_empty());

        s.p95 = Some(Duration::from_millis(2100));
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].type_, "optimization");
        assert_eq!(r[0].priority, Priority::High);
        assert_eq!(r[0].message, "P95 response time exceeds 2 seconds");
        assert_eq!(
            r[0].action,
            "Review the slowest routes and consider optimization: GET /b (p95 4000 ms), \
             GET /d (p95 3000 ms), GET /c (p95 2500 ms)"
        );

        s.routes.clear();
        assert_eq!(
            run(&s)[0].action,
            "Review slowest paths and consider optimization"
        );

        let off = AlertThresholds::default().latency_p95(crate::thresholds::Level::OFF);
        assert!(recommend(&s, &off).is_empty());
    }

    #[test]
    fn error_heavy_route_needs_rate_and_volume() {
        let mut s = signals();
        s.routes = vec![
            route("/ok", 10, 500, 0.01),
            route("/few", 10, 19, 0.9),    // too few requests
            route("/edge", 10, 100, 0.10), // not above 10%
            route("/bad", 10, 40, 0.25),
        ];
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].type_, "reliability");
        assert_eq!(r[0].priority, Priority::High);
        assert_eq!(
            r[0].message,
            "High error rate on GET /bad: 25% of 40 requests in the last 5 minutes"
        );
        assert!(r[0].action.contains("GET /bad"));
    }

    #[test]
    fn heap_above_warning_without_recent_reclaim() {
        let mut s = signals();
        s.heap_bytes = Some(500 * MIB);
        assert!(run(&s).is_empty());

        s.heap_bytes = Some(650 * MIB);
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].type_.as_str(), r[0].priority),
            ("memory", Priority::Medium)
        );
        assert_eq!(
            r[0].message,
            "Heap usage 650 MiB exceeds 512 MiB with no reclaim in the last 5 minutes"
        );
        assert!(r[0].action.contains("POST /metrics/memory/gc"));

        s.last_reclaim = Some(at() - Duration::from_secs(120));
        assert!(run(&s).is_empty(), "reclaimed 2 minutes ago");
        s.last_reclaim = Some(at() - Duration::from_secs(301));
        assert_eq!(run(&s).len(), 1, "reclaimed over 5 minutes ago");
    }

    #[test]
    fn heap_above_critical_is_immediate() {
        let mut s = signals();
        s.heap_bytes = Some(1024 * MIB);
        assert_eq!(
            run(&s)[0].priority,
            Priority::Medium,
            "at 1 GiB: the warning rule"
        );

        s.heap_bytes = Some(1100 * MIB);
        s.last_reclaim = Some(at()); // immediate even right after a reclaim
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].type_.as_str(), r[0].priority),
            ("memory", Priority::Critical)
        );
        assert_eq!(r[0].message, "Heap usage 1100 MiB exceeds 1024 MiB");
        assert!(r[0].action.contains("immediately"));
    }

    #[test]
    fn growth_with_fragmentation() {
        let mut s = signals();
        s.memory_growth_mb_per_min = Some(60.0);
        s.fragmentation = Some(0.4);
        assert!(run(&s).is_empty(), "low fragmentation");
        s.fragmentation = Some(0.8);
        s.memory_growth_mb_per_min = Some(50.0);
        assert!(run(&s).is_empty(), "growth not above 50");
        s.memory_growth_mb_per_min = Some(60.0);
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].type_.as_str(), r[0].priority),
            ("memory", Priority::High)
        );
        assert_eq!(
            r[0].message,
            "Memory growing 60.0 MiB/min with high fragmentation (0.80: the process holds 1.8x \
             what it uses)"
        );
        s.fragmentation = None;
        assert!(run(&s).is_empty(), "fragmentation not measured");
    }

    #[test]
    fn blocking_route() {
        let mut s = signals();
        s.routes = vec![route("/a", 10, 10, 0.0), route("/b", 10, 10, 0.0)];
        s.routes[1].blocked_polls = Some(0);
        assert!(run(&s).is_empty());
        s.routes[1].blocked_polls = Some(3);
        s.routes[1].method = "POST".into();
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].type_.as_str(), r[0].priority),
            ("runtime", Priority::High)
        );
        assert_eq!(r[0].message, "POST /b blocked the runtime in 3 requests");
        assert!(r[0].action.contains("spawn_blocking"));
        assert!(r[0].action.contains("POST /b"));
    }

    #[test]
    fn busy_runtime() {
        let mut s = signals();
        s.busy_ratio = Some(0.9);
        assert!(run(&s).is_empty());
        s.busy_ratio = Some(f64::NAN);
        assert!(run(&s).is_empty());
        s.busy_ratio = Some(0.95);
        let r = run(&s);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].type_.as_str(), r[0].priority),
            ("runtime", Priority::High)
        );
        assert_eq!(r[0].message, "Runtime busy 95% of worker time (above 90%)");
    }

    #[test]
    fn ordered_by_priority_then_type() {
        let mut s = signals();
        s.p95 = Some(Duration::from_secs(3));
        s.busy_ratio = Some(0.99);
        s.heap_bytes = Some(2000 * MIB);
        s.memory_growth_mb_per_min = Some(80.0);
        s.fragmentation = Some(1.0);
        s.routes = vec![route("/x", 3000, 100, 0.5)];
        s.routes[0].blocked_polls = Some(7);
        let r = run(&s);
        let got: Vec<(Priority, &str)> = r.iter().map(|r| (r.priority, r.type_.as_str())).collect();
        assert_eq!(
            got,
            [
                (Priority::Critical, "memory"),
                (Priority::High, "memory"),
                (Priority::High, "optimization"),
                (Priority::High, "reliability"),
                (Priority::High, "runtime"),
                (Priority::High, "runtime"),
            ]
        );
        // Same input, same output.
        assert_eq!(run(&s), run(&s));
    }

    #[test]
    fn json_shape() {
        let mut s = signals();
        s.p95 = Some(Duration::from_secs(3));
        let v = serde_json::to_value(&run(&s)[0]).unwrap();
        assert_eq!(v["type"], "optimization");
        assert_eq!(v["priority"], "high");
        assert_eq!(v["message"], "P95 response time exceeds 2 seconds");
        assert!(v["action"].is_string());
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(1)), "1 second");
        assert_eq!(human(Duration::from_secs(300)), "5 minutes");
        assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(percent(0.125), "12.5%");
    }
}
