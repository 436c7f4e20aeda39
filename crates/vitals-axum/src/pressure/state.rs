//! The pressure state: thresholds, the evaluation after every sample, and what is reported.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use vitals::SystemSnapshot;

use crate::problem::Problem;
use crate::util::rfc3339;

/// Why requests are being shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PressureReason {
    /// Scheduling delay p99 over its threshold.
    SchedulingDelay,
    /// Live heap bytes over their threshold.
    HeapUsedBytes,
    /// RSS over its threshold.
    RssBytes,
    /// The health check failed or timed out.
    HealthCheck,
    /// Runtime busy ratio over its threshold.
    BusyRatio,
}

impl PressureReason {
    const ALL: [PressureReason; 5] = [
        PressureReason::SchedulingDelay,
        PressureReason::HeapUsedBytes,
        PressureReason::RssBytes,
        PressureReason::HealthCheck,
        PressureReason::BusyRatio,
    ];

    /// The label used in metrics (`schedulingDelay`, `heapUsedBytes`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PressureReason::SchedulingDelay => "schedulingDelay",
            PressureReason::HeapUsedBytes => "heapUsedBytes",
            PressureReason::RssBytes => "rssBytes",
            PressureReason::HealthCheck => "healthCheck",
            PressureReason::BusyRatio => "busyRatio",
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<Self> {
        code.checked_sub(1)
            .and_then(|i| Self::ALL.get(usize::from(i)).copied())
    }
}

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;
type ResponseFn = Arc<dyn Fn(PressureReason) -> Response + Send + Sync>;

/// Thresholds and settings of a [`Pressure`].
#[derive(Clone)]
#[must_use]
pub struct PressureBuilder {
    max_heap_bytes: Option<u64>,
    max_rss_bytes: Option<u64>,
    max_busy_ratio: Option<f64>,
    max_scheduling_delay: Option<Duration>,
    health_check: Option<(CheckFn, Duration, Duration)>,
    retry_after: Duration,
    exempt_prefixes: Vec<String>,
    response: Option<ResponseFn>,
}

impl std::fmt::Debug for PressureBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PressureBuilder")
            .field("max_heap_bytes", &self.max_heap_bytes)
            .field("max_rss_bytes", &self.max_rss_bytes)
            .field("max_busy_ratio", &self.max_busy_ratio)
            .field("max_scheduling_delay", &self.max_scheduling_delay)
            .field("retry_after", &self.retry_after)
            .field("exempt_prefixes", &self.exempt_prefixes)
            .finish_non_exhaustive()
    }
}

impl Default for PressureBuilder {
    fn default() -> Self {
        Self {
            max_heap_bytes: Some(1 << 30),
            max_rss_bytes: Some(1_342_177_280),
            max_busy_ratio: Some(0.98),
            max_scheduling_delay: None,
            health_check: None,
            retry_after: Duration::from_secs(10),
            exempt_prefixes: vec!["/health".to_owned(), "/metrics".to_owned()],
            response: None,
        }
    }
}

impl PressureBuilder {
    /// Live heap threshold in bytes (default 1 GiB; `None`: off).
    pub fn max_heap_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_heap_bytes = bytes;
        self
    }
    /// RSS threshold in bytes (default 1.25 GiB; `None`: off).
    pub fn max_rss_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_rss_bytes = bytes;
        self
    }
    /// Runtime busy ratio threshold, 0..1 (default 0.98; `None`: off).
    pub fn max_busy_ratio(mut self, ratio: Option<f64>) -> Self {
        self.max_busy_ratio = ratio;
        self
    }
    /// Scheduling delay p99 threshold (default off).
    pub fn max_scheduling_delay(mut self, delay: Option<Duration>) -> Self {
        self.max_scheduling_delay = delay;
        self
    }
    /// An async health check run every `interval` with a `timeout`; `false`, an error or a
    /// timeout puts the service under pressure until it passes again. It counts as failing
    /// until its first run completes.
    pub fn health_check<F, Fut>(mut self, interval: Duration, timeout: Duration, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let check: CheckFn = Arc::new(move || Box::pin(check()));
        self.health_check = Some((check, interval, timeout));
        self
    }
    /// `Retry-After` of shed responses (default 10 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }
    /// Path prefixes never shed (default `/health` and `/metrics`).
    pub fn exempt_prefixes(mut self, prefixes: Vec<String>) -> Self {
        self.exempt_prefixes = prefixes;
        self
    }
    /// Replaces the 503 problem document with your own response.
    pub fn response<F>(mut self, f: F) -> Self
    where
        F: Fn(PressureReason) -> Response + Send + Sync + 'static,
    {
        self.response = Some(Arc::new(f));
        self
    }

    /// Builds. Inside a tokio runtime, starts the health check task if one is set.
    pub fn build(self) -> Pressure {
        let pressure = Pressure {
            inner: Arc::new(PressureInner {
                tripped: AtomicU8::new(0),
                health_ok: AtomicU8::new(u8::from(self.health_check.is_none())),
                shed: Default::default(),
                state: Mutex::new(PressureState::default()),
                settings: self,
            }),
        };
        if let (Some((check, interval, timeout)), Ok(_)) = (
            pressure.inner.settings.health_check.clone(),
            tokio::runtime::Handle::try_current(),
        ) {
            let weak = Arc::downgrade(&pressure.inner);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let ok = matches!(tokio::time::timeout(timeout, check()).await, Ok(true));
                    let Some(inner) = weak.upgrade() else { break };
                    inner.health_ok.store(u8::from(ok), Ordering::Relaxed);
                }
            });
        }
        pressure
    }
}

