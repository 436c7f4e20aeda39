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

/// Writes the history (see [`crate::history`]) with the latest system snapshot. Blocking.
#[cfg(feature = "history")]
pub(crate) fn flush_history(shared: &Shared, include_current: bool) {
    let system = shared
        .sampler
        .history()
        .latest()
        .map(|s| vitals_store::SystemPoint::from(&s));
    shared
        .history
        .flush(&shared.monitor, system, include_current);
}

/// Until `shared` is dropped, writes the history on a blocking thread: with an interval of a
/// minute or more, one second after each monitor minute ends (so `kill -9` loses at most the
/// minute in progress), full minutes only; with a shorter interval, every interval, the
/// minute in progress in parts.
#[cfg(feature = "history")]
pub(crate) fn spawn_history(shared: Weak<Shared>) {
    let Some(interval) = shared
        .upgrade()
        .filter(|s| s.history.store().is_some())
        .map(|s| s.history.flush_interval)
    else {
        return;
    };
    let include_current = interval < Duration::from_secs(60);
    tokio::spawn(async move {
        loop {
            let wait = match shared.upgrade() {
                Some(s) if !include_current => {
                    let into_minute = s.monitor.uptime().as_millis() % 60_000;
                    let into_minute = u64::try_from(into_minute).unwrap_or(0);
                    Duration::from_millis(60_000 - into_minute + 1_000)
                }
                Some(_) => interval,
                None => break,
            };
            tokio::time::sleep(wait).await;
            let Some(state) = shared.upgrade() else { break };
            let _ =
                tokio::task::spawn_blocking(move || flush_history(&state, include_current)).await;
        }
    });
}
