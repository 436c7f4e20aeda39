//! The response future of [`RateLimitService`](super::RateLimitService): adds the limit's
//! headers to the inner response, or answers the refusal.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::response::Response;
use pin_project_lite::pin_project;

use super::headers::LimitHeaders;

pin_project! {
    /// The response future of [`RateLimitService`](super::RateLimitService).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner {
            #[pin]
            future: F,
            headers: Option<LimitHeaders>,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn refused(response: Response) -> Self {
        Self {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }

    pub(super) fn passthrough(future: F, headers: Option<LimitHeaders>) -> Self {
        Self {
            kind: Kind::Inner { future, headers },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let refused = matches!(self.kind, Kind::Refused { .. });
        f.debug_struct("ResponseFuture")
            .field("refused", &refused)
            .finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, headers } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(headers) = headers.take() {
                    headers.apply(response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}
