//! Circuit breakers: fail fast while a dependency (a database, an upstream API, a route) keeps
//! failing, then probe it with one trial call (the analogue of `@fastify/circuit-breaker`).
//!
//! A [`CircuitBreaker`] guards calls in code ([`CircuitBreaker::call`]) and, through
//! [`CircuitBreakerLayer`], routes. The same breaker can do both; clones share one state.
//!
//! # Semantics (those of `@fastify/circuit-breaker` 4)
//!
//! - **Closed**: calls run, each under `call_timeout` (default 10 s). After
//!   `failure_threshold` *consecutive* failures (default 5) the circuit opens; a success resets
//!   the count. A failure is an `Err`, a timeout, or, in the layer, an inner error or a response
//!   status >= 500.
//! - **Open**: calls are rejected at once, without running them, with the time left until
//!   `reset_timeout` (default 10 s) has passed since the circuit opened
//!   ([`BreakerError::Open`], or 503 problem+json with `Retry-After` from the layer).
//! - **Half-open** (once `reset_timeout` has passed): exactly one trial call runs at a time;
//!   concurrent calls are rejected as if open. The trial's success closes the circuit and zeroes
//!   the count; its failure reopens it for another `reset_timeout`. A trial that is cancelled
//!   (its future dropped) frees the slot for the next call. Outcomes of calls that were admitted
//!   before the circuit last changed state count in the totals but do not move the state.
//!
//! Differences from fastify: the move to half-open happens lazily, on the first call or
//! [`CircuitBreaker::state`] after `reset_timeout` (the transition is stamped with the time it
//! became due, so what is reported is the same as with fastify's timer). The layer answers a
//! timed-out request with 503 as soon as `call_timeout` passes and drops the handler's future,
//! where fastify waits for the slow handler to finish and then replaces its response. The open
//! response carries `Retry-After`, which fastify's does not.
//!
//! # Why hand-written (no breaker crate)
//!
//! Checked (2026-11): `tower-resilience-circuitbreaker` 0.14 and `failsafe` 1.3.
//!
//! - **tower-resilience** is active and has the needed policy (`consecutive_failures(5)`,
//!   `permitted_calls_in_half_open(1)`), but it is a tower service only: guarding a database
//!   call means wrapping it in a `service_fn`. Its service changes the inner error type to
//!   `CircuitBreakerError<E>` (our layers never do), boxes every call's future and takes an
//!   async (`tokio::sync`) mutex on every call, even when closed. Calls have no timeout (a
//!   separate time-limiter layer). Metrics are read through an `async fn` and have no
//!   rejected count or open time (those come only through event callbacks). It measures with
//!   `std::time::Instant`, so tests cannot run on tokio's paused clock. It also pulls in
//!   `tower-resilience-core` and `futures`.
//! - **failsafe** has consecutive-failure policies and a `futures` wrapper, but lets *every*
//!   call through when half-open (no single trial), has no timeout and no tower layer, locks a
//!   mutex on every call, and has been quiet since July 2024.
//!
//! Neither gives the fastify semantics, a dependency-call API and a route layer sharing one
//! state, and a snapshot for `/health` and `/metrics`. The state machine is small. Here, the
//! closed-state admission check is one atomic load (state and epoch packed in one `u64`).
//! Outcomes cost an atomic add or two. The mutex is taken only when the state is not closed,
//! and when a failure reaches the threshold.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use vitals_axum::breaker::{BreakerError, BreakerRegistry, CircuitBreaker, CircuitBreakerLayer};
//!
//! # async fn run() {
//! let registry = BreakerRegistry::new();
//! let db = registry.register(
//!     CircuitBreaker::new("database").failure_threshold(3).call_timeout(Duration::from_secs(2)),
//! );
//! let upstream = registry.register(CircuitBreaker::new("GET /api/report"));
//!
//! // Guarding a dependency call.
//! let rows: Result<u32, BreakerError<std::io::Error>> = db.call(async { Ok(42) }).await;
//! assert_eq!(rows.unwrap(), 42);
//!
//! // Guarding a route.
//! let app: Router = Router::new()
//!     .route("/api/report", get(|| async { "report" }))
//!     .route_layer(CircuitBreakerLayer::new(upstream));
//!
//! // For `/health` and `/metrics`.
//! let snapshots = registry.snapshots();
//! assert_eq!(snapshots.len(), 2);
//! # let _ = app;
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, StatusCode, header};
use pin_project_lite::pin_project;
use serde::{Serialize, Serializer};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::Problem;

