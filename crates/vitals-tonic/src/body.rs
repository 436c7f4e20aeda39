//! [`ResponseBody`]: counts the response's messages, reads `grpc-status` from the trailers and
//! records the call when the stream ends (or is dropped: `CANCELLED`).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::record::Call;
use crate::status::{UNKNOWN, parse_grpc_status};

pin_project! {
    /// Response body of [`GrpcService`](crate::GrpcService).
    pub struct ResponseBody<B> {
        #[pin]
        inner: Option<B>,
        call: Option<Call>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, call: Option<Call>) -> Self {
        Self {
            inner: Some(inner),
            call,
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            inner: None,
            call: None,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let Some(mut inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let Some(call) = this.call.as_mut() else {
            return inner.poll_frame(cx);
        };
        let (frame, now) = call.timed(|| inner.as_mut().poll_frame(cx));
        let frame = ready!(frame);
        let end = match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    call.counter.feed(data);
                    inner
                        .is_end_stream()
                        .then(|| (call.header_code.unwrap_or(UNKNOWN), false))
                } else {
                    let code = f
                        .trailers_ref()
                        .and_then(|t| t.get("grpc-status"))
                        .map(|v| parse_grpc_status(v.as_bytes()));
                    Some((code.or(call.header_code).unwrap_or(UNKNOWN), false))
                }
            }
            Some(Err(_)) => Some((UNKNOWN, true)),
            None => Some((call.header_code.unwrap_or(UNKNOWN), false)),
        };
        if let Some((code, aborted)) = end {
            call.finish(code, aborted, now);
            *this.call = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or(SizeHint::with_exact(0), Body::size_hint)
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
