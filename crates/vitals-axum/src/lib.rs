//! # vitals-axum
//!
//! Tower layers and the axum router of vitals. Add one layer and merge one router:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use vitals_axum::Vitals;
//!
//! # async fn run() -> std::io::Result<()> {
//! let vitals = Vitals::builder()
//!     .health_check("database", || async { Ok(()) })
//!     .build();
//! let app = Router::new()
//!     .route("/api/hello", get(|| async { "hello" }))
//!     .merge(vitals.router())
//!     .layer(vitals.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4600").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```
//!
//! - [`MonitorLayer`] records every request (see [`monitor`]).
//! - [`Vitals::router`] serves the health and performance endpoints (see [`routes`]),
//!   operator-only ones guarded by [`OperatorAuth`].
//! - Errors are RFC 9457 [`Problem`]s.

/// `get_ref`, `get_mut` and `into_inner` for a middleware service whose inner service is the
/// field `inner` (as tower-http's `define_inner_service_accessors!`).
macro_rules! inner_service_accessors {
    () => {
        /// The wrapped service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The wrapped service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub mod auth;
pub mod breaker;
pub mod context;
mod header_arena;
pub mod monitor;
pub mod pressure;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod routes;
pub mod runtime;
pub mod sampler;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use auth::OperatorAuth;
pub use breaker::{BreakerState, CircuitBreaker, CircuitBreakerLayer};
pub use context::{Organization, RequestContext, RequestId, TraceContext};
use futures_util::future::BoxFuture;
pub use monitor::{MonitorLayer, MonitorService};
pub use problem::Problem;
pub use rate_limit::{RateLimit, RateLimitLayer};
use tower::layer::util::{Identity, Stack};
use vitals::{Monitor, MonitorConfig};

/// RFC 3339 with milliseconds, the timestamp format of every JSON answer.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// What [`Vitals::layers`] returns: monitor ⊃ pressure ⊃ optional rate limit.
pub type VitalsLayers = Stack<
    tower::util::Either<rate_limit::RateLimitLayer, Identity>,
    Stack<pressure::PressureLayer, MonitorLayer>,
>;

/// An async health check: `Ok(())` healthy, `Err(reason)` not.
pub type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A named dependency check run by `GET /health`.
#[derive(Clone)]
pub struct HealthCheck {
    /// Component name (`database`).
    pub name: String,
    /// The check.
    pub check: CheckFn,
}

impl std::fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) monitor: Monitor,
    pub(crate) auth: OperatorAuth,
    pub(crate) checks: Vec<HealthCheck>,
    pub(crate) check_timeout: Duration,
    pub(crate) version: String,
    pub(crate) service: String,
    pub(crate) sampler: sampler::Sampler,
    pub(crate) memory: MemorySettings,
    pub(crate) last_reclaim: std::sync::Mutex<Option<(std::time::Instant, std::time::SystemTime)>>,
    pub(crate) thresholds: vitals::alerts::Thresholds,
    pub(crate) alerts: std::sync::Mutex<vitals::alerts::AlertEngine>,
    pub(crate) pressure: pressure::Pressure,
    pub(crate) breakers: breaker::BreakerRegistry,
    pub(crate) rate_limit: Option<rate_limit::RateLimitLayer>,
    pub(crate) resources_every: u32,
}

/// Memory monitoring settings.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// The memory limit (default: `MEMORY_LIMIT_MB`, else the cgroup's, else 1 GiB).
    pub limit: vitals::process::MemoryLimit,
    /// Heap and RSS levels (default: the seed's 512/1024 MiB heap, 1100/1300 MiB RSS).
    pub thresholds: vitals::memory::MemoryThresholds,
    /// Leak detection (default: growth above 20 MiB/min sustained over 30 minutes).
    pub leak: vitals::trend::LeakDetector,
    /// Minimum time between two reclaims (default 10 s).
    pub reclaim_interval: Duration,
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            limit: vitals::process::detect_memory_limit_from_env(
                vitals::memory::DEFAULT_LIMIT_BYTES,
            ),
            thresholds: vitals::memory::MemoryThresholds::default(),
            leak: vitals::trend::LeakDetector::default(),
            reclaim_interval: Duration::from_secs(10),
        }
    }
}

