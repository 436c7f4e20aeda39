//! The `request` span carries the method, route, correlation id and tenant, so every log line
//! emitted inside a handler carries them too.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use vitals_axum::MonitorLayer;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(String, String)>>>);

impl Visit for Captured {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), value.to_owned()));
    }
}

struct Capture(Captured);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        if attrs.metadata().name() == "request" {
            attrs.record(&mut self.0.clone());
        }
    }
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: Context<'_, S>,
    ) {
        values.record(&mut self.0.clone());
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        // Record which span an event inside the handler belongs to.
        let span = ctx
            .event_span(event)
            .map(|s| s.name().to_owned())
            .unwrap_or_default();
        self.0
            .0
            .lock()
            .unwrap()
            .push(("event_span".to_owned(), span));
    }
}

#[tokio::test]
async fn request_span_carries_id_route_and_tenant() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(Capture(captured.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let monitor = vitals::Monitor::default();
    let before = std::time::Instant::now();
    let app = Router::new()
        .route(
            "/orgs/{orgId}/things",
            get(move || async move {
                tracing::info!("inside the handler");
                // The context reached from the handler: the request's start and route.
                let context = vitals_axum::RequestContext::current().expect("a current context");
                assert!(context.start >= before && context.start <= std::time::Instant::now());
                assert_eq!(
                    context.route.as_ref().map(|r| r.as_str()),
                    Some("/orgs/{orgId}/things")
                );
                "ok"
            }),
        )
        .layer(MonitorLayer::new(monitor).trace_context(true));
    let req = Request::get("/orgs/acme/things")
        .header("x-request-id", "span-test-1")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert!(res.status().is_success(), "the handler's checks passed");
    let _ = res.into_body().collect().await.unwrap();

    let fields = captured.0.lock().unwrap().clone();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("method").as_deref(), Some("GET"));
    assert_eq!(get("route").as_deref(), Some("/orgs/{orgId}/things"));
    assert_eq!(get("request_id").as_deref(), Some("span-test-1"));
    assert_eq!(get("organization").as_deref(), Some("acme"));
    assert_eq!(
        get("trace_id").as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(get("event_span").as_deref(), Some("request"));
}
