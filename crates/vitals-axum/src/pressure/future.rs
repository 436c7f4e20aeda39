//! The response future of [`PressureService`](super::PressureService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use pin_project_lite::pin_project;

pin_project! {
    /// Response future of [`PressureService`].
    #[project = Proj]
    #[allow(missing_docs)]
    pub enum ResponseFuture<F> {
        /// Passed through.
        Inner { #[pin] future: F },
        /// Shed.
        Shed { response: Option<Response> },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Inner { future } => future.poll(cx),
            Proj::Shed { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::SERVICE_UNAVAILABLE.into_response()))),
        }
    }
}
