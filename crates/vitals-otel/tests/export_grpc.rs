//! gRPC export to the in-process `fake-opentelemetry-collector`: the server span carries the
//! caller's trace and parent, vitals' span id, the HTTP attributes, and the SQLite span under it.

mod common;

use std::time::Duration;

use common::{config, serve_app};
use fake_opentelemetry_collector::FakeCollectorServer;
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "b7ad6b7169203331";

/// One test at a time: `init` sets process-wide OpenTelemetry state (the global provider and
/// propagator); run side by side, the spans of the first test's request without `traceparent`
/// never reached its collector.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "current_thread")]
async fn grpc_export_carries_ids_attributes_and_nesting() {
    let _serial = SERIAL.lock().await;
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let guard = vitals_otel::init(&config(&collector.endpoint(), "grpc", &[])).unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    let _default = tracing::subscriber::set_default(subscriber);
    let app = serve_app().await;
    let client = reqwest::Client::new();

    let res = client
        .get(format!("http://{app}/orgs/acme/items/3"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let span_id = res.headers()["traceparent"].to_str().unwrap()[36..52].to_owned();
    let plain = client
        .get(format!("http://{app}/orgs/acme/items/4"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let recorded = plain.split(' ').next().unwrap().to_owned();

    let spans = collector.exported_spans(4, Duration::from_secs(10)).await;
    let server = spans
        .iter()
        .find(|s| s.span_id == span_id)
        .expect("server span");
    assert_eq!(server.trace_id, TRACE);
    assert_eq!(server.parent_span_id, PARENT);
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    assert!(server.attributes["http.route"].contains("/orgs/{orgId}/items/{id}"));
    assert!(server.attributes["http.response.status_code"].contains("IntValue(200)"));
    let db = spans
        .iter()
        .find(|s| s.name == "db.query" && s.trace_id == TRACE)
        .expect("db span");
    assert_eq!(db.parent_span_id, span_id);
    let root = spans
        .iter()
        .find(|s| s.trace_id == recorded && s.kind == "SPAN_KIND_SERVER")
        .expect("the span of the request without traceparent, under vitals' trace id");
    assert_eq!(root.parent_span_id, "");
    // Counted once the collector's answer is back.
    for _ in 0..100 {
        if guard.stats().exported_spans >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(guard.stats().exported_spans >= 4, "{:?}", guard.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn ratio_sampling_drops_new_traces_and_follows_a_sampled_parent() {
    let _serial = SERIAL.lock().await;
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let guard = vitals_otel::init(&config(
        &collector.endpoint(),
        "grpc",
        &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ],
    ))
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    let _default = tracing::subscriber::set_default(subscriber);
    let app = serve_app().await;
    let client = reqwest::Client::new();
    // Ratio 0: traces that start here are dropped; a sampled parent still wins.
    common::get_items(&client, app, "a", 0..5).await;
    let res = client
        .get(format!("http://{app}/orgs/a/items/9"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let spans = collector.exported_spans(2, Duration::from_secs(10)).await;
    assert_eq!(
        spans.len(),
        2,
        "only the sampled parent's trace: {spans:#?}"
    );
    assert!(spans.iter().all(|s| s.trace_id == TRACE));
}
