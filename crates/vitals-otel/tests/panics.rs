//! A handler that panics ends its server span with error status, whether the panic unwinds out
//! of the monitor (the connection is dropped, no response) or is caught inside it and answered
//! 500 (`CatchPanicLayer`, as the reference server does); checked at a real OTLP/HTTP receiver.

mod common;

use std::sync::{Arc, Mutex};

use common::{HttpReceiver, attr, config, serve_app, wait_for};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_ends_its_span_in_error() {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let receiver = HttpReceiver::start(0, Arc::clone(&spans)).await;
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

    // Unwinds out of the monitor: the server drops the connection, no answer.
    let res = client.get(format!("http://{app}/panic")).send().await;
    assert!(res.is_err(), "{res:?}");
    let unwound = wait_for(&spans, |s| s.name == "GET /panic").await;
    assert_eq!(
        unwound.status.clone().unwrap().code,
        "STATUS_CODE_ERROR",
        "{unwound:#?}"
    );
    assert!(attr(&unwound, "http.response.status_code").contains("IntValue(500)"));
    assert!(attr(&unwound, "error.type").contains("500"));

    // Caught inside the monitor: answered 500, the span is an error too.
    let res = client
        .get(format!("http://{app}/caught"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let caught = wait_for(&spans, |s| s.name == "GET /caught").await;
    assert_eq!(caught.status.clone().unwrap().code, "STATUS_CODE_ERROR");
    assert!(attr(&caught, "http.response.status_code").contains("IntValue(500)"));

    // A request that does not panic is not an error.
    common::get_items(&client, app, "acme", 0..1).await;
    let ok = wait_for(&spans, |s| s.name.starts_with("GET /orgs")).await;
    assert_ne!(
        ok.status.as_ref().map(|s| s.code.as_str()),
        Some("STATUS_CODE_ERROR")
    );
    receiver.stop().await;
}
