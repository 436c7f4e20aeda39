//! [`MonitorConfig`]: the settings of a [`Monitor`](crate::Monitor)(super::Monitor).

use std::time::Duration;

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
}
