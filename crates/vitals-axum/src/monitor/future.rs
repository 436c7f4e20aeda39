//! The response future of [`MonitorService`](super::MonitorService): polls the handler with
//! the request's record current, then records the request or hands the record to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::response::IntoResponse;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::current::Scope;
use super::record::{Recorder, Tick, timed_poll};
use crate::context::{Organization, REQUEST_ID_HEADER};

/// The correlation id header, written on the response (the service reads it on the request).
pub(super) const X_REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
/// W3C trace context, answered only to a request that sent one.
pub(super) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

pin_project! {
    /// What [`ResponseFuture`] polls: the inner service's future, or the response that sheds
    /// the request under pressure (the inner service not called).
    #[project = InnerProj]
    #[allow(missing_docs)]
    pub(super) enum Inner<F> {
        Call { #[pin] future: F },
        Shed { response: Option<Response<axum::body::Body>> },
    }
}

pin_project! {
    /// Response future of [`MonitorService`].
    pub struct ResponseFuture<F> {
        #[pin]
        pub(super) inner: Inner<F>,
        pub(super) span: tracing::Span,
        // The client's own `x-request-id`, to echo when ids are on.
        pub(super) incoming: Option<HeaderValue>,
        pub(super) buffered_body_limit: u64,
        pub(super) recorder: Option<Recorder>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // `now`: the poll's end, and the request's when it is recorded now (one clock read).
        let (poll, now) = timed_poll(this.recorder, |recorder| {
            let _enter = this.span.enter();
            let _scope = Scope::enter(recorder);
            // Only where a span exists (a subscriber wants it): one branch otherwise.
            let _panic = (!this.span.is_none()).then_some(PanicMark(&*this.span));
            match this.inner.project() {
                InnerProj::Call { future } => future.poll(cx).map(|r| r.map(Polled::Inner)),
                InnerProj::Shed { response } => {
                    Poll::Ready(Ok(Polled::Shed(response.take().unwrap_or_else(|| {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }))))
                }
            }
        });
        let result = ready!(poll);
        let recorder = this.recorder.take();
        let (span, incoming, limit) = (&*this.span, this.incoming, *this.buffered_body_limit);
        match result {
            Ok(Polled::Inner(response)) => {
                Poll::Ready(Ok(respond(response, recorder, span, incoming, limit, now)))
            }
            Ok(Polled::Shed(response)) => {
                Poll::Ready(Ok(respond(response, recorder, span, incoming, limit, now)))
            }
            Err(err) => {
                if !span.is_none() {
                    response_hook(span, 500);
                }
                if let Some(mut r) = recorder {
                    if let Some(p) = r.pending_mut() {
                        p.status = 500;
                        p.response_started = true;
                    }
                    r.finish(false, now);
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

/// What the inner future or the shed gave.
enum Polled<B> {
    Inner(Response<B>),
    Shed(Response<axum::body::Body>),
}

/// Writes the ids on the response and records the request now, or hands the record to the
/// body. Inlined into both arms: out of line, the response would be moved in and out by value.
#[inline(always)]
fn respond<B>(
    mut response: Response<B>,
    mut recorder: Option<Recorder>,
    span: &tracing::Span,
    incoming: &mut Option<HeaderValue>,
    buffered_body_limit: u64,
    now: Tick,
) -> Response<axum::body::Body>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let pending = recorder.as_mut().and_then(Recorder::pending_mut);
    if !span.is_none() {
        response_hook(span, response.status().as_u16());
    }
    if let Some(p) = pending {
        p.status = response.status().as_u16();
        p.response_started = true;
        p.response_org = response.extensions().get::<Organization>().cloned();
        if p.expose_id {
            let value = incoming.take().or_else(|| {
                let id = p.context.request_id?;
                Some(id.to_header_value())
            });
            if let Some(value) = value {
                response.headers_mut().insert(X_REQUEST_ID, value);
            }
        }
        if let Some(trace) = p.context.trace.as_ref().filter(|_| p.echo_trace) {
            response
                .headers_mut()
                .insert(TRACEPARENT, trace.to_header_value());
        }
    }
    // Recorded now, with the body passed through untouched (for axum's own body
    // type that costs nothing, where wrapping it costs a boxing), when waiting for
    // the body's end would measure nothing more: an empty body, or one of known
    // small size, which hyper writes in the same poll as the head. An event stream
    // is recorded now too, for the opposite reason: it lives as long as its client
    // watches, and minutes-long "requests" would swamp the latency figures (its
    // figure is its time to first byte).
    let body = response.body();
    let size = body.size_hint().exact();
    let record_now = body.is_end_stream()
        || size.is_some_and(|n| n <= buffered_body_limit)
        || size.is_none() && is_event_stream(response.headers());
    if record_now {
        if let Some(r) = recorder.take() {
            r.finish(false, now);
        }
        return response.map(axum::body::Body::new);
    }
    response.map(|body| {
        axum::body::Body::new(ResponseBody {
            inner: body,
            recorder,
        })
    })
}

/// Tells the hooks of a span whose handler panics (the panic unwinds through the poll) that
/// the request failed with a 500, as the monitor records it: the span ends with an error.
struct PanicMark<'s>(&'s tracing::Span);

impl Drop for PanicMark<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            response_hook(self.0, 500);
        }
    }
}

/// Tells the installed hooks the response's status (a trace exporter marks 5xx as errors).
#[cold]
fn response_hook(span: &tracing::Span, status: u16) {
    if let Some(hooks) = super::hooks::installed() {
        (hooks.on_response)(span, status);
    }
}

fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
