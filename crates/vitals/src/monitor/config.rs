//! [`MonitorConfig`]: the settings of a [`Monitor`](crate::Monitor)(super::Monitor).

use std::time::Duration;

use crate::monitor::tenants::KnownTenants;

/// Settings of a [`Monitor`](crate::Monitor). Every field has a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MonitorConfig {
    /// Slots of the recent-request ring. Default 2000.
    pub ring_capacity: usize,
    /// A request slower than this is a slow request. Default 1 s.
    pub slow_threshold: Duration,
    /// Distinct route templates with their own series. Default 1000.
    pub max_routes: usize,
    /// Distinct organizations with their own series. Default 10,000.
    pub max_organizations: usize,
    /// A request that used more CPU than this is `isHighCpu`. Default 100 ms.
    pub high_cpu_threshold: Duration,
    /// A request that allocated more than this is `isHighMemory`. Default 16 MiB.
    pub high_memory_threshold: u64,
    /// A single poll longer than this blocked the runtime. Default 10 ms.
    pub blocking_poll_threshold: Duration,
    /// Tenants `/metrics` names, the busiest over the last [`tenant_interval`]; the rest
    /// fold into `(other)`. Default 100. (The JSON endpoints keep every tenant.)
    ///
    /// [`tenant_interval`]: Self::tenant_interval
    pub top_tenants: usize,
    /// How often the tenants `/metrics` names are chosen again. Default 1 minute.
    pub tenant_interval: Duration,
    /// Whether `/metrics` carries a latency histogram per named tenant (14 lines each) rather
    /// than only its requests and errors counters. Default `false`.
    pub tenant_histograms: bool,
    /// A tenant without a request for this long loses its series (checked every
    /// [`tenant_interval`](Self::tenant_interval)). Default 24 hours.
    pub tenant_idle: Duration,
    /// The application's list of its tenants: a tenant it knows gets a series from its first
    /// request, a client error included (see [`TenantSource`](crate::TenantSource)). Default
    /// none.
    pub known_tenants: Option<KnownTenants>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            ring_capacity: 2000,
            slow_threshold: Duration::from_secs(1),
            max_routes: 1000,
            max_organizations: 10_000,
            high_cpu_threshold: Duration::from_millis(100),
            high_memory_threshold: 16 << 20,
            blocking_poll_threshold: Duration::from_millis(10),
            top_tenants: 100,
            tenant_interval: Duration::from_secs(60),
            tenant_histograms: false,
            tenant_idle: Duration::from_secs(24 * 60 * 60),
            known_tenants: None,
        }
    }
}

impl MonitorConfig {
    /// Sets [`MonitorConfig::ring_capacity`].
    #[must_use]
    pub fn ring_capacity(mut self, slots: usize) -> Self {
        self.ring_capacity = slots.max(1);
        self
    }

    /// Sets [`MonitorConfig::slow_threshold`].
    #[must_use]
    pub fn slow_threshold(mut self, threshold: Duration) -> Self {
        self.slow_threshold = threshold;
        self
    }

    /// Sets [`MonitorConfig::max_routes`].
    #[must_use]
    pub fn max_routes(mut self, routes: usize) -> Self {
        self.max_routes = routes;
        self
    }

    /// Sets [`MonitorConfig::max_organizations`].
    #[must_use]
    pub fn max_organizations(mut self, organizations: usize) -> Self {
        self.max_organizations = organizations;
        self
    }

    /// Sets [`MonitorConfig::high_cpu_threshold`].
    #[must_use]
    pub fn high_cpu_threshold(mut self, threshold: Duration) -> Self {
        self.high_cpu_threshold = threshold;
        self
    }

    /// Sets [`MonitorConfig::high_memory_threshold`].
    #[must_use]
    pub fn high_memory_threshold(mut self, bytes: u64) -> Self {
        self.high_memory_threshold = bytes;
        self
    }

    /// Sets [`MonitorConfig::blocking_poll_threshold`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = vitals::MonitorConfig::default().blocking_poll_threshold(Duration::from_millis(50));
    /// assert_eq!(config.blocking_poll_threshold, Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn blocking_poll_threshold(mut self, threshold: Duration) -> Self {
        self.blocking_poll_threshold = threshold;
        self
    }

    /// Sets [`MonitorConfig::top_tenants`].
    #[must_use]
    pub fn top_tenants(mut self, tenants: usize) -> Self {
        self.top_tenants = tenants;
        self
    }

    /// Sets [`MonitorConfig::tenant_interval`] (at least one second).
    #[must_use]
    pub fn tenant_interval(mut self, interval: Duration) -> Self {
        self.tenant_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// Sets [`MonitorConfig::tenant_histograms`].
    #[must_use]
    pub fn tenant_histograms(mut self, on: bool) -> Self {
        self.tenant_histograms = on;
        self
    }

    /// Sets [`MonitorConfig::tenant_idle`].
    #[must_use]
    pub fn tenant_idle(mut self, idle: Duration) -> Self {
        self.tenant_idle = idle;
        self
    }

    /// Sets [`MonitorConfig::known_tenants`]: `known` answers whether an id is one of the
    /// application's tenants, and is authoritative: an id read from the request (a path
    /// parameter) gets a series only if `known` says yes, whatever the status. It runs on the
    /// request path, only for an id that has no series yet, so it must be quick and never
    /// block (a set in memory, not a database query).
    ///
    /// ```
    /// let config = vitals::MonitorConfig::default().is_known_tenant(|id| id == "acme");
    /// assert!(config.known_tenants.is_some());
    /// ```
    #[must_use]
    pub fn is_known_tenant(mut self, known: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.known_tenants = Some(KnownTenants::new(known));
        self
    }
}
