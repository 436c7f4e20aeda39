//! The caps and options of a [`crate::Registry`].

use std::fmt;
use std::sync::Arc;

use crate::names::is_label_name;
use crate::snapshot::Limits;

/// Reads the tenant of the current request, if any (see [`Config::tenant_hook`]).
pub type TenantHook = Arc<dyn Fn() -> Option<Arc<str>> + Send + Sync>;

/// Label value of the tenant label for tenants beyond [`Config::max_tenants`].
pub const TENANT_OTHER: &str = "(other)";
/// Label name of a name's overflow series (value `"true"`, its only label).
pub const OVERFLOW_LABEL: &str = "overflow";

/// Which metrics get the tenant label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TenantScope {
    /// None (the default).
    #[default]
    Off,
    /// Every metric.
    All,
    /// The metrics with these names (as given to the macros, before any prefix).
    Names(Vec<String>),
}

/// Caps and options; builders consume `self`.
///
/// | cap | default | past it |
/// |---|---|---|
/// | [`max_names`](Self::max_names) | 500 | new names refused |
/// | [`max_label_sets`](Self::max_label_sets) | 1,000 per name | the name's overflow series |
/// | [`max_series`](Self::max_series) | 10,000 in all | the name's overflow series |
/// | [`max_labels`](Self::max_labels) | 16 per series | registration refused |
/// | [`max_label_value_len`](Self::max_label_value_len) | 128 bytes | value truncated |
/// | [`max_tenants`](Self::max_tenants) | 100 | tenant label `(other)` |
///
/// Each name has at most `max_label_sets + 1` series (the `+ 1` is its overflow series,
/// labelled `overflow="true"` alone), and there are at most `max_series + max_names` series in
/// all. What that costs:
///
/// - **memory**: a counter or gauge series with one 128-byte label value takes about 0.7 KiB
///   with its key-cache entry (the flood test measures it and asserts at most 1 KiB); a
///   histogram series adds 104 bytes of exposed buckets and sum plus the core's fine
///   histogram, 136 bytes while values stay within a factor of about 1.9, at most 4.9 KiB;
///   help texts are cut to 1 KiB; label names are leaked process-wide, at most
///   [`MAX_LABEL_NAMES`](crate::MAX_LABEL_NAMES) × 200 bytes. With the defaults: at most
///   about 10 MiB of counters and gauges, 60 MiB if every series were a spread histogram.
/// - **output**: per family at most 3 metadata lines; per series 1 line (counter, gauge) or
///   14 (histogram: 11 bounds, `+Inf`, `_sum`, `_count`); a line is at most the name
///   (200 bytes) plus 16 labels of at most 200 + 2 × `max_label_value_len` bytes escaped.
///
/// ```
/// use vitals_metrics::{Config, TenantScope};
///
/// let config = Config::default()
///     .prefix("shop_")
///     .max_label_sets(200)
///     .tenant_scope(TenantScope::Names(vec!["orders_created".into()]));
/// assert_eq!(config.limits().max_label_sets, 200);
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) max_names: usize,
    pub(crate) max_label_sets: usize,
    pub(crate) max_series: usize,
    pub(crate) max_labels: usize,
    pub(crate) max_label_value_len: usize,
    pub(crate) max_help_len: usize,
    pub(crate) prefix: String,
    pub(crate) reserved: Vec<String>,
    pub(crate) tenant_hook: Option<TenantHook>,
    /// The hook returns labels already bounded by vitals' tenant rules (no cap of our own).
    pub(crate) tenant_decided: bool,
    pub(crate) tenant_scope: TenantScope,
    pub(crate) tenant_label: &'static str,
    pub(crate) max_tenants: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_names: 500,
            max_label_sets: 1_000,
            max_series: 10_000,
            max_labels: 16,
            max_label_value_len: 128,
            max_help_len: 1_024,
            prefix: String::new(),
            reserved: vec!["vitals_".to_owned()],
            tenant_hook: None,
            tenant_decided: false,
            tenant_scope: TenantScope::Off,
            tenant_label: "tenant",
            max_tenants: 100,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("max_names", &self.max_names)
            .field("max_label_sets", &self.max_label_sets)
            .field("max_series", &self.max_series)
            .field("max_labels", &self.max_labels)
            .field("max_label_value_len", &self.max_label_value_len)
            .field("prefix", &self.prefix)
            .field("reserved", &self.reserved)
            .field("tenant_hook", &self.tenant_hook.is_some())
            .field("tenant_decided", &self.tenant_decided)
            .field("tenant_scope", &self.tenant_scope)
            .field("tenant_label", &self.tenant_label)
            .field("max_tenants", &self.max_tenants)
            .finish()
    }
}

impl Config {
    /// Cap on distinct metric names; registrations of further names are refused.
    #[must_use]
    pub fn max_names(mut self, n: usize) -> Self {
        self.max_names = n;
        self
    }

