//! Encoders for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text, and content
//! negotiation between them.

use crate::accept::{accept_quality, media_ranges};
use crate::expose::model::{Family, HistogramValue, Labels, MetricKind, SampleValue};
use crate::expose::text::{
    is_label_name, push_all, write_f64, write_label_pairs, write_labels, write_metadata,
    write_sum_and_count, write_u64,
};

/// `Content-Type` of the Prometheus text format 0.0.4 ([`encode_text`]).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `Content-Type` of OpenMetrics 1.0 text ([`encode_openmetrics`]).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` header value for this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Text => TEXT_CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Renders `families` in this format, appending to `out`.
    pub fn encode(self, families: &[Family], out: &mut String) {
        match self {
            Self::Text => encode_text(families, out),
            Self::OpenMetrics => encode_openmetrics(families, out),
        }
    }
}

/// Renders `families` in the Prometheus text format 0.0.4, appending to `out`.
///
/// Counter families are named without `_total` in the model; here both the samples and the
/// `# HELP`/`# TYPE` lines use `<name>_total`, which is what Prometheus and `promtool` expect.
/// The exact output rules:
///
/// ```
/// use vitals::{HistogramValue, MetricFamily, encode_text};
///
/// let mut requests = MetricFamily::counter("http_requests", "Requests handled.");
/// requests.push(vec![("method", "GET".to_owned())], 10.0);
/// let mut latency =
///     MetricFamily::histogram("http_request_duration_seconds", "Latency.").unit("seconds");
/// latency.push_histogram(
///     vec![],
///     HistogramValue { buckets: vec![(0.1, 7), (1.0, 9)], sum: 2.5, count: 10 },
/// );
///
/// let mut out = String::new();
/// encode_text(&[requests, latency], &mut out);
/// assert_eq!(
///     out,
///     concat!(
///         "# HELP http_requests_total Requests handled.\n",
///         "# TYPE http_requests_total counter\n",
///         "http_requests_total{method=\"GET\"} 10\n",
///         "# HELP http_request_duration_seconds Latency.\n",
///         "# TYPE http_request_duration_seconds histogram\n",
///         "http_request_duration_seconds_bucket{le=\"0.1\"} 7\n",
///         "http_request_duration_seconds_bucket{le=\"1.0\"} 9\n",
///         "http_request_duration_seconds_bucket{le=\"+Inf\"} 10\n",
///         "http_request_duration_seconds_sum 2.5\n",
///         "http_request_duration_seconds_count 10\n",
///     )
/// );
/// ```
///
/// Both encoders append to a caller-provided `String` (reuse it across scrapes to avoid
/// regrowing it) and allocate nothing else. Families are rendered in the given order, each
/// family's samples contiguously after its metadata; families without samples render nothing.
///
/// # Output
///
/// | | Prometheus 0.0.4 ([`encode_text`]) | OpenMetrics 1.0 ([`encode_openmetrics`]) |
/// |---|---|---|
/// | metadata | `# HELP`, `# TYPE` | `# TYPE`, `# UNIT`, `# HELP` |
/// | counter `foo` | `# HELP foo_total`, `# TYPE foo_total counter`, `foo_total 1` | `# TYPE foo counter`, `# HELP foo`, `foo_total 1` |
/// | histogram | `_bucket{le=..}`, ..., `_sum`, `_count` | `_bucket{le=..}`, ..., `_count`, `_sum` |
/// | help escapes | `\\`, `\n` | `\\`, `\n`, `\"` |
/// | end | — | `# EOF` |
///
/// - `# HELP` is omitted when the help text is empty.
/// - `# UNIT` is emitted only when the family has a unit and its name ends with `_<unit>` (a
///   mismatch trips a `debug_assert!`); the 0.0.4 format has no unit metadata.
/// - Label values escape `\`, `"` and newline as `\\`, `\"`, `\n`; every other character,
///   including `\r`, is written as is (both formats allow it).
/// - Values: integral values below 2^53 print as integers (`1`, `1024`, `-0`), others in Rust's
///   shortest round-trip form (`0.25`, `1e-7`, `1.5e300`), and `NaN`, `+Inf`, `-Inf`. Every
///   finite value parses back to the same `f64`.
/// - Histogram `le` values use the OpenMetrics canonical form in both formats (`"0.005"`,
///   `"1.0"`, `"+Inf"`). The `+Inf` bucket is always emitted with the sample's `count`.
///
/// The encoders do not validate semantics beyond `debug_assert!`s (names, sorted cumulative
/// buckets, kind/value agreement); a sample whose value does not match its family's kind is
/// skipped in release builds.
///
/// # Validation
///
/// The tests check the 0.0.4 output with `promtool check metrics` (no lint warnings) and the
/// OpenMetrics output with the OpenMetrics parser behind
/// `promtool tsdb create-blocks-from openmetrics` (`promtool check metrics` only reads 0.0.4),
/// plus a property test that parses both outputs back into the model.
pub fn encode_text(families: &[Family], out: &mut String) {
    for family in families {
        encode_family(family, out, false);
    }
}