/// Consecutive failures that open a circuit by default.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// How long a call may run by default before it counts as failed.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a circuit stays open by default before a trial call is allowed.
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);
/// How many transitions [`CircuitBreaker::transitions`] keeps.
pub const TRANSITION_HISTORY: usize = 16;

const STATE_MASK: u64 = 0b11;

/// The state of a circuit. Serialized as `closed`, `open`, `halfOpen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BreakerState {
    /// Calls run; failures are counted.
    Closed,
    /// Calls are rejected until the reset timeout has passed.
    Open,
    /// One trial call may run; its outcome closes or reopens the circuit.
    HalfOpen,
}

impl BreakerState {
    /// The serialized name (`closed`, `open`, `halfOpen`), also usable as a metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "halfOpen",
        }
    }

    const fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }

    const fn from_word(word: u64) -> Self {
        match word & STATE_MASK {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`CircuitBreaker::call`] did not return the call's value.
#[derive(Debug, PartialEq, Eq)]
pub enum BreakerError<E> {
    /// The circuit is open (or half-open with its trial in flight); the call was not run.
    Open {
        /// When a call may be admitted again (the rest of the reset timeout, or of the trial's
        /// call timeout).
        retry_after: Duration,
    },
    /// The call ran longer than the call timeout and was dropped.
    Timeout,
    /// The call failed.
    Inner(E),
}

impl<E> BreakerError<E> {
    /// Whether the call was rejected without running.
    #[must_use]
    pub fn is_open(&self) -> bool {
        matches!(self, BreakerError::Open { .. })
    }

    /// Whether the call timed out.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, BreakerError::Timeout)
    }

    /// The suggested wait before retrying, when the circuit is open.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BreakerError::Open { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The call's own error, if it failed with one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            BreakerError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Open { retry_after } => write!(
                f,
                "circuit open; retry after {}",
                humantime::format_duration(*retry_after)
            ),
            BreakerError::Timeout => f.write_str("call timed out"),
            BreakerError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BreakerError::Inner(e) => e.source(),
            _ => None,
        }
    }
}

/// A state change, as kept by [`CircuitBreaker::transitions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerTransition {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// When (RFC 3339 in JSON).
    #[serde(serialize_with = "serialize_time")]
    pub at: SystemTime,
}

/// A point-in-time view of a breaker, for `/health` and `/metrics`. Serialized in camelCase
/// with RFC 3339 times (`null` when unset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerSnapshot {
    /// The breaker's name.
    pub name: String,
    /// The current state.
    pub state: BreakerState,
    /// Failures since the last success (what trips the circuit when it reaches the threshold).
    pub consecutive_failures: u32,
    /// When the circuit last opened, while it is open or half-open; `None` when closed.
    #[serde(serialize_with = "serialize_opt_time")]
    pub opened_at: Option<SystemTime>,
    /// When the state last changed; `None` if it never has.
    #[serde(serialize_with = "serialize_opt_time")]
    pub last_transition: Option<SystemTime>,
    /// State changes since the breaker was created.
    pub transitions_total: u64,
    /// Calls rejected without running.
    pub rejected_total: u64,
    /// Calls that failed (errors, timeouts, responses >= 500).
    pub failures_total: u64,
    /// Calls that succeeded.
    pub successes_total: u64,
}

fn serialize_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

// serde's `serialize_with` passes `&Option<_>`.
#[allow(clippy::ref_option)]
fn serialize_opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize_time(t, s),
        None => s.serialize_none(),
    }
}

