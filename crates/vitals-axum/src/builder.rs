//! [`Vitals`] and its builder: one monitor, its layers and its router, and the background
//! tasks that sample, evaluate and maintain.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::layer::util::Stack;
use vitals::{Monitor, MonitorConfig};

use crate::auth::OperatorAuth;
#[cfg(feature = "breaker")]
use crate::breaker::BreakerRegistry;
use crate::check::{CheckError, CheckFn, HealthCheck};
use crate::monitor::{DEFAULT_RESOURCES_EVERY, MonitorLayer};
use crate::pressure::{Pressure, PressureBuilder, PressureLayer};
#[cfg(feature = "rate-limit")]
use crate::rate_limit::RateLimitLayer;
use crate::sampler::Sampler;
use crate::shared::{MemorySettings, Shared};
use crate::{routes, tasks};

/// What [`Vitals::layers`] returns: monitor ⊃ pressure ⊃ the rate limit given to the builder,
/// if any.
#[cfg(feature = "rate-limit")]
pub type VitalsLayers = Stack<
    tower::util::Either<RateLimitLayer, tower::layer::util::Identity>,
    Stack<PressureLayer, MonitorLayer>,
>;

/// What [`Vitals::layers`] returns: monitor ⊃ pressure.
#[cfg(not(feature = "rate-limit"))]
pub type VitalsLayers = Stack<PressureLayer, MonitorLayer>;

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
    thresholds: vitals::AlertThresholds,
    pressure: PressureBuilder,
    #[cfg(feature = "breaker")]
    breakers: BreakerRegistry,
    #[cfg(feature = "rate-limit")]
    rate_limit: Option<RateLimitLayer>,
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
            thresholds: vitals::AlertThresholds::default(),
            pressure: PressureBuilder::default(),
            #[cfg(feature = "breaker")]
            breakers: BreakerRegistry::new(),
            #[cfg(feature = "rate-limit")]
            rate_limit: None,
            resources_every: DEFAULT_RESOURCES_EVERY,
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

    /// Adds a dependency check to `GET /health` (none by default). A failing check returns a
    /// [`CheckError`]: `Err("reason".into())`, or `?` on any error type.
    pub fn health_check<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
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

    /// Alert, health and recommendation thresholds (default: see
    /// [`vitals::AlertThresholds`]). Heap and RSS levels come from [`MemorySettings`].
    pub fn thresholds(mut self, thresholds: vitals::AlertThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Load-shedding thresholds for [`Vitals::pressure_layer`] (default: heap 1 GiB, RSS
    /// 1.25 GiB, busy ratio 0.98), evaluated after every sample.
    pub fn pressure(mut self, pressure: PressureBuilder) -> Self {
        self.pressure = pressure;
        self
    }

    /// Circuit breakers whose state `/health`, `/metrics` and the dashboard report (none by
    /// default).
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    pub fn breakers(mut self, breakers: BreakerRegistry) -> Self {
        self.breakers = breakers;
        self
    }

    /// A configured rate limit, served by [`Vitals::rate_limit_layer`] and reported by
    /// `/metrics` and the dashboard (none by default).
    #[cfg(feature = "rate-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
    pub fn rate_limit(mut self, layer: RateLimitLayer) -> Self {
        self.rate_limit = Some(layer);
        self
    }

    /// Measure CPU time and allocations of one request in `every` (default
    /// [`DEFAULT_RESOURCES_EVERY`]; `0` off, `1` all); see
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
        let sampler = Sampler::new(monitor.clone(), self.sample_interval);
        let memory = self.memory.thresholds.resolve(self.memory.limit.bytes);
        let thresholds = self
            .thresholds
            .heap(vitals::Level::new(
                memory.heap_warning_bytes,
                memory.heap_critical_bytes,
            ))
            .rss(vitals::Level::new(
                memory.rss_warning_bytes,
                memory.rss_critical_bytes,
            ));
        let alerts = Mutex::new(vitals::AlertEngine::new(thresholds.clone()));
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
                last_reclaim: Mutex::new(None),
                thresholds,
                alerts,
                pressure: self.pressure.build(),
                #[cfg(feature = "breaker")]
                breakers: self.breakers,
                #[cfg(feature = "rate-limit")]
                rate_limit: self.rate_limit,
                resources_every: self.resources_every,
                check_cache: crate::check_cache::CheckCache::default(),
                scrapes: Arc::new(tokio::sync::Semaphore::new(crate::routes::MAX_SCRAPES)),
                sampling_panics: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let first = vitals.shared.sampler.sample_now();
            vitals.shared.pressure.evaluate(&first);
            tasks::spawn_sampling(Arc::downgrade(&vitals.shared));
            tasks::spawn_maintenance(Arc::downgrade(&vitals.shared));
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
    pub fn sampler(&self) -> &Sampler {
        &self.shared.sampler
    }

    /// The load-shedding state, evaluated after every sample.
    #[must_use]
    pub fn pressure(&self) -> &Pressure {
        &self.shared.pressure
    }

    /// The layer that sheds load under pressure; put it inside [`Vitals::layer`] so shed
    /// requests are recorded.
    #[must_use]
    pub fn pressure_layer(&self) -> PressureLayer {
        PressureLayer::new(self.shared.pressure.clone())
    }

    /// The rate limit given to the builder, if any (clones share its state).
    #[cfg(feature = "rate-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
    #[must_use]
    pub fn rate_limit_layer(&self) -> Option<RateLimitLayer> {
        self.shared.rate_limit.clone()
    }

    /// How many iterations of the sampling loop panicked (each logged; the loop carries on
    /// at the next interval, so pressure and alerts never freeze in their last state).
    #[must_use]
    pub fn sampling_panics(&self) -> u64 {
        self.shared
            .sampling_panics
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The layer that records requests into [`Vitals::monitor`].
    #[must_use]
    pub fn layer(&self) -> MonitorLayer {
        MonitorLayer::new(self.shared.monitor.clone())
            .in_router(true)
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
    ///     .merge(vitals.router()) // first, so that vitals' own routes are monitored too
    ///     .layer(vitals.layers());
    /// # }
    /// ```
    ///
    /// Merge [`Vitals::router`] before applying it: `Router::layer` wraps only the routes the
    /// router has at that point.
    #[must_use]
    pub fn layers(&self) -> VitalsLayers {
        let inner = Stack::new(self.pressure_layer(), self.layer());
        #[cfg(feature = "rate-limit")]
        let inner = Stack::new(tower::util::option_layer(self.rate_limit_layer()), inner);
        inner
    }

    /// The health and performance endpoints, ready to merge into the app's router (before
    /// [`Vitals::layers`] is applied, so that they are monitored too).
    ///
    /// Public (for load balancers): `GET /health/ping`, `GET /health`, `GET /metrics/health`,
    /// `GET /health/pressure`. Operator-only (see [`OperatorAuth`]): `GET /health/debug`,
    /// `/health/performance/stats`, `/health/performance/summary`,
    /// `/health/performance/slow?limit=10`, `/health/performance/v2/stats`,
    /// `/health/performance/v2/by-organization?organizationId=…`,
    /// `/health/performance/v2/slow-paths?limit=5`, `/health/performance/v2/system`,
    /// `/health/performance/v2/health`, `/metrics` (Prometheus text or OpenMetrics),
    /// `/metrics/json`, `/metrics/memory`, `POST /metrics/memory/gc` (a `GET` answers 405 with
    /// `Allow: POST`) and `/metrics/dashboard` (JSON; with the `dashboard` feature, the live
    /// page to a browser, its assets and its event stream).
    ///
    /// Every JSON field is camelCase; durations are fractional milliseconds (`…Ms`); every
    /// error is RFC 9457 problem+json.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{Router, body::Body};
    /// use http::Request;
    /// use tower::ServiceExt;
    ///
    /// let vitals = vitals_axum::Vitals::builder().build();
    /// let app: Router = vitals.router();
    /// let res = app
    ///     .oneshot(Request::get("/health/ping").body(Body::empty()).unwrap())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(res.status(), 200);
    /// # }
    /// ```
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::router(Arc::clone(&self.shared))
    }
}
