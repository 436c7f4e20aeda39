//! Plain structs of every metric at one instant, for `/metrics/json` and the dashboard.

use std::collections::BTreeMap;

use serde::Serialize;

/// Every application metric and the registry's own figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// Metric families, sorted by name.
    pub families: Vec<FamilySnapshot>,
    /// Label sets made over all names (overflow series excluded).
    pub series: usize,
    /// Registrations refused, per reason (`invalid_name`, `too_many_names`, ...).
    pub refused: BTreeMap<&'static str, u64>,
    /// Label names interned in the process (all registries), at most
    /// [`MAX_LABEL_NAMES`](crate::MAX_LABEL_NAMES).
    pub label_names: usize,
    /// Registrations sent to an overflow series because a label-set cap was reached.
    pub overflowed: u64,
    /// The caps in force.
    pub limits: Limits,
}

/// The caps of a registry (see [`crate::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Cap on metric names.
    pub max_names: usize,
    /// Cap on label sets per name, besides its overflow series.
    pub max_label_sets: usize,
    /// Cap on label sets over all names, besides the overflow series.
    pub max_series: usize,
    /// Cap on labels per series.
    pub max_labels: usize,
    /// Longest label value kept, in bytes.
    pub max_label_value_len: usize,
    /// Cap on distinct tenants labelled.
    pub max_tenants: usize,
}

/// One metric name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilySnapshot {
    /// The exposed name (counters without `_total`).
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// Help text from `describe_*` (empty when not described).
    pub help: String,
    /// Unit from `describe_*` (`seconds`, `bytes`, ...).
    pub unit: Option<&'static str>,
    /// Whether the series carry the tenant label.
    pub tenant: bool,
    /// One entry per label set, sorted by labels; the overflow series has the single label
    /// `overflow="true"`.
    pub series: Vec<SeriesSnapshot>,
}

/// One label set of a metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSnapshot {
    /// Label names to values.
    pub labels: BTreeMap<&'static str, String>,
    /// Whether this is the name's overflow series.
    pub overflow: bool,
    /// The value of a counter or gauge.
    pub value: Option<f64>,
    /// The figures of a histogram.
    pub histogram: Option<HistogramSummary>,
}

/// A histogram since start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramSummary {
    /// Values recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Median, in the values' unit; `None` when empty.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Whether the percentiles come from vitals' fine buckets (within 1% for values from
    /// 100 ns to 1,000 s read as seconds). `false` after 2³² values, when a fine bucket
    /// could have wrapped: the percentiles are then interpolated in the exposed buckets.
    pub fine: bool,
    /// Cumulative counts at the exposed bucket bounds (`+Inf` is `count`).
    pub buckets: Vec<BucketCount>,
}

/// One cumulative bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BucketCount {
    /// Upper bound, inclusive.
    pub le: f64,
    /// Values at most `le`.
    pub count: u64,
}
