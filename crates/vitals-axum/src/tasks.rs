//! The background tasks of a [`Vitals`](crate::Vitals): the once-a-second maintenance of the
//! monitor, and the sampling loop (sample the system, re-evaluate the pressure, then the
//! alerts). Both stop when the last clone of their [`Shared`] is dropped.

use std::panic::AssertUnwindSafe;
#[cfg(feature = "history")]
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
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
    #[cfg(feature = "history")]
    if let Some(state) = shared.upgrade() {
        if let Some(store) = state.history.store() {
            let weak = shared.clone();
            state
                .history
                .active
                .start(Arc::clone(store), move |transitions| {
                    // Evidence at delivery, once the active set is written (as below).
                    let Some(state) = weak.upgrade() else { return };
                    let artifacts = crate::alert_hook::run(&state.alert_hooks, &transitions, |a| {
                        state.alert_id(a)
                    });
                    #[cfg(feature = "notify")]
                    if let Some(delivery) = &state.notify {
                        delivery.deliver(&state.service, &transitions, &artifacts);
                    }
                    #[cfg(not(feature = "notify"))]
                    drop((transitions, artifacts));
                });
        }
    }
    tokio::spawn(guarded_loop(
        shared,
        interval,
        |state: &Shared| &state.sampling_panics,
        |state: &Shared| {
            let snapshot = state.sampler.sample_now();
            state.pressure.evaluate(&snapshot);
            let signals = signals(state);
            let (transitions, active) = {
                let mut engine = state
                    .alerts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                #[allow(unused_mut)]
                let mut transitions = engine.evaluate(&signals);
                // The budgets' burn-rate alerts, judged at the last history flush.
                #[cfg(feature = "history")]
                transitions.extend(
                    engine.evaluate_conditions(signals.at, &state.history.budgets.conditions()),
                );
                let active = if transitions.is_empty() {
                    Vec::new()
                } else {
                    engine.active()
                };
                (transitions, active)
            };
            // Kept for the next history write (bounded; the write runs on a blocking thread).
            #[cfg(feature = "history")]
            state.history.budgets.record_alerts(&transitions);
            // The active set is written before the transitions are delivered (see
            // `history::active`); without a store they are delivered now.
            #[cfg(feature = "history")]
            let transitions = if transitions.is_empty() {
                transitions
            } else {
                let rows = crate::alert_state::rows(state, &active);
                state
                    .history
                    .active
                    .save(rows, transitions)
                    .unwrap_or_default()
            };
            #[cfg(not(feature = "history"))]
            drop(active);
            // Evidence for the transitions delivered now (the hooks spawn their work and
            // answer links).
            let artifacts =
                crate::alert_hook::run(&state.alert_hooks, &transitions, |a| state.alert_id(a));
            // Queues only (bounded, never blocks): delivery runs in the notifier's own tasks.
            #[cfg(feature = "notify")]
            if let Some(delivery) = &state.notify {
                delivery.deliver(&state.service, &transitions, &artifacts);
            }
            #[cfg(not(feature = "notify"))]
            drop(artifacts);
            #[cfg(not(feature = "notify"))]
            drop(transitions);
        },
    ));
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

/// Every `interval` (the first tick skipped: the caller took the first sample) until `shared`
/// is dropped, runs `step`; a step that panics is logged and counted in `panics` and the next
/// interval runs as usual (the step holds no lock across the panic that others would wait on:
/// the alert engine's mutex is poison-tolerant).
async fn guarded_loop<T>(
    shared: Weak<T>,
    interval: Duration,
    panics: impl Fn(&T) -> &AtomicU64,
    step: impl Fn(&T),
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // immediate
    loop {
        tick.tick().await;
        let Some(state) = shared.upgrade() else { break };
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| step(&state))) {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panics(&state).fetch_add(1, Ordering::Relaxed);
            tracing::error!(panic = %message, "vitals sampling step panicked; next interval runs");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default)]
    struct Counters {
        steps: AtomicU64,
        panics: AtomicU64,
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_step_is_counted_and_the_next_interval_runs() {
        let shared = Arc::new(Counters::default());
        let task = tokio::spawn(guarded_loop(
            Arc::downgrade(&shared),
            Duration::from_secs(1),
            |c: &Counters| &c.panics,
            |c: &Counters| {
                let n = c.steps.fetch_add(1, Ordering::Relaxed) + 1;
                assert!(n != 2, "step {n} fails");
            },
        ));
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(shared.panics.load(Ordering::Relaxed), 1);
        assert!(
            shared.steps.load(Ordering::Relaxed) >= 4,
            "the loop went on after the panic"
        );
        drop(shared);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            task.is_finished(),
            "the loop stops when its state is dropped"
        );
    }
}
