//! What the endpoints and the background tasks of one [`Vitals`](crate::Vitals) share, and the
//! memory settings it keeps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use vitals::Monitor;

use crate::auth::OperatorAuth;
#[cfg(feature = "breaker")]
use crate::breaker::BreakerRegistry;
use crate::check::HealthCheck;
use crate::pressure::Pressure;
#[cfg(feature = "rate-limit")]
use crate::rate_limit::RateLimitLayer;
use crate::sampler::Sampler;

/// The state every endpoint reads.
pub(crate) type AppState = Arc<Shared>;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) monitor: Monitor,
    pub(crate) auth: OperatorAuth,
    pub(crate) checks: Vec<HealthCheck>,
    pub(crate) check_timeout: Duration,
    pub(crate) version: String,
    pub(crate) service: String,
    pub(crate) sampler: Sampler,
    pub(crate) memory: MemorySettings,
    pub(crate) last_reclaim: Mutex<Option<(Instant, SystemTime)>>,
    pub(crate) thresholds: vitals::AlertThresholds,
    pub(crate) alerts: Mutex<vitals::AlertEngine>,
    pub(crate) pressure: Pressure,
    #[cfg(feature = "breaker")]
    pub(crate) breakers: BreakerRegistry,
    #[cfg(feature = "rate-limit")]
    pub(crate) rate_limit: Option<RateLimitLayer>,
    pub(crate) resources_every: u32,
    /// Whether the monitor layer reads the tenant from `x-organization-id`.
    pub(crate) trust_organization_header: bool,
    /// Where alert transitions are delivered, if anywhere.
    #[cfg(feature = "notify")]
    pub(crate) notify: Option<crate::notifications::Delivery>,
    #[cfg(feature = "history")]
    pub(crate) history: crate::history::HistoryState,
    /// The application's own metrics, when given to the builder.
    #[cfg(feature = "custom-metrics")]
    pub(crate) custom: Option<vitals_metrics::Registry>,
    /// Parts outside vitals-axum reporting in `/metrics` and `/health/debug`.
    pub(crate) reporters: Vec<Arc<dyn crate::reporter::Reporter>>,
    /// Parts outside vitals-axum told of alert transitions (evidence capture).
    pub(crate) alert_hooks: Vec<Arc<dyn crate::alert_hook::AlertHook>>,
    /// The dependency checks' last results (at most one run a second).
    pub(crate) check_cache: crate::check_cache::CheckCache,
    /// Places for `/metrics` renders at once (`MAX_SCRAPES`).
    pub(crate) scrapes: Arc<tokio::sync::Semaphore>,
    /// Sampling-loop iterations that panicked (logged; the next interval runs).
    pub(crate) sampling_panics: std::sync::atomic::AtomicU64,
    /// Started or not, accepting traffic or refusing it: what the probes answer besides checks.
    pub(crate) lifecycle: crate::lifecycle::Lifecycle,
}

impl Shared {
    /// The id of an alert instance, as its notifications carry it (the notifier's instance
    /// name; the host name without a notifier).
    pub(crate) fn alert_id(&self, alert: &vitals::Alert) -> String {
        #[cfg(feature = "notify")]
        {
            let instance = self
                .notify
                .as_ref()
                .map_or_else(crate::notifications::default_instance, |d| {
                    d.instance.clone()
                });
            crate::notifications::alert_id(alert, &self.service, &instance)
        }
        #[cfg(not(feature = "notify"))]
        {
            let ms = alert
                .firing_since
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            format!("{}/local/{}/{ms}", self.service, alert.type_)
        }
    }

    /// The circuit breakers' snapshots as JSON (`[]` without the `breaker` feature).
    pub(crate) fn breakers_json(&self) -> serde_json::Value {
        #[cfg(feature = "breaker")]
        return serde_json::json!(self.breakers.snapshots());
        #[cfg(not(feature = "breaker"))]
        serde_json::json!([])
    }

    /// The notification channels for the dashboard (`None` without a notifier).
    pub(crate) fn notifications_json(&self) -> Option<serde_json::Value> {
        #[cfg(feature = "notify")]
        return self
            .notify
            .as_ref()
            .map(crate::notifications::Delivery::dashboard_json);
        #[cfg(not(feature = "notify"))]
        None
    }

    /// The rate limit's Redis store as JSON, `None` without one: `status` is `warn` while
    /// requests are decided without Redis (shown by `/health` and `/health/pressure`).
    pub(crate) fn rate_limit_store_json(&self) -> Option<serde_json::Value> {
        #[cfg(feature = "redis")]
        if let Some(s) = self
            .rate_limit
            .as_ref()
            .and_then(RateLimitLayer::store_status)
        {
            return Some(serde_json::json!({
                "store": "redis",
                "status": if s.falling_back { "warn" } else { "pass" },
                "fallingBack": s.falling_back,
                "fallbacksTotal": s.fallbacks_total,
                "failClosed": s.fail_closed,
            }));
        }
        None
    }

    /// The rate limit's counters as JSON (`null` without one).
    pub(crate) fn rate_limit_json(&self) -> serde_json::Value {
        #[cfg(feature = "rate-limit")]
        if let Some(l) = &self.rate_limit {
            return serde_json::json!({
                "refusedTotal": l.refused_total(),
                "trackedKeys": l.tracked_keys(),
                "overflowedTotal": l.overflowed_total(),
            });
        }
        serde_json::Value::Null
    }
}

/// Memory monitoring settings.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// The memory limit (default: `MEMORY_LIMIT_MB`, else the cgroup's, else 1 GiB).
    pub limit: vitals::MemoryLimit,
    /// Heap and RSS levels (default: 512/1024 MiB heap, 1100/1300 MiB RSS).
    pub thresholds: vitals::MemoryThresholds,
    /// Leak detection (default: growth above 20 MiB/min sustained over 30 minutes).
    pub leak: vitals::LeakDetector,
    /// Minimum time between two reclaims (default 10 s).
    pub reclaim_interval: Duration,
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            limit: vitals::detect_memory_limit_from_env(vitals::DEFAULT_MEMORY_LIMIT_BYTES),
            thresholds: vitals::MemoryThresholds::default(),
            leak: vitals::LeakDetector::default(),
            reclaim_interval: Duration::from_secs(10),
        }
    }
}