    /// Cap on label sets per name (besides its overflow series).
    #[must_use]
    pub fn max_label_sets(mut self, n: usize) -> Self {
        self.max_label_sets = n;
        self
    }

    /// Cap on label sets over all names (besides the overflow series), so that
    /// `max_names × max_label_sets` is never reached at once.
    #[must_use]
    pub fn max_series(mut self, n: usize) -> Self {
        self.max_series = n;
        self
    }

    /// Cap on labels per series; registrations with more are refused.
    #[must_use]
    pub fn max_labels(mut self, n: usize) -> Self {
        self.max_labels = n;
        self
    }

    /// Longest label value kept, in bytes; longer ones are cut at a character boundary.
    #[must_use]
    pub fn max_label_value_len(mut self, n: usize) -> Self {
        self.max_label_value_len = n;
        self
    }

    /// A prefix for every metric name (none by default: names are exposed as the application
    /// registers them, sanitised).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Refuses metric names starting with any of `prefixes` (after the prefix is applied), so
    /// that no application family collides with one vitals exposes itself. `vitals_` is
    /// reserved by default; pass vitals' own family names (`http_requests`, ...) here.
    #[must_use]
    pub fn reserve<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reserved.extend(prefixes.into_iter().map(Into::into));
        self
    }

    /// Sets the function that reads the current request's tenant. It is called when a metric
    /// in [`tenant_scope`](Self::tenant_scope) is registered (every `counter!(...)` call, or
    /// once for a handle kept), never on a handle's increment.
    #[must_use]
    pub fn tenant_hook<F, S>(mut self, hook: F) -> Self
    where
        F: Fn() -> Option<S> + Send + Sync + 'static,
        S: Into<Arc<str>>,
    {
        self.tenant_hook = Some(Arc::new(move || hook().map(Into::into)));
        self.tenant_decided = false;
        self
    }

    /// As [`tenant_hook`](Self::tenant_hook), for a hook that returns the label already
    /// decided by vitals' tenant rules ([`vitals::Monitor::tenant_label`]: the tenant's id
    /// while vitals' `/metrics` names it, else [`TENANT_OTHER`]), so the registry keeps no
    /// first-come tenant cap of its own ([`max_tenants`](Self::max_tenants) does not apply):
    /// the label follows the same trust and top-K rules as vitals' own tenant series. At any
    /// time at most `top_tenants + 1` values are handed out; over a process's life the
    /// label-set cap per name bounds the series.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vitals::{Monitor, RequestSample};
    /// use vitals_metrics::{Config, Registry, TenantScope};
    ///
    /// let monitor = Monitor::default();
    /// monitor.record(&RequestSample { organization: Some("acme"), ..RequestSample::default() });
    /// let m = monitor.clone();
    /// let registry = Registry::new(
    ///     Config::default()
    ///         .tenant_scope(TenantScope::All)
    ///         .tenant_label_hook(move || Some(m.tenant_label("acme"))),
    /// );
    /// metrics::with_local_recorder(&registry, || metrics::counter!("orders").increment(1));
    /// assert!(registry.render_text().contains("orders_total{tenant=\"acme\"} 1\n"));
    /// ```
    #[must_use]
    pub fn tenant_label_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn() -> Option<Arc<str>> + Send + Sync + 'static,
    {
        self.tenant_hook = Some(Arc::new(hook));
        self.tenant_decided = true;
        self
    }

    /// Which metrics carry the tenant label ([`TenantScope::Off`] by default).
    #[must_use]
    pub fn tenant_scope(mut self, scope: TenantScope) -> Self {
        self.tenant_scope = scope;
        self
    }

    /// The tenant label's name (`tenant` by default). An invalid label name is ignored with a
    /// warning (the default stays).
    #[must_use]
    pub fn tenant_label(mut self, name: &'static str) -> Self {
        if is_label_name(name) && !name.starts_with("__") && name != "le" {
            self.tenant_label = name;
        } else {
            tracing::warn!(name, "vitals-metrics: invalid tenant label name ignored");
        }
        self
    }

    /// Cap on distinct tenants labelled, first come first served; later tenants are labelled
    /// [`TENANT_OTHER`]. Applies to a [`tenant_hook`](Self::tenant_hook), not to a
    /// [`tenant_label_hook`](Self::tenant_label_hook), whose labels vitals bounds.
    #[must_use]
    pub fn max_tenants(mut self, n: usize) -> Self {
        self.max_tenants = n;
        self
    }

    /// The caps in force.
    pub fn limits(&self) -> Limits {
        Limits {
            max_names: self.max_names,
            max_label_sets: self.max_label_sets,
            max_series: self.max_series,
            max_labels: self.max_labels,
            max_label_value_len: self.max_label_value_len,
            max_tenants: self.max_tenants,
        }
    }
}
