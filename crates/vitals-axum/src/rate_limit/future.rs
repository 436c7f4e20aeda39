//! The response future of [`RateLimitService`](super::RateLimitService): adds the limit's
//! headers to the inner response, or answers the refusal.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::response::Response;
use pin_project_lite::pin_project;

use super::headers::LimitHeaders;

/// What the limiter decided for a request.
pub(super) enum Decision {
    /// Call the inner service; add these headers to its response.
    Admit(LimitHeaders),
    /// Answer this refusal.
    Refuse(Response),
}

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
        // Waiting for a remote store's verdict, then calling the inner service.
        Checking {
            check: Pin<Box<dyn Future<Output = Decision> + Send>>,
            call: Option<Box<dyn FnOnce() -> F + Send>>,
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

impl<F> ResponseFuture<F> {
    /// Awaits `check`, then calls `call` (the inner service) or answers the refusal.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn checking(
        check: Pin<Box<dyn Future<Output = Decision> + Send>>,
        call: Box<dyn FnOnce() -> F + Send>,
    ) -> Self {
        Self {
            kind: Kind::Checking {
                check,
                call: Some(call),
            },
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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut kind = self.as_mut().project().kind;
            match kind.as_mut().project() {
                KindProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(headers) = headers.take() {
                        headers.apply(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response));
                }
                KindProj::Refused { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
                KindProj::Checking { check, call } => match ready!(check.as_mut().poll(cx)) {
                    Decision::Admit(headers) => {
                        let call = call.take().expect("ResponseFuture polled after completion");
                        kind.set(Kind::Inner {
                            future: call(),
                            headers: Some(headers),
                        });
                    }
                    Decision::Refuse(response) => return Poll::Ready(Ok(response)),
                },
            }
        }
    }
}
