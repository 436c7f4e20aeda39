//! [`CircuitBreakerService`]: admits a request while the circuit allows it, else answers 503.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, StatusCode, header};
use tokio::time::Instant;
use tower::Service;

use super::future::{Kind, ResponseFuture};
use super::state::{CircuitBreaker, Inner, Permit, retry_after_secs};
use crate::problem::Problem;

/// Guards a service with a [`CircuitBreaker`]; see [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// Open: answers 503 problem+json with `Retry-After` without calling the inner service.
/// Otherwise calls it; a response status >= 500, an inner error (passed through unchanged) or
/// running past the call timeout (answered 503 problem+json, the inner future dropped) is a
/// failure, any other response a success.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S> {
    pub(super) inner: S,
    pub(super) breaker: CircuitBreaker,
}

impl<S> CircuitBreakerService<S> {
    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for CircuitBreakerService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let breaker = &self.breaker.inner;
        let kind = match breaker.acquire() {
            Ok(ticket) => Kind::Called {
                future: self.inner.call(req),
                sleep: None,
                deadline: Instant::now().checked_add(breaker.call_timeout()),
                permit: Some(Permit {
                    inner: Arc::clone(breaker),
                    ticket: Some(ticket),
                }),
            },
            Err(retry_after) => Kind::Rejected {
                response: Some(open_response(breaker, retry_after)),
            },
        };
        ResponseFuture { kind }
    }
}

/// The 503 of an open circuit, with `Retry-After`.
fn open_response(breaker: &Inner, retry_after: Duration) -> Response {
    let secs = retry_after_secs(retry_after);
    Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail(format!(
            "circuit breaker `{}` is open; retry in {secs} s",
            breaker.name
        ))
        .with_extension("breaker", &*breaker.name)
        .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        .into_response()
}
