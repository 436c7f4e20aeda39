//! [`BreakerError`]: why a guarded call did not return its value.

use std::fmt;
use std::time::Duration;

/// Why [`CircuitBreaker::call`](crate::CircuitBreaker::call) did not return the call's value.
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
