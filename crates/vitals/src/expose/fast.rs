//! A direct renderer of everything [`families`] exposes, without building the model.
//!
//! [`render`] writes exactly the bytes that [`families`] followed by [`encode_text`] or
//! [`encode_openmetrics`] write (the tests compare them), several times faster: the big
//! families (the request-duration histogram, the requests and errors counters, and the two
//! per-organization families) go straight from the monitor's counters into the output. Each
//! series is read once, its label set is escaped once and reused for all its lines, integers
//! are written with `itoa`, and the `le` bounds are constants. The few other families (active
//! requests, process, heap, runtime) go through the model and the encoders.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vitals::{metric_families, render_metrics};
//! use vitals::{MetricsFormat, encode_text};
//! use vitals::{Method, Monitor, RequestSample, RouteKey};
//!
//! let monitor = Monitor::default();
//! monitor.record(&RequestSample {
//!     method: Method::Get,
//!     route: RouteKey::Template("/hello"),
//!     status: 200,
//!     start: Instant::now(),
//!     duration: Duration::from_millis(3),
//!     ..RequestSample::default()
//! });
//! let mut fast = String::new();
//! render_metrics(&monitor, None, MetricsFormat::Text, &mut fast);
//! let mut model = String::new();
//! encode_text(&metric_families(&monitor, None), &mut model);
//! assert_eq!(fast, model);
//! ```
//!
//! [`families`]: super::collect::families
//! [`encode_text`]: super::encode_text
//! [`encode_openmetrics`]: super::encode_openmetrics

use crate::expose::exemplars::{Exemplar, Exemplars, SeriesExemplars, write_exemplar};
use crate::expose::families::{
    active_family, duration_family, errors_family, org_duration_family, org_errors_family,
    org_requests_family, requests_family, system_families,
};
use crate::expose::model::Family;
use crate::expose::prometheus::{Format, encode_families_without_eof};
use crate::expose::text::{
    write_count_value, write_label_value, write_metadata, write_seconds, write_sum_and_count,
    write_u64,
};
use crate::monitor::{Monitor, status_class_label};
use crate::series::PrometheusCounts;
use crate::system::SystemSnapshot;

/// What follows `le="` on each finite bucket line: the bounds of
/// [`PROMETHEUS_BUCKETS`](crate::series::PROMETHEUS_BUCKETS) in the encoders' canonical form
/// (checked by a test), the closing quote and brace, and the space before the value.
const LE_TAILS: [&str; 11] = [
    "0.005\"} ",
    "0.01\"} ",
    "0.025\"} ",
    "0.05\"} ",
    "0.1\"} ",
    "0.25\"} ",
    "0.5\"} ",
    "1.0\"} ",
    "2.5\"} ",
    "5.0\"} ",
    "10.0\"} ",
];
/// The same for the `+Inf` bucket.
const INF_TAIL: &str = "+Inf\"} ";

/// One request series, read.
struct Row<'e> {
    /// Its label set in the shared label buffer.
    labels: std::ops::Range<usize>,
    counts: PrometheusCounts,
    /// Its duration buckets' exemplars (OpenMetrics only).
    exemplars: Option<&'e SeriesExemplars>,
}

/// Renders everything [`families`](super::collect::families) exposes for `monitor` (and
/// `system`) in `format`, appending to `out`: the same bytes as
/// `format.encode(&families(monitor, system), out)`, in OpenMetrics ending with `# EOF`.
///
/// Each series is read once, as by `families`. Besides `out` (reserved once for the request
/// series), it allocates per call a copy of each request series' figures (128 bytes) and its
/// escaped label set (about 50 bytes), which the route cap bounds, plus what
/// [`Monitor::tenant_counts`] returns.
pub fn render(
    monitor: &Monitor,
    system: Option<&SystemSnapshot>,
    format: Format,
    out: &mut String,
) {
    render_with(monitor, system, &[], format, out);
}

/// [`render`] followed by `extra` families, before OpenMetrics' `# EOF`: the same bytes as
/// encoding `families(monitor, system)` extended with `extra`.
///
/// For an integration that exposes families of its own next to the monitor's (their names
/// must differ from the monitor's).
pub fn render_with(
    monitor: &Monitor,
    system: Option<&SystemSnapshot>,
    extra: &[Family],
    format: Format,
    out: &mut String,
) {
    render_into(monitor, system, extra, format, out, &mut Sink::Whole);
}

