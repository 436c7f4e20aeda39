//! # vitals-metrics
//!
//! A [`metrics`] recorder backed by vitals: the application's own counters, gauges and
//! histograms (`metrics::counter!`, `gauge!`, `histogram!`) rendered beside vitals' figures in
//! `/metrics` (both formats, through the core's encoders) and as plain structs for
//! `/metrics/json`, with help text and units from `describe_*`.
//!
//! - **Histograms** are real histograms on vitals' buckets: exact counts at the core's
//!   [`PROMETHEUS_BUCKETS`](vitals::PROMETHEUS_BUCKETS) bounds (mergeable across a fleet
//!   with `histogram_quantile`), plus the core's 1%-error histogram for the JSON percentiles.
//!   Values are read as seconds for both (the bounds are 5 ms to 10 s).
//! - **Bounded by construction**: caps on names, on label sets per name and in all (each name
//!   has one overflow series labelled `overflow="true"`), on labels per series, label-value
//!   length and tenants; label names are interned process-wide up to [`MAX_LABEL_NAMES`].
//!   Invalid names are sanitised or refused; refusals are counted per reason and logged once
//!   per name. See [`Config`].
//! - **Names** are exposed as registered (sanitised, counters without `_total`), with no
//!   prefix unless [`Config::prefix`] sets one; names starting with `vitals_` are reserved.
//! - **Hot path**: a registered handle's increment is one relaxed atomic add; a macro call with
//!   static labels is a lock-free cache lookup plus an `Arc` clone, no allocation.
//! - **Tenants**: with [`Config::tenant_hook`] and [`Config::tenant_scope`], metrics get a
//!   `tenant` label read from the current request, capped with an `(other)` overflow.
//!
//! ```
//! use vitals_metrics::{Config, Registry};
//!
//! let registry = Registry::new(Config::default().max_label_sets(2));
//! metrics::with_local_recorder(&registry, || {
//!     for user in ["ann", "bob", "cyd", "dan"] {
//!         metrics::counter!("logins", "user" => user).increment(1);
//!     }
//! });
//! let text = registry.render_text();
//! assert!(text.contains("logins_total{user=\"ann\"} 1\n"));
//! assert!(text.contains("logins_total{overflow=\"true\"} 2\n"));
//! ```

mod cell;
mod config;
mod intern;
mod names;
mod recorder;
mod registry;
mod render;
mod snapshot;

pub use config::{Config, OVERFLOW_LABEL, TENANT_OTHER, TenantHook, TenantScope};
pub use intern::MAX_LABEL_NAMES;
pub use names::{
    MAX_NAME_LEN, Refusal, is_label_name, is_metric_name, sanitize_label_name,
    sanitize_metric_name, truncate_label_value,
};
pub use recorder::{InstallError, Registry, install};
pub use render::{OVERFLOWED_FAMILY, REFUSED_FAMILY};
pub use snapshot::{
    BucketCount, FamilySnapshot, HistogramSummary, Limits, MetricsSnapshot, SeriesSnapshot,
};
