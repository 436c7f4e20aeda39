//! Exposition of metrics in the Prometheus text formats.
//!
//! `model` is a small owned metric model ([`Family`], [`Sample`], [`HistogramValue`]);
//! `prometheus` renders it into the Prometheus text format 0.0.4 ([`encode_text`]) or
//! OpenMetrics 1.0 text ([`encode_openmetrics`]), and picks one from an `Accept` header
//! ([`negotiate`]). Everything here is pure: the encoders append to a caller-provided `String`
//! and never do I/O, so a web integration only has to serve the bytes with
//! [`Format::content_type`].
//!
//! ```
//! use vitals::{MetricFamily, MetricsFormat, negotiate_format};
//!
//! let mut up = MetricFamily::gauge("up", "Whether the service is up.");
//! up.push(vec![], 1.0);
//!
//! let format = negotiate_format(Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"));
//! assert_eq!(format, MetricsFormat::OpenMetrics);
//! let mut body = String::new();
//! format.encode(&[up], &mut body);
//! assert_eq!(body, "# TYPE up gauge\n# HELP up Whether the service is up.\nup 1\n# EOF\n");
//! ```

mod collect;
mod exemplars;
mod families;
mod fast;
mod model;
mod prometheus;
mod text;

pub use collect::families;
pub use fast::{render, render_chunked, render_with};

pub use model::{Family, HistogramValue, Labels, MetricKind, Sample, SampleValue};
pub use prometheus::{
    Format, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, encode_openmetrics, encode_text, negotiate,
};
