//! What the OTLP end-to-end tests share.

use std::time::{Duration, Instant};

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};

/// The spans the collector receives until `done` holds for all that arrived (at most 10 s):
/// spans of other requests (the start-up query of known organizations, say) may come first.
pub(crate) async fn spans_until(
    collector: &mut FakeCollectorServer,
    done: impl Fn(&[ExportedSpan]) -> bool,
) -> Vec<ExportedSpan> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut spans = Vec::new();
    while !done(&spans) && Instant::now() < deadline {
        spans.extend(
            collector
                .exported_spans(1, Duration::from_millis(500))
                .await,
        );
    }
    spans
}

/// An OTLP/HTTP receiver on loopback: keeps the `ExportMetricsServiceRequest`s it decodes at
/// `/v1/metrics` and the value of one request header it was sent, and counts the spans it
/// decodes at `/v1/traces`.
#[allow(dead_code)]
pub(crate) struct OtlpHttpReceiver {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) metrics: Received<ExportMetricsServiceRequest>,
    pub(crate) spans: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Values of the `header` given to `start`, one per export received.
    pub(crate) header_values: Received<String>,
}

/// What a receiver kept, shared with its handlers.
pub(crate) type Received<T> = std::sync::Arc<std::sync::Mutex<Vec<T>>>;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

#[allow(dead_code)]
impl OtlpHttpReceiver {
    /// Starts on a free loopback port of the current runtime, noting the values of `header`.
    pub(crate) async fn start(header: &'static str) -> Self {
        use axum::routing::post;
        use prost::Message as _;
        use std::sync::Arc;

        let metrics: Received<ExportMetricsServiceRequest> = Arc::default();
        let header_values: Received<String> = Arc::default();
        let spans = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let note = {
            let values = Arc::clone(&header_values);
            move |headers: &http::HeaderMap| {
                if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
                    values.lock().unwrap().push(v.to_owned());
                }
            }
        };
        let (kept, note_m) = (Arc::clone(&metrics), note.clone());
        let counted = Arc::clone(&spans);
        let app = axum::Router::new()
            .route(
                "/v1/metrics",
                post(move |headers: http::HeaderMap, body: axum::body::Bytes| async move {
                    note_m(&headers);
                    match ExportMetricsServiceRequest::decode(body) {
                        Ok(request) => {
                            kept.lock().unwrap().push(request);
                            http::StatusCode::OK
                        }
                        Err(_) => http::StatusCode::BAD_REQUEST,
                    }
                }),
            )
            .route(
                "/v1/traces",
                post(move |headers: http::HeaderMap, body: axum::body::Bytes| async move {
                    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
                    note(&headers);
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            let n: usize = request
                                .resource_spans
                                .iter()
                                .flat_map(|rs| &rs.scope_spans)
                                .map(|ss| ss.spans.len())
                                .sum();
                            counted.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                            http::StatusCode::OK
                        }
                        Err(_) => http::StatusCode::BAD_REQUEST,
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            metrics,
            spans,
            header_values,
        }
    }

    /// Waits (at most 15 s) until a metrics export received holds what `found` looks for.
    pub(crate) async fn metrics_until<T>(
        &self,
        found: impl Fn(&ExportMetricsServiceRequest) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(t) = self.metrics.lock().unwrap().iter().rev().find_map(&found) {
                return Some(t);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}