#[derive(Debug, Default, Clone)]
struct PressureState {
    since: Option<SystemTime>,
    values: PressureValues,
    evaluated_at: Option<SystemTime>,
}

/// The values the last evaluation saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PressureValues {
    /// Live heap bytes (`None`: not measured).
    pub heap_used_bytes: Option<u64>,
    /// RSS.
    pub rss_bytes: Option<u64>,
    /// Runtime busy ratio over the last interval.
    pub busy_ratio: Option<f64>,
    /// Scheduling delay p99 over the last interval, ms.
    pub scheduling_delay_ms: Option<f64>,
    /// Last health check result (`None`: no check configured).
    pub health_check_ok: Option<bool>,
}

#[derive(Debug)]
struct PressureInner {
    tripped: AtomicU8,
    health_ok: AtomicU8,
    shed: [AtomicU64; 5],
    state: Mutex<PressureState>,
    settings: PressureBuilder,
}

/// Load-shedding state: sheds load with 503 before the process falls over (through
/// [`PressureLayer`](crate::PressureLayer)). Cheap to clone.
///
/// A [`Pressure`] holds thresholds on live heap bytes, RSS, the runtime busy ratio (per
/// interval, never cumulative since start) and the scheduling delay (p99 of the interval), each
/// optional, plus an optional async health check run on its own interval. It is evaluated
/// after every system sample ([`Pressure::evaluate`]; [`Vitals`](crate::Vitals) wires this up), so a
/// crossing is acted on within one sample interval, and recovery likewise.
///
/// The layer itself costs one atomic load per request. Under pressure it answers 503
/// problem+json with `Retry-After` (10 s by default) without calling the inner service, except
/// for exempt paths (by default everything under `/health` and `/metrics`), so a load balancer
/// and an operator can still see why. A custom response can replace the problem document.
///
/// Defaults: heap 1 GiB, RSS 1.25 GiB, busy ratio 0.98; scheduling delay and the
/// health check off. A value is over its threshold when strictly greater,. Checks run in this order: scheduling delay, heap, RSS, health
/// check, busy ratio; the first one over names the reason.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use vitals_axum::{Pressure, PressureLayer};
///
/// let pressure = Pressure::builder().max_rss_bytes(Some(512 << 20)).build();
/// let app: Router = Router::new()
///     .route("/api/work", get(|| async { "done" }))
///     .layer(PressureLayer::new(pressure.clone()));
/// assert!(!pressure.status().under_pressure);
/// ```
#[derive(Debug, Clone)]
pub struct Pressure {
    inner: Arc<PressureInner>,
}

/// What `GET /health/pressure` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PressureStatus {
    /// True while requests are shed.
    pub under_pressure: bool,
    /// Which threshold tripped.
    pub reason: Option<PressureReason>,
    /// Since when (RFC 3339).
    pub since: Option<String>,
    /// When the values were last evaluated (RFC 3339).
    pub evaluated_at: Option<String>,
    /// The values.
    pub values: PressureValues,
    /// The thresholds (`null`: off).
    pub thresholds: PressureThresholds,
    /// Requests shed since start, per reason.
    pub shed: std::collections::BTreeMap<&'static str, u64>,
    /// `Retry-After` of shed responses, seconds.
    pub retry_after_seconds: u64,
}

/// The thresholds as reported.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PressureThresholds {
    /// Heap, bytes.
    pub max_heap_used_bytes: Option<u64>,
    /// RSS, bytes.
    pub max_rss_bytes: Option<u64>,
    /// Busy ratio.
    pub max_busy_ratio: Option<f64>,
    /// Scheduling delay, ms.
    pub max_scheduling_delay_ms: Option<f64>,
    /// Whether a health check is configured.
    pub health_check: bool,
}

impl Pressure {
    /// Settings with the defaults.
    pub fn builder() -> PressureBuilder {
        PressureBuilder::default()
    }

    /// The reason requests are shed now, if they are.
    #[must_use]
    #[inline]
    pub fn current(&self) -> Option<PressureReason> {
        PressureReason::from_code(self.inner.tripped.load(Ordering::Relaxed))
    }