/// Renders `families` in OpenMetrics 1.0 text, appending to `out`; the output ends with
/// `# EOF\n`.
///
/// Metadata lines use the family name (counters without `_total`), in the order `# TYPE`,
/// `# UNIT`, `# HELP`; counter samples are `<name>_total`. See [`encode_text`] for the
/// exact output rules.
///
/// ```
/// use vitals::{MetricFamily, encode_openmetrics};
///
/// let mut cpu = MetricFamily::counter("process_cpu_seconds", "CPU time.").unit("seconds");
/// cpu.push(vec![], 1.25);
/// let mut rss = MetricFamily::gauge("process_resident_memory_bytes", "Resident memory.").unit("bytes");
/// rss.push(vec![], 52_428_800.0);
///
/// let mut out = String::new();
/// encode_openmetrics(&[cpu, rss], &mut out);
/// assert_eq!(
///     out,
///     concat!(
///         "# TYPE process_cpu_seconds counter\n",
///         "# UNIT process_cpu_seconds seconds\n",
///         "# HELP process_cpu_seconds CPU time.\n",
///         "process_cpu_seconds_total 1.25\n",
///         "# TYPE process_resident_memory_bytes gauge\n",
///         "# UNIT process_resident_memory_bytes bytes\n",
///         "# HELP process_resident_memory_bytes Resident memory.\n",
///         "process_resident_memory_bytes 52428800\n",
///         "# EOF\n",
///     )
/// );
/// ```
pub fn encode_openmetrics(families: &[Family], out: &mut String) {
    for family in families {
        encode_family(family, out, true);
    }
    out.push_str("# EOF\n");
}

/// Picks the exposition format for an `Accept` request header.
///
/// Returns [`Format::OpenMetrics`] when the header lists `application/openmetrics-text`
/// (without a `version` parameter, or with version `1.0.0` or `0.0.1`, which are served the
/// same 1.0 text, as `client_golang` does) with `q > 0` and a `q` not lower than the one that
/// applies to `text/plain` (from `text/plain`, else `text/*`, else `*/*`; ties go to
/// OpenMetrics). Otherwise, including when there is no header, returns [`Format::Text`].
/// Matching is case-insensitive; an unparsable `q` counts as `0`.
///
/// ```
/// use vitals::{MetricsFormat, negotiate_format};
///
/// // What Prometheus sends by default.
/// let prometheus = "application/openmetrics-text;version=1.0.0,\
///                   application/openmetrics-text;version=0.0.1;q=0.75,\
///                   text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(negotiate_format(Some(prometheus)), MetricsFormat::OpenMetrics);
/// assert_eq!(negotiate_format(Some("text/plain")), MetricsFormat::Text);
/// assert_eq!(negotiate_format(Some("application/openmetrics-text;q=0.2, text/plain")), MetricsFormat::Text);
/// assert_eq!(negotiate_format(None), MetricsFormat::Text);
/// ```
pub fn negotiate(accept: Option<&str>) -> Format {
    const OPENMETRICS: &str = "application/openmetrics-text";
    let Some(accept) = accept else {
        return Format::Text;
    };
    // Only ranges naming OpenMetrics count for it (`*/*` means the default, text).
    let openmetrics_q = media_ranges(accept)
        .filter(|range| {
            range.specificity(OPENMETRICS) == Some(3)
                && matches!(range.param("version"), None | Some("1.0.0" | "0.0.1"))
        })
        .map(|range| range.q)
        .reduce(f32::max);
    let text_q = accept_quality(accept, "text/plain").map_or(0.0, |a| a.q);
    match openmetrics_q {
        Some(q) if q > 0.0 && q >= text_q => Format::OpenMetrics,
        _ => Format::Text,
    }
}

/// Renders `families` like [`encode_text`] (`openmetrics == false`) or [`encode_openmetrics`]
/// without its final `# EOF` line, so that a caller can render more after them.
pub(crate) fn encode_families_without_eof(
    families: &[Family],
    out: &mut String,
    openmetrics: bool,
) {
    for family in families {
        encode_family(family, out, openmetrics);
    }
}

