//! What a breaker reports: its state changes and its snapshot for `/health` and `/metrics`.

use std::fmt;
use std::time::SystemTime;

use serde::{Serialize, Serializer};

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

    pub(super) const fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }

    pub(super) const fn from_word(word: u64) -> Self {
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

/// A state change, as kept by [`CircuitBreaker::transitions`](crate::CircuitBreaker::transitions).
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
