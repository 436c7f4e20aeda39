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
//! The request monitor times a response until its body ends, so each stream is recorded as one
//! request to `/metrics/dashboard/stream` that lasted about [`STREAM_LIFETIME`]. The page leaves
//! those out of its slowest-requests table, and `inFlight` in the snapshots does not count open
//! streams; on a nearly idle service they still weigh on the overall p99.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde::Serialize;
use serde_json::{Value, json};
use vitals::Window;
use vitals::monitor::as_ms;
use vitals::trend::LeakVerdict;

use crate::problem::Problem;
use crate::query::StrictQuery;
use crate::shared::AppState;

/// Streams open at once (per router); more answer 503.
pub(crate) const MAX_STREAMS: usize = 16;
/// How long one stream lasts before the page reconnects.
pub(crate) const STREAM_LIFETIME: Duration = Duration::from_secs(60);
/// Seconds a client is asked to wait when every stream is taken.
const STREAMS_RETRY_AFTER_SECS: u64 = 5;
/// Time between two snapshots.
const TICK: Duration = Duration::from_secs(1);
/// Time between two keep-alive comments.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The leak verdict is re-assessed every this many ticks (it moves over minutes).
const LEAK_EVERY_TICKS: u32 = 5;
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

/// The q-value of `media` (`type/subtype`) in one `Accept` entry, with its specificity
/// (2 exact, 1 `type/*`, 0 `*/*`), or `None` when the entry does not match.
fn accept_match(entry: &str, media: &str) -> Option<(u8, f32)> {
    let mut params = entry.split(';');
    let range = params.next()?.trim().to_ascii_lowercase();
    let q = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
        .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0))
        .clamp(0.0, 1.0);
    let (kind, _) = media.split_once('/')?;
    let specificity = if range == media {
        2
    } else if range.strip_suffix("/*") == Some(kind) {
        1
    } else if range == "*/*" {
        0
    } else {
        return None;
    };
    Some((specificity, q))
}

/// The effective q-value of `media` in an `Accept` header (the most specific entry wins), and
/// whether an entry names it exactly.
fn accept_q(accept: &str, media: &str) -> (f32, bool) {
    accept
        .split(',')
        .filter_map(|entry| accept_match(entry, media))
        .max_by_key(|&(specificity, _)| specificity)
        .map_or((0.0, false), |(s, q)| (q, s == 2))
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
    let (html, named) = accept_q(&accept, "text/html");
    let (json, _) = accept_q(&accept, "application/json");
    named && html > 0.0 && html > json
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
        .layer(Extension(StreamLimiter::new(MAX_STREAMS)))
}

/// Counts open streams; a [`StreamPermit`] gives its place back when dropped.
#[derive(Debug, Clone)]
struct StreamLimiter {
    open: Arc<AtomicUsize>,
    max: usize,
}

#[derive(Debug)]
struct StreamPermit(Arc<AtomicUsize>);

impl StreamLimiter {
    fn new(max: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    fn try_acquire(&self) -> Option<StreamPermit> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamPermit(Arc::clone(&self.open)))
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Requests per status class.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Classes {
    #[serde(rename = "2xx")]
    success: f64,
    #[serde(rename = "3xx")]
    redirection: f64,
    #[serde(rename = "4xx")]
    client_error: f64,
    #[serde(rename = "5xx")]
    server_error: f64,
    other: f64,
}

impl Classes {
    fn add(&mut self, class: usize, n: f64) {
        match class {
            1 => self.success += n,
            2 => self.redirection += n,
            3 => self.client_error += n,
            4 => self.server_error += n,
            _ => self.other += n,
        }
    }

    fn per_second(&self, before: &Self, secs: f64) -> Self {
        let r = |now: f64, then: f64| ((now - then).max(0.0)) / secs;
        Self {
            success: r(self.success, before.success),
            redirection: r(self.redirection, before.redirection),
            client_error: r(self.client_error, before.client_error),
            server_error: r(self.server_error, before.server_error),
            other: r(self.other, before.other),
        }
    }
}

/// The compact leak verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Leak {
    leaking: bool,
    reason: &'static str,
    growth_mib_per_min: Option<f64>,
}