/// [`render_with`] in pieces of about `chunk` bytes: whenever the buffer holds at least `chunk`
/// bytes (at a line boundary) it is passed to `flush`, which takes its contents (sends them,
/// say) and empties it, and once more at the end if anything is left. So an exposition of
/// ten thousand tenants (13 MB) never sits in memory whole: a server streams it with a buffer
/// of `chunk` bytes. The concatenated pieces are exactly [`render_with`]'s output.
///
/// ```
/// use vitals::MetricsFormat;
/// use vitals::{render_metrics_chunked, render_metrics_with};
///
/// let monitor = vitals::Monitor::default();
/// let mut whole = String::new();
/// render_metrics_with(&monitor, None, &[], MetricsFormat::Text, &mut whole);
/// let mut pieces = String::new();
/// render_metrics_chunked(&monitor, None, &[], MetricsFormat::Text, 64, &mut |buf: &mut String| {
///     pieces.push_str(buf);
///     buf.clear();
/// });
/// assert_eq!(pieces, whole);
/// ```
pub fn render_chunked(
    monitor: &Monitor,
    system: Option<&SystemSnapshot>,
    extra: &[Family],
    format: Format,
    chunk: usize,
    flush: &mut dyn FnMut(&mut String),
) {
    let mut out = String::with_capacity(chunk.saturating_add(4096).min(1 << 20));
    let mut sink = Sink::Chunks { chunk, flush };
    render_into(monitor, system, extra, format, &mut out, &mut sink);
    if !out.is_empty() {
        sink.flush(&mut out);
    }
}

/// Where rendered text goes: one growing buffer, or pieces handed to a callback.
enum Sink<'f> {
    Whole,
    Chunks {
        chunk: usize,
        flush: &'f mut dyn FnMut(&mut String),
    },
}

impl Sink<'_> {
    /// Hands `out` over if it holds a chunk (call at line boundaries).
    #[inline]
    fn line_boundary(&mut self, out: &mut String) {
        if let Sink::Chunks { chunk, .. } = self {
            if out.len() >= *chunk {
                self.flush(out);
            }
        }
    }

    fn flush(&mut self, out: &mut String) {
        if let Sink::Chunks { flush, .. } = self {
            flush(out);
            // A callback that kept the text would make the next piece repeat it.
            out.clear();
        }
    }
}

