//! [`Vitals`] and its builder: one monitor, its layers and its router, and the background
//! tasks that sample, evaluate and maintain.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(feature = "rate-limit")]
use tower::layer::util::Stack;
use vitals::{Monitor, MonitorConfig};

use crate::auth::OperatorAuth;
#[cfg(feature = "breaker")]
use crate::breaker::BreakerRegistry;
use crate::check::{CheckError, CheckFn, HealthCheck, Probe};
use crate::monitor::{DEFAULT_RESOURCES_EVERY, MonitorLayer};
use crate::pressure::{PressureBuilder, PressureLayer};
#[cfg(feature = "rate-limit")]
use crate::rate_limit::RateLimitLayer;
use crate::sampler::Sampler;
use crate::shared::{MemorySettings, Shared};
use crate::{routes, tasks};

/// What [`Vitals::layers`] returns: the monitor, which also sheds load under pressure (no
/// separate [`PressureLayer`]: one layer less per request), ⊃ the rate limit given to the
/// builder, if any.
#[cfg(feature = "rate-limit")]
pub type VitalsLayers =
    Stack<tower::util::Either<RateLimitLayer, tower::layer::util::Identity>, MonitorLayer>;

/// What [`Vitals::layers`] returns: the monitor, which also sheds load under pressure (no
/// separate [`PressureLayer`]: one layer less per request).
#[cfg(not(feature = "rate-limit"))]
pub type VitalsLayers = MonitorLayer;

/// vitals for one service: the monitor, its layer and its router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Vitals {
    pub(crate) shared: Arc<Shared>,
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
    trust_organization_header: bool,
    #[cfg(feature = "notify")]
    notify: NotifySettings,
    #[cfg(feature = "history")]
    history: (
        crate::history::Source,
        Duration,
        Vec<vitals_store::budget::Budget>,
        u32,
    ),
    #[cfg(feature = "custom-metrics")]
    custom: Option<vitals_metrics::Registry>,
    reporters: Vec<Arc<dyn crate::reporter::Reporter>>,
    alert_hooks: Vec<Arc<dyn crate::alert_hook::AlertHook>>,
    await_startup: bool,
}

/// The notifier given to the builder and how notifications name this process.
#[cfg(feature = "notify")]
#[derive(Debug, Default)]
struct NotifySettings {
    notifier: Option<vitals_notify::Notifier>,
    instance: Option<String>,
    dashboard_url: Option<String>,
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
            trust_organization_header: false,
            #[cfg(feature = "notify")]
            notify: NotifySettings::default(),
            #[cfg(feature = "history")]
            history: (
                crate::history::Source::Off,
                crate::history::DEFAULT_FLUSH_INTERVAL,
                Vec::new(),
                1,
            ),
            #[cfg(feature = "custom-metrics")]
            custom: None,
            reporters: Vec::new(),
            alert_hooks: Vec::new(),
            await_startup: false,
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

    /// Adds a dependency check (none by default), run by `GET /health` and, by default, by the
    /// readiness probe `GET /health/ready` ([`Probe::Ready`]); [`groups`](Self::groups) right
    /// after it puts it in other probes. A failing check returns a [`CheckError`]:
    /// `Err("reason".into())`, or `?` on any error type.
    ///
    /// ```
    /// use vitals_axum::{Probe, Vitals};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let vitals = Vitals::builder()
    ///     .health_check("database", || async { Ok(()) }) // readiness (the default group)
    ///     .health_check("cache-warm", || async { Ok(()) })
    ///     .groups([Probe::Startup, Probe::Ready])
    ///     .health_check("event-loop", || async { Ok(()) })
    ///     .groups([Probe::Live])
    ///     .build();
    /// # let _ = vitals;
    /// # }
    /// ```
    pub fn health_check<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
    {
        let check: CheckFn = Arc::new(move || Box::pin(check()));
        self.checks.push(HealthCheck {
            name: name.to_owned(),
            check,
            groups: vec![Probe::Ready],
        });
        self
    }

    /// Puts the check added just before (by [`health_check`](Self::health_check)) in these
    /// probes' groups instead of the default [`Probe::Ready`]; an empty list leaves it in
    /// `GET /health` only. Called right after the check it applies to, so that each check's
    /// groups read beside it (the consuming-builder form of Spring's and ASP.NET's health
    /// groups).
    ///
    /// # Panics
    ///
    /// When no check has been added yet: a wiring mistake, caught on the first run.
    #[track_caller]
    pub fn groups(mut self, groups: impl IntoIterator<Item = Probe>) -> Self {
        let check = self
            .checks
            .last_mut()
            .expect("VitalsBuilder::groups: call it right after the health_check it applies to");
        check.groups.clear();
        for group in groups {
            if !check.groups.contains(&group) {
                check.groups.push(group);
            }
        }
        self
    }

