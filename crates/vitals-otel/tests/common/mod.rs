//! Shared by the export scenarios: an app behind the monitor with a real SQLite query in a
//! handler, an OTLP/HTTP receiver decoding `ExportTraceServiceRequest`, and span lookups.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use fake_opentelemetry_collector::ExportedSpan;
use http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use vitals_axum::{MonitorLayer, RequestContext};
use vitals_otel::OtelConfig;

/// A handler that queries SQLite inside a `db.query` span and answers the request's trace id.
async fn item(Path((_org, id)): Path<(String, i64)>) -> String {
    let value: i64 = {
        let _span = tracing::info_span!("db.query", db.system = "sqlite").entered();
        let db = rusqlite::Connection::open_in_memory().expect("sqlite");
        db.query_row("SELECT ?1 * 2", [id], |row| row.get(0))
            .expect("query")
    };
    let trace = RequestContext::current()
        .and_then(|c| c.trace)
        .map(|t| t.trace_id_hex())
        .unwrap_or_default();
    format!("{trace} {value}")
}

async fn fail() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

async fn panics() -> StatusCode {
    panic!("handler failed on purpose")
}

/// Serves the app on a free loopback port of the current runtime.
pub async fn serve_app() -> SocketAddr {
    let app = Router::new()
        .route("/orgs/{orgId}/items/{id}", get(item))
        .route("/fail", get(fail))
        // A panic that unwinds out of the monitor (the connection is dropped), and one caught
        // inside it and answered 500, as the reference server does.
        .route("/panic", get(panics))
        .route(
            "/caught",
            get(panics).layer(tower_http::catch_panic::CatchPanicLayer::new()),
        )
        .layer(MonitorLayer::new(vitals::Monitor::default()).trace_context(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Settings for a receiver at `endpoint`, exporting every 50 ms.
pub fn config(endpoint: &str, protocol: &str, extra: &[(&str, &str)]) -> OtelConfig {
    let mut vars = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_SERVICE_NAME", "otel-test".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".to_owned()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    OtelConfig::from_lookup("unused", |n| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
    .unwrap()
}

/// An OTLP/HTTP receiver on loopback that keeps the spans it decodes.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    pub spans: Arc<Mutex<Vec<ExportedSpan>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    /// Starts on `port` (0: any free one), keeping spans in `spans`.
    pub async fn start(port: u16, spans: Arc<Mutex<Vec<ExportedSpan>>>) -> Self {
        let kept = Arc::clone(&spans);
        let app = Router::new().route(
            "/v1/traces",
            post(move |body: bytes::Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    let spans = request
                        .resource_spans
                        .into_iter()
                        .flat_map(|rs| rs.scope_spans)
                        .flat_map(|ss| ss.spans)
                        .map(ExportedSpan::from);
                    kept.lock().unwrap().extend(spans);
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            spans,
            stop: Some(stop),
            task,
        }
    }

    /// Stops listening and closes its connections.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

/// Waits (at most 10 s) until `spans` holds one that `pick` accepts, and returns it.
pub async fn wait_for(
    spans: &Arc<Mutex<Vec<ExportedSpan>>>,
    pick: impl Fn(&ExportedSpan) -> bool,
) -> ExportedSpan {
    for _ in 0..200 {
        if let Some(span) = spans.lock().unwrap().iter().find(|s| pick(s)) {
            return span.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no such span; got {:#?}", spans.lock().unwrap());
}

/// The string value of attribute `key` (the collector keeps values as their Debug text).
pub fn attr(span: &ExportedSpan, key: &str) -> String {
    span.attributes.get(key).cloned().unwrap_or_default()
}

/// `GET /orgs/{org}/items/{i}` of `app` for each `i` in `ids`, each answered 200.
pub async fn get_items(
    client: &reqwest::Client,
    app: SocketAddr,
    org: &str,
    ids: std::ops::Range<u32>,
) {
    for i in ids {
        let res = client
            .get(format!("http://{app}/orgs/{org}/items/{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET /orgs/{org}/items/{i}");
    }
}
