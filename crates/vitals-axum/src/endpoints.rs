//! [`Vitals`]' routers (public, operator, merged) and the lifecycle the probes report.

use std::sync::Arc;

#[allow(unused_imports)] // named in the docs
use crate::auth::OperatorAuth;
use crate::builder::Vitals;
#[allow(unused_imports)] // named in the docs
use crate::check::Probe;
use crate::routes;

impl Vitals {
    /// Marks start-up complete: `GET /health/startup` and `GET /health/ready` stop answering
    /// 503 for it (see [`VitalsBuilder::await_startup`](crate::VitalsBuilder::await_startup); without it, a no-op).
    pub fn startup_complete(&self) {
        self.shared.lifecycle.complete_startup();
    }

    /// From now on `GET /health/ready` answers 503 (`/health/live` still 200): call it when the
    /// shutdown signal arrives, before in-flight requests drain, so load balancers stop sending
    /// traffic while the process finishes what it has. [`Vitals::accept_traffic`] undoes it.
    pub fn refuse_traffic(&self) {
        self.shared.lifecycle.set_refusing(true);
    }

    /// Undoes [`Vitals::refuse_traffic`] (the default state).
    pub fn accept_traffic(&self) {
        self.shared.lifecycle.set_refusing(false);
    }

    /// True between [`Vitals::refuse_traffic`] and [`Vitals::accept_traffic`].
    #[must_use]
    pub fn refusing_traffic(&self) -> bool {
        self.shared.lifecycle.refusing()
    }

    /// The endpoints anyone may call, for the listener traffic arrives on: `GET /health/ping`,
    /// `GET /health` (every check), the probes `GET /health/live`, `GET /health/ready` and
    /// `GET /health/startup` (each runs its group's checks; see [`Probe`]),
    /// `GET /metrics/health` (the health report: client-movable signals such as the error
    /// rate and latency may make it `warn`, never `fail`) and `GET /health/pressure`. No
    /// operator data, nothing that changes state; merge it before [`Vitals::layers`] is
    /// applied, so that they are monitored too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{Router, body::Body};
    /// use http::Request;
    /// use tower::ServiceExt;
    ///
    /// let vitals = vitals_axum::Vitals::builder().build();
    /// let public: Router = vitals.public_router();
    /// let res = public
    ///     .clone()
    ///     .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(res.status(), 200);
    /// let res = public
    ///     .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(res.status(), 404); // not on the public router
    /// # }
    /// ```
    pub fn public_router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::public_router(Arc::clone(&self.shared))
    }

    /// The operator endpoints, behind the builder's [`OperatorAuth`] (every request also
    /// passes its cross-site check: a foreign `Origin`, or `Sec-Fetch-Site: cross-site` on
    /// anything but a page navigation, is refused with 403): for a listener of their own (a
    /// loopback port, the model of Spring Boot's `management.server.port`), or for the public
    /// listener with a token.
    ///
    /// `GET /health/debug`, `/health/performance/stats`, `/health/performance/summary`,
    /// `/health/performance/slow?limit=10`, `/health/performance/v2/stats`,
    /// `/health/performance/v2/by-organization?organizationId=…`,
    /// `/health/performance/v2/slow-paths?limit=5`, `/health/performance/v2/system`,
    /// `/health/performance/v2/health`, `/metrics` (Prometheus text or OpenMetrics),
    /// `/metrics/json`, `/metrics/memory`, `POST /metrics/memory/gc` (a `GET` answers 405 with
    /// `Allow: POST`), with the `notify` feature `GET /metrics/notifications` and
    /// `POST /metrics/notifications/test` (202 with the number queued; 409 problem+json when no
    /// channel is configured), with `history` `GET /metrics/history` and
    /// `GET /health/performance/budgets`, and `/metrics/dashboard` (JSON; with the `dashboard`
    /// feature, the live page to a browser, its assets and its event stream).
    ///
    /// Every JSON field is camelCase; durations are fractional milliseconds (`…Ms`); every
    /// error is RFC 9457 problem+json.
    pub fn operator_router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes::operator_router(Arc::clone(&self.shared))
    }

    /// [`Vitals::public_router`] and [`Vitals::operator_router`] merged, for an application
    /// with one listener (the form of earlier versions).
    ///
    /// With [`OperatorAuth::loopback_only`] (the default) on a listener the internet reaches
    /// through a proxy on the same host, the proxy's connections come from loopback: a proxy
    /// that adds no forwarding header makes every client an operator. On such a listener use a
    /// token ([`OperatorAuth::token`]), or serve the operator router on a listener of its own
    /// and only the public router here.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{Router, body::Body};
    /// use http::Request;
    /// use tower::ServiceExt;
    ///
    /// let vitals = vitals_axum::Vitals::builder().build();
    /// let app: Router = vitals.router();
    /// let res = app
    ///     .oneshot(Request::get("/health/ping").body(Body::empty()).unwrap())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(res.status(), 200);
    /// # }
    /// ```
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.public_router().merge(self.operator_router())
    }
}
