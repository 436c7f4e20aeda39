//! Alert thresholds and the rules that judge [`Signals`] against them, shared by
//! health, alerts and advice.
//!
//! [`AlertThresholds`] holds a warning and a critical [`Level`] per rule; a value strictly
//! greater than a level crosses it. [`Severity`] is the result of crossing one. The rules
//! themselves (which signal, which unit, which message) are listed in the
//! alerts module docs.
//!
//! ```
//! use std::time::Duration;
//! use vitals::{AlertThresholds, Level};
//!
//! let thresholds = AlertThresholds::default()
//!     .heap(Level::mib(600, 1000))
//!     .latency_p95(Level::OFF);
//! assert!(thresholds.latency_p95.is_off());
//! assert_eq!(thresholds.heap.warning, Some(600 * 1024 * 1024));
//! # let _ = Duration::ZERO;
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::signals::Signals;
use crate::units::{BYTES_PER_MIB, as_ms};

const MIB: u64 = 1024 * 1024;

/// A warning and a critical threshold; `None` switches that level off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Level<T> {
    /// Above this: warning.
    pub warning: Option<T>,
    /// Above this: critical.
    pub critical: Option<T>,
}

impl<T> Level<T> {
    /// Both levels off: the rule never fires.
    pub const OFF: Self = Self {
        warning: None,
        critical: None,
    };

    /// Both levels on.
    #[must_use]
    pub const fn new(warning: T, critical: T) -> Self {
        Self {
            warning: Some(warning),
            critical: Some(critical),
        }
    }

    /// A warning level only.
    #[must_use]
    pub const fn warning_only(warning: T) -> Self {
        Self {
            warning: Some(warning),
            critical: None,
        }
    }

    /// A critical level only.
    #[must_use]
    pub const fn critical_only(critical: T) -> Self {
        Self {
            warning: None,
            critical: Some(critical),
        }
    }

    /// Whether both levels are off.
    #[must_use]
    pub const fn is_off(&self) -> bool {
        self.warning.is_none() && self.critical.is_none()
    }
}

impl Level<u64> {
    /// Byte levels given in MiB.
    #[must_use]
    pub const fn mib(warning: u64, critical: u64) -> Self {
        Self::new(warning * MIB, critical * MIB)
    }
}

/// Alert thresholds (also used by [`health_report`](crate::health_report),
/// [`health_score`](crate::health_score) and
/// [`recommend`](crate::recommend)). Every field has a documented default; set a
/// rule's [`Level`] to [`Level::OFF`] to switch it off.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AlertThresholds {
    /// Live heap bytes. Default 512 MiB / 1024 MiB.
    pub heap: Level<u64>,
    /// Resident set size in bytes. Default 1100 MiB / 1300 MiB.
    pub rss: Level<u64>,
    /// p95 latency over 5 minutes. Default 1000 ms / 2000 ms: the default slow
    /// request threshold and the p95 of the "P95 response time exceeds 2 seconds" advice.
    pub latency_p95: Level<Duration>,
    /// Error rate (0..1) over 5 minutes. Default 0.05 / 0.10 (5% / 10%).
    pub error_rate: Level<f64>,
    /// Fewest requests in the window for the error rate to fire or escalate an alert, count
    /// in a health check, or flag a route. Default 20 (so 1 failure of 2 requests is no alert).
    pub error_rate_min_requests: u64,
    /// Runtime busy ratio (0..1). Default 0.9 / 0.98.
    pub busy_ratio: Level<f64>,
    /// Runtime scheduling delay p99. Default 50 ms / 200 ms.
    pub scheduling_delay_p99: Level<Duration>,
    /// Hysteresis margin as a fraction of the threshold: an alert holds its severity until the
    /// value drops below `threshold × (1 − hysteresis)`. Default 0.1; clamped to 0..1.
    pub hysteresis: f64,
    /// Recommendations only: heap above the warning threshold suggests a reclaim unless one
    /// ran within this time. Default 5 minutes.
    pub reclaim_interval: Duration,
    /// Recommendations only: memory growth in MiB/min above which, with high fragmentation,
    /// a reclaim is recommended. Default 50; `None`: off.
    pub memory_growth_mib_per_min: Option<f64>,
    /// Recommendations only: fragmentation (`held / allocated − 1`, see
    /// [`Signals::fragmentation`]) above which it counts as high. Default 0.5 (the process
    /// holds more than 1.5 times what it uses); `None`: off.
    pub fragmentation: Option<f64>,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self {
            heap: Level::mib(512, 1024),
            rss: Level::mib(1100, 1300),
            latency_p95: Level::new(Duration::from_millis(1000), Duration::from_millis(2000)),
            error_rate: Level::new(0.05, 0.10),
            error_rate_min_requests: 20,
            busy_ratio: Level::new(0.9, 0.98),
            scheduling_delay_p99: Level::new(Duration::from_millis(50), Duration::from_millis(200)),
            hysteresis: 0.1,
            reclaim_interval: Duration::from_secs(5 * 60),
            memory_growth_mib_per_min: Some(50.0),
            fragmentation: Some(0.5),
        }
    }
}

