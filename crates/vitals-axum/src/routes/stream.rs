//! `GET /metrics/dashboard/stream`: the dashboard's Server-Sent Events, one snapshot a second,
//! at most [`MAX_STREAMS`] at once, each ending after [`STREAM_LIFETIME`] (see `page` for the
//! whole dashboard); a stream whose reader stalls loses its place at its deadline
//! ([`STREAM_LIFETIME`] + [`STREAM_SLOT_GRACE`]) even if it is never polled again.
//!
//! The request monitor records an event stream when its response leaves the layer, before the
//! first event (see `MonitorLayer`): each stream counts as one request to
//! `/metrics/dashboard/stream` whose duration is its time to first byte, and open streams are
//! not in flight.

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, Uri, header};
use serde::Serialize;
use vitals::LeakVerdict;
use vitals::Window;
use vitals::as_ms;

use crate::problem::Problem;
use crate::query::StrictQuery;
use crate::shared::AppState;

pub(super) use super::stream_slots::{StreamLimiter, StreamPermit};

/// Streams open at once (per router); more answer 503.
pub(crate) const MAX_STREAMS: usize = 16;
/// How long one stream lasts before the page reconnects.
pub(crate) const STREAM_LIFETIME: Duration = Duration::from_secs(60);
/// Time past [`STREAM_LIFETIME`] after which a stream's place is taken back even if the
/// stream never ended (its reader stalled, so it was never polled to its end).
pub(crate) const STREAM_SLOT_GRACE: Duration = Duration::from_secs(10);
/// Seconds a client is asked to wait when every stream is taken.
const STREAMS_RETRY_AFTER_SECS: u64 = 5;
/// Time between two snapshots.
const TICK: Duration = Duration::from_secs(1);
/// Time between two keep-alive comments.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The leak verdict is re-assessed every this many ticks (it moves over minutes).
const LEAK_EVERY_TICKS: u32 = 5;

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
                .saturating_sub(self.permit.open() as u64),
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
        let mut previous: Option<&vitals::SystemSnapshot> = None;
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
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/dashboard/stream", tag = "dashboard", security(("operatorToken" = [])), params(("history" = Option<String>, Query, description = "`1` or `true`: a `history` event first")), responses((status = 200, description = "Server-Sent Events: `snapshot` every 2 s (and `history` first when asked), for 60 s", content_type = "text/event-stream", body = super::schemas::SseEventDoc), (status = 503, description = "Too many streams open (`Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(super) async fn stream(
    State(state): State<AppState>,
    Extension(limiter): Extension<StreamLimiter>,
    uri: Uri,
) -> Response {
    let Some(permit) = limiter.try_acquire() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "at most {} dashboard streams may be open at once; poll /metrics/dashboard meanwhile",
                limiter.max()
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