    /// Re-evaluates against a fresh snapshot (the sampler calls this after every sample).
    pub fn evaluate(&self, snapshot: &SystemSnapshot) {
        let s = &self.inner.settings;
        let health_ok = s
            .health_check
            .as_ref()
            .map(|_| self.inner.health_ok.load(Ordering::Relaxed) == 1);
        let values = PressureValues {
            heap_used_bytes: snapshot.heap.map(|h| h.allocated_bytes),
            rss_bytes: snapshot.process.rss_bytes,
            busy_ratio: snapshot.runtime.map(|r| r.busy_ratio),
            scheduling_delay_ms: snapshot.runtime.map(|r| r.scheduling_delay_p99_ms),
            health_check_ok: health_ok,
        };
        let over =
            |v: Option<f64>, max: Option<f64>| matches!((v, max), (Some(v), Some(m)) if v > m);
        let reason = if over(
            values.scheduling_delay_ms,
            s.max_scheduling_delay.map(vitals::as_ms),
        ) {
            Some(PressureReason::SchedulingDelay)
        } else if over(
            values.heap_used_bytes.map(|v| v as f64),
            s.max_heap_bytes.map(|v| v as f64),
        ) {
            Some(PressureReason::HeapUsedBytes)
        } else if over(
            values.rss_bytes.map(|v| v as f64),
            s.max_rss_bytes.map(|v| v as f64),
        ) {
            Some(PressureReason::RssBytes)
        } else if health_ok == Some(false) {
            Some(PressureReason::HealthCheck)
        } else if over(values.busy_ratio, s.max_busy_ratio) {
            Some(PressureReason::BusyRatio)
        } else {
            None
        };
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let was = self.current();
        match (was, reason) {
            (None, Some(r)) => {
                state.since = Some(snapshot.taken_at);
                tracing::warn!(reason = r.as_str(), "under pressure: shedding requests");
            }
            (Some(_), None) => {
                state.since = None;
                tracing::info!("pressure relieved: serving again");
            }
            _ => {}
        }
        state.values = values;
        state.evaluated_at = Some(snapshot.taken_at);
        self.inner
            .tripped
            .store(reason.map_or(0, PressureReason::code), Ordering::Relaxed);
    }

    /// Requests shed for `reason` since start.
    #[must_use]
    pub fn shed_total(&self, reason: PressureReason) -> u64 {
        self.inner.shed[usize::from(reason.code() - 1)].load(Ordering::Relaxed)
    }

    /// The state for `GET /health/pressure`.
    #[must_use]
    pub fn status(&self) -> PressureStatus {
        let s = &self.inner.settings;
        let state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let reason = self.current();
        PressureStatus {
            under_pressure: reason.is_some(),
            reason,
            since: state.since.map(rfc3339),
            evaluated_at: state.evaluated_at.map(rfc3339),
            values: state.values,
            thresholds: PressureThresholds {
                max_heap_used_bytes: s.max_heap_bytes,
                max_rss_bytes: s.max_rss_bytes,
                max_busy_ratio: s.max_busy_ratio,
                max_scheduling_delay_ms: s.max_scheduling_delay.map(vitals::as_ms),
                health_check: s.health_check.is_some(),
            },
            shed: PressureReason::ALL
                .iter()
                .map(|&r| (r.as_str(), self.shed_total(r)))
                .collect(),
            retry_after_seconds: s.retry_after.as_secs().max(1),
        }
    }

    /// The shed response for a request to `path`, if it is to be shed now (for the monitor,
    /// which does the check itself inside [`Vitals::layers`](crate::Vitals::layers): a layer
    /// less per request).
    /// Inlined down to the one relaxed load the monitor pays while not shedding.
    #[inline]
    pub(crate) fn shed(&self, path: &str) -> Option<Response> {
        let reason = self.current()?;
        self.shed_unless_exempt(reason, path)
    }

    /// The reason a request to `path` is shed now, if it is, counted as shed: for an adapter
    /// that answers in its own protocol (gRPC's `UNAVAILABLE`, an actix response) instead of
    /// this crate's problem document. Exempt paths are never shed.
    #[must_use]
    pub fn shed_reason(&self, path: &str) -> Option<PressureReason> {
        let reason = self.current()?;
        if self.is_exempt(path) {
            return None;
        }
        self.inner.shed[usize::from(reason.code() - 1)].fetch_add(1, Ordering::Relaxed);
        Some(reason)
    }

    /// `Retry-After` of shed responses.
    #[must_use]
    pub fn retry_after(&self) -> std::time::Duration {
        self.inner
            .settings
            .retry_after
            .max(std::time::Duration::from_secs(1))
    }

    #[cold]
    fn shed_unless_exempt(&self, reason: PressureReason, path: &str) -> Option<Response> {
        (!self.is_exempt(path)).then(|| self.shed_response(reason))
    }

    pub(super) fn is_exempt(&self, path: &str) -> bool {
        self.inner.settings.exempt_prefixes.iter().any(|p| {
            path.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    pub(super) fn shed_response(&self, reason: PressureReason) -> Response {
        self.inner.shed[usize::from(reason.code() - 1)].fetch_add(1, Ordering::Relaxed);
        let s = &self.inner.settings;
        let mut response = match &s.response {
            Some(f) => f(reason),
            None => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail(format!(
                    "the service is under pressure ({}); retry later",
                    reason.as_str()
                ))
                .with_extension("reason", reason.as_str())
                .into_response(),
        };
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert_with(|| HeaderValue::from(s.retry_after.as_secs().max(1)));
        response
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
