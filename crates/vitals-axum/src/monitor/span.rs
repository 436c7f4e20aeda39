//! The per-request `request` span: its level and its fields.
//!
//! The span is made at [`DEFAULT_SPAN_LEVEL`] (DEBUG, as tower-http's `TraceLayer` makes its
//! request spans) unless set otherwise: a subscriber at INFO formats every span's fields when
//! the span is made, which cost a service that logs at INFO more than the whole monitor
//! (`scripts/callgrind-requests.sh recommended-info`). Log lines made during a request still
//! carry its ids through [`RequestFields`](crate::RequestFields), which reads the request's
//! context only when a line is written. A trace exporter (request span hooks installed) needs
//! the span to reach its layer under the usual INFO filter, so with hooks the span is made at
//! INFO at least.

use axum::extract::MatchedPath;
use tracing::Level;
use vitals::{InlineStr, Method};

use crate::context::{RequestId, TraceContext};

/// The request span's level unless [`MonitorLayer::span_level`](crate::MonitorLayer::span_level)
/// says otherwise.
pub const DEFAULT_SPAN_LEVEL: Level = Level::DEBUG;

/// The span's target (this module's path), by which [`RequestFields`](crate::RequestFields)
/// recognizes it.
#[cfg(feature = "log-fields")]
pub(super) const SPAN_TARGET: &str = module_path!();

/// The level the span is made at: the configured one, raised to INFO when a trace exporter's
/// hooks are installed.
pub(super) fn effective_level(configured: Level, hooks: bool) -> Level {
    // `Level` orders verbosity: TRACE > DEBUG > INFO, so `min` is the less verbose one.
    if hooks {
        configured.min(Level::INFO)
    } else {
        configured
    }
}

/// Makes the span at `level`: `tracing`'s macros need a constant level per callsite, so one
/// callsite per level.
macro_rules! request_span_at {
    ($level:expr, $($fields:tt)*) => {
        match $level {
            Level::ERROR => tracing::error_span!($($fields)*),
            Level::WARN => tracing::warn_span!($($fields)*),
            Level::INFO => tracing::info_span!($($fields)*),
            Level::DEBUG => tracing::debug_span!($($fields)*),
            _ => tracing::trace_span!($($fields)*),
        }
    };
}

/// The request's span, with its fields.
pub(super) fn request_span(
    level: Level,
    method: Method,
    route: Option<&MatchedPath>,
    request_id: Option<&RequestId>,
    organization: &InlineStr,
    trace: Option<&TraceContext>,
) -> tracing::Span {
    let span = request_span_at!(
        level,
        "request",
        method = method.as_str(),
        route = route.map_or(vitals::UNMATCHED, MatchedPath::as_str),
        request_id = request_id.map_or("", RequestId::as_str),
        organization = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        // Filled by a trace exporter's hook (see `RequestSpanHooks`), empty otherwise.
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
    );
    if !organization.is_empty() {
        span.record("organization", organization.as_str());
    }
    if let Some(trace) = trace {
        if !span.is_disabled() {
            span.record("trace_id", trace.trace_id_hex());
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_raise_the_level_to_info_at_least() {
        assert_eq!(effective_level(Level::DEBUG, false), Level::DEBUG);
        assert_eq!(effective_level(Level::DEBUG, true), Level::INFO);
        assert_eq!(effective_level(Level::TRACE, true), Level::INFO);
        assert_eq!(effective_level(Level::WARN, true), Level::WARN);
        assert_eq!(effective_level(Level::INFO, false), Level::INFO);
    }
}
