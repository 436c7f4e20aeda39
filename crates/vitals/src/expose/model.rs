//! The owned metric model the encoders in [`super::prometheus`] render.

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing total; samples are exposed as `<name>_total`.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Cumulative buckets plus a sum and a count.
    Histogram,
}

impl MetricKind {
    /// The type name used in `# TYPE` lines (`counter`, `gauge`, `histogram`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The labels of one sample, in output order: `(name, value)` pairs.
///
/// Names are static and assumed valid (see [`MetricFamily`](crate::MetricFamily)); values are arbitrary
/// Unicode and escaped by the encoders (`\` → `\\`, `"` → `\"`, newline → `\n`).
pub type Labels = Vec<(&'static str, String)>;

/// The value of one histogram sample.
///
/// `buckets` are `(upper bound, cumulative count)` pairs, **sorted by strictly increasing upper
/// bound with non-decreasing counts** (each count includes all observations `<=` the bound, as in
/// the exposition formats), and every count must be `<= count`. The `+Inf` bucket may be omitted:
/// the encoders always emit `le="+Inf"` with the value of `count`, replacing a given `+Inf`
/// bucket. These invariants are checked only by `debug_assert!`s.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramValue {
    /// `(le upper bound, cumulative count)`, sorted; see the type docs.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of all observations.
    pub sum: f64,
    /// The number of observations (the `+Inf` bucket).
    pub count: u64,
}

/// The value of one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// The value of a counter or gauge.
    Number(f64),
    /// The value of a histogram.
    Histogram(HistogramValue),
}

/// One time series of a family: a label set and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The labels, in output order.
    pub labels: Labels,
    /// The value; [`SampleValue::Number`] for counters and gauges,
    /// [`SampleValue::Histogram`] for histograms. The encoders skip (and `debug_assert!` on)
    /// a value that does not match the family's kind.
    pub value: SampleValue,
}

/// A metric family: metadata plus one sample per label set.
///
/// Families without samples render nothing (no metadata either): an empty family carries no
/// information and bare metadata is useless to a scraper.
///
/// A [`Family`] is one metric (name, help, kind, optional unit) with its [`Sample`]s, one per
/// label set. The model is deliberately small and owned so that a snapshot of the monitor can be
/// built once and rendered in either exposition format.
///
/// # Naming
///
/// Family names are **OpenMetrics family names**:
///
/// - a counter is named *without* `_total` (`http_requests`, `process_cpu_seconds`); both
///   encoders append `_total` to its sample names, and the Prometheus 0.0.4 encoder also uses the
///   full `..._total` name in its `# HELP`/`# TYPE` lines, which is what `promtool` expects;
/// - a histogram is named without `_bucket`/`_sum`/`_count`; the encoders add them;
/// - a family with a [`unit`](Family::unit) must end with `_<unit>`
///   (`http_request_duration_seconds` with unit `seconds`).
///
/// Names must match `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names `[a-zA-Z_][a-zA-Z0-9_]*`
/// (not starting with `__`, and not `le` on a histogram). These rules are the caller's
/// responsibility and are checked only by `debug_assert!`s in the encoders. Family names must be
/// distinct within one rendering, and label sets distinct within a family; the encoders do not
/// check either (it would cost a hash set per rendering).
///
/// # Example
///
/// ```
/// use vitals::{HistogramValue, MetricFamily};
///
/// let mut requests = MetricFamily::counter("http_requests", "Requests handled.");
/// requests
///     .push(vec![("method", "GET".to_owned())], 10.0)
///     .push(vec![("method", "POST".to_owned())], 3.0);
///
/// let mut latency = MetricFamily::histogram("http_request_duration_seconds", "Request latency.")
///     .unit("seconds");
/// latency.push_histogram(
///     vec![("route", "/orders/{id}".to_owned())],
///     HistogramValue { buckets: vec![(0.1, 7), (1.0, 12)], sum: 2.5, count: 13 },
/// );
/// assert_eq!(latency.samples.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The OpenMetrics family name; for counters **without** `_total` (see the
    /// docs of [`MetricFamily`](crate::MetricFamily)).
    pub name: String,
    /// The help text, any Unicode; escaped by the encoders.
    pub help: String,
    /// The metric type.
    pub kind: MetricKind,
    /// The unit (`"seconds"`, `"bytes"`, `"ratio"`, ...), emitted as `# UNIT` in OpenMetrics.
    /// The name must end with `_<unit>`.
    pub unit: Option<&'static str>,
    /// The samples, in output order.
    pub samples: Vec<Sample>,
}

impl Family {
    /// A family of the given kind without samples.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricKind) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind,
            unit: None,
            samples: Vec::new(),
        }
    }

    /// A counter family; `name` is given without `_total`.
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricKind::Counter)
    }

    /// A gauge family.
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricKind::Gauge)
    }

    /// A histogram family; `name` is given without `_bucket`/`_sum`/`_count`.
    pub fn histogram(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricKind::Histogram)
    }

    /// Sets the unit; the family name must end with `_<unit>`.
    #[must_use]
    pub fn unit(mut self, unit: &'static str) -> Self {
        debug_assert!(
            unit_matches(&self.name, unit),
            "family {:?} must end with _{unit}",
            self.name
        );
        self.unit = Some(unit);
        self
    }

    /// Adds a counter or gauge sample.
    pub fn push(&mut self, labels: Labels, value: f64) -> &mut Self {
        debug_assert!(
            self.kind != MetricKind::Histogram,
            "use push_histogram for histogram family {:?}",
            self.name
        );
        self.samples.push(Sample {
            labels,
            value: SampleValue::Number(value),
        });
        self
    }

    /// Adds a histogram sample.
    pub fn push_histogram(&mut self, labels: Labels, value: HistogramValue) -> &mut Self {
        debug_assert!(
            self.kind == MetricKind::Histogram,
            "push_histogram on non-histogram family {:?}",
            self.name
        );
        self.samples.push(Sample {
            labels,
            value: SampleValue::Histogram(value),
        });
        self
    }
}

/// Whether `name` ends with `_<unit>`.
pub(crate) fn unit_matches(name: &str, unit: &str) -> bool {
    name.strip_suffix(unit)
        .is_some_and(|rest| rest.ends_with('_') && rest.len() > 1)
}
