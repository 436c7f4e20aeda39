//! [`ResponseFuture`]: polls the service inside the call's span, writes the ids on the
//! response, and records a trailers-only answer now or hands the call to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{HeaderValue, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use vitals::TraceParent;
use vitals_axum::PressureReason;

use crate::body::ResponseBody;
use crate::record::Call;
use crate::status::{UNAVAILABLE, UNKNOWN, from_http, parse_grpc_status};

pin_project! {
    /// Response future of [`GrpcService`](crate::GrpcService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        shed: Option<(PressureReason, Duration)>,
        call: Option<Call>,
        trace: Option<TraceParent>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: Result<F, (PressureReason, Duration)>,
        call: Call,
        trace: Option<TraceParent>,
    ) -> Self {
        let (inner, shed) = match inner {
            Ok(f) => (Some(f), None),
            Err(shed) => (None, Some(shed)),
        };
        Self {
            inner,
            shed,
            call: Some(call),
            trace,
        }
    }
}

fn ascii(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(call) = this.call.as_mut() else {
            return Poll::Pending; // polled after completion
        };
        let Some(inner) = this.inner.as_pin_mut() else {
            // Shed: a trailers-only UNAVAILABLE, the service not called.
            let (reason, retry) = this
                .shed
                .take()
                .unwrap_or((PressureReason::HealthCheck, Duration::ZERO));
            let mut response = Response::new(ResponseBody::empty());
            let h = response.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/grpc"));
            h.insert("grpc-status", HeaderValue::from(u16::from(UNAVAILABLE)));
            h.insert(
                "grpc-message",
                HeaderValue::from_static("under pressure; retry later"),
            );
            h.insert("retry-after", HeaderValue::from(retry.as_secs().max(1)));
            if let Some(v) = ascii(reason.as_str().as_bytes()) {
                h.insert("vitals-shed-reason", v);
            }
            write_ids(&mut response, call, this.trace.as_ref());
            let mut call = this.call.take();
            if let Some(c) = call.as_mut() {
                c.finish(UNAVAILABLE, false, std::time::Instant::now());
            }
            return Poll::Ready(Ok(response));
        };
        let span = call.span.clone();
        let (poll, now) = call.timed(|| {
            let _enter = span.enter();
            inner.poll(cx)
        });
        let result = ready!(poll);
        let mut call = this.call.take();
        match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let mut response = Response::from_parts(parts, ());
                if let Some(c) = call.as_mut() {
                    write_ids(&mut response, c, this.trace.as_ref());
                    c.header_code = if response.status() != http::StatusCode::OK {
                        Some(from_http(response.status().as_u16()))
                    } else {
                        response
                            .headers()
                            .get("grpc-status")
                            .map(|v| parse_grpc_status(v.as_bytes()))
                    };
                    // A trailers-only answer with nothing to stream: recorded now.
                    if body.is_end_stream() {
                        let code = c.header_code.unwrap_or(UNKNOWN);
                        c.finish(code, false, now);
                        call = None;
                    }
                }
                Poll::Ready(Ok(response.map(|()| ResponseBody::new(body, call))))
            }
            Err(err) => {
                if let Some(c) = call.as_mut() {
                    c.finish(UNKNOWN, false, now);
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

/// The correlation id and, to a call that sent one, the trace, in the response metadata.
fn write_ids<T>(response: &mut Response<T>, call: &Call, trace: Option<&TraceParent>) {
    let h = response.headers_mut();
    if let Some(v) = ascii(call.request_id.as_str().as_bytes()) {
        h.insert(vitals::REQUEST_ID_HEADER, v);
    }
    if let Some(v) = trace.and_then(|t| ascii(&t.encode())) {
        h.insert(vitals::TRACEPARENT_HEADER, v);
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
