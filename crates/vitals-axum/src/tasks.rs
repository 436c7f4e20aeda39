//! The background tasks of a [`Vitals`](crate::Vitals): the once-a-second maintenance of the
//! monitor, and the sampling loop (sample the system, re-evaluate the pressure, then the
//! alerts). Both stop when the last clone of their [`Shared`] is dropped.

use std::sync::Weak;
use std::time::Duration;

use crate::report::signals;
use crate::shared::Shared;

/// Once a second until `shared` is dropped: the monitor's maintenance (the one-minute slots
/// the next minute will use).
pub(crate) fn spawn_maintenance(shared: Weak<Shared>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(shared) = shared.upgrade() else {
                break;
            };
            shared.monitor.maintain();
        }
    });
}

/// Every sample interval until `shared` is dropped: samples the system, re-evaluates the
/// pressure (so shedding starts and stops within one interval of a crossing), then the alerts.
pub(crate) fn spawn_sampling(shared: Weak<Shared>) {
    let Some(interval) = shared.upgrade().map(|s| s.sampler.history().interval()) else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // immediate; build() took the first sample
        loop {
            tick.tick().await;
            let Some(state) = shared.upgrade() else { break };
            let snapshot = state.sampler.sample_now();
            state.pressure.evaluate(&snapshot);
            let signals = signals(&state);
            let transitions = state
                .alerts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .evaluate(&signals);
            // Queues only (bounded, never blocks): delivery runs in the notifier's own tasks.
            #[cfg(feature = "notify")]
            if let Some(delivery) = &state.notify {
                delivery.deliver(&state.service, &transitions);
            }
            #[cfg(not(feature = "notify"))]
            drop(transitions);
        }
    });
}
