//! Under an INFO `fmt` subscriber the request span (DEBUG by default) is not made, yet a line
//! logged in a handler carries the request's id, trace id, route and tenant through
//! `RequestFields`; the trace id made for the line is the one recorded with the request.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;
use vitals_axum::{MonitorLayer, RequestFields};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

fn app(monitor: &vitals::Monitor) -> Router {
    Router::new()
        .route(
            "/orgs/{orgId}/things",
            get(|| async {
                tracing::info!(answer = 42, "inside the handler");
                "ok"
            }),
        )
        .route("/quiet", get(|| async { "quiet" }))
        .layer(
            MonitorLayer::new(monitor.clone())
                .in_router(true)
                .trace_context(true),
        )
}

async fn get_with_id(app: Router, uri: &str, id: &str) -> http::Response<Body> {
    let res = app
        .oneshot(
            Request::get(uri)
                .header("x-request-id", id)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    http::Response::from_parts(parts, Body::from(bytes))
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// The 32 hex digits after `trace_id=` + `quote` in `line`.
fn trace_after(line: &str, prefix: &str) -> String {
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {line}"));
    let hex: String = line[at + prefix.len()..].chars().take(32).collect();
    assert!(
        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{line}"
    );
    hex
}

#[tokio::test]
async fn a_handlers_log_line_carries_the_request_and_trace_ids_without_the_span() {
    let out = Output::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(out.clone())
        .event_format(RequestFields::new(tracing_subscriber::fmt::format()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let monitor = vitals::Monitor::default();

    tracing::info!("before any request");
    let res = get_with_id(app(&monitor), "/orgs/acme/things", "req-log-1").await;
    assert_eq!(res.status(), 200);
    // A request that logs nothing makes no trace id, so its record has none.
    get_with_id(app(&monitor), "/quiet", "req-quiet").await;

    let text = out.text();
    let line = line_with(&text, "inside the handler");
    assert!(line.contains("answer=42"), "{line}");
    assert!(line.contains("request_id=\"req-log-1\""), "{line}");
    assert!(line.contains("route=\"/orgs/{orgId}/things\""), "{line}");
    assert!(line.contains("organization=\"acme\""), "{line}");
    // The span is DEBUG: not made under an INFO subscriber, so not on the line.
    assert!(!line.contains("request{"), "{line}");
    let logged_trace = trace_after(line, "trace_id=\"");
    let outside = line_with(&text, "before any request");
    assert!(!outside.contains("request_id="), "{outside}");

    let recent = monitor.recent();
    let logged = recent
        .iter()
        .find(|r| r.correlation_id.as_deref() == Some("req-log-1"))
        .expect("the logging request is recorded");
    assert_eq!(logged.trace_id.as_deref(), Some(logged_trace.as_str()));
    let quiet = recent
        .iter()
        .find(|r| r.correlation_id.as_deref() == Some("req-quiet"))
        .expect("the quiet request is recorded");
    assert_eq!(quiet.trace_id, None, "{quiet:?}");
}

#[tokio::test]
async fn json_lines_get_the_fields_as_members() {
    let out = Output::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(out.clone())
        .event_format(RequestFields::new(tracing_subscriber::fmt::format().json()))
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let monitor = vitals::Monitor::default();

    get_with_id(app(&monitor), "/orgs/acme/things", "req-json-1").await;

    let text = out.text();
    let line = line_with(&text, "inside the handler");
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(value["request_id"], "req-json-1", "{line}");
    assert_eq!(value["organization"], "acme", "{line}");
    assert_eq!(value["route"], "/orgs/{orgId}/things", "{line}");
    assert_eq!(value["fields"]["answer"], 42, "{line}");
    let trace = value["trace_id"].as_str().unwrap();
    assert_eq!(trace.len(), 32, "{line}");
}