/// A circuit breaker; see the [module docs](self). Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    name: Box<str>,
    /// `epoch << 2 | state`. Written only with `guarded` held; the epoch grows on every
    /// transition, so an outcome can tell whether the state changed since its call began.
    word: AtomicU64,
    consecutive: AtomicU32,
    failure_threshold: AtomicU32,
    call_timeout_nanos: AtomicU64,
    reset_timeout_nanos: AtomicU64,
    rejected_total: AtomicU64,
    failures_total: AtomicU64,
    successes_total: AtomicU64,
    guarded: Mutex<Guarded>,
}

#[derive(Default)]
struct Guarded {
    /// When the circuit opened (monotonic for timing, wall clock for reporting).
    opened_at: Option<(Instant, SystemTime)>,
    /// When the half-open trial in flight began.
    trial_started: Option<Instant>,
    last_transition: Option<SystemTime>,
    transitions_total: u64,
    history: VecDeque<BreakerTransition>,
}

/// The right to run one call, and how its outcome is to be recorded.
#[derive(Debug, Clone, Copy)]
enum Ticket {
    /// Admitted while closed, in the epoch of `word`.
    Closed { word: u64 },
    /// The half-open trial.
    Trial,
}

fn to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What is left of `total` after `since`, at `now`.
fn remaining(since: Instant, total: Duration, now: Instant) -> Duration {
    total.saturating_sub(now.saturating_duration_since(since))
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Guarded> {
        self.guarded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_word(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }

    fn threshold(&self) -> u32 {
        self.failure_threshold.load(Ordering::Relaxed)
    }

    fn call_timeout(&self) -> Duration {
        Duration::from_nanos(self.call_timeout_nanos.load(Ordering::Relaxed))
    }

    fn reset_timeout(&self) -> Duration {
        Duration::from_nanos(self.reset_timeout_nanos.load(Ordering::Relaxed))
    }

    /// Admits a call, or says how long until one may be admitted.
    #[inline]
    fn acquire(&self) -> Result<Ticket, Duration> {
        let word = self.state_word();
        if BreakerState::from_word(word) == BreakerState::Closed {
            return Ok(Ticket::Closed { word });
        }
        self.acquire_slow()
    }

    #[cold]
    fn acquire_slow(&self) -> Result<Ticket, Duration> {
        let now = Instant::now();
        let mut g = self.lock();
        self.advance(&mut g, now);
        let word = self.word.load(Ordering::Relaxed);
        let rejected = match BreakerState::from_word(word) {
            BreakerState::Closed => return Ok(Ticket::Closed { word }),
            BreakerState::HalfOpen => match g.trial_started {
                None => {
                    g.trial_started = Some(now);
                    return Ok(Ticket::Trial);
                }
                Some(started) => remaining(started, self.call_timeout(), now),
            },
            BreakerState::Open => self.open_remaining(&g, now),
        };
        drop(g);
        self.rejected_total.fetch_add(1, Ordering::Relaxed);
        Err(rejected)
    }

    fn open_remaining(&self, g: &Guarded, now: Instant) -> Duration {
        g.opened_at.map_or(Duration::ZERO, |(at, _)| {
            remaining(at, self.reset_timeout(), now)
        })
    }

    /// Moves an open circuit whose reset timeout has passed to half-open.
    fn advance(&self, g: &mut Guarded, now: Instant) {
        if BreakerState::from_word(self.word.load(Ordering::Relaxed)) != BreakerState::Open {
            return;
        }
        let Some((opened, opened_wall)) = g.opened_at else {
            return;
        };
        let reset = self.reset_timeout();
        if now.saturating_duration_since(opened) >= reset {
            let due = opened_wall
                .checked_add(reset)
                .unwrap_or_else(SystemTime::now);
            self.transition(g, BreakerState::HalfOpen, due);
        }
    }

    fn open(&self, g: &mut Guarded) {
        let wall = SystemTime::now();
        g.opened_at = Some((Instant::now(), wall));
        self.transition(g, BreakerState::Open, wall);
    }

    /// Changes state; `g` must be this breaker's guard.
    fn transition(&self, g: &mut Guarded, to: BreakerState, at: SystemTime) {
        let word = self.word.load(Ordering::Relaxed);
        let from = BreakerState::from_word(word);
        if to == BreakerState::Closed {
            self.consecutive.store(0, Ordering::Relaxed);
            g.opened_at = None;
        }
        g.trial_started = None;
        g.transitions_total += 1;
        g.last_transition = Some(at);
        if g.history.len() == TRANSITION_HISTORY {
            g.history.pop_front();
        }
        g.history.push_back(BreakerTransition { from, to, at });
        let epoch = (word >> 2).wrapping_add(1);
        self.word.store((epoch << 2) | to.code(), Ordering::Release);
        let failures = self.consecutive.load(Ordering::Relaxed);
        match to {
            BreakerState::Open => tracing::warn!(
                breaker = &*self.name,
                %from,
                consecutive_failures = failures,
                reset_timeout_ms = self.reset_timeout().as_millis(),
                "circuit breaker opened"
            ),
            BreakerState::HalfOpen => {
                tracing::info!(breaker = &*self.name, %from, "circuit breaker half-open");
            }
            BreakerState::Closed => {
                tracing::info!(breaker = &*self.name, %from, "circuit breaker closed");
            }
        }
    }

    fn complete(&self, ticket: Ticket, success: bool) {
        if success {
            self.successes_total.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failures_total.fetch_add(1, Ordering::Relaxed);
        }
        match ticket {
            Ticket::Closed { word } => {
                if self.state_word() != word {
                    return; // The state changed since this call began.
                }
                if success {
                    if self.consecutive.load(Ordering::Relaxed) != 0 {
                        self.consecutive.store(0, Ordering::Relaxed);
                    }
                    return;
                }
                let failures = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
                let threshold = self.threshold();
                if failures >= threshold {
                    let mut g = self.lock();
                    if self.word.load(Ordering::Relaxed) == word
                        && self.consecutive.load(Ordering::Relaxed) >= threshold
                    {
                        self.open(&mut g);
                    }
                }
            }
            Ticket::Trial => {
                let mut g = self.lock();
                g.trial_started = None;
                if BreakerState::from_word(self.word.load(Ordering::Relaxed))
                    != BreakerState::HalfOpen
                {
                    return;
                }
                if success {
                    self.transition(&mut g, BreakerState::Closed, SystemTime::now());
                } else {
                    self.consecutive.fetch_add(1, Ordering::Relaxed);
                    self.open(&mut g);
                }
            }
        }
    }

    /// A call was dropped before it finished: free the trial slot.
    fn abandon(&self, ticket: Ticket) {
        if let Ticket::Trial = ticket {
            self.lock().trial_started = None;
        }
    }

    fn open_response(&self, retry_after: Duration) -> Response {
        let secs = retry_after_secs(retry_after);
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "circuit breaker `{}` is open; retry in {secs} s",
                self.name
            ))
            .with_extension("breaker", &*self.name)
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            .into_response()
    }

    fn timeout_response(&self) -> Response {
        let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "circuit breaker `{}`: the request timed out after {}",
                self.name,
                humantime::format_duration(self.call_timeout())
            ))
            .with_extension("breaker", &*self.name);
        let now = Instant::now();
        let g = self.lock();
        if BreakerState::from_word(self.word.load(Ordering::Relaxed)) == BreakerState::Open {
            let secs = retry_after_secs(self.open_remaining(&g, now));
            problem = problem.with_header(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        drop(g);
        problem.into_response()
    }
}