    /// Holds `GET /health/startup` and `GET /health/ready` at 503 until
    /// [`Vitals::startup_complete`] is called (default: started once built): for an
    /// application that warms up (caches, migrations, a first sync) after the server listens.
    pub fn await_startup(mut self) -> Self {
        self.await_startup = true;
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

    /// Whether the `x-organization-id` header names the tenant (default `false`); see
    /// [`MonitorLayer::trust_organization_header`]. Which tenants the application knows, and
    /// how many `/metrics` names, are [`MonitorConfig`] settings
    /// ([`is_known_tenant`](MonitorConfig::is_known_tenant),
    /// [`top_tenants`](MonitorConfig::top_tenants)).
    pub fn trust_organization_header(mut self, trusted: bool) -> Self {
        self.trust_organization_header = trusted;
        self
    }

    /// Delivers every alert transition (fired, escalated, resolved) to `notifier`'s channels
    /// from the sampling loop; none by default. `notify` only queues (bounded, never blocking),
    /// so requests and sampling are unaffected. See `GET /metrics/notifications`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let notifier = vitals_notify::Config::new()
    ///     .alertmanager("http://127.0.0.1:9093")
    ///     .start()
    ///     .unwrap();
    /// let vitals = vitals_axum::Vitals::builder()
    ///     .notifier(notifier)
    ///     .dashboard_url("http://app.example:4600/metrics/dashboard")
    ///     .build();
    /// assert_eq!(vitals.notifier().unwrap().snapshot().channels.len(), 1);
    /// # }
    /// ```
    #[cfg(feature = "notify")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
    pub fn notifier(mut self, notifier: vitals_notify::Notifier) -> Self {
        self.notify.notifier = Some(notifier);
        self
    }

    /// The `instance` of notifications (default: the host name).
    #[cfg(feature = "notify")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
    pub fn notify_instance(mut self, instance: &str) -> Self {
        self.notify.instance = Some(instance.to_owned());
        self
    }

    /// The dashboard link notifications carry (Alertmanager's `generatorURL`, the link in
    /// PagerDuty and Slack); none by default.
    #[cfg(feature = "notify")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
    pub fn dashboard_url(mut self, url: &str) -> Self {
        self.notify.dashboard_url = Some(url.to_owned());
        self
    }

    /// Keeps history in `store` (feature `history`; off by default): once a flush interval
    /// the minutes recorded are written from a blocking thread, the last day's minute points
    /// are read back at build time, and `GET /metrics/history` answers from it. Call
    /// [`Vitals::flush_history`] at shutdown to write the minute in progress.
    #[cfg(feature = "history")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history")))]
    pub fn history(mut self, store: vitals_store::Store) -> Self {
        self.history.0 = crate::history::Source::Store(Box::new(store));
        self
    }

    /// As [`VitalsBuilder::history`], opening the store at `path` when built. A store that
    /// cannot be opened (corrupt, read-only, locked) is logged once and reported as a `warn`
    /// check by `/health`; serving goes on without history.
    #[cfg(feature = "history")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history")))]
    pub fn history_at(
        mut self,
        path: impl Into<std::path::PathBuf>,
        config: vitals_store::StoreConfig,
    ) -> Self {
        self.history.0 = crate::history::Source::Path(path.into(), config);
        self
    }

    /// How often history is written (default 60 s, at least 1 s). At 60 s or more, a second
    /// after each minute ends (full minutes); under a minute, every interval, the minute in
    /// progress in parts (the store adds them up): tests use a few seconds.
    #[cfg(feature = "history")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history")))]
    pub fn history_flush_interval(mut self, interval: Duration) -> Self {
        self.history.1 = interval;
        self
    }

    /// Performance budgets evaluated from the history after every flush (none by default),
    /// reported by `GET /health/performance/budgets` and `/metrics`; each budget's page and
    /// ticket burn-rate alerts (`budgetPage:<name>`, `budgetTicket:<name>`) go through the
    /// alert engine like its other alerts.
    #[cfg(feature = "history")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history")))]
    pub fn budgets(mut self, budgets: Vec<vitals_store::budget::Budget>) -> Self {
        self.history.2 = budgets;
        self
    }

    /// Divides every burn-rate window of the budgets by `scale` (default 1; rounded up to
    /// whole minutes): with 60, the 1 h / 5 min page pair is judged over one minute, so a
    /// test or a demonstration pages within a flush or two instead of an hour. Not for
    /// production: the windows are what make the alerts meaningful.
    #[cfg(feature = "history")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history")))]
    pub fn budget_window_scale(mut self, scale: u32) -> Self {
        self.history.3 = scale.max(1);
        self
    }

    /// The application's metrics to serve beside vitals' own in `/metrics`, `/metrics/json`
    /// and the dashboard (none by default). The registry is not installed here: install it
    /// (alone or in a fan-out) or use it as a local recorder; or let
    /// [`custom_metrics`](Self::custom_metrics) make and install one. Build it from
    /// [`metrics_config`](crate::metrics_config) so it refuses vitals' own family names.
    #[cfg(feature = "custom-metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "custom-metrics")))]
    pub fn metrics_registry(mut self, registry: vitals_metrics::Registry) -> Self {
        self.custom = Some(registry);
        self
    }

    /// Adds a part outside vitals-axum that reports its state in `/metrics` and
    /// `/health/debug` (none by default); see [`Reporter`](crate::Reporter).
    pub fn reporter(mut self, reporter: impl crate::reporter::Reporter) -> Self {
        self.reporters.push(Arc::new(reporter));
        self
    }

    /// Adds a part told of every alert transition in the sampling loop, before notification;
    /// the URLs it answers go into the notifications' `artifact_urls` (see [`AlertHook`]).
    ///
    /// [`AlertHook`]: crate::AlertHook
    pub fn alert_hook(mut self, hook: impl crate::alert_hook::AlertHook) -> Self {
        self.alert_hooks.push(Arc::new(hook));
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
        let check_cache = crate::check_cache::CheckCache::new(self.checks.len());
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
                trust_organization_header: self.trust_organization_header,
                #[cfg(feature = "notify")]
                notify: self.notify.notifier.map(|notifier| {
                    crate::notifications::Delivery::new(
                        notifier,
                        self.notify
                            .instance
                            .unwrap_or_else(crate::notifications::default_instance),
                        self.notify.dashboard_url,
                    )
                }),
                #[cfg(feature = "history")]
                history: crate::history::HistoryState::new(
                    self.history.0,
                    self.history.1,
                    self.history.2,
                    self.history.3,
                ),
                #[cfg(feature = "custom-metrics")]
                custom: self.custom,
                reporters: self.reporters,
                alert_hooks: self.alert_hooks,
                check_cache,
                scrapes: Arc::new(tokio::sync::Semaphore::new(crate::routes::MAX_SCRAPES)),
                sampling_panics: std::sync::atomic::AtomicU64::new(0),
                lifecycle: crate::lifecycle::Lifecycle::new(self.await_startup),
            }),
        };
        #[cfg(feature = "history")]
        vitals.shared.history.seed(vitals.shared.sampler.history());
        crate::alert_state::restore(&vitals.shared);
        if tokio::runtime::Handle::try_current().is_ok() {
            let first = vitals.shared.sampler.sample_now();
            vitals.shared.pressure.evaluate(&first);
            tasks::spawn_sampling(Arc::downgrade(&vitals.shared));
            tasks::spawn_maintenance(Arc::downgrade(&vitals.shared));
            #[cfg(feature = "history")]
            tasks::spawn_history(Arc::downgrade(&vitals.shared));
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

    /// Writes the history not yet written, the minute in progress included (feature
    /// `history`; nothing without a store). Call it once the server has stopped serving.
    #[cfg(feature = "history")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history")))]
    pub async fn flush_history(&self) {
        let shared = Arc::clone(&self.shared);
        let _ =
            tokio::task::spawn_blocking(move || crate::tasks::flush_history(&shared, true)).await;
    }

    /// Every family `/metrics` serves, as a model (built now: the monitor's, the latest system
    /// sample's, the protection layers', the application's and the reporters'), for an
    /// exporter that pushes them elsewhere (OTLP, say).
    #[must_use]
    pub fn metric_families(&self) -> Vec<vitals::MetricFamily> {
        routes::metric_families(&self.shared)
    }

    /// The system sampler and its history.
    #[must_use]
    pub fn sampler(&self) -> &Sampler {
        &self.shared.sampler
    }

    /// The notifier given to the builder, if any: its snapshot, or `drain` before a shutdown.
    #[cfg(feature = "notify")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
    #[must_use]
    pub fn notifier(&self) -> Option<&vitals_notify::Notifier> {
        self.shared.notify.as_ref().map(|d| &d.notifier)
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

    /// The layer that records requests into [`Vitals::monitor`].
    #[must_use]
    pub fn layer(&self) -> MonitorLayer {
        MonitorLayer::new(self.shared.monitor.clone())
            .in_router(true)
            .trace_context(true)
            .resources_every(self.shared.resources_every)
            .trust_organization_header(self.shared.trust_organization_header)
    }

    /// The whole request stack as one layer: [`Vitals::layer`] (monitor, outermost, so shed and
    /// refused requests are recorded), shedding load under pressure itself as
    /// [`Vitals::pressure_layer`] would just inside it, around the rate limit given to the
    /// builder, if any. Apply it with one `Router::layer` call: every such call
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
        // The pressure check inside the monitor rather than as a layer of its own: one
        // service, future and poll less per request (~80 instructions under callgrind).
        let inner = self.layer().shed_under(self.shared.pressure.clone());
        #[cfg(feature = "rate-limit")]
        let inner = Stack::new(tower::util::option_layer(self.rate_limit_layer()), inner);
        inner
    }
}
