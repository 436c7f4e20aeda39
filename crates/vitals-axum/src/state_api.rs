//! Readers of the running state of [`Vitals`]: the load-shedding verdict and the sampling loop's
//! health.

use crate::builder::Vitals;
use crate::pressure::Pressure;

impl Vitals {
    /// The load-shedding state, evaluated after every sample.
    #[must_use]
    pub fn pressure(&self) -> &Pressure {
        &self.shared.pressure
    }

    /// How many iterations of the sampling loop panicked (each logged; the loop carries on
    /// at the next interval, so pressure and alerts never freeze in their last state).
    #[must_use]
    pub fn sampling_panics(&self) -> u64 {
        self.shared
            .sampling_panics
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
