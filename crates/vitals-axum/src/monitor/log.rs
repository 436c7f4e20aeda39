//! [`RequestFields`]: a `tracing-subscriber` event format that adds the current request's ids
//! to every log line written while the request is being handled.

use std::cell::RefCell;
use std::fmt;

use axum::extract::MatchedPath;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::current::{has_current, with_current_traced};
use super::span::SPAN_TARGET;
use crate::context::{RequestContext, RequestId};

/// Wraps a `tracing-subscriber` event format (by default the standard one) and appends the
/// current request's `request_id`, `trace_id`, `route` and `organization` to each line written
/// while a [`MonitorLayer`](crate::MonitorLayer) is polling a request on the writing thread.
///
/// The request span carries these fields too, but it is made only when a subscriber wants
/// spans at its level ([`MonitorLayer::span_level`](crate::MonitorLayer::span_level), DEBUG by
/// default), because formatting a span for every request is dear; this format reads the
/// request's context only when a line is written, so requests that log nothing pay nothing.
/// Lines already inside the request span are left alone (its fields are on the line). A trace
/// id asked for here is made then and recorded with the request, so the line and the record
/// agree. JSON lines (`.json()`) get the fields as members; other lines get ` name="value"`
/// pairs before their newline. The wrapped format writes into a buffer first, so a line written
/// during a request has no ANSI colours.
///
/// ```
/// use tracing_subscriber::fmt::format::Format;
///
/// let subscriber = tracing_subscriber::fmt()
///     .event_format(vitals_axum::RequestFields::new(Format::default()))
///     .finish();
/// tracing::subscriber::with_default(subscriber, || tracing::info!("outside any request"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestFields<F = Format> {
    inner: F,
}

impl<F> RequestFields<F> {
    /// Adds the request's fields to the lines `inner` writes.
    pub fn new(inner: F) -> Self {
        Self { inner }
    }
}

thread_local! {
    /// The wrapped format's line, before the fields are added (reused: no allocation per line
    /// once it has grown).
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for RequestFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if !has_current() || in_request_span(ctx) {
            return self.inner.format_event(ctx, writer, event);
        }
        LINE.try_with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return self.inner.format_event(ctx, writer.by_ref(), event);
            };
            line.clear();
            self.inner
                .format_event(ctx, Writer::new(&mut *line), event)?;
            let body = line.trim_end_matches('\n');
            let newline = &line[body.len()..];
            let written =
                with_current_traced(|c, expose_id| write_fields(&mut writer, body, c, expose_id));
            match written {
                Some(result) => result?,
                None => writer.write_str(body)?,
            }
            writer.write_str(newline)
        })
        .unwrap_or_else(|_| self.inner.format_event(ctx, writer, event))
    }
}

/// True when the event is inside the monitor's own request span (whose fields the line shows).
fn in_request_span<S, N>(ctx: &FmtContext<'_, S, N>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    ctx.event_scope().is_some_and(|mut scope| {
        scope.any(|span| span.name() == "request" && span.metadata().target() == SPAN_TARGET)
    })
}

/// Writes `line` with the request's fields added: as members of a JSON object line, else as
/// ` name="value"` pairs at its end.
fn write_fields(
    writer: &mut Writer<'_>,
    line: &str,
    c: &RequestContext,
    expose_id: bool,
) -> fmt::Result {
    let request_id = c
        .request_id
        .as_ref()
        .filter(|_| expose_id)
        .map(RequestId::as_str);
    let trace_id = c
        .trace
        .as_ref()
        .map(crate::context::TraceContext::trace_id_hex);
    let route = c.route.as_ref().map(MatchedPath::as_str);
    let fields = [
        ("request_id", request_id),
        ("trace_id", trace_id.as_deref()),
        ("route", route),
        ("organization", c.organization()),
    ];
    let json = line.starts_with('{') && line.ends_with('}');
    if json {
        writer.write_str(&line[..line.len() - 1])?;
    } else {
        writer.write_str(line)?;
    }
    for (name, value) in fields {
        let Some(value) = value else { continue };
        if json {
            let value = serde_json::to_string(value).map_err(|_| fmt::Error)?;
            write!(writer, ",\"{name}\":{value}")?;
        } else {
            write!(writer, " {name}={value:?}")?;
        }
    }
    if json {
        writer.write_char('}')?;
    }
    Ok(())
}
