//! The signals a caller measures for one evaluation, shared by health,
//! alerts and advice.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// Everything measured for one evaluation.
///
/// [`Signals`] is a plain struct the caller fills on every evaluation from whatever it measures
/// (the monitor's windows, the allocator, the runtime probe, dependency pings). `None` means
/// *not measured*: nothing invents a value for it, and every check, factor, alert or
/// recommendation that needs it is left out. Non-finite floats (`NaN`, infinities) count as not
/// measured too.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use vitals::Signals;
///
/// let mut signals = Signals::new(SystemTime::now());
/// signals.p95 = Some(Duration::from_millis(40));
/// assert_eq!(signals.heap_bytes, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    /// When the signals were taken; becomes the `time` of checks and the timestamp of alerts.
    pub at: SystemTime,
    /// Live heap bytes from the allocator ([`heap_stats`](crate::heap::heap_stats)).
    pub heap_bytes: Option<u64>,
    /// Resident set size of the process.
    pub rss_bytes: Option<u64>,
    /// Memory limit of the process (`MEMORY_LIMIT_MB`, else the cgroup limit).
    pub memory_limit_bytes: Option<u64>,
    /// 95th percentile latency of all requests over the last 5 minutes.
    pub p95: Option<Duration>,
    /// Fraction of requests (0..1) that failed over the last 5 minutes.
    pub error_rate: Option<f64>,
    /// Requests over the last 5 minutes (the volume behind `error_rate`).
    pub requests_last_5m: u64,
    /// Runtime busy ratio (0..1): worker busy time over wall time, all workers.
    pub busy_ratio: Option<f64>,
    /// 99th percentile of how late the runtime's probe task woke after its timer.
    pub scheduling_delay_p99: Option<Duration>,
    /// Memory growth in MiB per minute (least-squares slope, see [`LeakDetector`](crate::LeakDetector)).
    pub memory_growth_mb_per_min: Option<f64>,
    /// Fragmentation: memory held beyond what is allocated, as a fraction of what is allocated,
    /// `held / allocated - 1`, where held is the allocator's resident bytes (jemalloc) else
    /// RSS ([`HeapStats::fragmentation`](crate::heap::HeapStats::fragmentation)). 0 means
    /// none; 0.5 means the process holds 1.5 times what it uses; 1 means twice.
    pub fragmentation: Option<f64>,
    /// When memory was last reclaimed (`POST /metrics/memory/gc`), if ever.
    pub last_reclaim: Option<SystemTime>,
    /// Per route and method, over the last 5 minutes.
    pub routes: Vec<RouteSignal>,
    /// Dependency checks (database ping and the like).
    pub dependencies: Vec<DependencySignal>,
}

impl Signals {
    /// Signals taken at `at` with nothing measured yet.
    #[must_use]
    pub fn new(at: SystemTime) -> Self {
        Self {
            at,
            heap_bytes: None,
            rss_bytes: None,
            memory_limit_bytes: None,
            p95: None,
            error_rate: None,
            requests_last_5m: 0,
            busy_ratio: None,
            scheduling_delay_p99: None,
            memory_growth_mb_per_min: None,
            fragmentation: None,
            last_reclaim: None,
            routes: Vec::new(),
            dependencies: Vec::new(),
        }
    }
}

/// One route and method over the last 5 minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSignal {
    /// Route template.
    pub route: String,
    /// Request method (`GET`).
    pub method: String,
    /// Requests.
    pub count: u64,
    /// 95th percentile latency.
    pub p95: Duration,
    /// Fraction of requests (0..1) that failed.
    pub error_rate: f64,
    /// Requests that blocked the runtime (a poll longer than the blocking threshold), when
    /// measured.
    pub blocked_polls: Option<u64>,
}

impl RouteSignal {
    /// `METHOD route`, as used in messages.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// One dependency check.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencySignal {
    /// Component name (`database`); becomes the check key `name:responseTime`.
    pub name: String,
    /// The check succeeded.
    pub ok: bool,
    /// How long the check took.
    pub response_time: Duration,
}

impl DependencySignal {
    /// The draft's component type, guessed from the name: [`ComponentType::Datastore`] when it
    /// contains (case-insensitively) `database`, `db`, `sql`, `postgres`, `mongo`, `redis`,
    /// `cache` or `store`; else [`ComponentType::Component`].
    #[must_use]
    pub fn component_type(&self) -> ComponentType {
        const DATASTORES: [&str; 8] = [
            "database", "db", "sql", "postgres", "mongo", "redis", "cache", "store",
        ];
        let name = self.name.to_ascii_lowercase();
        if DATASTORES.iter().any(|d| name.contains(d)) {
            ComponentType::Datastore
        } else {
            ComponentType::Component
        }
    }
}

/// The draft's `componentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentType {
    /// A database, cache or other store.
    Datastore,
    /// The host or process (memory, runtime).
    System,
    /// Anything else (the HTTP layer, a remote API).
    Component,
}
