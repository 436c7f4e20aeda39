//! Hooks on the request span, for an exporter (such as `vitals-otel`) that turns it into a
//! distributed-tracing span: one set per process, installed once. Until one is installed the
//! monitor calls nothing (the span is also not made without a subscriber that wants INFO spans).

use std::sync::OnceLock;

use http::HeaderMap;

use crate::context::TraceContext;

/// What the request span's start hook is told about the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpanStart<'r> {
    /// HTTP method.
    pub method: &'r str,
    /// Route template, when the router matched one.
    pub route: Option<&'r str>,
    /// The request's trace (from its `traceparent`, or a new one), when propagation is on.
    pub trace: Option<&'r TraceContext>,
    /// Request headers (for `host`, `user-agent`...).
    pub headers: &'r HeaderMap,
}

/// Functions the monitor calls on each request's `tracing` span (only when the span exists).
#[derive(Debug, Clone, Copy)]
pub struct RequestSpanHooks {
    /// Called right after the span is made, before it is first entered: the place to set its
    /// parent and ids from the request's trace.
    pub on_start: fn(&tracing::Span, &RequestSpanStart<'_>),
    /// Called when the response head is known (`status`; 500 when the service failed).
    pub on_response: fn(&tracing::Span, u16),
}

static HOOKS: OnceLock<RequestSpanHooks> = OnceLock::new();

/// Installs the request span hooks for the process; false when some were installed already
/// (the first set stays).
///
/// ```
/// fn start(_: &tracing::Span, _: &vitals_axum::RequestSpanStart<'_>) {}
/// fn response(_: &tracing::Span, _: u16) {}
/// let hooks = vitals_axum::RequestSpanHooks { on_start: start, on_response: response };
/// assert!(vitals_axum::install_request_span_hooks(hooks));
/// assert!(!vitals_axum::install_request_span_hooks(hooks));
/// ```
pub fn install_request_span_hooks(hooks: RequestSpanHooks) -> bool {
    HOOKS.set(hooks).is_ok()
}

/// The installed hooks, if any.
pub(super) fn installed() -> Option<&'static RequestSpanHooks> {
    HOOKS.get()
}