fn encode_family(family: &Family, out: &mut String, openmetrics: bool) {
    if family.samples.is_empty() {
        return;
    }
    let name = family.name.as_str();
    let sample_suffix = write_metadata(family, out, openmetrics);

    for sample in &family.samples {
        debug_assert!(
            sample.labels.iter().all(|&(label, _)| is_label_name(label)),
            "invalid label name in family {name:?}: {:?}",
            sample.labels
        );
        match (&sample.value, family.kind) {
            (&SampleValue::Number(value), MetricKind::Counter | MetricKind::Gauge) => {
                out.push_str(name);
                out.push_str(sample_suffix);
                write_labels(out, &sample.labels);
                out.push(' ');
                write_f64(out, value, false);
                out.push('\n');
            }
            (SampleValue::Histogram(histogram), MetricKind::Histogram) => {
                write_histogram(out, name, &sample.labels, histogram, openmetrics);
            }
            (value, kind) => {
                debug_assert!(
                    false,
                    "sample value {value:?} does not match kind {kind:?} of family {name:?}"
                );
            }
        }
    }
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &Labels,
    histogram: &HistogramValue,
    openmetrics: bool,
) {
    debug_assert!(
        labels.iter().all(|&(label, _)| label != "le"),
        "histogram {name:?} must not have an `le` label"
    );
    let mut previous: Option<(f64, u64)> = None;
    for &(bound, cumulative) in &histogram.buckets {
        debug_assert!(!bound.is_nan(), "histogram {name:?} has a NaN bucket bound");
        debug_assert!(
            previous.is_none_or(|(b, c)| b < bound && c <= cumulative),
            "histogram {name:?} buckets must be sorted by bound and cumulative: {:?}",
            histogram.buckets
        );
        debug_assert!(
            cumulative <= histogram.count,
            "histogram {name:?} bucket count {cumulative} exceeds count {}",
            histogram.count
        );
        previous = Some((bound, cumulative));
        if bound == f64::INFINITY {
            // Emitted below from `count`.
            debug_assert_eq!(
                cumulative, histogram.count,
                "histogram {name:?} +Inf bucket"
            );
            continue;
        }
        write_bucket(out, name, labels, bound, cumulative);
    }
    write_bucket(out, name, labels, f64::INFINITY, histogram.count);

    write_sum_and_count(
        out,
        &mut itoa::Buffer::new(),
        openmetrics,
        |out, _| {
            push_all(out, &[name, "_sum"]);
            write_labels(out, labels);
            out.push(' ');
            write_f64(out, histogram.sum, false);
            out.push('\n');
        },
        |out, num| {
            push_all(out, &[name, "_count"]);
            write_labels(out, labels);
            out.push(' ');
            write_u64(out, num, histogram.count);
            out.push('\n');
        },
    );
}

