//! The response future of [`CircuitBreakerService`](super::CircuitBreakerService): records the
//! outcome, and answers 503 when the call runs past its timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::snapshot::BreakerState;
use super::state::{Inner, Permit, retry_after_secs};
use crate::problem::Problem;

pin_project! {
    /// Response future of [`CircuitBreakerService`].
    pub struct ResponseFuture<F> {
        #[pin]
        pub(super) kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    pub(super) enum Kind<F> {
        Called {
            #[pin]
            future: F,
            // Made on the first poll, so building the future needs no runtime.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Option<Instant>,
            permit: Option<Permit<Arc<Inner>>>,
        },
        Rejected {
            response: Option<Response>,
        },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                future,
                mut sleep,
                deadline,
                permit,
            } => {
                if let Poll::Ready(result) = future.poll(cx) {
                    let failed = match &result {
                        Ok(response) => response.status().as_u16() >= 500,
                        Err(_) => true,
                    };
                    if let Some(permit) = permit.take() {
                        permit.finish(!failed);
                    }
                    return Poll::Ready(result);
                }
                let Some(deadline) = *deadline else {
                    return Poll::Pending;
                };
                if sleep.is_none() {
                    sleep.set(Some(tokio::time::sleep_until(deadline)));
                }
                if let Some(sleep) = sleep.as_pin_mut() {
                    ready!(sleep.poll(cx));
                }
                match permit.take() {
                    Some(permit) => {
                        let inner = Arc::clone(&permit.inner);
                        permit.finish(false);
                        Poll::Ready(Ok(timeout_response(&inner)))
                    }
                    None => Poll::Ready(Ok(StatusCode::SERVICE_UNAVAILABLE.into_response())),
                }
            }
            KindProj::Rejected { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::SERVICE_UNAVAILABLE.into_response()))),
        }
    }
}

/// The 503 of a call that ran past the call timeout (with `Retry-After` when that failure
/// opened the circuit).
fn timeout_response(breaker: &Inner) -> Response {
    let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail(format!(
            "circuit breaker `{}`: the request timed out after {}",
            breaker.name,
            humantime::format_duration(breaker.call_timeout())
        ))
        .with_extension("breaker", &*breaker.name);
    let now = Instant::now();
    let g = breaker.lock();
    if BreakerState::from_word(breaker.word.load(Ordering::Relaxed)) == BreakerState::Open {
        let secs = retry_after_secs(breaker.open_remaining(&g, now));
        problem = problem.with_header(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    drop(g);
    problem.into_response()
}