fn render_into(
    monitor: &Monitor,
    system: Option<&SystemSnapshot>,
    extra: &[Family],
    format: Format,
    out: &mut String,
    sink: &mut Sink<'_>,
) {
    let openmetrics = format == Format::OpenMetrics;
    let mut num = itoa::Buffer::new();
    // Scratch: every label set, concatenated; the line prefix of the current histogram.
    let mut labels = String::new();
    let mut prefix = String::new();

    // Request series: read each once (it appears in three families), escaping each route
    // once, then write the families from the copies.
    // Exemplars come from the recent-request ring, read once per scrape; text 0.0.4 has none.
    let exemplars = openmetrics.then(|| Exemplars::collect(monitor));
    let mut rows: Vec<Row<'_>> = Vec::new();
    // The route of the previous series, by address: `for_each_series` passes the same `&str`
    // for all the series of a route, consecutively, and keeps every route name allocated for
    // the whole call, so an address and length seen before name the same route.
    let mut route: (*const u8, usize) = (std::ptr::null(), 0);
    let mut escaped_route = String::new();
    monitor.for_each_series(|name, method, class, counts| {
        if (name.as_ptr(), name.len()) != route {
            route = (name.as_ptr(), name.len());
            escaped_route.clear();
            write_label_value(&mut escaped_route, name);
        }
        let start = labels.len();
        for part in [
            "route=\"",
            &escaped_route,
            "\",method=\"",
            method.as_str(),
            "\",status=\"",
            status_class_label(class),
            "\"",
        ] {
            labels.push_str(part);
        }
        rows.push(Row {
            labels: start..labels.len(),
            counts: *counts,
            exemplars: exemplars.as_ref().and_then(|e| e.get(name, method, class)),
        });
    });
    if !rows.is_empty() {
        if matches!(sink, Sink::Whole) {
            // Room for the 16 lines of each series (12 buckets, sum, count, requests, errors)
            // of about 80 bytes besides the label set, so that a fresh `out` grows once.
            out.reserve(16 * (labels.len() + 80 * rows.len()));
        }
        let duration = duration_family();
        write_metadata(&duration, out, openmetrics);
        for row in &rows {
            write_histogram(
                out,
                &mut prefix,
                &mut num,
                &duration.name,
                &labels[row.labels.clone()],
                &row.counts,
                openmetrics,
                row.exemplars,
            );
            sink.line_boundary(out);
        }
        let requests = requests_family();
        let sample = write_metadata(&requests, out, openmetrics);
        for row in &rows {
            write_counter(
                out,
                &mut num,
                &requests.name,
                sample,
                &labels[row.labels.clone()],
                row.counts.count,
            );
            sink.line_boundary(out);
        }
    }
    if rows.iter().any(|row| row.counts.errors > 0) {
        let errors = errors_family();
        let sample = write_metadata(&errors, out, openmetrics);
        for row in rows.iter().filter(|row| row.counts.errors > 0) {
            write_counter(
                out,
                &mut num,
                &errors.name,
                sample,
                &labels[row.labels.clone()],
                row.counts.errors,
            );
            sink.line_boundary(out);
        }
    }

    encode_families_without_eof(&[active_family(monitor)], out, openmetrics);
    sink.line_boundary(out);

    let organizations = monitor.tenant_counts();
    if !organizations.is_empty() {
        labels.clear();
        let mut ends = Vec::with_capacity(organizations.len());
        for (id, _) in &organizations {
            labels.push_str("organization=\"");
            write_label_value(&mut labels, id);
            labels.push('"');
            ends.push(labels.len());
        }
        let spans = || {
            organizations
                .iter()
                .zip(&ends)
                .scan(0, |start, ((_, counts), &end)| {
                    let span = *start..end;
                    *start = end;
                    Some((span, counts))
                })
        };
        let requests = org_requests_family();
        let sample = write_metadata(&requests, out, openmetrics);
        for (span, counts) in spans() {
            write_counter(
                out,
                &mut num,
                &requests.name,
                sample,
                &labels[span],
                counts.count,
            );
            sink.line_boundary(out);
        }
        if organizations.iter().any(|(_, counts)| counts.errors > 0) {
            let errors = org_errors_family();
            let sample = write_metadata(&errors, out, openmetrics);
            for (span, counts) in spans().filter(|(_, counts)| counts.errors > 0) {
                write_counter(
                    out,
                    &mut num,
                    &errors.name,
                    sample,
                    &labels[span],
                    counts.errors,
                );
                sink.line_boundary(out);
            }
        }
        if monitor.config().tenant_histograms {
            let duration = org_duration_family();
            write_metadata(&duration, out, openmetrics);
            for (span, counts) in spans() {
                write_histogram(
                    out,
                    &mut prefix,
                    &mut num,
                    &duration.name,
                    &labels[span],
                    counts,
                    openmetrics,
                    None,
                );
                sink.line_boundary(out);
            }
        }
    }

    if let Some(system) = system {
        encode_families_without_eof(&system_families(system), out, openmetrics);
        sink.line_boundary(out);
    }
    encode_families_without_eof(extra, out, openmetrics);
    if openmetrics {
        out.push_str("# EOF\n");
    }
}

/// `<name><suffix>{<labels>} <value>\n`, `value` formatted as the encoders format
/// `value as f64`.
fn write_counter(
    out: &mut String,
    num: &mut itoa::Buffer,
    name: &str,
    suffix: &str,
    labels: &str,
    value: u64,
) {
    for part in [name, suffix, "{", labels, "} "] {
        out.push_str(part);
    }
    write_count_value(out, num, value);
    out.push('\n');
}

/// One bucket line: `prefix` (`<name>_bucket{<labels>,le="`), `tail` (`<bound>"} `), the
/// count and a newline.
#[inline(always)]
fn write_bucket(
    out: &mut String,
    prefix: &str,
    num: &mut itoa::Buffer,
    tail: &'static str,
    cumulative: u64,
    exemplar: Option<&Exemplar>,
) {
    out.push_str(prefix);
    out.push_str(tail);
    write_u64(out, num, cumulative);
    if let Some(exemplar) = exemplar {
        write_exemplar(out, exemplar);
    }
    out.push('\n');
}

