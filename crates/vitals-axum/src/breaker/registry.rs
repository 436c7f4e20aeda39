//! [`BreakerRegistry`]: the breakers of an app, for `/health`, `/metrics` and the dashboard.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::snapshot::BreakerSnapshot;
use super::state::CircuitBreaker;

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
