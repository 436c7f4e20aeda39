//! The request span's hooks: the OpenTelemetry server span takes vitals' trace id and span id
//! (so the `traceparent` vitals answers names the exported span), its parent from the request's
//! `traceparent`, HTTP semantic-convention attributes, and an error status on 5xx.

use std::cell::Cell;

use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use vitals_axum::{RequestSpanHooks, RequestSpanStart};

thread_local! {
    /// Ids the next span built on this thread takes (set around one build only).
    static PINNED: Cell<Option<([u8; 16], [u8; 8])>> = const { Cell::new(None) };
}

/// Random ids, except for the span built while [`PINNED`] holds the request's own.
#[derive(Debug, Default)]
pub(crate) struct VitalsIds(RandomIdGenerator);

impl IdGenerator for VitalsIds {
    fn new_trace_id(&self) -> TraceId {
        match PINNED.with(Cell::get) {
            Some((trace, _)) => TraceId::from_bytes(trace),
            None => self.0.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match PINNED.with(Cell::get) {
            Some((_, span)) => SpanId::from_bytes(span),
            None => self.0.new_span_id(),
        }
    }
}

/// The hooks `init` installs into vitals-axum.
pub(crate) const HOOKS: RequestSpanHooks = RequestSpanHooks {
    on_start,
    on_response,
};

fn on_start(span: &tracing::Span, start: &RequestSpanStart<'_>) {
    // The kind is read when the span is built; the rest can follow the sampling decision.
    span.record("otel.kind", "server");
    if let Some(trace) = start.trace {
        if let Some(parent) = trace.parent_id {
            let remote = SpanContext::new(
                TraceId::from_bytes(trace.trace_id),
                SpanId::from_bytes(parent),
                TraceFlags::new(trace.flags),
                true,
                TraceState::NONE,
            );
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
        // Build the span now, with vitals' ids: a trace started here keeps the id vitals
        // records, and the span id is the one vitals sends on in `traceparent`.
        PINNED.with(|p| p.set(Some((trace.trace_id, trace.span_id))));
        let cx = span.context();
        PINNED.with(|p| p.set(None));
        // Sampled out: its name and attributes would be thrown away; not making them saves a
        // third of what a sampled-out request costs (README, "Traces").
        if !cx.span().is_recording() {
            return;
        }
        // Built: the name goes to the span itself (a recorded `otel.name` only reaches a
        // span not built yet).
        cx.span().update_name(name(start));
    } else {
        span.record("otel.name", name(start).as_str());
    }
    span.set_attribute("http.request.method", start.method.to_owned());
    if let Some(route) = start.route {
        span.set_attribute("http.route", route.to_owned());
    }
    let header =
        |name: http::header::HeaderName| start.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(host) = header(http::header::HOST) {
        let (address, port) = split_host(host);
        span.set_attribute("server.address", address.to_owned());
        if let Some(port) = port {
            span.set_attribute("server.port", i64::from(port));
        }
    }
    if let Some(agent) = header(http::header::USER_AGENT) {
        span.set_attribute("user_agent.original", agent.to_owned());
    }
}

/// `GET /route`, or the method alone without a route.
fn name(start: &RequestSpanStart<'_>) -> String {
    match start.route {
        Some(route) => format!("{} {route}", start.method),
        None => start.method.to_owned(),
    }
}

fn on_response(span: &tracing::Span, status: u16) {
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_attribute("error.type", status.to_string());
        span.set_status(Status::error(""));
    }
}

/// `host[:port]`, `[v6]:port`.
fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            return (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match host.rsplit_once(':') {
        Some((addr, port)) if !addr.contains(':') => (addr, port.parse().ok()),
        _ => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::split_host;

    #[test]
    fn host_header_splits_into_address_and_port() {
        assert_eq!(split_host("example.com"), ("example.com", None));
        assert_eq!(split_host("127.0.0.1:8080"), ("127.0.0.1", Some(8080)));
        assert_eq!(split_host("[::1]:443"), ("::1", Some(443)));
        assert_eq!(split_host("::1"), ("::1", None));
    }
}
