//! The reference server's two routers: the public listener's (the API, vitals' public
//! endpoints, the operator plane only with a token) and the operator listener's (vitals' every
//! endpoint, `/openapi.json`, the demo routes), with the layers around them.

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

/// A router behind `auth` (the demo routes and `/openapi.json` have no guard of their own).
fn guarded(router: Router, auth: OperatorAuth) -> Router {
    router.route_layer(axum::middleware::from_fn(
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
    ))
}

/// The operator plane: the operator endpoints, `/openapi.json` (`document`) and, when `demo`
/// (their request timeout), the demo routes (with `/api/slow` and `/api/fail`), all behind `auth`.
fn operator_routes(
    db: &Db,
    vitals: &Vitals,
    demo: Option<Duration>,
    auth: &OperatorAuth,
    document: crate::openapi::Which,
) -> Router {
    let mut app = vitals
        .operator_router()
        .merge(crate::openapi::router(auth.clone(), document));
    if let Some(request_timeout) = demo {
        // `/api/slow` answers within the request timeout, as the API does.
        app = app.merge(guarded(
            demo::router(db.clone()).merge(timed(api::demo_router(db.clone()), request_timeout)),
            auth.clone(),
        ));
    }
    app
}

/// `router` with each request answered within `request_timeout` (else 503 problem+json).
fn timed(router: Router, request_timeout: Duration) -> Router {
    router.route_layer(axum::middleware::from_fn(
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
    ))
}

/// The fallbacks, the panic catcher and vitals' layers around `app`.
fn finish(app: Router, vitals: &Vitals) -> Router {
    let app = app
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response));
    // Monitor ⊃ pressure ⊃ rate limit, applied at once (one boxing of each route, not three).
    app.layer(vitals.layers())
}

/// The public listener's app: the API (each request within `request_timeout`) and vitals'
/// public endpoints; the operator plane too only when `auth` holds a token (else its paths
/// are 404: no "local means operator" here, since a proxy on the same host connects from
/// loopback).
pub(crate) fn public(
    db: &Db,
    vitals: &Vitals,
    demo: bool,
    request_timeout: Duration,
    auth: &OperatorAuth,
) -> Router {
    // The API (not the event streams, which last by design) answers within `request_timeout`.
    let mut app = timed(api::router(db.clone()), request_timeout).merge(vitals.public_router());
    if auth.has_token() {
        app = app.merge(operator_routes(
            db,
            vitals,
            demo.then_some(request_timeout),
            auth,
            crate::openapi::Which::Public,
        ));
    }
    finish(app, vitals)
}

/// The operator listener's app (`VITALS_OPERATOR_ADDR`): every vitals endpoint at the seed's
/// paths, `/openapi.json` and the demo routes; no API.
pub(crate) fn operator(
    db: &Db,
    vitals: &Vitals,
    demo: bool,
    request_timeout: Duration,
    auth: &OperatorAuth,
) -> Router {
    let app = vitals.public_router().merge(operator_routes(
        db,
        vitals,
        demo.then_some(request_timeout),
        auth,
        crate::openapi::Which::Operator,
    ));
    finish(app, vitals)
}