/// An admitted call; abandons its ticket if dropped before an outcome is recorded.
struct Permit<P: Deref<Target = Inner>> {
    inner: P,
    ticket: Option<Ticket>,
}

impl<P: Deref<Target = Inner>> Permit<P> {
    fn finish(mut self, success: bool) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.complete(ticket, success);
        }
    }
}

impl<P: Deref<Target = Inner>> Drop for Permit<P> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.abandon(ticket);
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker with the defaults: 5 consecutive failures open it, calls time out after
    /// 10 s, and it stays open 10 s.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                word: AtomicU64::new(BreakerState::Closed.code()),
                consecutive: AtomicU32::new(0),
                failure_threshold: AtomicU32::new(DEFAULT_FAILURE_THRESHOLD),
                call_timeout_nanos: AtomicU64::new(to_nanos(DEFAULT_CALL_TIMEOUT)),
                reset_timeout_nanos: AtomicU64::new(to_nanos(DEFAULT_RESET_TIMEOUT)),
                rejected_total: AtomicU64::new(0),
                failures_total: AtomicU64::new(0),
                successes_total: AtomicU64::new(0),
                guarded: Mutex::new(Guarded::default()),
            }),
        }
    }

    /// Consecutive failures that open the circuit (default 5; 0 counts as 1). Settings apply
    /// to every clone.
    #[must_use]
    pub fn failure_threshold(self, threshold: u32) -> Self {
        self.inner
            .failure_threshold
            .store(threshold.max(1), Ordering::Relaxed);
        self
    }

    /// How long a call may run before it is dropped and counted as a failure (default 10 s).
    #[must_use]
    pub fn call_timeout(self, timeout: Duration) -> Self {
        self.inner
            .call_timeout_nanos
            .store(to_nanos(timeout), Ordering::Relaxed);
        self
    }

    /// How long the circuit stays open before a trial call is allowed (default 10 s).
    #[must_use]
    pub fn reset_timeout(self, timeout: Duration) -> Self {
        self.inner
            .reset_timeout_nanos
            .store(to_nanos(timeout), Ordering::Relaxed);
        self
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs `f` through the breaker; see the [module docs](self) for the states.
    ///
    /// When the circuit is open, returns [`BreakerError::Open`] at once and drops `f` without
    /// polling it. Otherwise runs `f` under the call timeout: `Ok` is a success; `Err` (as
    /// [`BreakerError::Inner`]) and a timeout ([`BreakerError::Timeout`]) are failures.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with the time driver enabled (the timeout needs it).
    ///
    /// # Errors
    ///
    /// [`BreakerError::Open`] when rejected, [`BreakerError::Timeout`] when `f` took longer
    /// than the call timeout, [`BreakerError::Inner`] when `f` failed.
    pub async fn call<F, T, E>(&self, f: F) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let ticket = self
            .inner
            .acquire()
            .map_err(|retry_after| BreakerError::Open { retry_after })?;
        let permit = Permit {
            inner: &*self.inner,
            ticket: Some(ticket),
        };
        match tokio::time::timeout(self.inner.call_timeout(), f).await {
            Ok(Ok(value)) => {
                permit.finish(true);
                Ok(value)
            }
            Ok(Err(e)) => {
                permit.finish(false);
                Err(BreakerError::Inner(e))
            }
            Err(_) => {
                permit.finish(false);
                Err(BreakerError::Timeout)
            }
        }
    }

    /// A snapshot of the state and counters. Moves an open circuit whose reset timeout has
    /// passed to half-open first, so the state reported is the one the next call will see.
    #[must_use]
    pub fn state(&self) -> BreakerSnapshot {
        let inner = &*self.inner;
        let now = Instant::now();
        let mut g = inner.lock();
        inner.advance(&mut g, now);
        BreakerSnapshot {
            name: inner.name.to_string(),
            state: BreakerState::from_word(inner.word.load(Ordering::Relaxed)),
            consecutive_failures: inner.consecutive.load(Ordering::Relaxed),
            opened_at: g.opened_at.map(|(_, wall)| wall),
            last_transition: g.last_transition,
            transitions_total: g.transitions_total,
            rejected_total: inner.rejected_total.load(Ordering::Relaxed),
            failures_total: inner.failures_total.load(Ordering::Relaxed),
            successes_total: inner.successes_total.load(Ordering::Relaxed),
        }
    }

    /// The current state alone: one atomic load when closed.
    #[must_use]
    pub fn current_state(&self) -> BreakerState {
        let state = BreakerState::from_word(self.inner.state_word());
        if state == BreakerState::Closed {
            return state;
        }
        self.state().state
    }

    /// The last [`TRANSITION_HISTORY`] state changes, oldest first.
    #[must_use]
    pub fn transitions(&self) -> Vec<BreakerTransition> {
        self.inner.lock().history.iter().copied().collect()
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &BreakerState::from_word(self.inner.state_word()))
            .field("failure_threshold", &self.inner.threshold())
            .field("call_timeout", &self.inner.call_timeout())
            .field("reset_timeout", &self.inner.reset_timeout())
            .finish_non_exhaustive()
    }
}

