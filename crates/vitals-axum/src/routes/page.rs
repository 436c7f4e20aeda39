//! The live dashboard page: `GET /metrics/dashboard` for a browser, its assets, and the
//! operator-only stream of snapshots it draws from.
//!
//! # What is served
//!
//! - `GET /metrics/dashboard` answers the HTML page to a client whose `Accept` prefers
//!   `text/html` over `application/json` (a browser sends `text/html,…,*/*;q=0.8`), and the
//!   JSON dashboard to everyone else (`*/*`, `application/json`, no `Accept`): see
//!   [`prefers_html`]. Both carry `Vary: Accept`. The page is a shell without data: the
//!   figures come from the JSON endpoints, fetched by the page's script.
//! - `GET /metrics/dashboard/assets/{name}`: the page's script and style sheet and the vendored
//!   [uPlot](https://github.com/leeoniya/uPlot) 1.6.32 (MIT, its license at
//!   `…/assets/uplot.LICENSE.txt`), embedded in the binary with `include_str!`; no CDN, works
//!   offline. The page references them with a content hash in the query (`app.js?v=…`), so they
//!   are served with `Cache-Control: public, max-age=31536000, immutable`.
//! - `GET /metrics/dashboard/stream` (operator-only): Server-Sent Events, one `snapshot` event a
//!   second (requests/s since the previous tick, p50/p95/p99 and error rate of the last minute,
//!   status classes, RSS, heap, CPU, runtime busy ratio and scheduling delay p99, the leak
//!   verdict and whether requests are being shed). `?history=1` first sends one `history` event
//!   with the sampler's last five minutes (at most one point a second) to fill the charts.
//! - `GET /metrics/dashboard/organizations?limit=20` (operator-only): the busiest organizations
//!   (`limit` in `1..=500`), the overflow series on its own, and how many were left out.
//! - `GET /metrics/dashboard/custom?limit=20` (operator-only): the application's own metrics
//!   for the "custom metrics" panel (see `routes/custom.rs`).
//!
//! # Auth
//!
//! The page, the stream and the organizations are behind the same operator auth as every
//! other operator endpoint ([`crate::auth`]): a bearer token when one is configured, else
//! loopback clients only. Two deliberate exceptions, neither of which carries data:
//!
//! - the assets are public: they are the same static code in every deployment;
//! - a browser request to `/metrics/dashboard` refused with 401 (token configured, none given)
//!   is answered with the same shell, still with status 401 and `WWW-Authenticate`, so that a
//!   person can get in: the script asks for the token once, keeps it in `sessionStorage` (gone
//!   when the tab closes) and sends it as `Authorization: Bearer` on every call. Nothing is
//!   rendered before an authenticated call has succeeded. A 403 (no token configured and a
//!   non-loopback client) stays a problem document.
//!
//! The stream is read with `fetch` and a `text/event-stream` body reader rather than
//! `EventSource`, because `EventSource` cannot send headers: the token never appears in a URL
//! (where logs, proxies and the browser history would keep it). The page's
//! `Content-Security-Policy` only allows its own origin.
//!
//! # Bounds
//!
//! At most [`MAX_STREAMS`] streams are open at once per router (an atomic counter, released
//! when the stream is dropped, i.e. when the client goes away); beyond that the stream answers
//! 503 problem+json with `Retry-After`, and the page falls back to polling the JSON dashboard
//! every 2 s. A stream holds no queue: each tick builds the latest snapshot, and when the
//! client reads slowly the socket's back-pressure stops the stream from being polled, so missed
//! ticks are skipped (`MissedTickBehavior::Skip`) rather than buffered. A keep-alive comment
//! goes out every 15 s. A stream ends after [`STREAM_LIFETIME`] (the page reconnects at once),
//! so a graceful shutdown never waits longer than that for an open dashboard.
//!
//! The request monitor records an event stream when its response leaves the layer, before its
//! first event (see `MonitorLayer`): each stream counts as one request to
//! `/metrics/dashboard/stream` whose duration is its time to first byte, and it is not counted
//! in flight while it stays open.

use std::sync::LazyLock;

use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Value, json};

use super::stream::{MAX_STREAMS, STREAM_LIFETIME, STREAM_SLOT_GRACE, StreamLimiter, stream};
use crate::problem::Problem;
use crate::query::StrictQuery;
use crate::shared::AppState;

/// Default and maximum `limit` of `/metrics/dashboard/organizations`.
const ORGANIZATIONS_DEFAULT: usize = 20;
const ORGANIZATIONS_MAX: usize = 500;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");
const UPLOT_JS: &str = include_str!("../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../assets/uplot/LICENSE");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `(name, content type, body)` of every asset.
const ASSETS: [(&str, &str, &str); 5] = [
    ("app.js", "text/javascript; charset=utf-8", APP_JS),
    ("app.css", "text/css; charset=utf-8", APP_CSS),
    ("uplot.min.js", "text/javascript; charset=utf-8", UPLOT_JS),
    ("uplot.min.css", "text/css; charset=utf-8", UPLOT_CSS),
    (
        "uplot.LICENSE.txt",
        "text/plain; charset=utf-8",
        UPLOT_LICENSE,
    ),
];

/// FNV-1a, 64 bits: a content hash for cache-busting asset URLs.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The page, with `{{v}}` replaced by the assets' content hash.
static SHELL: LazyLock<String> = LazyLock::new(|| {
    let version = format!("{:016x}", fnv1a(&ASSETS.map(|(_, _, body)| body)));
    INDEX_HTML.replace("{{v}}", &version[..12])
});

