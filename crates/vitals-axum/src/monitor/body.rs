//! The response body of [`MonitorService`](super::MonitorService): times the body's polls
//! and records the request when the body ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::record::{Recorder, timed_poll};

pin_project! {
    /// Response body of [`MonitorService`]: records the request when it ends or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        pub(super) inner: B,
        pub(super) recorder: Option<Recorder>,
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let (frame, now) = timed_poll(this.recorder, |_| this.inner.as_mut().poll_frame(cx));
        let frame = ready!(frame);
        let ended = match &frame {
            None => Some(false),
            Some(Err(_)) => Some(true),
            Some(Ok(_)) => this.inner.is_end_stream().then_some(false),
        };
        if let Some(aborted) = ended {
            if let Some(r) = this.recorder.take() {
                r.finish(aborted, now);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