fn write_bucket(out: &mut String, name: &str, labels: &Labels, bound: f64, cumulative: u64) {
    push_all(out, &[name, "_bucket{"]);
    if !labels.is_empty() {
        write_label_pairs(out, labels);
        out.push(',');
    }
    out.push_str("le=\"");
    write_f64(out, bound, true);
    out.push_str("\"} ");
    write_u64(out, &mut itoa::Buffer::new(), cumulative);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::expose::model::Sample;
    use crate::expose::text::{write_f64, write_u64};

    fn labels(pairs: &[(&'static str, &str)]) -> Labels {
        pairs.iter().map(|&(k, v)| (k, v.to_owned())).collect()
    }

    fn small_model() -> Vec<Family> {
        let mut requests = Family::counter("http_requests", "Requests \"handled\".\nBy route.");
        requests
            .push(labels(&[("method", "GET"), ("route", "/")]), 10.0)
            .push(labels(&[("method", "POST"), ("route", "/orders")]), 3.0);
        let mut empty = Family::gauge("never_set", "Renders nothing.");
        empty.samples.clear();
        let mut latency =
            Family::histogram("http_request_duration_seconds", "Latency.").unit("seconds");
        latency
            .push_histogram(
                labels(&[("route", "/")]),
                HistogramValue {
                    buckets: vec![(0.005, 1), (0.5, 4), (1.0, 6)],
                    sum: 3.25,
                    count: 7,
                },
            )
            .push_histogram(
                vec![],
                HistogramValue {
                    buckets: vec![(1.0, 0), (f64::INFINITY, 2)],
                    sum: 4.0,
                    count: 2,
                },
            );
        let mut rss = Family::gauge("process_resident_memory_bytes", "").unit("bytes");
        rss.push(vec![], 52_428_800.0);
        let mut odd = Family::gauge("odd_values", "Edge values.");
        odd.push(labels(&[("v", "nan")]), f64::NAN)
            .push(labels(&[("v", "+inf")]), f64::INFINITY)
            .push(labels(&[("v", "-inf")]), f64::NEG_INFINITY)
            .push(labels(&[("v", "-0")]), -0.0)
            .push(labels(&[("v", "tiny")]), 1e-7)
            .push(labels(&[("v", "huge")]), 1.5e300)
            .push(labels(&[("v", "big int")]), 2f64.powi(53))
            .push(labels(&[("v", "neg")]), -42.0)
            .push(labels(&[("v", "frac")]), 0.1 + 0.2);
        vec![requests, empty, latency, rss, odd]
    }

    #[test]
    fn golden_text() {
        let mut out = String::new();
        encode_text(&small_model(), &mut out);
        let expected = r#"# HELP http_requests_total Requests "handled".\nBy route.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/"} 10
http_requests_total{method="POST",route="/orders"} 3
# HELP http_request_duration_seconds Latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/",le="0.005"} 1
http_request_duration_seconds_bucket{route="/",le="0.5"} 4
http_request_duration_seconds_bucket{route="/",le="1.0"} 6
http_request_duration_seconds_bucket{route="/",le="+Inf"} 7
http_request_duration_seconds_sum{route="/"} 3.25
http_request_duration_seconds_count{route="/"} 7
http_request_duration_seconds_bucket{le="1.0"} 0
http_request_duration_seconds_bucket{le="+Inf"} 2
http_request_duration_seconds_sum 4
http_request_duration_seconds_count 2
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 52428800
# HELP odd_values Edge values.
# TYPE odd_values gauge
odd_values{v="nan"} NaN
odd_values{v="+inf"} +Inf
odd_values{v="-inf"} -Inf
odd_values{v="-0"} -0
odd_values{v="tiny"} 1e-7
odd_values{v="huge"} 1.5e300
odd_values{v="big int"} 9007199254740992.0
odd_values{v="neg"} -42
odd_values{v="frac"} 0.30000000000000004
"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn golden_openmetrics() {
        let mut out = String::new();
        encode_openmetrics(&small_model(), &mut out);
        let expected = r#"# TYPE http_requests counter
# HELP http_requests Requests \"handled\".\nBy route.
http_requests_total{method="GET",route="/"} 10
http_requests_total{method="POST",route="/orders"} 3
# TYPE http_request_duration_seconds histogram
# UNIT http_request_duration_seconds seconds
# HELP http_request_duration_seconds Latency.
http_request_duration_seconds_bucket{route="/",le="0.005"} 1
http_request_duration_seconds_bucket{route="/",le="0.5"} 4
http_request_duration_seconds_bucket{route="/",le="1.0"} 6
http_request_duration_seconds_bucket{route="/",le="+Inf"} 7
http_request_duration_seconds_count{route="/"} 7
http_request_duration_seconds_sum{route="/"} 3.25
http_request_duration_seconds_bucket{le="1.0"} 0
http_request_duration_seconds_bucket{le="+Inf"} 2
http_request_duration_seconds_count 2
http_request_duration_seconds_sum 4
# TYPE process_resident_memory_bytes gauge
# UNIT process_resident_memory_bytes bytes
process_resident_memory_bytes 52428800
# TYPE odd_values gauge
# HELP odd_values Edge values.
odd_values{v="nan"} NaN
odd_values{v="+inf"} +Inf
odd_values{v="-inf"} -Inf
odd_values{v="-0"} -0
odd_values{v="tiny"} 1e-7
odd_values{v="huge"} 1.5e300
odd_values{v="big int"} 9007199254740992.0
odd_values{v="neg"} -42
odd_values{v="frac"} 0.30000000000000004
# EOF
"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = String::from("prefix\n");
        encode_openmetrics(&[], &mut out);
        assert_eq!(out, "prefix\n# EOF\n");
        let mut out = String::new();
        encode_text(&[Family::counter("nothing", "No samples.")], &mut out);
        assert_eq!(out, "");
    }

    #[test]
    fn escapes_label_values_and_help() {
        let mut family = Family::gauge("esc", "back\\slash \"quoted\"\nnext ünï");
        family.push(
            labels(&[
                ("quote", "say \"hi\""),
                ("backslash", "C:\\dir\\"),
                ("newline", "a\nb"),
                ("unicode", "café ☕ 日本 \u{1F600}"),
                ("all", "\\\"\n\\n"),
                ("cr", "x\ry"),
                ("empty", ""),
            ]),
            1.0,
        );
        let mut text = String::new();
        encode_text(std::slice::from_ref(&family), &mut text);
        assert_eq!(
            text,
            "# HELP esc back\\\\slash \"quoted\"\\nnext ünï\n\
             # TYPE esc gauge\n\
             esc{quote=\"say \\\"hi\\\"\",backslash=\"C:\\\\dir\\\\\",newline=\"a\\nb\",\
             unicode=\"café ☕ 日本 \u{1F600}\",all=\"\\\\\\\"\\n\\\\n\",cr=\"x\ry\",empty=\"\"} 1\n"
        );
        let mut om = String::new();
        encode_openmetrics(&[family], &mut om);
        assert!(
            om.starts_with(
                "# TYPE esc gauge\n# HELP esc back\\\\slash \\\"quoted\\\"\\nnext ünï\nesc{quote="
            ),
            "{om}"
        );
        // Label values are escaped identically in both formats.
        assert_eq!(om.lines().nth(2), text.lines().nth(2));
    }

    #[test]
    fn number_formatting() {
        let cases: &[(f64, &str, &str)] = &[
            (0.0, "0", "0.0"),
            (-0.0, "-0", "-0.0"),
            (1.0, "1", "1.0"),
            (1024.0, "1024", "1024.0"),
            (-3.0, "-3", "-3.0"),
            (0.005, "0.005", "0.005"),
            (2.5, "2.5", "2.5"),
            (1e-4, "0.0001", "0.0001"),
            (1e-5, "1e-5", "1e-5"),
            (1e15, "1000000000000000", "1000000000000000.0"),
            (1e16, "1e16", "1e16"),
            (
                u64::MAX as f64,
                "1.8446744073709552e19",
                "1.8446744073709552e19",
            ),
            (f64::MAX, "1.7976931348623157e308", "1.7976931348623157e308"),
            (
                f64::MIN_POSITIVE,
                "2.2250738585072014e-308",
                "2.2250738585072014e-308",
            ),
            (5e-324, "5e-324", "5e-324"),
            (f64::NAN, "NaN", "NaN"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
        ];
        for &(value, sample, le) in cases {
            let mut out = String::new();
            write_f64(&mut out, value, false);
            assert_eq!(out, sample, "sample {value:?}");
            out.clear();
            write_f64(&mut out, value, true);
            assert_eq!(out, le, "le {value:?}");
        }
        for n in [0, 7, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut out = String::new();
            write_u64(&mut out, &mut itoa::Buffer::new(), n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::Text.content_type(), TEXT_CONTENT_TYPE);
        assert_eq!(Format::OpenMetrics.content_type(), OPENMETRICS_CONTENT_TYPE);
        assert_eq!(Format::default(), Format::Text);
    }

    #[test]
    fn negotiation() {
        let om = Format::OpenMetrics;
        let text = Format::Text;
        let cases: &[(Option<&str>, Format)] = &[
            (None, text),
            (Some(""), text),
            (Some("*/*"), text),
            (Some("text/plain"), text),
            (Some("text/plain;version=0.0.4;q=1,*/*;q=0.1"), text),
            (Some("application/json"), text),
            (Some("application/openmetrics-text"), om),
            (Some("Application/OpenMetrics-Text; Version=1.0.0"), om),
            (Some("application/openmetrics-text;version=0.0.1"), om),
            (Some("application/openmetrics-text;version=\"1.0.0\""), om),
            (Some("application/openmetrics-text;version=2.0.0"), text),
            (Some("application/openmetrics-text;q=0"), text),
            (
                Some("application/openmetrics-text;q=0.0, text/plain;q=0.0"),
                text,
            ),
            (Some("application/openmetrics-text;q=bogus"), text),
            (
                Some("application/openmetrics-text;q=0.5,text/plain;q=0.5"),
                om,
            ),
            (
                Some("application/openmetrics-text;q=0.4,text/plain;q=0.5"),
                text,
            ),
            (
                Some("text/plain;q=0.5, application/openmetrics-text;q=0.6"),
                om,
            ),
            (Some("application/openmetrics-text;q=0.5, text/*"), text),
            (Some("application/openmetrics-text;q=0.5, */*"), text),
            (
                Some("application/openmetrics-text;q=0.5, text/plain;q=0.1, */*"),
                om,
            ),
            (
                Some(
                    "application/openmetrics-text;version=2.0.0,application/openmetrics-text;version=1.0.0;q=0.3,text/plain;q=0.2",
                ),
                om,
            ),
            // Prometheus 2.x default.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                om,
            ),
            // Prometheus 3.x default (without protobuf).
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                ),
                om,
            ),
            // Prometheus configured for the text format only.
            (Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), text),
            (
                Some(" , ;,garbage, application/openmetrics-text ; q = 0.9 "),
                om,
            ),
        ];
        for &(accept, expected) in cases {
            assert_eq!(negotiate(accept), expected, "Accept: {accept:?}");
        }
    }

    // ---- A tiny parser for both formats, used by the property test. ----

    /// A float compared bitwise, with all NaNs equal.
    #[derive(Debug, Clone, Copy)]
    struct Value(f64);

    impl PartialEq for Value {
        fn eq(&self, other: &Self) -> bool {
            (self.0.is_nan() && other.0.is_nan()) || self.0.to_bits() == other.0.to_bits()
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Line {
        Help(String, String),
        Type(String, String),
        Unit(String, String),
        Sample(String, Vec<(String, String)>, Value),
        Bucket(String, Vec<(String, String)>, Value, u64),
        Eof,
    }

    fn parse_value(s: &str) -> Result<f64, String> {
        match s {
            "NaN" => Ok(f64::NAN),
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            _ if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'-' | b'+')) =>
            {
                s.parse().map_err(|e| format!("bad value {s:?}: {e}"))
            }
            _ => Err(format!("bad value {s:?}")),
        }
    }

    /// Unescapes until `end` (a closing quote) or the end of input; returns the rest after it.
    fn unescape(s: &str, quote_escape: bool, end: Option<char>) -> Result<(String, &str), String> {
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, '"')) if quote_escape => out.push('"'),
                    other => return Err(format!("bad escape {other:?} in {s:?}")),
                },
                '\n' => return Err(format!("raw newline in {s:?}")),
                '"' if end == Some('"') => return Ok((out, &s[i + 1..])),
                '"' if quote_escape => return Err(format!("raw quote in {s:?}")),
                c => out.push(c),
            }
        }
        match end {
            None => Ok((out, "")),
            Some(_) => Err(format!("unterminated value in {s:?}")),
        }
    }

    fn split_name(s: &str) -> (&str, &str) {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(s.len());
        s.split_at(end)
    }

    fn parse_line(line: &str, openmetrics: bool) -> Result<Line, String> {
        if line == "# EOF" {
            return Ok(Line::Eof);
        }
        for (prefix, kind) in [("# HELP ", 0), ("# TYPE ", 1), ("# UNIT ", 2)] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let (name, rest) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("no text in {line:?}"))?;
                return Ok(match kind {
                    0 => Line::Help(name.to_owned(), unescape(rest, openmetrics, None)?.0),
                    1 => Line::Type(name.to_owned(), rest.to_owned()),
                    _ => Line::Unit(name.to_owned(), rest.to_owned()),
                });
            }
        }
        let (name, mut rest) = split_name(line);
        if name.is_empty() {
            return Err(format!("no name in {line:?}"));
        }
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            loop {
                let (label, after) = split_name(rest);
                let after = after
                    .strip_prefix("=\"")
                    .ok_or_else(|| format!("expected =\" in {line:?}"))?;
                let (value, after) = unescape(after, true, Some('"'))?;
                labels.push((label.to_owned(), value));
                if let Some(after) = after.strip_prefix(',') {
                    rest = after;
                } else {
                    rest = after
                        .strip_prefix('}')
                        .ok_or_else(|| format!("expected , or }} in {line:?}"))?;
                    break;
                }
            }
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("expected space in {line:?}"))?;
        if name.ends_with("_bucket") && labels.last().is_some_and(|(l, _)| l == "le") {
            let (_, le) = labels.pop().expect("checked");
            assert!(
                matches!(le.as_str(), "+Inf" | "-Inf") || le.contains(['.', 'e']),
                "le {le:?} not in canonical float form"
            );
            let count = value
                .parse()
                .map_err(|e| format!("bad count {value:?}: {e}"))?;
            return Ok(Line::Bucket(
                name.to_owned(),
                labels,
                Value(parse_value(&le)?),
                count,
            ));
        }
        Ok(Line::Sample(
            name.to_owned(),
            labels,
            Value(parse_value(value)?),
        ))
    }

    fn parse(out: &str, openmetrics: bool) -> Result<Vec<Line>, String> {
        let Some(body) = out.strip_suffix('\n') else {
            return if out.is_empty() {
                Ok(Vec::new())
            } else {
                Err("output does not end with a newline".to_owned())
            };
        };
        body.split('\n')
            .map(|line| parse_line(line, openmetrics))
            .collect()
    }

    /// The lines the model should render to, built independently of the encoder.
    fn expected(families: &[Family], openmetrics: bool) -> Vec<Line> {
        let owned = |labels: &Labels| -> Vec<(String, String)> {
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect()
        };
        let mut lines = Vec::new();
        for family in families.iter().filter(|f| !f.samples.is_empty()) {
            let name = family.name.clone();
            let suffix = if family.kind == MetricKind::Counter {
                "_total"
            } else {
                ""
            };
            let kind = family.kind.as_str().to_owned();
            let help = (!family.help.is_empty()).then(|| family.help.clone());
            if openmetrics {
                lines.push(Line::Type(name.clone(), kind));
                if let Some(unit) = family.unit {
                    lines.push(Line::Unit(name.clone(), unit.to_owned()));
                }
                lines.extend(help.map(|h| Line::Help(name.clone(), h)));
            } else {
                lines.extend(help.map(|h| Line::Help(format!("{name}{suffix}"), h)));
                lines.push(Line::Type(format!("{name}{suffix}"), kind));
            }
            for sample in &family.samples {
                let labels = owned(&sample.labels);
                match &sample.value {
                    SampleValue::Number(v) => {
                        lines.push(Line::Sample(format!("{name}{suffix}"), labels, Value(*v)));
                    }
                    SampleValue::Histogram(h) => {
                        let bucket = format!("{name}_bucket");
                        for &(le, c) in h.buckets.iter().filter(|(le, _)| le.is_finite()) {
                            lines.push(Line::Bucket(bucket.clone(), labels.clone(), Value(le), c));
                        }
                        lines.push(Line::Bucket(
                            bucket,
                            labels.clone(),
                            Value(f64::INFINITY),
                            h.count,
                        ));
                        let count = Line::Sample(
                            format!("{name}_count"),
                            labels.clone(),
                            Value(h.count as f64),
                        );
                        let sum = Line::Sample(format!("{name}_sum"), labels, Value(h.sum));
                        if openmetrics {
                            lines.extend([count, sum]);
                        } else {
                            lines.extend([sum, count]);
                        }
                    }
                }
            }
        }
        if openmetrics {
            lines.push(Line::Eof);
        }
        lines
    }

    /// The family a sample line belongs to, given the last `# TYPE` line.
    fn check_structure(lines: &[Line], openmetrics: bool) {
        let mut current: Option<(String, String)> = None; // (type name, kind)
        let mut seen = HashSet::new();
        let mut last_family: Option<String> = None;
        let mut last_inf_bucket: Option<u64> = None;
        for (i, line) in lines.iter().enumerate() {
            let sample_name = match line {
                Line::Type(name, kind) => {
                    current = Some((name.clone(), kind.clone()));
                    continue;
                }
                Line::Eof => {
                    assert_eq!(i, lines.len() - 1, "# EOF is not last");
                    continue;
                }
                Line::Help(..) | Line::Unit(..) => continue,
                Line::Sample(name, ..) | Line::Bucket(name, ..) => name,
            };
            let (family, kind) = current.as_ref().expect("sample before # TYPE");
            let suffixes: &[&str] = match (kind.as_str(), openmetrics) {
                ("counter", true) => &["_total"],
                ("histogram", _) => &["_bucket", "_count", "_sum"],
                _ => &[""],
            };
            assert!(
                suffixes
                    .iter()
                    .any(|s| *sample_name == format!("{family}{s}")),
                "sample {sample_name} outside its family {family}"
            );
            if last_family.as_ref() != Some(family) {
                assert!(
                    seen.insert(family.clone()),
                    "family {family} is not contiguous"
                );
                last_family = Some(family.clone());
            }
            // The +Inf bucket equals the following _count.
            match line {
                Line::Bucket(_, _, Value(le), count) if *le == f64::INFINITY => {
                    last_inf_bucket = Some(*count);
                }
                Line::Sample(name, _, Value(count)) if name.ends_with("_count") => {
                    let inf = last_inf_bucket.take().expect("_count without +Inf bucket");
                    assert_eq!(inf as f64, *count, "+Inf bucket != count");
                }
                _ => {}
            }
        }
        if openmetrics {
            assert_eq!(lines.last(), Some(&Line::Eof));
        }
    }

    // ---- Property test. ----

    const LABEL_NAMES: [&str; 4] = ["route", "method", "status", "_x1"];
    const UNITS: [Option<&str>; 4] = [None, Some("seconds"), Some("bytes"), Some("ratio")];

    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            (-1_000_000_i64..1_000_000).prop_map(|i| i as f64),
            any::<i64>().prop_map(|i| i as f64),
            (-1e6..1e6_f64),
        ]
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[\\\\\"\n\r a-zé{},=#☕]{0,12}"]
    }

    fn any_labels() -> impl Strategy<Value = Labels> {
        proptest::sample::subsequence(LABEL_NAMES.to_vec(), 0..=LABEL_NAMES.len())
            .prop_flat_map(|names| {
                let n = names.len();
                (Just(names), vec(any_text(), n))
            })
            .prop_map(|(names, values)| names.into_iter().zip(values).collect())
    }

    fn any_histogram() -> impl Strategy<Value = HistogramValue> {
        (
            vec(
                (
                    any::<f64>().prop_filter("finite", |f| f.is_finite()),
                    0_u64..1000,
                ),
                0..8,
            ),
            0_u64..1000,
            any_value(),
            any::<bool>(),
        )
            .prop_map(|(mut raw, extra, sum, with_inf)| {
                raw.sort_by(|a, b| a.0.total_cmp(&b.0));
                raw.dedup_by(|a, b| a.0 == b.0);
                let mut cumulative = 0;
                let mut buckets: Vec<(f64, u64)> = raw
                    .into_iter()
                    .map(|(le, n)| {
                        cumulative += n;
                        (le, cumulative)
                    })
                    .collect();
                let count = cumulative + extra;
                if with_inf {
                    buckets.push((f64::INFINITY, count));
                }
                HistogramValue {
                    buckets,
                    sum,
                    count,
                }
            })
    }

    fn any_family() -> impl Strategy<Value = Family> {
        (0..3_usize, 0..UNITS.len(), any_text())
            .prop_flat_map(|(kind, unit, help)| {
                let samples = if kind == 2 {
                    vec(
                        (any_labels(), any_histogram()).prop_map(|(labels, h)| Sample {
                            labels,
                            value: SampleValue::Histogram(h),
                        }),
                        0..3,
                    )
                    .boxed()
                } else {
                    vec(
                        (any_labels(), any_value()).prop_map(|(labels, v)| Sample {
                            labels,
                            value: SampleValue::Number(v),
                        }),
                        0..4,
                    )
                    .boxed()
                };
                (Just(kind), Just(unit), Just(help), samples)
            })
            .prop_map(|(kind, unit, help, samples)| Family {
                name: String::new(),
                help,
                kind: [
                    MetricKind::Counter,
                    MetricKind::Gauge,
                    MetricKind::Histogram,
                ][kind],
                unit: UNITS[unit],
                samples,
            })
    }

    fn any_families() -> impl Strategy<Value = Vec<Family>> {
        vec(any_family(), 0..5).prop_map(|mut families| {
            for (i, family) in families.iter_mut().enumerate() {
                family.name = match family.unit {
                    Some(unit) => format!("f{i}_{unit}"),
                    None => format!("f{i}"),
                };
            }
            families
        })
    }

    fn has_cr(families: &[Family]) -> bool {
        families.iter().any(|f| {
            f.help.contains('\r')
                || f.samples
                    .iter()
                    .any(|s| s.labels.iter().any(|(_, v)| v.contains('\r')))
        })
    }

    proptest! {
        #[test]
        fn output_parses_back(families in any_families()) {
            for openmetrics in [false, true] {
                let mut out = String::new();
                if openmetrics {
                    encode_openmetrics(&families, &mut out);
                    prop_assert!(out.ends_with("# EOF\n"));
                } else {
                    encode_text(&families, &mut out);
                }
                // `\r` only ever comes from the input (it is legal unescaped in both formats).
                if !has_cr(&families) {
                    prop_assert!(!out.contains('\r'));
                }
                let lines = parse(&out, openmetrics).map_err(TestCaseError::fail)?;
                check_structure(&lines, openmetrics);
                prop_assert_eq!(lines, expected(&families, openmetrics), "output:\n{}", out);
            }
        }
    }

    // ---- promtool. ----

    /// A realistic model, as a web service would expose it.
    fn realistic_model() -> Vec<Family> {
        const BOUNDS: [f64; 11] = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let routes = [
            ("GET", "/", "200"),
            ("GET", "/orders/{id}", "200"),
            ("POST", "/orders", "201"),
            ("GET", "/orders/{id}", "404"),
            ("GET", "/search/\"q\"\\café", "500"),
        ];
        let route_labels = |(method, route, status): (&str, &str, &str)| {
            labels(&[("method", method), ("route", route), ("status", status)])
        };

        let mut requests = Family::counter("http_requests", "HTTP requests handled.");
        let mut duration = Family::histogram(
            "http_request_duration_seconds",
            "HTTP request latency, from the first byte read to the last byte written.",
        )
        .unit("seconds");
        let mut response_size =
            Family::histogram("http_response_size_bytes", "HTTP response body size.").unit("bytes");
        for (i, &route) in routes.iter().enumerate() {
            let n = 10 * i as u64 + 3;
            requests.push(route_labels(route), n as f64);
            let buckets = BOUNDS
                .iter()
                .enumerate()
                .map(|(b, &le)| (le, (n * (b as u64 + 1)) / BOUNDS.len() as u64))
                .collect();
            duration.push_histogram(
                route_labels(route),
                HistogramValue {
                    buckets,
                    sum: 0.137 * n as f64,
                    count: n,
                },
            );
            response_size.push_histogram(
                route_labels(route),
                HistogramValue {
                    buckets: vec![(256.0, n / 2), (4096.0, n - 1), (65536.0, n)],
                    sum: 1234.0 * n as f64,
                    count: n,
                },
            );
        }
        let mut in_flight = Family::gauge("http_requests_in_flight", "Requests being served.");
        in_flight.push(vec![], 4.0);
        let mut rss = Family::gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )
        .unit("bytes");
        rss.push(vec![], 52_428_800.0);
        let mut cpu = Family::counter("process_cpu_seconds", "Total user and system CPU time.")
            .unit("seconds");
        cpu.push(vec![], 12.47);
        let mut start = Family::gauge(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch.",
        )
        .unit("seconds");
        start.push(vec![], 1_700_000_000.25);
        let mut ring = Family::gauge(
            "vitals_ring_fill_ratio",
            "Fill level of the recent-requests ring buffer.",
        )
        .unit("ratio");
        ring.push(vec![], 0.375);
        let mut p99 = Family::gauge(
            "vitals_route_latency_p99_seconds",
            "99th percentile latency per route over the window.",
        )
        .unit("seconds");
        p99.push(
            labels(&[("route", "/orders/{id}"), ("window", "5m")]),
            0.0123,
        )
        .push(labels(&[("route", "/"), ("window", "5m")]), f64::NAN);
        let mut info = Family::gauge("vitals_build_info", "Build information.");
        info.push(labels(&[("version", "0.1.0"), ("rustc", "1.95")]), 1.0);
        let unused = Family::counter("vitals_dropped_samples", "Samples dropped.");
        vec![
            requests,
            duration,
            response_size,
            in_flight,
            rss,
            cpu,
            start,
            ring,
            p99,
            info,
            unused,
        ]
    }

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir =
                std::env::temp_dir().join(format!("vitals-expose-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run_promtool(args: &[&str], stdin: Option<&Path>) -> (bool, String) {
        let mut command = Command::new("promtool");
        command.args(args);
        if let Some(path) = stdin {
            command.stdin(std::fs::File::open(path).expect("open rendered file"));
        } else {
            command.stdin(Stdio::null());
        }
        let output = command.output().expect("run promtool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    #[test]
    fn promtool_accepts_output() {
        match Command::new("promtool")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::env::var("VITALS_SKIP_PROMTOOL").as_deref() == Ok("1") {
                    eprintln!("promtool not found; skipped because VITALS_SKIP_PROMTOOL=1");
                    return;
                }
                panic!(
                    "`promtool` is not on PATH: install Debian's `prometheus` package \
                     (`apt-get install prometheus`), or set VITALS_SKIP_PROMTOOL=1 to skip"
                );
            }
            Err(e) => panic!("cannot run promtool: {e}"),
        }
        let dir = TempDir::new();
        let families = realistic_model();

        // Prometheus 0.0.4: `promtool check metrics` parses and lints it.
        let mut text = String::new();
        encode_text(&families, &mut text);
        let text_path = dir.0.join("metrics.prom");
        std::fs::write(&text_path, &text).expect("write metrics");
        let (ok, printed) = run_promtool(&["check", "metrics"], Some(&text_path));
        assert!(
            ok && printed.is_empty(),
            "promtool check metrics (ok: {ok}) printed:\n{printed}\nfor input:\n{text}"
        );

        // OpenMetrics: `promtool check metrics` only reads 0.0.4, but the backfiller parses
        // OpenMetrics (# EOF, # UNIT suffix, syntax); it needs a timestamp on every sample.
        let mut om = String::new();
        encode_openmetrics(&families, &mut om);
        let stamped: String = om
            .lines()
            .map(|line| {
                if line.starts_with('#') {
                    format!("{line}\n")
                } else {
                    format!("{line} 1700000000\n")
                }
            })
            .collect();
        let om_path = dir.0.join("metrics.om");
        std::fs::write(&om_path, &stamped).expect("write metrics");
        let blocks = dir.0.join("blocks");
        let (ok, printed) = run_promtool(
            &[
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                om_path.to_str().expect("UTF-8 temp path"),
                blocks.to_str().expect("UTF-8 temp path"),
            ],
            None,
        );
        assert!(
            ok,
            "promtool tsdb create-blocks-from openmetrics failed:\n{printed}\nfor input:\n{stamped}"
        );
        let samples = om.lines().filter(|l| !l.starts_with('#')).count();
        assert!(
            printed.contains(&format!(" {samples} ")),
            "expected {samples} samples imported:\n{printed}"
        );
    }
}
