//! The endpoints vitals serves.
//!
//! Public (for load balancers): `GET /health/ping`, `GET /health`.
//! Operator-only (see [`crate::auth`]): `GET /health/debug`, `/health/performance/stats`,
//! `/health/performance/summary`, `/health/performance/slow?limit=10`,
//! `/health/performance/v2/stats`, `/health/performance/v2/by-organization?organizationId=…`,
//! `/health/performance/v2/slow-paths?limit=5`, `/health/performance/v2/system`, `/metrics`
//! (Prometheus text or OpenMetrics), `/metrics/json`, `/metrics/memory`, and
//! `POST /metrics/memory/gc` (a `GET` answers 405 with `Allow: POST`).
//!
//! Every JSON field is camelCase; durations are fractional milliseconds (`…Ms`); every error is
//! RFC 9457 problem+json.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body};
//! use http::Request;
//! use tower::ServiceExt;
//!
//! let vitals = vitals_axum::Vitals::builder().build();
//! let app: Router = vitals.router();
//! let res = app
//!     .oneshot(Request::get("/health/ping").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```

mod health;
mod insight;
mod memory;
mod metrics;
mod page;
mod performance;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Shared;

pub(crate) type AppState = Arc<Shared>;

pub(crate) use insight::spawn_sampling;

/// The Prometheus exposition of `monitor` alone (no system sample, no protection families) in
/// `format`, as a response body streamed the way `/metrics` streams its own (rendered on a
/// blocking thread, sent in 256 KiB pieces): for an application that serves a metrics route of
/// its own. Call it inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http_body_util::BodyExt;
/// use vitals::expose::Format;
///
/// let body = vitals_axum::routes::exposition_body(vitals::Monitor::default(), Format::Text);
/// let text = body.collect().await.unwrap().to_bytes();
/// assert!(text.starts_with(b"# HELP"));
/// # }
/// ```
pub fn exposition_body(
    monitor: vitals::Monitor,
    format: vitals::expose::Format,
) -> axum::body::Body {
    metrics::stream_exposition(move |flush| {
        vitals::expose::collect::render_chunked(
            &monitor,
            None,
            &[],
            format,
            metrics::EXPOSITION_CHUNK,
            flush,
        );
    })
}

/// Maximum `limit` of `/health/performance/slow`.
pub const MAX_SLOW_LIMIT: usize = 500;
/// Maximum `limit` of `/health/performance/v2/slow-paths`.
pub const MAX_SLOW_PATHS_LIMIT: usize = 100;

async fn operator_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(problem) = state.auth.check(&parts) {
        return problem.with_instance(parts.uri.path()).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

pub(crate) fn router<S>(state: AppState) -> Router<S>
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
        .merge(page::operator_routes())
        .route("/health/performance/v2/health", get(insight::health_score))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            operator_only,
        ));
    Router::new()
        .route("/health/ping", get(health::ping))
        .route("/health", get(health::health))
        .route("/metrics/health", get(insight::health_check_format))
        .route("/health/pressure", get(health::pressure))
        .route(
            "/metrics/dashboard",
            get(insight::dashboard).route_layer(middleware::from_fn_with_state(
                Arc::clone(&state),
                page::operator_or_login,
            )),
        )
        .merge(page::asset_routes())
        .merge(operator)
        .with_state(state)
}
