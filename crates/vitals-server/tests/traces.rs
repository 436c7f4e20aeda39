//! The reference server exports traces when the OTEL_* variables are set: its request spans
//! reach a real OTLP (gRPC) receiver with the caller's trace, its SQLite queries are spans
//! under them, and its log lines made during a request carry the trace id and request id.

#[allow(dead_code)]
mod support;

mod otel_support;

use fake_opentelemetry_collector::FakeCollectorServer;
use otel_support::spans_until;
use support::Server;

const TRACE: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const PARENT: &str = "10f067aa0ba902b8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_sqlite_queries_are_exported_and_logged_with_their_ids() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let endpoint = collector.endpoint();
    let server = Server::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_SERVICE_NAME", "vitals-server-test"),
        ("VITALS_DEMO", "1"),
    ]);
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let answer = server
        .get_with(
            "/api/orgs/acme/properties",
            &[
                ("traceparent", traceparent.as_str()),
                ("x-request-id", "req-otel-1"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let span_id = answer.header("traceparent").unwrap()[36..52].to_owned();

    let spans = spans_until(&mut collector, |spans| {
        spans.iter().any(|s| s.span_id == span_id)
            && spans.iter().any(|s| s.name == "list_properties")
    })
    .await;
    let request = spans
        .iter()
        .find(|s| s.span_id == span_id)
        .unwrap_or_else(|| panic!("no server span {span_id}: {spans:#?}"));
    assert_eq!(request.trace_id, TRACE);
    assert_eq!(request.parent_span_id, PARENT);
    assert_eq!(request.kind, "SPAN_KIND_SERVER");
    assert_eq!(request.name, "GET /api/orgs/{orgId}/properties");
    let query = spans
        .iter()
        .find(|s| s.name == "list_properties")
        .unwrap_or_else(|| panic!("no SQLite span: {spans:#?}"));
    assert_eq!(
        query.parent_span_id, span_id,
        "the query nests under its request"
    );
    assert_eq!(query.kind, "SPAN_KIND_CLIENT");
    assert!(query.attributes["db.system.name"].contains("sqlite"));

    // A line logged inside a request (the database error of the demo fault) carries the
    // request's ids, and the 500 is an error span.
    let on = server
        .send(
            server
                .client()
                .post(server.url("/api/demo/db-fault?on=true")),
        )
        .await;
    assert!(on.status < 300, "{}", on.text);
    let answer = server
        .get_with(
            "/api/orgs/acme/properties",
            &[
                ("traceparent", traceparent.as_str()),
                ("x-request-id", "req-otel-2"),
            ],
        )
        .await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    let failed_id = answer.header("traceparent").unwrap()[36..52].to_owned();
    let spans = spans_until(&mut collector, |spans| {
        spans.iter().any(|s| s.span_id == failed_id)
    })
    .await;
    let failed = spans
        .iter()
        .find(|s| s.span_id == failed_id)
        .unwrap_or_else(|| panic!("no span {failed_id}: {spans:#?}"));
    assert_eq!(failed.status.as_ref().unwrap().code, "STATUS_CODE_ERROR");
    let output = server.output();
    let line = output
        .lines()
        .find(|l| l.contains("database error"))
        .unwrap_or_else(|| panic!("no database error line:\n{output}"));
    assert!(line.contains(&format!("trace_id=\"{TRACE}\"")), "{line}");
    assert!(line.contains("request_id=\"req-otel-2\""), "{line}");
}

/// Quiet logs do not switch off tracing: with `RUST_LOG=error` the trace layer filters at its
/// own level (`VITALS_TRACE_LEVEL`, default `info`), so the server span and the SQLite span
/// under it still arrive, while no INFO line is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_error_still_exports_the_server_span_and_its_children() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let endpoint = collector.endpoint();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    // RUST_LOG=error hides the `listening on` lines: fixed ports instead.
    let port = free().to_string();
    let operator = format!("127.0.0.1:{}", free());
    let server = Server::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("RUST_LOG", "error"),
        ("PORT", port.as_str()),
        ("VITALS_OPERATOR_ADDR", operator.as_str()),
    ]);
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let answer = server
        .get_with(
            "/api/orgs/acme/properties",
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let span_id = answer.header("traceparent").unwrap()[36..52].to_owned();
    let spans = spans_until(&mut collector, |spans| {
        spans.iter().any(|s| s.span_id == span_id)
            && spans.iter().any(|s| s.parent_span_id == span_id)
    })
    .await;
    let request = spans
        .iter()
        .find(|s| s.span_id == span_id)
        .unwrap_or_else(|| panic!("no server span {span_id}: {spans:#?}"));
    assert_eq!(request.kind, "SPAN_KIND_SERVER");
    assert_eq!(request.trace_id, TRACE);
    let child = spans
        .iter()
        .find(|s| s.name == "list_properties")
        .unwrap_or_else(|| panic!("no SQLite span: {spans:#?}"));
    assert_eq!(child.parent_span_id, span_id);
    let output = server.output();
    assert!(
        !output.contains(" INFO "),
        "RUST_LOG=error logs no INFO line:\n{output}"
    );
}

/// A bad `VITALS_TRACE_LEVEL` is a start-up error naming it.
#[test]
fn a_bad_trace_level_is_a_start_up_error_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vitals-server"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .env("VITALS_TRACE_LEVEL", "inof")
        .env("DATABASE_URL", ":memory:")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("VITALS_TRACE_LEVEL"), "{stderr}");
}