/// Bytes of the page and everything it loads (HTML, script, style sheets, uPlot).
#[must_use]
#[cfg(test)]
fn page_weight() -> usize {
    SHELL.len() + APP_JS.len() + APP_CSS.len() + UPLOT_JS.len() + UPLOT_CSS.len()
}

/// True when `Accept` names `text/html` and ranks it above `application/json`: a browser's
/// navigation (`text/html,application/xhtml+xml,…,*/*;q=0.8`). curl's `*/*`, `Accept:
/// application/json`, a tie, or no `Accept` at all get JSON.
#[must_use]
pub(crate) fn prefers_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let json = vitals::accept_quality(&accept, "application/json").map_or(0.0, |a| a.q);
    vitals::accept_quality(&accept, "text/html")
        .is_some_and(|html| html.exact && html.q > 0.0 && html.q > json)
}

/// The page (a shell without data), with `status`.
pub(crate) fn shell(status: StatusCode) -> Response {
    let mut res = (status, SHELL.as_str()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Operator auth for `/metrics/dashboard`, except that a browser refused with 401 gets the
/// page (which asks for the token); see the [module docs](self).
pub(crate) async fn operator_or_login(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(problem) = state.auth.check(&parts) {
        let mut res =
            if problem.status() == StatusCode::UNAUTHORIZED && prefers_html(&parts.headers) {
                let mut res = shell(StatusCode::UNAUTHORIZED);
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"vitals\""),
                );
                res
            } else {
                problem.with_instance(parts.uri.path()).into_response()
            };
        res.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        return res;
    }
    next.run(Request::from_parts(parts, body)).await
}

/// `GET /metrics/dashboard/assets/{name}`.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/dashboard/assets/{name}", tag = "dashboard", params(("name" = super::schemas::AssetDoc, Path, description = "The asset")), responses((status = 200, description = "The asset", content((String = "text/javascript; charset=utf-8"), (String = "text/css; charset=utf-8"), (String = "text/plain; charset=utf-8"))), (status = 404, description = "No such asset", body = crate::problem::Problem, content_type = "application/problem+json"))))]
async fn asset(Path(name): Path<String>) -> Response {
    let Some(&(_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Problem::new(StatusCode::NOT_FOUND)
            .with_detail(format!("no dashboard asset named `{name}`"))
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The public routes: the page's assets.
pub(crate) fn asset_routes() -> Router<AppState> {
    Router::new().route("/metrics/dashboard/assets/{name}", get(asset))
}

/// The operator routes: the stream and the organizations (merge before the auth layer).
pub(crate) fn operator_routes() -> Router<AppState> {
    Router::new()
        .route("/metrics/dashboard/stream", get(stream))
        .route("/metrics/dashboard/organizations", get(organizations))
        .route("/metrics/dashboard/custom", get(super::custom::custom))
        .layer(Extension(StreamLimiter::new(
            MAX_STREAMS,
            STREAM_LIFETIME + STREAM_SLOT_GRACE,
        )))
}

/// `GET /metrics/dashboard/organizations?limit=20`: see the [module docs](self).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/dashboard/organizations", tag = "dashboard", security(("operatorToken" = [])), params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "How many (default 20)")), responses((status = 200, description = "The busiest tenants", body = super::schemas::OrganizationsDoc), (status = 400, description = "A bad `limit`", body = crate::problem::Problem, content_type = "application/problem+json"))))]
async fn organizations(State(state): State<AppState>, uri: Uri) -> Response {
    let limit = match StrictQuery::parse(uri.query()).limit(
        "limit",
        ORGANIZATIONS_DEFAULT,
        ORGANIZATIONS_MAX,
    ) {
        Ok(l) => l,
        Err(p) => return p.with_instance(uri.path()).into_response(),
    };
    let all = state.monitor.organizations();
    let (overflow, mut tracked): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|o| &*o.organization_id == vitals::OVERFLOW);
    let count = tracked.len();
    tracked.truncate(limit);
    Json(json!({
        "limit": limit,
        "tracked": count,
        "maxOrganizations": state.monitor.config().max_organizations,
        "omitted": count - tracked.len(),
        "organizations": tracked,
        "overflow": overflow.first().map_or(Value::Null, |o| json!(o)),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
                      image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(&accept(chrome)));
        assert!(prefers_html(&accept(firefox)));
        assert!(prefers_html(&accept("text/html")));
        assert!(prefers_html(&accept("application/json;q=0.5, text/html")));
        assert!(!prefers_html(&accept("*/*")));
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&accept("application/json, text/html")));
        assert!(!prefers_html(&accept("text/*")));
        assert!(!prefers_html(&accept("text/html;q=0")));
        assert!(!prefers_html(&accept("text/html;q=0.5, application/json")));
        assert!(!prefers_html(&accept("application/*, text/html;q=0.9")));
        assert!(!prefers_html(&HeaderMap::new()));
    }

    #[test]
    fn shell_references_versioned_assets_and_fits_the_budget() {
        assert!(!SHELL.contains("{{v}}"));
        for (name, _, _) in ASSETS.iter().take(4) {
            assert!(
                SHELL.contains(&format!("dashboard/assets/{name}?v=")),
                "{name}"
            );
        }
        assert!(page_weight() < 200 * 1024, "{} bytes", page_weight());
    }
}
