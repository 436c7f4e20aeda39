//! The reference server's router: the API, the vitals endpoints, and the layers around them.

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use tower_http::catch_panic::CatchPanicLayer;
use vitals_axum::{OperatorAuth, Problem, Vitals};

use crate::{api, db::Db, demo};

/// Unknown paths: 404 problem+json (recorded by the monitor under `(unmatched)`).
async fn not_found(uri: Uri) -> Response {
    Problem::new(StatusCode::NOT_FOUND)
        .with_detail(format!("no route for `{}`", uri.path()))
        .with_instance(uri.path())
        .into_response()
}

/// A known path with the wrong method: 405 problem+json (axum keeps the `Allow` header).
async fn method_not_allowed(uri: Uri) -> Response {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail(format!("`{}` does not support this method", uri.path()))
        .with_instance(uri.path())
        .into_response()
}

/// A panicking handler: 500 problem+json; the panic message stays in the log.
#[allow(clippy::needless_pass_by_value)] // the signature CatchPanicLayer::custom wants
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "handler panicked");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
        .with_detail("the request handler failed")
        .into_response()
}

/// Builds the whole app; the demo routes only when `demo` carries the operator auth that
/// guards them; `/openapi.json` behind `operator`.
pub(crate) fn build(
    db: Db,
    vitals: &Vitals,
    demo: Option<OperatorAuth>,
    request_timeout: Duration,
    operator: OperatorAuth,
) -> Router {
    // The API (not the event streams, which last by design) answers within `request_timeout`.
    let mut app = api::router(db.clone()).route_layer(axum::middleware::from_fn(
        move |req: Request, next: Next| async move {
            // A `Uri` clone shares its bytes: nothing copied on the request path.
            let uri = req.uri().clone();
            match tokio::time::timeout(request_timeout, next.run(req)).await {
                Ok(res) => res,
                Err(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail(format!(
                        "the request took longer than {} ms",
                        request_timeout.as_millis()
                    ))
                    .with_instance(uri.path())
                    .into_response(),
            }
        },
    ));
    if let Some(auth) = demo {
        app = app.merge(demo::router(db).route_layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let auth = auth.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    if let Err(problem) = auth.check(&parts) {
                        return problem.with_instance(parts.uri.path()).into_response();
                    }
                    next.run(Request::from_parts(parts, body)).await
                }
            },
        )));
    }
    let app = app
        .merge(crate::openapi::router(operator))
        .merge(vitals.router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response));
    // Monitor ⊃ pressure ⊃ rate limit, applied at once (one boxing of each route, not three).
    app.layer(vitals.layers())
}
