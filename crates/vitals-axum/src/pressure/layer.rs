//! [`PressureLayer`]: applies the load shedding of a [`Pressure`] to a service.

use tower::Layer;

use super::service::PressureService;
use super::state::Pressure;

/// Sheds requests while its [`Pressure`] is over a threshold (applies [`PressureService`]).
#[derive(Debug, Clone)]
pub struct PressureLayer {
    pub(super) pressure: Pressure,
}

impl PressureLayer {
    /// Sheds according to `pressure`.
    #[must_use]
    pub fn new(pressure: Pressure) -> Self {
        Self { pressure }
    }
}

impl<S> Layer<S> for PressureLayer {
    type Service = PressureService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PressureService {
            inner,
            pressure: self.pressure.clone(),
        }
    }
}
