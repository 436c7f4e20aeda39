//! [`PressureService`]: answers 503 without calling the inner service while under pressure.

use std::task::{Context, Poll};

use axum::response::Response;
use http::Request;
use tower::Service;

use super::future::ResponseFuture;
use super::state::Pressure;

/// Sheds requests under pressure; see [`Pressure`].
#[derive(Debug, Clone)]
pub struct PressureService<S> {
    pub(super) inner: S,
    pub(super) pressure: Pressure,
}

impl<S> PressureService<S> {
    inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for PressureService<S>
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
        match self.pressure.current() {
            Some(reason) if !self.pressure.is_exempt(req.uri().path()) => ResponseFuture::Shed {
                response: Some(self.pressure.shed_response(reason)),
            },
            _ => ResponseFuture::Inner {
                future: self.inner.call(req),
            },
        }
    }
}
