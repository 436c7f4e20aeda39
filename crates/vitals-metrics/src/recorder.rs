//! [`Registry`]: the `metrics::Recorder` and the handle to read what it recorded.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use vitals::MetricFamily;
use vitals::{encode_openmetrics, encode_text};

use crate::cell::{Cell, Kind};
use crate::config::Config;
use crate::registry::Store;
use crate::render;
use crate::snapshot::MetricsSnapshot;

/// Installing the recorder failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Another recorder is already the process's global recorder.
    #[error(
        "a global `metrics` recorder is already installed; to keep it, build a \
         `metrics_util::layers::FanoutBuilder` with both recorders (vitals' `Registry` and the \
         other) and install the fan-out once; in tests, use `metrics::with_local_recorder` \
         instead of a global recorder"
    )]
    AlreadySet,
}

/// The application's metrics, recorded through the `metrics` facade and read by vitals.
///
/// A cheap handle (an `Arc`): clone it, install one clone ([`Registry::install`]) and keep one
/// to render. It implements [`metrics::Recorder`], so it can also go into a fan-out or
/// [`metrics::with_local_recorder`].
///
/// ```
/// use vitals_metrics::{Config, Registry};
///
/// let registry = Registry::new(Config::default());
/// metrics::with_local_recorder(&registry, || {
///     metrics::describe_counter!("orders_created", "Orders created.");
///     metrics::counter!("orders_created", "channel" => "web").increment(2);
///     metrics::histogram!("db_query_duration_seconds").record(0.012);
/// });
/// let text = registry.render_text();
/// assert!(text.contains("orders_created_total{channel=\"web\"} 2\n"));
/// assert!(text.contains("db_query_duration_seconds_bucket{le=\"0.025\"} 1\n"));
/// ```
///
/// Installed beside another recorder with `metrics-util`'s fan-out:
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
/// use metrics_util::layers::FanoutBuilder;
/// use vitals_metrics::{Config, Registry};
///
/// let vitals = Registry::new(Config::default());
/// let other = DebuggingRecorder::new(); // e.g. metrics_exporter_prometheus' recorder
/// let fanout = FanoutBuilder::default()
///     .add_recorder(vitals.clone())
///     .add_recorder(other)
///     .build();
/// metrics::set_global_recorder(fanout).expect("no recorder installed yet");
///
/// metrics::counter!("jobs_done").increment(1);
/// assert!(vitals.render_text().contains("jobs_done_total 1\n"));
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    store: Arc<Store>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Registry {
    /// An empty registry with the given caps.
    pub fn new(config: Config) -> Self {
        Self {
            store: Arc::new(Store::new(config)),
        }
    }

    /// Makes a clone of this registry the process's global `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`InstallError::AlreadySet`] when a global recorder is already set; its message names
    /// the way out (a fan-out, or a local recorder in tests).
    pub fn install(&self) -> Result<(), InstallError> {
        metrics::set_global_recorder(self.clone()).map_err(|_| InstallError::AlreadySet)
    }

    /// Every application metric as the core's exposition families, sorted by name, followed by
    /// the registry's own `vitals_custom_metrics_refused` and `vitals_custom_metrics_overflowed`
    /// counters. Append them to vitals' own families before encoding.
    pub fn families(&self) -> Vec<MetricFamily> {
        render::families(&self.store)
    }

    /// The families in the Prometheus text format 0.0.4.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        encode_text(&self.families(), &mut out);
        out
    }

    /// The families in OpenMetrics 1.0 text, ending with `# EOF`.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        encode_openmetrics(&self.families(), &mut out);
        out
    }

    /// Every application metric as plain structs (for `/metrics/json` and the dashboard).
    pub fn snapshot(&self) -> MetricsSnapshot {
        render::snapshot(&self.store)
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.store
            .describe(Kind::Counter, key.as_str(), unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.store
            .describe(Kind::Gauge, key.as_str(), unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.store
            .describe(Kind::Histogram, key.as_str(), unit, &description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.store.resolve(Kind::Counter, key) {
            Some(Cell::Counter(cell)) => Counter::from_arc(cell),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match self.store.resolve(Kind::Gauge, key) {
            Some(Cell::Gauge(cell)) => Gauge::from_arc(cell),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match self.store.resolve(Kind::Histogram, key) {
            Some(Cell::Histogram(cell)) => Histogram::from_arc(cell),
            _ => Histogram::noop(),
        }
    }
}

/// Makes a registry with the default caps the global `metrics` recorder and returns it.
///
/// # Errors
///
/// [`InstallError::AlreadySet`] when a global recorder is already set.
///
/// ```
/// let registry = vitals_metrics::install().expect("first recorder of the process");
/// metrics::gauge!("pool_waiters").set(3.0);
/// assert!(registry.render_text().contains("pool_waiters 3\n"));
/// assert!(vitals_metrics::install().is_err());
/// ```
pub fn install() -> Result<Registry, InstallError> {
    let registry = Registry::default();
    registry.install()?;
    Ok(registry)
}
