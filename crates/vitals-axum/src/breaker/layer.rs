//! [`CircuitBreakerLayer`]: applies a [`CircuitBreaker`] to a service.

use tower::Layer;

use super::service::CircuitBreakerService;
use super::state::CircuitBreaker;

/// Guards a service with a [`CircuitBreaker`] (applies [`CircuitBreakerService`]).
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

impl<S> CircuitBreakerService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer::new(breaker).layer(inner)
    }
}
