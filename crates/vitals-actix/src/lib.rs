//! # vitals-actix
//!
//! vitals for [actix-web](https://docs.rs/actix-web) applications: [`VitalsMiddleware`], a
//! `Transform` that records each request into the vitals core by its route pattern
//! (`match_pattern()`, `/users/{id}`; a request no route matched under `(unmatched)`), with
//! its status, tenant, correlation id (`x-request-id` taken when valid, else made, always
//! answered), W3C trace id, busy time from poll timing, and 503 while vitals sheds load.
//! The rules are the core's (`vitals::request_id_from`, `vitals::TraceParent`,
//! `vitals::resolve_tenant`), the same as vitals-axum's.
//!
//! vitals' endpoints are not re-implemented for actix: serve vitals-axum's router on an
//! operator listener of its own from the same process (see `examples/app.rs`).
#![deny(missing_docs)]

mod middleware;

pub use middleware::{RequestId, VitalsMiddleware, VitalsService};