/// vitals for one service: the monitor, its layer and its router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Vitals {
    shared: Arc<Shared>,
}

/// Builds [`Vitals`]; every setting has a documented default.
#[derive(Debug)]
#[must_use]
pub struct VitalsBuilder {
    config: MonitorConfig,
    auth: OperatorAuth,
    checks: Vec<HealthCheck>,
    check_timeout: Duration,
    version: String,
    service: String,
    sample_interval: Duration,
    memory: MemorySettings,
    thresholds: vitals::alerts::Thresholds,
    pressure: pressure::PressureBuilder,
    breakers: breaker::BreakerRegistry,
    rate_limit: Option<rate_limit::RateLimitLayer>,
    resources_every: u32,
}

impl Default for VitalsBuilder {
    fn default() -> Self {
        Self {
            config: MonitorConfig::default(),
            auth: OperatorAuth::loopback_only(),
            checks: Vec::new(),
            check_timeout: Duration::from_secs(2),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            service: "vitals".to_owned(),
            sample_interval: Duration::from_secs(5),
            memory: MemorySettings::default(),
            thresholds: vitals::alerts::Thresholds::default(),
            pressure: pressure::PressureBuilder::default(),
            breakers: breaker::BreakerRegistry::new(),
            rate_limit: None,
            resources_every: monitor::DEFAULT_RESOURCES_EVERY,
        }
    }
}

impl VitalsBuilder {
    /// Monitor settings (default [`MonitorConfig::default`]).
    pub fn monitor_config(mut self, config: MonitorConfig) -> Self {
        self.config = config;
        self
    }

    /// Who may call operator endpoints (default: loopback clients only).
    pub fn operator_auth(mut self, auth: OperatorAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Adds a dependency check to `GET /health` (none by default).
    pub fn health_check<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check: CheckFn = Arc::new(move || Box::pin(check()));
        self.checks.push(HealthCheck {
            name: name.to_owned(),
            check,
        });
        self
    }