impl AlertThresholds {
    /// Sets [`AlertThresholds::heap`] (bytes; see [`Level::mib`]).
    #[must_use]
    pub fn heap(mut self, level: Level<u64>) -> Self {
        self.heap = level;
        self
    }

    /// Sets [`AlertThresholds::rss`] (bytes; see [`Level::mib`]).
    #[must_use]
    pub fn rss(mut self, level: Level<u64>) -> Self {
        self.rss = level;
        self
    }

    /// Sets [`AlertThresholds::latency_p95`].
    #[must_use]
    pub fn latency_p95(mut self, level: Level<Duration>) -> Self {
        self.latency_p95 = level;
        self
    }

    /// Sets [`AlertThresholds::error_rate`] (fractions, 0..1).
    #[must_use]
    pub fn error_rate(mut self, level: Level<f64>) -> Self {
        self.error_rate = level;
        self
    }

    /// Sets [`AlertThresholds::error_rate_min_requests`].
    #[must_use]
    pub fn error_rate_min_requests(mut self, requests: u64) -> Self {
        self.error_rate_min_requests = requests;
        self
    }

    /// Sets [`AlertThresholds::busy_ratio`] (fractions, 0..1).
    #[must_use]
    pub fn busy_ratio(mut self, level: Level<f64>) -> Self {
        self.busy_ratio = level;
        self
    }

    /// Sets [`AlertThresholds::scheduling_delay_p99`].
    #[must_use]
    pub fn scheduling_delay_p99(mut self, level: Level<Duration>) -> Self {
        self.scheduling_delay_p99 = level;
        self
    }

    /// Sets [`AlertThresholds::hysteresis`] (clamped to 0..1).
    #[must_use]
    pub fn hysteresis(mut self, fraction: f64) -> Self {
        self.hysteresis = fraction;
        self
    }

    /// Sets [`AlertThresholds::reclaim_interval`].
    #[must_use]
    pub fn reclaim_interval(mut self, interval: Duration) -> Self {
        self.reclaim_interval = interval;
        self
    }

    /// Sets [`AlertThresholds::memory_growth_mib_per_min`].
    #[must_use]
    pub fn memory_growth_mib_per_min(mut self, rate: Option<f64>) -> Self {
        self.memory_growth_mib_per_min = rate;
        self
    }

    /// Sets [`AlertThresholds::fragmentation`].
    #[must_use]
    pub fn fragmentation(mut self, fragmentation: Option<f64>) -> Self {
        self.fragmentation = fragmentation;
        self
    }

    pub(crate) fn margin(&self) -> f64 {
        if self.hysteresis.is_finite() {
            self.hysteresis.clamp(0.0, 0.999)
        } else {
            0.0
        }
    }
}

/// Severity of an alert, `warning < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A warning threshold is crossed.
    Warning,
    /// A critical threshold is crossed.
    Critical,
}

impl Severity {
    /// `warning` or `critical`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Severity of a value given the current severity, with hysteresis.
pub(crate) fn hold(
    value: f64,
    (warning, critical): (Option<f64>, Option<f64>),
    current: Option<Severity>,
    margin: f64,
) -> Option<Severity> {
    let holds = |threshold: f64| value >= threshold * (1.0 - margin);
    if critical.is_some_and(|c| value > c || (current == Some(Severity::Critical) && holds(c))) {
        Some(Severity::Critical)
    } else if warning.is_some_and(|w| value > w || (current.is_some() && holds(w))) {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// Severity of a value with no history (no hysteresis): above critical, critical; above
/// warning, warning.
pub(crate) fn classify(value: f64, levels: (Option<f64>, Option<f64>)) -> Option<Severity> {
    hold(value, levels, None, 0.0)
}

/// The alert rules, in the order of the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rule {
    Memory,
    Rss,
    Latency,
    ErrorRate,
    Runtime,
    SchedulingDelay,
}

impl Rule {
    pub(crate) const ALL: [Rule; 6] = [
        Rule::Memory,
        Rule::Rss,
        Rule::Latency,
        Rule::ErrorRate,
        Rule::Runtime,
        Rule::SchedulingDelay,
    ];

    /// Whether any client can move the signal (request figures): such a rule makes the health
    /// report warn, never fail.
    pub(crate) fn client_movable(self) -> bool {
        matches!(self, Rule::Latency | Rule::ErrorRate)
    }

    /// The alert `type`.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Rule::Memory => "memory",
            Rule::Rss => "rss",
            Rule::Latency => "latency",
            Rule::ErrorRate => "errorRate",
            Rule::Runtime => "runtime",
            Rule::SchedulingDelay => "schedulingDelay",
        }
    }