/// The breakers of an app, listed for `/health` and `/metrics`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BreakerRegistry {
    breakers: Arc<Mutex<Vec<CircuitBreaker>>>,
}

impl BreakerRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<CircuitBreaker>> {
        self.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `breaker`, replacing one of the same name, and returns it for convenience.
    pub fn register(&self, breaker: CircuitBreaker) -> CircuitBreaker {
        let mut breakers = self.lock();
        match breakers.iter_mut().find(|b| b.name() == breaker.name()) {
            Some(slot) => *slot = breaker.clone(),
            None => breakers.push(breaker.clone()),
        }
        breaker
    }

    /// The breaker named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        self.lock().iter().find(|b| b.name() == name).cloned()
    }

    /// Snapshots of every breaker, in registration order.
    #[must_use]
    pub fn snapshots(&self) -> Vec<BreakerSnapshot> {
        let breakers = self.lock().clone();
        breakers.iter().map(CircuitBreaker::state).collect()
    }
}

/// Applies [`CircuitBreakerService`]; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    breaker: CircuitBreaker,
}

impl CircuitBreakerLayer {
    /// Guards a service with `breaker`. Every service the layer wraps shares its state, so
    /// use `route_layer` (or one layer per route) for a breaker per route, as fastify has.
    #[must_use]
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self { breaker }
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreakerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
        }
    }
}

