//! The framework-free state machine of a circuit breaker: closed, open, half-open, with the
//! admission check, the outcome bookkeeping and the call API. No HTTP here.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::error::BreakerError;
use super::snapshot::{BreakerSnapshot, BreakerState, BreakerTransition};

/// Consecutive failures that open a circuit by default.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// How long a call may run by default before it counts as failed.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a circuit stays open by default before a trial call is allowed.
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);
/// How many transitions [`CircuitBreaker::transitions`] keeps.
pub const TRANSITION_HISTORY: usize = 16;

/// A circuit breaker: fails fast while a dependency (a database, an upstream API, a route)
/// keeps failing, then probes it with one trial call. Cheap to clone; clones share the state.
///
/// A [`CircuitBreaker`] guards calls in code ([`CircuitBreaker::call`]) and, through
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer), routes. The same breaker can do both; clones share one state.
///
/// # Semantics (those of `@fastify/circuit-breaker` 4)
///
/// - **Closed**: calls run, each under `call_timeout` (default 10 s). After
///   `failure_threshold` *consecutive* failures (default 5) the circuit opens; a success resets
///   the count. A failure is an `Err`, a timeout, or, in the layer, an inner error or a response
///   status >= 500.
/// - **Open**: calls are rejected at once, without running them, with the time left until
///   `reset_timeout` (default 10 s) has passed since the circuit opened
///   ([`BreakerError::Open`], or 503 problem+json with `Retry-After` from the layer).
/// - **Half-open** (once `reset_timeout` has passed): exactly one trial call runs at a time;
///   concurrent calls are rejected as if open. The trial's success closes the circuit and zeroes
///   the count; its failure reopens it for another `reset_timeout`. A trial that is cancelled
///   (its future dropped) frees the slot for the next call. Outcomes of calls that were admitted
///   before the circuit last changed state count in the totals but do not move the state.
///
/// Differences from fastify: the move to half-open happens lazily, on the first call or
/// [`CircuitBreaker::state`] after `reset_timeout` (the transition is stamped with the time it
/// became due, so what is reported is the same as with fastify's timer). The layer answers a
/// timed-out request with 503 as soon as `call_timeout` passes and drops the handler's future,
/// where fastify waits for the slow handler to finish and then replaces its response. The open
/// response carries `Retry-After`, which fastify's does not.
///
/// # Why hand-written (no breaker crate)
///
/// Checked (2026-11): `tower-resilience-circuitbreaker` 0.14 and `failsafe` 1.3.
///
/// - **tower-resilience** is active and has the needed policy (`consecutive_failures(5)`,
///   `permitted_calls_in_half_open(1)`), but it is a tower service only: guarding a database
///   call means wrapping it in a `service_fn`. Its service changes the inner error type to
///   `CircuitBreakerError<E>` (our layers never do), boxes every call's future and takes an
///   async (`tokio::sync`) mutex on every call, even when closed. Calls have no timeout (a
///   separate time-limiter layer). Metrics are read through an `async fn` and have no
///   rejected count or open time (those come only through event callbacks). It measures with
///   `std::time::Instant`, so tests cannot run on tokio's paused clock. It also pulls in
///   `tower-resilience-core` and `futures`.
/// - **failsafe** has consecutive-failure policies and a `futures` wrapper, but lets *every*
///   call through when half-open (no single trial), has no timeout and no tower layer, locks a
///   mutex on every call, and has been quiet since July 2024.
///
/// Neither gives the fastify semantics, a dependency-call API and a route layer sharing one
/// state, and a snapshot for `/health` and `/metrics`. The state machine is small. Here, the
/// closed-state admission check is one atomic load (state and epoch packed in one `u64`).
/// Outcomes cost an atomic add or two. The mutex is taken only when the state is not closed,
/// and when a failure reaches the threshold.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use vitals_axum::{BreakerError, BreakerRegistry, CircuitBreaker, CircuitBreakerLayer};
///
/// # async fn run() {
/// let registry = BreakerRegistry::new();
/// let db = registry.register(
///     CircuitBreaker::new("database").failure_threshold(3).call_timeout(Duration::from_secs(2)),
/// );
/// let upstream = registry.register(CircuitBreaker::new("GET /api/report"));
///
/// // Guarding a dependency call.
/// let rows: Result<u32, BreakerError<std::io::Error>> = db.call(async { Ok(42) }).await;
/// assert_eq!(rows.unwrap(), 42);
///
/// // Guarding a route.
/// let app: Router = Router::new()
///     .route("/api/report", get(|| async { "report" }))
///     .route_layer(CircuitBreakerLayer::new(upstream));
///
/// // For `/health` and `/metrics`.
/// let snapshots = registry.snapshots();
/// assert_eq!(snapshots.len(), 2);
/// # let _ = app;
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) name: Box<str>,
    /// `epoch << 2 | state`. Written only with `guarded` held; the epoch grows on every
    /// transition, so an outcome can tell whether the state changed since its call began.
    pub(super) word: AtomicU64,
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
pub(super) struct Guarded {
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
pub(super) enum Ticket {
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
pub(super) fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl Inner {
    pub(super) fn lock(&self) -> MutexGuard<'_, Guarded> {
        self.guarded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_word(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }

    fn threshold(&self) -> u32 {
        self.failure_threshold.load(Ordering::Relaxed)
    }

    pub(super) fn call_timeout(&self) -> Duration {
        Duration::from_nanos(self.call_timeout_nanos.load(Ordering::Relaxed))
    }

    fn reset_timeout(&self) -> Duration {
        Duration::from_nanos(self.reset_timeout_nanos.load(Ordering::Relaxed))
    }

    /// Admits a call, or says how long until one may be admitted.
    #[inline]
    pub(super) fn acquire(&self) -> Result<Ticket, Duration> {
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

    pub(super) fn open_remaining(&self, g: &Guarded, now: Instant) -> Duration {
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
}

/// An admitted call; abandons its ticket if dropped before an outcome is recorded.
pub(super) struct Permit<P: Deref<Target = Inner>> {
    pub(super) inner: P,
    pub(super) ticket: Option<Ticket>,
}

impl<P: Deref<Target = Inner>> Permit<P> {
    pub(super) fn finish(mut self, success: bool) {
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

    /// Runs `f` through the breaker; see the [`CircuitBreaker`] docs for the states.
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
