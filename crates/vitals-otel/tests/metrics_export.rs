//! `MetricsExport` over gRPC to a real OTLP metrics service (opentelemetry-proto's generated
//! server on loopback): the families arrive as OTLP metrics with the headers as metadata, and
//! exports are counted; to nobody, the failures are counted and requests never wait on it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::metric;
use vitals::{HistogramValue, MetricFamily};
use vitals_otel::{MetricsConfig, MetricsExport};

/// A request received and the `x-team-key` it carried.
type Received = (ExportMetricsServiceRequest, Option<String>);

#[derive(Default, Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let key = request
            .metadata()
            .get("x-team-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.got.lock().unwrap().push((request.into_inner(), key));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn config(vars: &[(&str, &str)]) -> MetricsConfig {
    MetricsConfig::from_lookup("metrics-test", |n| {
        vars.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
    .unwrap()
}

fn families() -> Vec<MetricFamily> {
    let mut requests = MetricFamily::counter("http_server_requests", "Requests.");
    requests.push(vec![("route", "/a".to_owned())], 3.0);
    let mut latency =
        MetricFamily::histogram("http_server_request_duration_seconds", "Latency.").unit("seconds");
    latency.push_histogram(
        vec![("route", "/a".to_owned())],
        HistogramValue {
            buckets: vec![(0.005, 1), (0.01, 3)],
            sum: 0.02,
            count: 3,
        },
    );
    vec![requests, latency]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn families_reach_a_grpc_metrics_service_with_the_headers() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = MetricsServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let url = format!("http://{addr}");
    let export = MetricsExport::start(&config(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-team-key=k3y"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
    ]))
    .unwrap();
    // Nothing is sent before the export has a source.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(receiver.got.lock().unwrap().is_empty());
    assert_eq!(export.stats().exports, 0);
    assert!(export.source(families));
    assert!(!export.source(Vec::new), "the source is set once");

    let mut waited = 0;
    while receiver.got.lock().unwrap().is_empty() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let (request, key) = receiver.got.lock().unwrap()[0].clone();
    assert_eq!(key.as_deref(), Some("k3y"));
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0].name, "http_server_requests");
    let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
        panic!("{:?}", metrics[1]);
    };
    assert_eq!(h.data_points[0].explicit_bounds, vec![0.005, 0.01]);
    assert_eq!(h.data_points[0].bucket_counts, vec![1, 2, 0]);
    let mut stats = export.stats();
    for _ in 0..100 {
        if stats.exports >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stats = export.stats();
    }
    assert!(stats.exports >= 1, "{stats:?}");
    assert_eq!(stats.exported_points, 2 * stats.exports, "{stats:?}");
    assert_eq!(stats.failed_exports, 0, "{stats:?}");
    assert!(!format!("{export:?}").contains("k3y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_to_nobody_fail_and_are_counted() {
    let export = MetricsExport::start(&config(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "50"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "500"),
    ]))
    .unwrap();
    export.source(families);
    let mut stats = export.stats();
    for _ in 0..200 {
        if stats.failed_exports >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stats = export.stats();
    }
    assert!(stats.failed_exports >= 2, "{stats:?}");
    assert_eq!(stats.exports, 0, "{stats:?}");
}
