//! # vitals-axum
//!
//! Tower layers and the axum router of [vitals](https://docs.rs/vitals): request monitoring,
//! load shedding, rate limits and circuit breakers, and the health and performance endpoints,
//! with no external APM.
//!
//! # Adopting it in an existing app
//!
//! Build one [`Vitals`], merge its router into the app's, then apply its layers once, after
//! the merge (`Router::layer` wraps the routes the router has at that point, so vitals' own
//! endpoints are monitored too), and serve with the peer address, which the operator
//! endpoints and the rate limiter need:
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::{Router, routing::get};
//! use vitals_axum::Vitals;
//!
//! # async fn run() -> std::io::Result<()> {
//! let vitals = Vitals::builder()
//!     .health_check("database", || async { Ok(()) })
//!     .build();
//! let app = Router::new()
//!     .route("/api/hello", get(|| async { "hello" }))
//!     .merge(vitals.router())
//!     .layer(vitals.layers());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4600").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```
//!
//! `cargo run -p vitals-axum --example adopt` runs the same lines. Without
//! `into_make_service_with_connect_info`, the operator endpoints (with no token configured)
//! and the rate limiter cannot see the client's address: they answer 500 problem+json naming
//! that fix and log a warning once, rather than refusing or letting through without a word.
//!
//! # What is in it
//!
//! - [`MonitorLayer`] records every request into a [`vitals::Monitor`]; handlers read the
//!   request's [`RequestId`] and [`RequestContext`]; a response's [`Organization`] names the
//!   tenant.
//! - [`Vitals::router`] serves the health and performance endpoints, the operator-only ones
//!   guarded by [`OperatorAuth`]; [`exposition_body`] streams the Prometheus exposition for an
//!   app that serves its own metrics route.
//! - [`PressureLayer`] sheds load with 503 when heap, RSS or the runtime are over their
//!   thresholds; [`RateLimitLayer`] limits requests per client with 429; [`CircuitBreaker`]
//!   fails fast while a dependency keeps failing.
//! - Errors are RFC 9457 [`Problem`]s.
//!
//! # Cargo features
//!
//! All on by default; switch off what you do not use (`default-features = false`):
//!
//! - `rate-limit`: [`RateLimitLayer`] (GCRA per client, tenant or custom key, via `governor`).
//! - `redis` (not default): `RedisStore`, quotas shared by many instances through Redis.
//! - `breaker`: [`CircuitBreaker`], [`CircuitBreakerLayer`] and [`BreakerRegistry`].
//! - `dashboard`: the live HTML page at `/metrics/dashboard` for browsers, its embedded assets
//!   and its Server-Sent Events stream. Without it `/metrics/dashboard` answers the JSON
//!   dashboard only (operator-only).
//! - `notify`: alert notifications through [`vitals_notify`]: give
//!   [`VitalsBuilder::notifier`] a started `Notifier` and every alert transition (fired,
//!   escalated, resolved) of the sampling loop is queued to its channels (never blocking);
//!   `GET /metrics/notifications` reports the channels, `POST /metrics/notifications/test`
//!   sends a test to each, and `/metrics` gains `vitals_notifications_total{channel,outcome}`
//!   and `vitals_notifications_queue_depth{channel}`.
//! - `history` (off by default): history on disk through `vitals-store`
//!   ([`VitalsBuilder::history`]), `GET /metrics/history` and `GET /health/performance/budgets`.
//! - `custom-metrics`: the application's own `metrics` counters, gauges and histograms in
//!   `/metrics` (both formats), `/metrics/json` (`custom`) and the dashboard's "custom
//!   metrics" panel, through a [`vitals_metrics::Registry`]:
//!   [`VitalsBuilder::custom_metrics`] makes and installs one, [`VitalsBuilder::metrics_registry`]
//!   takes one you built (for a fan-out with another recorder, or a local recorder in tests).
//!   Names under [`RESERVED_PREFIXES`] are refused; tenant attribution is off unless the
//!   registry's `Config::tenant_scope` turns it on (see [`metrics_config`]).

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod util;

mod auth;
#[cfg(feature = "breaker")]
mod breaker;
mod builder;
mod check;
mod check_cache;
mod context;
#[cfg(feature = "custom-metrics")]
mod custom_metrics;
mod header_arena;
#[cfg(feature = "history")]
mod history;
mod monitor;
#[cfg(feature = "notify")]
mod notifications;
mod pressure;
mod problem;
mod query;
#[cfg(feature = "rate-limit")]
mod rate_limit;
mod report;
mod reporter;
mod routes;
mod runtime;
mod sampler;
mod shared;
mod tasks;

pub use auth::{BlankToken, OperatorAuth};
#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
pub use breaker::{
    BreakerError, BreakerRegistry, BreakerSnapshot, BreakerState, BreakerTransition,
    CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService, DEFAULT_CALL_TIMEOUT,
    DEFAULT_FAILURE_THRESHOLD, DEFAULT_RESET_TIMEOUT, ResponseFuture as CircuitBreakerFuture,
    TRANSITION_HISTORY,
};
pub use builder::{Vitals, VitalsBuilder, VitalsLayers};
pub use check::{CheckError, CheckFn, HealthCheck};
pub use context::{
    ORGANIZATION_HEADER, ORGANIZATION_PARAMS, Organization, REQUEST_ID_HEADER, RequestContext,
    RequestId, TraceContext, is_valid_request_id,
};
#[cfg(feature = "custom-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "custom-metrics")))]
pub use custom_metrics::{RESERVED_PREFIXES, metrics_config};
pub use monitor::{
    DEFAULT_BUFFERED_BODY_LIMIT, DEFAULT_RESOURCES_EVERY, MonitorLayer, MonitorService,
    RequestSpanHooks, RequestSpanStart, ResponseBody as MonitorBody,
    ResponseFuture as MonitorFuture, install_request_span_hooks,
};
pub use pressure::{
    Pressure, PressureBuilder, PressureLayer, PressureReason, PressureService, PressureStatus,
    PressureThresholds, PressureValues, ResponseFuture as PressureFuture,
};
pub use problem::{PROBLEM_JSON, Problem};
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub use rate_limit::{
    DEFAULT_MAX_KEYS, DEFAULT_SKIPPED_ROUTES, InvalidIpRange, IpRange, KeyFn, KeySource,
    RateLimitKey, RateLimitLayer, RateLimitService, ResponseFuture as RateLimitFuture,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use rate_limit::{DEFAULT_REDIS_TIMEOUT, InvalidRedisUrl, RateLimitStoreStatus, RedisStore};
pub use reporter::Reporter;
pub use routes::{MAX_SCRAPES, MAX_SLOW_LIMIT, MAX_SLOW_PATHS_LIMIT, exposition_body};
pub use runtime::{PROBE_PERIOD, RuntimeProbe, RuntimeSample};
pub use sampler::Sampler;
pub use shared::MemorySettings;
#[cfg(feature = "custom-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "custom-metrics")))]
pub use vitals_metrics;
