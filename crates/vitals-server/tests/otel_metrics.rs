//! The reference server with OTLP export of traces and of its metric families over
//! http/protobuf, to a real receiver decoding `opentelemetry-proto` messages: the request
//! latency histogram arrives as an OTLP histogram with the bucket edges `/metrics` shows; the
//! export figures are families of `/metrics` (both formats) and a section of `/health/debug`;
//! the value of `OTEL_EXPORTER_OTLP_HEADERS` reaches the receiver and nowhere else (not
//! `/health/debug`, not `/metrics`, not the log).

#[allow(dead_code)]
mod support;

#[allow(dead_code)]
mod otel_support;

use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, metric};
use otel_support::OtlpHttpReceiver;
use support::Server;

const SECRET: &str = "otel-secret-7f3a9c";
const ROUTE: &str = "/api/orgs/{orgId}/properties";

/// The `le` bounds of `family`'s buckets in a text exposition, `+Inf` left out.
fn bounds_in(exposition: &str, family: &str) -> Vec<f64> {
    let mut bounds: Vec<f64> = Vec::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(&format!("{family}_bucket{{")) else {
            continue;
        };
        if !rest.contains(ROUTE) {
            continue;
        }
        let le = rest
            .split("le=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        if let Ok(v) = le.parse::<f64>() {
            if v.is_finite() && !bounds.contains(&v) {
                bounds.push(v);
            }
        }
    }
    bounds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_families_reach_an_otlp_receiver_and_export_figures_are_served_without_secrets() {
    let receiver = OtlpHttpReceiver::start("x-otel-key").await;
    let endpoint = format!("http://{}", receiver.addr);
    let header = format!("x-otel-key={SECRET}");
    let server = Server::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", header.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
    ]);
    for _ in 0..5 {
        let answer = server.get("/api/orgs/acme/properties").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }

    // The latency histogram of the route, as an OTLP histogram, all five requests in it.
    let point: HistogramDataPoint = receiver
        .metrics_until(|request| {
            request
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|m| m.name == "http_server_request_duration_seconds")
                .find_map(|m| match &m.data {
                    Some(metric::Data::Histogram(h)) => h
                        .data_points
                        .iter()
                        .find(|p| {
                            p.count >= 5
                                && p.attributes.iter().any(|kv| {
                                    format!("{:?}", kv.value).contains(&format!("\"{ROUTE}\""))
                                })
                        })
                        .cloned(),
                    _ => None,
                })
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no histogram of {ROUTE}; server output:\n{}",
                server.output()
            )
        });
    assert!(point.explicit_bounds.len() > 3, "{point:?}");
    assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
    let text = server.get("/metrics").await.text;
    assert_eq!(
        point.explicit_bounds,
        bounds_in(&text, "http_server_request_duration_seconds"),
        "vitals' bucket edges"
    );
    let resource = receiver.metrics.lock().unwrap()[0].resource_metrics[0]
        .resource
        .clone()
        .unwrap();
    assert!(
        format!("{resource:?}").contains("\"vitals-server\""),
        "{resource:?}"
    );

    // The header was sent with the exports (so the secret is known to be in play)...
    assert!(
        receiver
            .header_values
            .lock()
            .unwrap()
            .iter()
            .any(|v| v == SECRET),
        "the receiver never got the header"
    );
    // ...and the figures are served: spans exported, metric exports.
    let mut exported = 0;
    for _ in 0..100 {
        let debug = server.get("/health/debug").await;
        assert_eq!(debug.status, 200, "{}", debug.text);
        exported = debug.json["reporters"]["opentelemetry"]["traces"]["exportedSpans"]
            .as_u64()
            .unwrap_or(0);
        if exported > 0 {
            let otel = &debug.json["reporters"]["opentelemetry"];
            assert_eq!(otel["traces"]["settings"]["headerNames"][0], "x-otel-key");
            assert_eq!(otel["traces"]["queueCapacity"], 2048);
            assert!(otel["metrics"]["exports"].as_u64().unwrap() >= 1, "{otel}");
            assert_eq!(otel["metrics"]["settings"]["intervalMs"], 200);
            assert!(!debug.text.contains(SECRET), "{}", debug.text);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(exported > 0, "no span counted as exported");
    assert!(receiver.spans.load(std::sync::atomic::Ordering::SeqCst) > 0);

    let text = server.get("/metrics").await;
    let open = server
        .get_with("/metrics", &[("accept", "application/openmetrics-text")])
        .await;
    for (format, body) in [("text", &text.text), ("OpenMetrics", &open.text)] {
        for line in [
            "# TYPE vitals_otel_spans_exported_total counter",
            "vitals_otel_spans_dropped_total{reason=\"queue_full\"} 0",
            "# HELP vitals_otel_span_queue_capacity ",
            "vitals_otel_span_queue_capacity 2048",
            "# TYPE vitals_otel_span_queue_depth gauge",
            "# TYPE vitals_otel_metric_exports_total counter",
        ] {
            let line = if format == "OpenMetrics" {
                line.replace(
                    "# TYPE vitals_otel_spans_exported_total",
                    "# TYPE vitals_otel_spans_exported",
                )
                .replace(
                    "# TYPE vitals_otel_metric_exports_total",
                    "# TYPE vitals_otel_metric_exports",
                )
            } else {
                line.to_owned()
            };
            assert!(
                body.contains(&line),
                "{format}: `{line}` missing in:\n{body}"
            );
        }
        assert!(
            !body.contains(SECRET),
            "{format} exposition shows the header value"
        );
    }
    let output = server.output();
    assert!(
        !output.contains(SECRET),
        "the log shows the header value:\n{output}"
    );
}