impl From<LeakVerdict> for Leak {
    fn from(v: LeakVerdict) -> Self {
        Self {
            leaking: v.leaking,
            reason: v.reason.as_str(),
            growth_mib_per_min: v.growth_mib_per_min,
        }
    }
}

/// One `snapshot` event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    /// Unix milliseconds.
    t: u64,
    requests_per_second: f64,
    requests_total: u64,
    /// Requests in flight, dashboard streams not counted.
    in_flight: u64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    /// Last minute, 0..1.
    error_rate: f64,
    /// Requests per status class over the last minute.
    status: vitals::StatusCounts,
    /// Requests per second per status class since the previous tick.
    status_per_second: Classes,
    rss_bytes: Option<u64>,
    heap_bytes: Option<u64>,
    cpu_percent: Option<f64>,
    busy_ratio: Option<f64>,
    scheduling_delay_p99_ms: Option<f64>,
    leak: Leak,
    under_pressure: bool,
    pressure_reason: Option<&'static str>,
}

/// One point of the `history` event (from the sampler's snapshots).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPoint {
    t: u64,
    requests_per_second: Option<f64>,
    rss_bytes: Option<u64>,
    heap_bytes: Option<u64>,
    cpu_percent: Option<f64>,
    busy_ratio: Option<f64>,
    scheduling_delay_p99_ms: Option<f64>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn leak(state: &AppState) -> Leak {
    let points = state
        .sampler
        .history()
        .memory_points(state.memory.leak.window);
    state.memory.leak.assess(&points).into()
}

/// What one stream remembers between ticks: the previous totals, for rates.
struct Ticker {
    state: AppState,
    interval: tokio::time::Interval,
    ends_at: tokio::time::Instant,
    previous: Option<(Instant, u64, Classes)>,
    leak: Option<Leak>,
    ticks: u32,
    history: bool,
    /// This stream's place; also tells how many dashboard streams are open.
    permit: StreamPermit,
}

impl Ticker {
    fn status_totals(&self) -> Classes {
        let mut classes = Classes::default();
        self.state
            .monitor
            .for_each_series(|_, _, class, counts| classes.add(class, counts.count as f64));
        classes
    }

    fn snapshot(&mut self) -> Snapshot {
        let state = &self.state;
        let now = Instant::now();
        let total = state.monitor.recorded();
        let classes = self.status_totals();
        let last_minute = state.monitor.overall(Window::LastMinute);
        let (rps, per_second) = match &self.previous {
            Some((at, before, before_classes)) => {
                let secs = now.duration_since(*at).as_secs_f64().max(1e-3);
                (
                    total.saturating_sub(*before) as f64 / secs,
                    classes.per_second(before_classes, secs),
                )
            }
            None => {
                let span = state
                    .monitor
                    .window_span(Window::LastMinute)
                    .as_secs_f64()
                    .max(1.0);
                (last_minute.count as f64 / span, Classes::default())
            }
        };
        self.previous = Some((now, total, classes));
        if self.ticks % LEAK_EVERY_TICKS == 0 || self.leak.is_none() {
            self.leak = Some(leak(state));
        }
        self.ticks = self.ticks.wrapping_add(1);
        let snap = state.sampler.history().latest();
        let pressure = state.pressure.status();
        Snapshot {
            t: unix_ms(SystemTime::now()),
            requests_per_second: rps,
            requests_total: total,
            // Open dashboard streams are requests in flight too; they are not the service's load.
            in_flight: state
                .monitor
                .in_flight()
                .saturating_sub(self.permit.0.load(Ordering::Acquire) as u64),
            p50_ms: as_ms(last_minute.p50),
            p95_ms: as_ms(last_minute.p95),
            p99_ms: as_ms(last_minute.p99),
            error_rate: last_minute.error_rate(),
            status: state.monitor.status_counts(Window::LastMinute),
            status_per_second: per_second,
            rss_bytes: snap.as_ref().and_then(|s| s.process.rss_bytes),
            heap_bytes: snap
                .as_ref()
                .and_then(|s| s.heap.map(|h| h.allocated_bytes)),
            cpu_percent: snap.as_ref().and_then(|s| s.cpu_percent),
            busy_ratio: snap.as_ref().and_then(|s| s.runtime.map(|r| r.busy_ratio)),
            scheduling_delay_p99_ms: snap
                .as_ref()
                .and_then(|s| s.runtime.map(|r| r.scheduling_delay_p99_ms)),
            leak: self.leak.clone().unwrap_or(Leak {
                leaking: false,
                reason: "insufficientData",
                growth_mib_per_min: None,
            }),
            under_pressure: pressure.under_pressure,
            pressure_reason: pressure.reason.map(|r| r.as_str()),
        }
    }

