//! vitals' metric families as one OTLP `ExportMetricsServiceRequest`: counters are cumulative
//! monotonic sums, gauges gauges, histograms explicit-bucket histograms with vitals' own bucket
//! edges (the `le` bounds of `/metrics`), so a backend that takes only OTLP sees the figures
//! `/metrics` shows.

use std::time::SystemTime;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use vitals::{HistogramValue, MetricFamily, MetricKind, MetricValue};

/// The resource and the times every data point of one export carries.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// `service.name` first, then the other resource attributes.
    pub(crate) resource: Vec<(String, String)>,
    /// Start of the cumulative series (when the export started).
    pub(crate) start: SystemTime,
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// The UCUM unit OTLP expects for one of vitals' units.
fn ucum(unit: &str) -> String {
    match unit {
        "seconds" => "s".to_owned(),
        "bytes" => "By".to_owned(),
        "ratio" => "1".to_owned(),
        other => other.to_owned(),
    }
}

/// Explicit bounds and per-bucket counts (OTLP's buckets are not cumulative; the last one,
/// above the last bound, holds what `+Inf` adds).
fn buckets(h: &HistogramValue) -> (Vec<f64>, Vec<u64>) {
    let mut bounds = Vec::with_capacity(h.buckets.len());
    let mut counts = Vec::with_capacity(h.buckets.len() + 1);
    let mut below = 0u64;
    for &(le, cumulative) in h.buckets.iter().filter(|(le, _)| le.is_finite()) {
        bounds.push(le);
        counts.push(cumulative.saturating_sub(below));
        below = below.max(cumulative);
    }
    counts.push(h.count.saturating_sub(below));
    (bounds, counts)
}

/// One family as an OTLP metric (`None` for a family without samples, as `/metrics` shows none).
fn metric(family: &MetricFamily, start: u64, now: u64) -> Option<Metric> {
    if family.samples.is_empty() {
        return None;
    }
    let attributes = |labels: &[(&'static str, String)]| -> Vec<KeyValue> {
        labels.iter().map(|(k, v)| string(k, v)).collect()
    };
    let numbers = || -> Vec<NumberDataPoint> {
        family
            .samples
            .iter()
            .filter_map(|s| match s.value {
                MetricValue::Number(v) => Some(NumberDataPoint {
                    attributes: attributes(&s.labels),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsDouble(v)),
                    ..Default::default()
                }),
                MetricValue::Histogram(_) => None,
            })
            .collect()
    };
    let data = match family.kind {
        MetricKind::Counter => metric::Data::Sum(Sum {
            data_points: numbers(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
        MetricKind::Gauge => metric::Data::Gauge(Gauge {
            data_points: numbers(),
        }),
        MetricKind::Histogram => metric::Data::Histogram(Histogram {
            data_points: family
                .samples
                .iter()
                .filter_map(|s| match &s.value {
                    MetricValue::Histogram(h) => {
                        let (explicit_bounds, bucket_counts) = buckets(h);
                        Some(HistogramDataPoint {
                            attributes: attributes(&s.labels),
                            start_time_unix_nano: start,
                            time_unix_nano: now,
                            count: h.count,
                            sum: Some(h.sum),
                            bucket_counts,
                            explicit_bounds,
                            ..Default::default()
                        })
                    }
                    MetricValue::Number(_) => None,
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    };
    Some(Metric {
        name: family.name.clone(),
        description: family.help.clone(),
        unit: family.unit.map(ucum).unwrap_or_default(),
        data: Some(data),
        ..Default::default()
    })
}

/// The request exporting `families` as of `now`; also the number of data points in it.
pub(crate) fn request(
    families: &[MetricFamily],
    origin: &Origin,
    now: SystemTime,
) -> (ExportMetricsServiceRequest, u64) {
    let (start, now) = (nanos(origin.start), nanos(now));
    let metrics: Vec<Metric> = families
        .iter()
        .filter_map(|f| metric(f, start, now))
        .collect();
    let points = metrics
        .iter()
        .map(|m| match &m.data {
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            _ => 0,
        })
        .sum::<usize>() as u64;
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: origin.resource.iter().map(|(k, v)| string(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "vitals".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    (request, points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn origin() -> Origin {
        Origin {
            resource: vec![("service.name".to_owned(), "svc".to_owned())],
            start: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10),
        }
    }

    #[test]
    fn kinds_map_to_otlp_and_histograms_keep_their_edges() {
        let mut requests = MetricFamily::counter("http_requests", "Requests.");
        requests.push(vec![("route", "/a".to_owned())], 7.0);
        let mut up = MetricFamily::gauge("up_ratio", "Up.").unit("ratio");
        up.push(vec![], 1.0);
        let mut latency = MetricFamily::histogram("latency_seconds", "Latency.").unit("seconds");
        latency.push_histogram(
            vec![],
            HistogramValue {
                buckets: vec![(0.005, 2), (0.01, 5), (0.025, 5), (f64::INFINITY, 9)],
                sum: 0.4,
                count: 9,
            },
        );
        let empty = MetricFamily::gauge("nothing", "No samples.");
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(20);
        let (req, points) = request(&[requests, up, latency, empty], &origin(), now);
        assert_eq!(points, 3);
        let rm = &req.resource_metrics[0];
        assert_eq!(
            rm.resource.as_ref().unwrap().attributes[0].key,
            "service.name"
        );
        let metrics = &rm.scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 3, "the empty family is left out");
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("{:?}", metrics[0]);
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(sum.data_points[0].start_time_unix_nano, 10_000_000_000);
        assert_eq!(sum.data_points[0].time_unix_nano, 20_000_000_000);
        assert_eq!(sum.data_points[0].attributes[0].key, "route");
        assert_eq!(metrics[1].unit, "1");
        assert!(matches!(metrics[1].data, Some(metric::Data::Gauge(_))));
        let Some(metric::Data::Histogram(h)) = &metrics[2].data else {
            panic!("{:?}", metrics[2]);
        };
        assert_eq!(metrics[2].unit, "s");
        let p = &h.data_points[0];
        assert_eq!(p.explicit_bounds, vec![0.005, 0.01, 0.025]);
        assert_eq!(p.bucket_counts, vec![2, 3, 0, 4]);
        assert_eq!((p.count, p.sum), (9, Some(0.4)));
    }

    proptest! {
        #[test]
        fn bucket_counts_add_up_to_the_count(
            steps in proptest::collection::vec((1u32..1000, 0u64..100), 0..20),
            extra in 0u64..100,
        ) {
            let mut le = 0.0;
            let mut cumulative = 0;
            let mut edges = Vec::new();
            for (step, n) in steps {
                le += f64::from(step) / 1000.0;
                cumulative += n;
                edges.push((le, cumulative));
            }
            let h = HistogramValue { buckets: edges.clone(), sum: 1.0, count: cumulative + extra };
            let (bounds, counts) = buckets(&h);
            prop_assert_eq!(counts.len(), bounds.len() + 1);
            prop_assert_eq!(counts.iter().sum::<u64>(), h.count);
            prop_assert_eq!(bounds, edges.iter().map(|(le, _)| *le).collect::<Vec<_>>());
        }
    }
}