    /// How long a health check may take before it counts as failed (default 2 s).
    pub fn check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// The version reported by `/health` (default: this crate's).
    pub fn version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.version);
        self
    }

    /// The service name reported by `/health` (default `vitals`).
    pub fn service(mut self, service: &str) -> Self {
        service.clone_into(&mut self.service);
        self
    }

    /// How often the process, heap and runtime are sampled (default 5 s).
    pub fn sample_interval(mut self, interval: Duration) -> Self {
        self.sample_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Memory limit, thresholds, leak detection and reclaim settings.
    pub fn memory(mut self, memory: MemorySettings) -> Self {
        self.memory = memory;
        self
    }

    /// Alert, health and recommendation thresholds (default: the seed's; see
    /// [`vitals::alerts::Thresholds`]). Heap and RSS levels come from [`MemorySettings`].
    pub fn thresholds(mut self, thresholds: vitals::alerts::Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Load-shedding thresholds for [`Vitals::pressure_layer`] (default: heap 1 GiB, RSS
    /// 1.25 GiB, busy ratio 0.98), evaluated after every sample.
    pub fn pressure(mut self, pressure: pressure::PressureBuilder) -> Self {
        self.pressure = pressure;
        self
    }

    /// Circuit breakers whose state `/health`, `/metrics` and the dashboard report (none by
    /// default).
    pub fn breakers(mut self, breakers: breaker::BreakerRegistry) -> Self {
        self.breakers = breakers;
        self
    }

    /// A configured rate limit, served by [`Vitals::rate_limit_layer`] and reported by
    /// `/metrics` and the dashboard (none by default).
    pub fn rate_limit(mut self, layer: rate_limit::RateLimitLayer) -> Self {
        self.rate_limit = Some(layer);
        self
    }

    /// Measure CPU time and allocations of one request in `every` (default
    /// [`monitor::DEFAULT_RESOURCES_EVERY`]; `0` off, `1` all); see
    /// [`MonitorLayer::resources_every`].
    pub fn resources_every(mut self, every: u32) -> Self {
        self.resources_every = every;
        self
    }

    /// Builds. Inside a tokio runtime, also starts the sampler and the once-a-second
    /// maintenance task (both stop when the last [`Vitals`] clone is dropped).
    #[must_use]
    pub fn build(self) -> Vitals {
        let monitor = Monitor::new(self.config);
        let sampler = sampler::Sampler::new(monitor.clone(), self.sample_interval);
        let memory = self.memory.thresholds.resolve(self.memory.limit.bytes);
        let thresholds = self
            .thresholds
            .heap(vitals::alerts::Level::new(
                memory.heap_warning_bytes,
                memory.heap_critical_bytes,
            ))
            .rss(vitals::alerts::Level::new(
                memory.rss_warning_bytes,
                memory.rss_critical_bytes,
            ));
        let alerts = std::sync::Mutex::new(vitals::alerts::AlertEngine::new(thresholds.clone()));
        let vitals = Vitals {
            shared: Arc::new(Shared {
                monitor,
                auth: self.auth,
                checks: self.checks,
                check_timeout: self.check_timeout,
                version: self.version,
                service: self.service,
                sampler,
                memory: self.memory,
                last_reclaim: std::sync::Mutex::new(None),
                thresholds,
                alerts,
                pressure: self.pressure.build(),
                breakers: self.breakers,
                rate_limit: self.rate_limit,
                resources_every: self.resources_every,
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let first = vitals.shared.sampler.sample_now();
            vitals.shared.pressure.evaluate(&first);
            routes::spawn_sampling(Arc::downgrade(&vitals.shared));
            let weak = Arc::downgrade(&vitals.shared);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(shared) = weak.upgrade() else { break };
                    shared.monitor.maintain();
                }
            });
        }
        vitals
    }
}

impl Vitals {
    /// A builder with the defaults.
    pub fn builder() -> VitalsBuilder {
        VitalsBuilder::default()
    }

    /// The request monitor.
    #[must_use]
    pub fn monitor(&self) -> &Monitor {
        &self.shared.monitor
    }

    /// The system sampler and its history.
    #[must_use]
    pub fn sampler(&self) -> &sampler::Sampler {
        &self.shared.sampler
    }

    /// The load-shedding state, evaluated after every sample.
    #[must_use]
    pub fn pressure(&self) -> &pressure::Pressure {
        &self.shared.pressure
    }

    /// The layer that sheds load under pressure; put it inside [`Vitals::layer`] so shed
    /// requests are recorded.
    #[must_use]
    pub fn pressure_layer(&self) -> pressure::PressureLayer {
        pressure::PressureLayer::new(self.shared.pressure.clone())
    }

    /// The rate limit given to the builder, if any (clones share its state).
    #[must_use]
    pub fn rate_limit_layer(&self) -> Option<rate_limit::RateLimitLayer> {
        self.shared.rate_limit.clone()
    }

    /// The layer that records requests into [`Vitals::monitor`].
    #[must_use]
    pub fn layer(&self) -> MonitorLayer {
        MonitorLayer::new(self.shared.monitor.clone())
            .trace_context(true)
            .resources_every(self.shared.resources_every)
    }

    /// The whole request stack as one layer: [`Vitals::layer`] (monitor, outermost, so shed and
    /// refused requests are recorded) around [`Vitals::pressure_layer`] around the rate limit
    /// given to the builder, if any. Apply it with one `Router::layer` call: every such call
    /// boxes each route's service, future and body once more, so the three layers applied
    /// together cost less than applied one by one (see the README's "Overhead").
    ///
    /// ```
    /// use axum::{Router, routing::get};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let vitals = vitals_axum::Vitals::builder().build();
    /// let app: Router = Router::new()
    ///     .route("/hello", get(|| async { "hi" }))
    ///     .layer(vitals.layers())
    ///     .merge(vitals.router());
    /// # }
    /// ```
    #[must_use]
    pub fn layers(&self) -> VitalsLayers {
        Stack::new(
            tower::util::option_layer(self.rate_limit_layer()),
            Stack::new(self.pressure_layer(), self.layer()),
        )
    }

    /// The health and performance endpoints, ready to merge into the app's router.
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::router(Arc::clone(&self.shared))
    }
}