/// Every line of one histogram sample with the non-empty label set `labels` (already
/// escaped, without braces), as the encoders write it.
#[allow(clippy::too_many_arguments)] // scratch buffers the caller reuses across series
fn write_histogram(
    out: &mut String,
    prefix: &mut String,
    num: &mut itoa::Buffer,
    name: &str,
    labels: &str,
    counts: &PrometheusCounts,
    openmetrics: bool,
    exemplars: Option<&SeriesExemplars>,
) {
    let exemplar = |i: usize| exemplars.and_then(|e| e[i].as_ref());
    prefix.clear();
    for part in [name, "_bucket{", labels, ",le=\""] {
        prefix.push_str(part);
    }
    // 12 bucket lines, then `_sum` and `_count` (names, labels, values, punctuation).
    out.reserve(12 * (prefix.len() + 30) + 2 * (name.len() + labels.len() + 40));
    // Unrolled, so that each tail has a constant length and its copy is inlined.
    macro_rules! buckets {
        ($($i:literal)*) => {
            $(write_bucket(out, prefix, num, LE_TAILS[$i], counts.cumulative[$i], exemplar($i));)*
        };
    }
    buckets!(0 1 2 3 4 5 6 7 8 9 10);
    write_bucket(
        out,
        prefix,
        num,
        INF_TAIL,
        counts.count,
        exemplar(LE_TAILS.len()),
    );

    write_sum_and_count(
        out,
        num,
        openmetrics,
        |out, num| {
            for part in [name, "_sum{", labels, "} "] {
                out.push_str(part);
            }
            write_seconds(out, num, counts.sum_ns);
            out.push('\n');
        },
        |out, num| {
            for part in [name, "_count{", labels, "} "] {
                out.push_str(part);
            }
            write_u64(out, num, counts.count);
            out.push('\n');
        },
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;
    use crate::expose::collect::families;
    use crate::expose::text::{
        MAX_FAST_SUM_NS, MIN_POSITIONAL_SUM_NS, write_le_value, write_sample_value,
    };
    use crate::method::Method;
    use crate::monitor::{MonitorConfig, RequestSample, RouteKey};
    use crate::series::PROMETHEUS_BUCKETS;

    /// `render` and the model path, in both formats.
    fn assert_same(monitor: &Monitor, system: Option<&SystemSnapshot>) {
        let model = families(monitor, system);
        for format in [Format::Text, Format::OpenMetrics] {
            let mut expected = String::from("(prefix kept)\n");
            format.encode(&model, &mut expected);
            let mut fast = String::from("(prefix kept)\n");
            render(monitor, system, format, &mut fast);
            if fast != expected {
                let line = fast
                    .lines()
                    .zip(expected.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| fast.lines().count().min(expected.lines().count()));
                panic!(
                    "{format:?}: render differs from families + encode at line {line}:\n\
                     render: {:?}\nmodel:  {:?}",
                    fast.lines().nth(line),
                    expected.lines().nth(line)
                );
            }
            // In pieces: the same bytes, each piece whole lines, all but the last a full chunk.
            for chunk in [1, 200, 4096] {
                let mut pieces: Vec<String> = Vec::new();
                render_chunked(
                    monitor,
                    system,
                    &[],
                    format,
                    chunk,
                    &mut |buf: &mut String| {
                        pieces.push(buf.clone());
                        buf.clear();
                    },
                );
                assert_eq!(
                    pieces.concat(),
                    expected["(prefix kept)\n".len()..],
                    "{format:?} in pieces of {chunk}"
                );
                for (i, piece) in pieces.iter().enumerate() {
                    assert!(piece.ends_with('\n'), "piece {i} of {chunk}: {piece:?}");
                    assert!(
                        i + 1 == pieces.len() || piece.len() >= chunk,
                        "piece {i} of {chunk} is short: {}",
                        piece.len()
                    );
                }
            }
        }
    }

    fn record(
        monitor: &Monitor,
        method: Method,
        route: RouteKey<'_>,
        status: u16,
        duration: Duration,
        organization: Option<&str>,
    ) {
        monitor.record(&RequestSample {
            method,
            route,
            status,
            start: Instant::now(),
            duration,
            organization,
            ..RequestSample::default()
        });
    }

    #[test]
    fn le_tails_match_the_encoders() {
        for (tail, bound) in LE_TAILS.iter().zip(PROMETHEUS_BUCKETS) {
            let mut le = String::new();
            write_le_value(&mut le, bound);
            assert_eq!(*tail, format!("{le}\"}} "));
        }
        let mut inf = String::new();
        write_le_value(&mut inf, f64::INFINITY);
        assert_eq!(INF_TAIL, format!("{inf}\"}} "));
    }

    fn assert_seconds(sum_ns: u64) {
        let mut expected = String::new();
        write_sample_value(&mut expected, sum_ns as f64 / 1e9);
        let mut fast = String::new();
        write_seconds(&mut fast, &mut itoa::Buffer::new(), sum_ns);
        assert_eq!(fast, expected, "sum_ns = {sum_ns}");
    }

    #[test]
    fn seconds_match_the_encoders_on_boundaries() {
        let mut edges = vec![0, 1, 9, 10, 999_999_999, 1_000_000_000, 1_000_000_001];
        for edge in [
            MIN_POSITIONAL_SUM_NS,
            MAX_FAST_SUM_NS,
            1 << 53,
            u64::MAX / 2,
            u64::MAX,
        ] {
            edges.extend(edge.saturating_sub(3)..=edge.saturating_add(3));
        }
        // Every power of ten and two, and their neighbours.
        for p in 0..64 {
            for base in [10_u64.checked_pow(p), 1_u64.checked_shl(p)]
                .into_iter()
                .flatten()
            {
                edges.extend(base.saturating_sub(2)..=base.saturating_add(2));
            }
        }
        // Long runs of nines and zeros after the point.
        for int in [0_u64, 1, 9, 99_999, 262_143] {
            for fraction in [1, 9, 100_000_000, 999_999_999, 123_456_789, 500_000_000] {
                edges.push(int * 1_000_000_000 + fraction);
            }
        }
        for sum_ns in edges {
            assert_seconds(sum_ns);
        }
    }

    #[test]
    fn seconds_match_the_encoders_at_random() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..2_000_000_u64 {
            // xorshift64*; spread over every magnitude of the fast range and beyond.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let bits = i % 52 + 1;
            assert_seconds(rng >> (64 - bits));
        }
    }

    #[test]
    fn empty_monitor_matches() {
        let monitor = Monitor::default();
        assert_same(&monitor, None);
        let mut out = String::new();
        render(&monitor, None, Format::OpenMetrics, &mut out);
        assert!(
            out.ends_with("http_server_active_requests 0\n# EOF\n"),
            "{out}"
        );
    }

    #[test]
    fn varied_monitor_matches() {
        varied_monitor(MonitorConfig::default().max_routes(8).max_organizations(4));
        // Fewer named tenants than tenants, with their histograms: `(other)` folds the rest.
        varied_monitor(
            MonitorConfig::default()
                .max_routes(8)
                .max_organizations(4)
                .top_tenants(2)
                .tenant_histograms(true),
        );
    }

    fn varied_monitor(config: MonitorConfig) {
        let monitor = Monitor::new(config);
        let routes = [
            "/",
            "/orders/{id}",
            "/search/\"q\"",
            "/back\\slash\\",
            "/multi\nline\r\n",
            "/café/☕/{名前}",
            "/quote\"\\\"mix\n",
            "",
            "/over/cap/1",
            "/over/cap/2",
        ];
        let methods = [Method::Get, Method::Post, Method::Delete, Method::Other];
        let statuses = [101, 200, 204, 302, 404, 499, 503, 0, 700];
        let orgs = [
            Some("acme"),
            Some("org:1@x~y"),
            None,
            Some("bad id with spaces"),
            Some("beta"),
            Some("gamma"),
            Some("delta"),
            Some("epsilon"),
        ];
        let mut i = 0_u64;
        for (r, route) in routes.iter().enumerate() {
            for (m, &method) in methods.iter().enumerate() {
                for (s, &status) in statuses.iter().enumerate() {
                    if (r + m + s) % 3 == 0 {
                        continue;
                    }
                    i += 1;
                    // From 1 µs to ~20 s, including exact bucket bounds.
                    let nanos = match i % 5 {
                        0 => 5_000_000,
                        1 => 1_000_000_000,
                        _ => i.wrapping_mul(2_654_435_761) % 20_000_000_000 + 1_000,
                    };
                    let org = orgs[(i as usize) % orgs.len()];
                    record(
                        &monitor,
                        method,
                        RouteKey::Template(route),
                        status,
                        Duration::from_nanos(nanos),
                        org,
                    );
                }
            }
        }
        record(
            &monitor,
            Method::Get,
            RouteKey::Unmatched,
            404,
            Duration::from_millis(2),
            None,
        );
        record(
            &monitor,
            Method::Put,
            RouteKey::Path("/users/123/avatar"),
            200,
            Duration::from_secs(30),
            Some("acme"),
        );
        monitor.request_started();
        monitor.request_started();
        let series = monitor.series();
        assert!(series.iter().any(|s| &*s.route == crate::monitor::OVERFLOW));
        assert!(
            series
                .iter()
                .any(|s| &*s.route == crate::monitor::UNMATCHED)
        );
        assert!(series.iter().any(|s| s.counts.errors > 0));
        assert!(series.iter().any(|s| s.counts.errors == 0));
        assert!(
            monitor
                .organization_counts()
                .iter()
                .any(|(id, _)| &**id == crate::monitor::OVERFLOW)
        );

        assert_same(&monitor, None);
        let mut system = SystemSnapshot::empty(std::time::SystemTime::now());
        system.process.rss_bytes = Some(52_428_800);
        system.process.threads = Some(7);
        assert_same(&monitor, Some(&system));
    }

    #[test]
    fn extra_families_come_before_eof() {
        let monitor = Monitor::default();
        record(
            &monitor,
            Method::Get,
            RouteKey::Template("/a"),
            200,
            Duration::from_millis(1),
            None,
        );
        let mut extra = Family::gauge("vitals_under_pressure", "1 while shedding.");
        extra.push(vec![("reason", "cpu \"hot\"".to_owned())], 1.0);
        let empty = Family::counter("vitals_shed", "Nothing yet.");
        let extra = [extra, empty];
        for format in [Format::Text, Format::OpenMetrics] {
            let mut model = families(&monitor, None);
            model.extend(extra.iter().cloned());
            let mut expected = String::new();
            format.encode(&model, &mut expected);
            let mut fast = String::new();
            render_with(&monitor, None, &extra, format, &mut fast);
            assert_eq!(fast, expected);
        }
    }

    #[test]
    fn render_appends() {
        let monitor = Monitor::default();
        record(
            &monitor,
            Method::Get,
            RouteKey::Template("/a"),
            500,
            Duration::from_millis(7),
            Some("o"),
        );
        let mut out = String::from("before\n");
        render(&monitor, None, Format::Text, &mut out);
        assert!(out.starts_with("before\n# HELP http_server_request_duration_seconds "));
        assert!(
            out.contains(
                "http_server_errors_total{route=\"/a\",method=\"GET\",status=\"5xx\"} 1\n"
            )
        );
        assert!(out.contains("vitals_organization_requests_total{organization=\"o\"} 1\n"));
        assert!(out.contains("vitals_organization_errors_total{organization=\"o\"} 1\n"));
        // Counters only, unless configured otherwise.
        assert!(!out.contains("vitals_organization_request_duration_seconds"));

        let monitor = Monitor::new(MonitorConfig::default().tenant_histograms(true));
        record(
            &monitor,
            Method::Get,
            RouteKey::Template("/a"),
            500,
            Duration::from_millis(7),
            Some("o"),
        );
        let mut out = String::new();
        render(&monitor, None, Format::Text, &mut out);
        assert!(out.contains(
            "vitals_organization_request_duration_seconds_sum{organization=\"o\"} 0.007\n"
        ));
        assert_same(&monitor, None);
    }

    /// A route name: anything, with a bias towards characters that need escaping.
    fn any_name() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[\\\\\"\n\r a-zé{}/,=#☕]{0,16}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn render_matches_model(
            requests in proptest::collection::vec(
                (
                    any_name(),
                    0..Method::ALL.len(),
                    prop_oneof![Just(0_u16), 100_u16..700],
                    // Up to ~40 s, ns; a bias to exact bucket bounds.
                    prop_oneof![
                        0_u64..40_000_000_000,
                        proptest::sample::select(vec![5_000_000_u64, 250_000_000, 10_000_000_000]),
                    ],
                    proptest::option::of(prop_oneof![
                        "[a-z0-9._:@~-]{1,12}",
                        any_name(),
                    ]),
                    1_u32..4,
                ),
                0..40,
            ),
            sum_ns in any::<u64>(),
            max_routes in 1_usize..12,
            max_organizations in 1_usize..6,
            top_tenants in 0_usize..4,
            tenant_histograms in any::<bool>(),
            in_flight in 0_u32..3,
        ) {
            let monitor = Monitor::new(
                MonitorConfig::default()
                    .max_routes(max_routes)
                    .max_organizations(max_organizations)
                    .top_tenants(top_tenants)
                    .tenant_histograms(tenant_histograms),
            );
            for (route, method, status, nanos, org, times) in &requests {
                for _ in 0..*times {
                    record(
                        &monitor,
                        Method::from_index(*method),
                        RouteKey::Template(route),
                        *status,
                        Duration::from_nanos(*nanos),
                        org.as_deref(),
                    );
                }
            }
            for _ in 0..in_flight {
                monitor.request_started();
            }
            assert_same(&monitor, None);
            assert_seconds(sum_ns);
            assert_seconds(sum_ns % MAX_FAST_SUM_NS);
        }
    }
}
