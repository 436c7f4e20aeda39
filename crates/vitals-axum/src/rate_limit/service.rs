//! [`RateLimitService`]: finds the request's quota and key, admits or refuses it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, StatusCode, header};
use tower::Service;

use super::future::{Decision, ResponseFuture};
use super::headers::ceil_secs;
use super::state::State;
use crate::problem::{Problem, missing_connect_info};

/// Limits requests per key; see [`RateLimitLayer`](crate::RateLimitLayer).
#[derive(Clone)]
pub struct RateLimitService<S> {
    pub(super) inner: S,
    pub(super) state: Arc<State>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> RateLimitService<S> {
    inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for RateLimitService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = &self.state;
        state.ensure_cleanup_task();
        let policy = {
            let route = match req.extensions().get::<MatchedPath>() {
                Some(matched) => matched.as_str(),
                None => req.uri().path(),
            };
            if state.settings.skipped.contains(route) {
                None
            } else {
                Some(state.routes.get(route).unwrap_or(&state.default))
            }
        };
        let Some(policy) = policy else {
            return ResponseFuture::passthrough(self.inner.call(req), None);
        };
        let (req, key) = state.key(req);
        let Some(key) = key else {
            if state.misses_peer(&req) {
                return ResponseFuture::refused(missing_connect_info_response(state));
            }
            return ResponseFuture::passthrough(self.inner.call(req), None);
        };
        if state.is_allowed(&key) {
            return ResponseFuture::passthrough(self.inner.call(req), None);
        }
        #[cfg(feature = "redis")]
        if let Some(remote) = policy.store.remote() {
            if remote.remote.should_ask() {
                return self.call_remote(req, Arc::clone(policy), key);
            }
            if remote.remote.fail_closed() {
                return ResponseFuture::refused(store_down_response(state, policy));
            }
        }
        match decide(state, policy, &key, policy.store.check(&key)) {
            Decision::Admit(headers) => {
                ResponseFuture::passthrough(self.inner.call(req), Some(headers))
            }
            Decision::Refuse(response) => ResponseFuture::refused(response),
        }
    }
}

#[cfg(feature = "redis")]
impl<S> RateLimitService<S> {
    /// Asks Redis, then calls the inner service (a ready clone taken now) or refuses. Allocates
    /// the Redis key and the boxed futures: the price of a network round trip anyway.
    fn call_remote<B>(
        &mut self,
        req: Request<B>,
        policy: Arc<super::policy::Policy>,
        key: super::key::RateLimitKey,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
        B: Send + 'static,
    {
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        let check = async move {
            let Some(remote) = policy.store.remote() else {
                unreachable!("call_remote is only called for a Redis store")
            };
            let redis_key = remote.remote.key(&remote.policy, &key);
            match remote
                .remote
                .check(redis_key, policy.interval, policy.max)
                .await
            {
                Ok(answer) => decide(&state, &policy, &key, answer),
                Err(()) if remote.remote.fail_closed() => {
                    Decision::Refuse(store_down_response(&state, &policy))
                }
                Err(()) => decide(&state, &policy, &key, policy.store.check(&key)),
            }
        };
        ResponseFuture::checking(Box::pin(check), Box::new(move || ready.call(req)))
    }
}

/// The answer for `key` on `policy` given the store's verdict (burst left, or the wait).
fn decide(
    state: &State,
    policy: &super::policy::Policy,
    key: &super::key::RateLimitKey,
    verdict: Result<u32, std::time::Duration>,
) -> Decision {
    match verdict {
        Ok(burst) => {
            let remaining = burst.min(policy.max);
            let reset = policy.interval * (policy.max - remaining);
            Decision::Admit(policy.headers(remaining, reset, state.settings.header_sets))
        }
        Err(wait) => {
            tracing::debug!(%key, "rate limit: request refused");
            Decision::Refuse(refusal(state, policy, wait))
        }
    }
}

/// The 429 problem for a request that may retry after `wait`, with the limit's headers.
fn refusal(state: &State, policy: &super::policy::Policy, wait: std::time::Duration) -> Response {
    state.refused.fetch_add(1, Ordering::Relaxed);
    let retry_after = ceil_secs(wait).max(1);
    let headers = policy.headers(
        0,
        wait + policy.interval * (policy.max - 1),
        state.settings.header_sets,
    );
    let plural = if retry_after == 1 { "" } else { "s" };
    let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
        .with_detail(format!(
            "rate limit exceeded, retry in {retry_after} second{plural}"
        ))
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after))
        .into_response();
    headers.apply(response.headers_mut());
    response
}

/// Fail-closed while the Redis store is down: the limiter's 429, `Retry-After: 1`.
#[cfg(feature = "redis")]
#[cold]
fn store_down_response(state: &State, policy: &super::policy::Policy) -> Response {
    refusal(state, policy, std::time::Duration::from_secs(1))
}

/// The answer to a request the limiter cannot key because the server does not pass the peer
/// address: a 500 naming the fix (a wiring error, which must not pass as unlimited), and a
/// warning logged once per layer.
#[cold]
fn missing_connect_info_response(state: &State) -> Response {
    if !state.warned_no_peer.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "rate limit: no ConnectInfo<SocketAddr> on the request, so no client key; \
             answering 500: serve with into_make_service_with_connect_info::<SocketAddr>()"
        );
    }
    missing_connect_info("the rate limiter").into_response()
}