    /// Display unit of values and thresholds.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Rule::Memory | Rule::Rss => "MiB",
            Rule::Latency | Rule::SchedulingDelay => "ms",
            Rule::ErrorRate | Rule::Runtime => "percent",
        }
    }

    /// What is measured, for details.
    pub(crate) fn measure(self) -> &'static str {
        match self {
            Rule::Memory => "heap",
            Rule::Rss => "RSS",
            Rule::Latency => "p95",
            Rule::ErrorRate => "error rate",
            Rule::Runtime => "busy",
            Rule::SchedulingDelay => "scheduling delay p99",
        }
    }

    /// The measured value in the display unit; `None` when not measured or not finite.
    pub(crate) fn value(self, s: &Signals) -> Option<f64> {
        let mib = |b: u64| b as f64 / BYTES_PER_MIB;
        let v = match self {
            Rule::Memory => s.heap_bytes.map(mib),
            Rule::Rss => s.rss_bytes.map(mib),
            Rule::Latency => s.p95.map(as_ms),
            Rule::ErrorRate => s.error_rate.map(|r| r * 100.0),
            Rule::Runtime => s.busy_ratio.map(|r| r * 100.0),
            Rule::SchedulingDelay => s.scheduling_delay_p99.map(as_ms),
        };
        v.filter(|v| v.is_finite())
    }

    /// (warning, critical) in the display unit.
    pub(crate) fn levels(self, t: &AlertThresholds) -> (Option<f64>, Option<f64>) {
        fn map<T: Copy>(l: &Level<T>, f: impl Fn(T) -> f64) -> (Option<f64>, Option<f64>) {
            (l.warning.map(&f), l.critical.map(&f))
        }
        let mib = |b: u64| b as f64 / BYTES_PER_MIB;
        let pct = |r: f64| r * 100.0;
        match self {
            Rule::Memory => map(&t.heap, mib),
            Rule::Rss => map(&t.rss, mib),
            Rule::Latency => map(&t.latency_p95, as_ms),
            Rule::ErrorRate => map(&t.error_rate, pct),
            Rule::Runtime => map(&t.busy_ratio, pct),
            Rule::SchedulingDelay => map(&t.scheduling_delay_p99, as_ms),
        }
    }

    /// Whether there is enough evidence to raise this rule (error rate: enough requests).
    pub(crate) fn judged(self, s: &Signals, t: &AlertThresholds) -> bool {
        self != Rule::ErrorRate || s.requests_last_5m >= t.error_rate_min_requests
    }

    /// A value with its unit (`650 MiB`, `1200 ms`, `7.5%`).
    pub(crate) fn format(self, v: f64) -> String {
        match self {
            Rule::Memory | Rule::Rss | Rule::Latency | Rule::SchedulingDelay => {
                format!("{v:.0} {}", self.unit())
            }
            Rule::ErrorRate | Rule::Runtime => format!("{}%", trim(v)),
        }
    }

    /// The alert message.
    pub(crate) fn message(self, v: f64, s: &Signals) -> String {
        let v = self.format(v);
        match self {
            Rule::Memory => format!("High memory usage: {v}"),
            Rule::Rss => format!("High RSS: {v}"),
            Rule::Latency => format!("High P95 response time: {v}"),
            Rule::ErrorRate => format!(
                "High error rate: {v} of {} requests in the last 5 minutes",
                s.requests_last_5m
            ),
            Rule::Runtime => format!("Runtime busy: {v} of worker time"),
            Rule::SchedulingDelay => format!("High scheduling delay: p99 {v}"),
        }
    }
}

/// A percentage with at most one decimal, without a trailing `.0`.
fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0")
        .map_or_else(|| s.clone(), str::to_owned)
}