/// Guards a service with a [`CircuitBreaker`].
///
/// Open: answers 503 problem+json with `Retry-After` without calling the inner service.
/// Otherwise calls it; a response status >= 500, an inner error (passed through unchanged) or
/// running past the call timeout (answered 503 problem+json, the inner future dropped) is a
/// failure, any other response a success.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S> {
    inner: S,
    breaker: CircuitBreaker,
}

impl<S> CircuitBreakerService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer::new(breaker).layer(inner)
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for CircuitBreakerService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let breaker = &self.breaker.inner;
        let kind = match breaker.acquire() {
            Ok(ticket) => Kind::Called {
                future: self.inner.call(req),
                sleep: None,
                deadline: Instant::now().checked_add(breaker.call_timeout()),
                permit: Some(Permit {
                    inner: Arc::clone(breaker),
                    ticket: Some(ticket),
                }),
            },
            Err(retry_after) => Kind::Rejected {
                response: Some(breaker.open_response(retry_after)),
            },
        };
        ResponseFuture { kind }
    }
}

pin_project! {
    /// Response future of [`CircuitBreakerService`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called {
            #[pin]
            future: F,
            // Made on the first poll, so building the future needs no runtime.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Option<Instant>,
            permit: Option<Permit<Arc<Inner>>>,
        },
        Rejected {
            response: Option<Response>,
        },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                future,
                mut sleep,
                deadline,
                permit,
            } => {
                if let Poll::Ready(result) = future.poll(cx) {
                    let failed = match &result {
                        Ok(response) => response.status().as_u16() >= 500,
                        Err(_) => true,
                    };
                    if let Some(permit) = permit.take() {
                        permit.finish(!failed);
                    }
                    return Poll::Ready(result);
                }
                let Some(deadline) = *deadline else {
                    return Poll::Pending;
                };
                if sleep.is_none() {
                    sleep.set(Some(tokio::time::sleep_until(deadline)));
                }
                if let Some(sleep) = sleep.as_pin_mut() {
                    ready!(sleep.poll(cx));
                }
                match permit.take() {
                    Some(permit) => {
                        let inner = Arc::clone(&permit.inner);
                        permit.finish(false);
                        Poll::Ready(Ok(inner.timeout_response()))
                    }
                    None => Poll::Ready(Ok(StatusCode::SERVICE_UNAVAILABLE.into_response())),
                }
            }
            KindProj::Rejected { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| StatusCode::SERVICE_UNAVAILABLE.into_response()))),
        }
    }
}
