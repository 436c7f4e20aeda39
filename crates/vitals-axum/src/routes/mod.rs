//! The endpoints vitals serves (listed on [`Vitals::public_router`](crate::Vitals::public_router)
//! and [`Vitals::operator_router`](crate::Vitals::operator_router)): one file per family of
//! routes, and the operator-only guard in front of the operator ones.

#[cfg(feature = "dashboard")]
mod custom;
mod health;
#[cfg(feature = "history")]
mod history;
mod insight;
mod memory;
mod metrics;
#[cfg(feature = "notify")]
mod notifications;
#[cfg(feature = "openapi")]
mod openapi;
#[cfg(feature = "dashboard")]
mod page;
mod performance;
#[cfg(feature = "openapi")]
mod schemas;
#[cfg(feature = "dashboard")]
mod stream;
#[cfg(feature = "dashboard")]
mod stream_slots;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(crate) use metrics::build as metric_families;
pub use metrics::{MAX_SCRAPES, exposition_body};
#[cfg(feature = "openapi")]
pub use openapi::{OPERATOR_SECURITY_SCHEME, openapi};
pub use performance::{MAX_SLOW_LIMIT, MAX_SLOW_PATHS_LIMIT};

use crate::shared::AppState;

async fn operator_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(problem) = state.auth.check(&parts) {
        return problem.with_instance(parts.uri.path()).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The public endpoints (see [`Vitals::public_router`](crate::Vitals::public_router)).
pub(crate) fn public_router<S>(state: AppState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/health/ping", get(health::ping))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health/startup", get(health::startup))
        .route("/metrics/health", get(insight::health_check_format))
        .route("/health/pressure", get(health::pressure))
        .with_state(state)
}

/// The operator endpoints (see [`Vitals::operator_router`](crate::Vitals::operator_router)).
pub(crate) fn operator_router<S>(state: AppState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let operator = Router::new()
        .route("/health/debug", get(health::debug))
        .route("/health/performance/stats", get(performance::stats_v1))
        .route("/health/performance/summary", get(performance::summary))
        .route("/health/performance/slow", get(performance::slow))
        .route("/health/performance/v2/stats", get(performance::stats_v2))
        .route(
            "/health/performance/v2/by-organization",
            get(performance::by_organization),
        )
        .route(
            "/health/performance/v2/slow-paths",
            get(performance::slow_paths),
        )
        .route("/health/performance/v2/system", get(memory::system))
        .route("/metrics", get(metrics::prometheus))
        .route("/metrics/json", get(metrics::json))
        .route("/metrics/memory", get(memory::memory))
        .route(
            "/metrics/memory/gc",
            get(memory::gc_get).post(memory::gc_post),
        )
        .route("/health/performance/v2/health", get(insight::health_score));
    #[cfg(feature = "notify")]
    let operator = operator
        .route("/metrics/notifications", get(notifications::snapshot))
        .route(
            "/metrics/notifications/test",
            axum::routing::post(notifications::test),
        );
    #[cfg(feature = "history")]
    let operator = operator
        .route("/metrics/history", get(history::history))
        .route("/health/performance/budgets", get(history::budgets));
    // The page, its stream and its organizations view: operator-only, the page itself with a
    // login shell for browsers (see `page`); the assets (static, what the shell needs) are not
    // guarded, but only served where the operator router is.
    #[cfg(feature = "dashboard")]
    let operator = operator.merge(page::operator_routes());
    #[cfg(not(feature = "dashboard"))]
    let operator = operator.route("/metrics/dashboard", get(insight::dashboard));
    let operator = operator.route_layer(middleware::from_fn_with_state(
        Arc::clone(&state),
        operator_only,
    ));
    #[cfg(feature = "dashboard")]
    let operator = operator
        .route(
            "/metrics/dashboard",
            get(insight::dashboard).route_layer(middleware::from_fn_with_state(
                Arc::clone(&state),
                page::operator_or_login,
            )),
        )
        .merge(page::asset_routes());
    operator.with_state(state)
}
