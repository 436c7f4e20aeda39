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
//! use vitals::expose::collect::{families, render};
//! use vitals::expose::{Format, encode_text};
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
//! render(&monitor, None, Format::Text, &mut fast);
//! let mut model = String::new();
//! encode_text(&families(&monitor, None), &mut model);
//! assert_eq!(fast, model);
//! ```
//!
//! [`families`]: super::collect::families
//! [`encode_text`]: super::encode_text
//! [`encode_openmetrics`]: super::encode_openmetrics

use super::collect::{
    active_family, duration_family, errors_family, org_duration_family, org_requests_family,
    requests_family, system_families,
};
use super::prometheus::{
    Format, encode_families_without_eof, write_label_value, write_metadata, write_sample_value,
};
use crate::Monitor;
use crate::monitor::status_class_label;
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

/// Integral counter values below this print as integers (as in the encoders).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// One request series, read.
struct Row {
    /// Its label set in the shared label buffer.
    labels: std::ops::Range<usize>,
    counts: PrometheusCounts,
}

/// Renders everything [`families`](super::collect::families) exposes for `monitor` (and
/// `system`) in `format`, appending to `out`: the same bytes as
/// `format.encode(&families(monitor, system), out)`, in OpenMetrics ending with `# EOF`.
///
/// Each series is read once. Besides `out`, it allocates a few buffers per call proportional
/// to the number of series (their label sets, about 50 bytes each, and 32 bytes of figures),
/// which the route and organization caps bound.
pub fn render(
    monitor: &Monitor,
    system: Option<&SystemSnapshot>,
    format: Format,
    out: &mut String,
) {
    let openmetrics = format == Format::OpenMetrics;
    let mut num = itoa::Buffer::new();
    // Scratch: every label set, concatenated; the line prefix of the current histogram.
    let mut labels = String::new();
    let mut prefix = String::new();

    // Request series: read them all first (a tight loop over scattered memory, whose cache
    // misses overlap), then write the three families from the copies.
    let mut rows: Vec<Row> = Vec::new();
    let mut route = String::new();
    let mut escaped_route = String::new();
    monitor.for_each_series(|name, method, class, counts| {
        if rows.is_empty() || name != route {
            route.clear();
            route.push_str(name);
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
        });
    });
    if !rows.is_empty() {
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
            );
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
        }
    }

    encode_families_without_eof(&[active_family(monitor)], out, openmetrics);

    let organizations = monitor.organization_counts();
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
        }
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
            );
        }
    }

    if let Some(system) = system {
        encode_families_without_eof(&system_families(system), out, openmetrics);
    }
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

/// `value as f64` as the encoders write it: an integer below 2^53, else the float form.
fn write_count_value(out: &mut String, num: &mut itoa::Buffer, value: u64) {
    if value < MAX_EXACT_INTEGER {
        out.push_str(num.format(value));
    } else {
        write_sample_value(out, value as f64);
    }
}

/// Every line of one histogram sample with the non-empty label set `labels` (already
/// escaped, without braces), as the encoders write it.
fn write_histogram(
    out: &mut String,
    prefix: &mut String,
    num: &mut itoa::Buffer,
    name: &str,
    labels: &str,
    counts: &PrometheusCounts,
    openmetrics: bool,
) {
    prefix.clear();
    for part in [name, "_bucket{", labels, ",le=\""] {
        prefix.push_str(part);
    }
    for (tail, &cumulative) in LE_TAILS.iter().zip(&counts.cumulative) {
        out.push_str(prefix);
        out.push_str(tail);
        out.push_str(num.format(cumulative));
        out.push('\n');
    }
    out.push_str(prefix);
    out.push_str(INF_TAIL);
    out.push_str(num.format(counts.count));
    out.push('\n');

    let sum = counts.sum_ns as f64 / 1e9;
    let write_sum = |out: &mut String| {
        for part in [name, "_sum{", labels, "} "] {
            out.push_str(part);
        }
        write_sample_value(out, sum);
        out.push('\n');
    };
    let write_count = |out: &mut String, num: &mut itoa::Buffer| {
        for part in [name, "_count{", labels, "} "] {
            out.push_str(part);
        }
        out.push_str(num.format(counts.count));
        out.push('\n');
    };
    if openmetrics {
        write_count(out, num);
        write_sum(out);
    } else {
        write_sum(out);
        write_count(out, num);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;
    use crate::expose::collect::families;
    use crate::expose::prometheus::write_le_value;
    use crate::series::PROMETHEUS_BUCKETS;
    use crate::{Method, MonitorConfig, RequestSample, RouteKey};

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
        let monitor = Monitor::new(MonitorConfig::default().max_routes(8).max_organizations(4));
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
        assert!(out.contains(
            "vitals_organization_request_duration_seconds_sum{organization=\"o\"} 0.007\n"
        ));
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
            max_routes in 1_usize..12,
            max_organizations in 1_usize..6,
            in_flight in 0_u32..3,
        ) {
            let monitor = Monitor::new(
                MonitorConfig::default()
                    .max_routes(max_routes)
                    .max_organizations(max_organizations),
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
        }
    }
}
