//! http/protobuf export to a real OTLP receiver on loopback: server spans with vitals' trace
//! and span ids, their parent from `traceparent`, HTTP attributes, error status, the handler's
//! SQLite span nested; the receiver stopped: requests unaffected, drops counted; restarted:
//! export resumes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{HttpReceiver, attr, config, serve_app, wait_for};
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "current_thread")]
async fn spans_reach_the_receiver_and_drops_are_counted_while_it_is_down() {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let receiver = HttpReceiver::start(0, Arc::clone(&spans)).await;
    let port = receiver.addr.port();
    let guard = vitals_otel::init(&config(
        &format!("http://{}", receiver.addr),
        "http/protobuf",
        &[],
    ))
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    let _default = tracing::subscriber::set_default(subscriber);
    let app = serve_app().await;
    let client = reqwest::Client::new();

    // With a `traceparent`: same trace, the caller's span as parent, the answered span id.
    let res = client
        .get(format!("http://{app}/orgs/acme/items/21"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("user-agent", "otel-test/1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answered = res.headers()["traceparent"].to_str().unwrap().to_owned();
    let server_span_id = answered[36..52].to_owned();
    assert_eq!(&answered[3..35], TRACE);
    assert_eq!(res.text().await.unwrap(), format!("{TRACE} 42"));

    let server = wait_for(&spans, |s| s.span_id == server_span_id).await;
    assert_eq!(server.trace_id, TRACE);
    assert_eq!(server.parent_span_id, PARENT);
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    assert_eq!(server.name, "GET /orgs/{orgId}/items/{id}");
    assert!(attr(&server, "http.request.method").contains("\"GET\""));
    assert!(attr(&server, "http.route").contains("\"/orgs/{orgId}/items/{id}\""));
    assert!(attr(&server, "http.response.status_code").contains("IntValue(200)"));
    assert!(attr(&server, "server.address").contains("\"127.0.0.1\""));
    assert!(attr(&server, "user_agent.original").contains("\"otel-test/1\""));
    assert!(attr(&server, "organization").contains("\"acme\""));
    assert!(!attr(&server, "request_id").is_empty());
    assert_ne!(
        server.status.as_ref().map(|s| s.code.as_str()),
        Some("STATUS_CODE_ERROR")
    );
    let db = wait_for(&spans, |s| s.name == "db.query" && s.trace_id == TRACE).await;
    assert_eq!(
        db.parent_span_id, server_span_id,
        "the SQLite span nests under the request"
    );
    assert_eq!(db.kind, "SPAN_KIND_INTERNAL");

    // Without one: a new trace, the id vitals records, no parent.
    let body = client
        .get(format!("http://{app}/orgs/acme/items/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let recorded = body.split(' ').next().unwrap().to_owned();
    assert_eq!(recorded.len(), 32);
    let root = wait_for(&spans, |s| {
        s.trace_id == recorded && s.name.starts_with("GET")
    })
    .await;
    assert_eq!(root.parent_span_id, "");

    // A 5xx is an error.
    let res = client
        .get(format!("http://{app}/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let failed = wait_for(&spans, |s| s.name == "GET /fail").await;
    assert_eq!(failed.status.clone().unwrap().code, "STATUS_CODE_ERROR");
    assert!(attr(&failed, "http.response.status_code").contains("IntValue(503)"));

    // Receiver down: every request still answers, the lost spans are counted.
    let mut before = guard.stats();
    for _ in 0..100 {
        if before.exported_spans >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        before = guard.stats();
    }
    assert!(before.exported_spans >= 5, "{before:?}");
    assert_eq!(before.dropped_spans, 0, "{before:?}");
    receiver.stop().await;
    common::get_items(&client, app, "acme", 0..20).await;
    let mut down = guard.stats();
    for _ in 0..100 {
        if down.dropped_spans >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        down = guard.stats();
    }
    assert!(down.failed_exports >= 1, "{down:?}");
    assert_eq!(
        down.dropped_spans, 40,
        "20 requests, 2 spans each: {down:?}"
    );
    assert_eq!(down.exported_spans, before.exported_spans, "{down:?}");

    // Restarted on the same port: export resumes.
    let receiver = HttpReceiver::start(port, Arc::clone(&spans)).await;
    let res = client
        .get(format!("http://{app}/orgs/acme/items/5"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    let again = res.headers()["traceparent"].to_str().unwrap()[36..52].to_owned();
    wait_for(&spans, |s| s.span_id == again).await;
    assert!(guard.stats().exported_spans > down.exported_spans);
    receiver.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_and_counts_without_failing_requests() {
    // Nobody listens, the queue holds 4 spans and is exported only every minute.
    let guard = vitals_otel::init(&config(
        "http://127.0.0.1:9",
        "http/protobuf",
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
    ))
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    let _default = tracing::subscriber::set_default(subscriber);
    let app = serve_app().await;
    let client = reqwest::Client::new();
    common::get_items(&client, app, "acme", 0..10).await;
    let stats = guard.stats();
    assert_eq!(stats.queue_capacity, 4);
    // 20 spans ended; at most 4 wait and at most one batch of 4 is being exported.
    assert!(stats.dropped_queue_full >= 12, "{stats:?}");
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
}
