//! The circuit-breaker middleware: `state` (the framework-free state machine behind
//! [`CircuitBreaker`]), `error`, `snapshot` and `registry` (what it reports), and
//! [`CircuitBreakerLayer`], [`CircuitBreakerService`] and [`ResponseFuture`] for routes.

mod error;
mod future;
mod layer;
mod registry;
mod service;
mod snapshot;
mod state;

pub use error::BreakerError;
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use registry::BreakerRegistry;
pub use service::CircuitBreakerService;
pub use snapshot::{BreakerSnapshot, BreakerState, BreakerTransition};
pub use state::{
    CircuitBreaker, DEFAULT_CALL_TIMEOUT, DEFAULT_FAILURE_THRESHOLD, DEFAULT_RESET_TIMEOUT,
    TRANSITION_HISTORY,
};