    /// The sampler's last five minutes, at most one point a second.
    fn history(&self) -> Vec<HistoryPoint> {
        let snaps = self
            .state
            .sampler
            .history()
            .snapshots(Duration::from_secs(300));
        let mut out: Vec<HistoryPoint> = Vec::with_capacity(snaps.len().min(301));
        let mut previous: Option<&vitals::system::SystemSnapshot> = None;
        for s in &snaps {
            let t = unix_ms(s.taken_at);
            if out.last().is_some_and(|p| t < p.t + 1000) {
                continue;
            }
            let rps = previous.and_then(|p| {
                let secs = s.taken_at.duration_since(p.taken_at).ok()?.as_secs_f64();
                (secs > 0.0)
                    .then(|| s.requests_total.saturating_sub(p.requests_total) as f64 / secs)
            });
            out.push(HistoryPoint {
                t,
                requests_per_second: rps,
                rss_bytes: s.process.rss_bytes,
                heap_bytes: s.heap.map(|h| h.allocated_bytes),
                cpu_percent: s.cpu_percent,
                busy_ratio: s.runtime.map(|r| r.busy_ratio),
                scheduling_delay_p99_ms: s.runtime.map(|r| r.scheduling_delay_p99_ms),
            });
            previous = Some(s);
        }
        out
    }
}

fn json_event(name: &str, value: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|_| Event::default().comment("unserializable"))
}

/// `GET /metrics/dashboard/stream[?history=1]`: see the [module docs](self).
async fn stream(
    State(state): State<AppState>,
    Extension(limiter): Extension<StreamLimiter>,
    uri: Uri,
) -> Response {
    let Some(permit) = limiter.try_acquire() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "at most {} dashboard streams may be open at once; poll /metrics/dashboard meanwhile",
                limiter.max
            ))
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from(STREAMS_RETRY_AFTER_SECS),
            )
            .with_instance(uri.path())
            .into_response();
    };
    let history = StrictQuery::parse(uri.query())
        .get("history")
        .is_some_and(|v| v == "1" || v == "true");
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ticker = Ticker {
        state,
        interval,
        ends_at: tokio::time::Instant::now() + STREAM_LIFETIME,
        previous: None,
        leak: None,
        ticks: 0,
        history,
        permit,
    };
    let events = futures_util::stream::unfold(ticker, |mut ticker| async move {
        if ticker.history {
            ticker.history = false;
            let event = json_event("history", &ticker.history()).retry(Duration::from_secs(1));
            return Some((Ok::<_, Infallible>(event), ticker));
        }
        let at = ticker.interval.tick().await;
        if at >= ticker.ends_at {
            return None;
        }
        let snapshot = ticker.snapshot();
        Some((Ok(json_event("snapshot", &snapshot)), ticker))
    });
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// `GET /metrics/dashboard/organizations?limit=20`: see the [module docs](self).
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
    fn limiter_bounds_and_releases() {
        let limiter = StreamLimiter::new(2);
        let a = limiter.try_acquire().unwrap();
        let b = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        drop(a);
        let c = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        drop((b, c));
        assert_eq!(limiter.open.load(Ordering::Acquire), 0);
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
