//! Budgets evaluated from the store once a flush: the latest verdicts for
//! `/health/performance/budgets` and `/metrics`, the page and ticket conditions for the alert
//! engine, and the engine's transitions kept for the store's alert history.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use vitals::MetricFamily;
use vitals_store::budget::{Budget, BudgetStatus, Status, evaluate_scaled};
use vitals_store::{AlertTransition, MAX_ALERTS_PER_BATCH, Store, Transition};

use super::lock;

/// The latest evaluation.
#[derive(Debug, Default, Clone)]
pub(crate) struct Evaluation {
    /// Unix minute evaluated at.
    pub(crate) at_minute: i64,
    /// One per budget, in configuration order.
    pub(crate) statuses: Vec<BudgetStatus>,
}

/// The configured budgets and their latest verdicts.
#[derive(Debug, Default)]
pub(crate) struct BudgetBoard {
    budgets: Vec<Budget>,
    /// Divides the burn-rate windows (1: the real ones; see `VitalsBuilder::budget_window_scale`).
    window_scale: u32,
    latest: Mutex<Option<Evaluation>>,
    /// The latest page and ticket conditions, for the alert engine.
    conditions: Mutex<Vec<vitals::AlertCondition>>,
    /// Status changes not yet written (bounded: [`MAX_ALERTS_PER_BATCH`]).
    transitions: Mutex<Vec<AlertTransition>>,
}

fn severity(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Ticket => "ticket",
        Status::Page => "page",
    }
}

impl BudgetBoard {
    pub(crate) fn new(budgets: Vec<Budget>, window_scale: u32) -> Self {
        Self {
            budgets,
            window_scale: window_scale.max(1),
            ..Self::default()
        }
    }

    /// The configured budgets.
    pub(crate) fn budgets(&self) -> &[Budget] {
        &self.budgets
    }

    /// The latest evaluation, if any.
    pub(crate) fn latest(&self) -> Option<Evaluation> {
        lock(&self.latest).clone()
    }

    /// Queues transitions for the next write, keeping the newest [`MAX_ALERTS_PER_BATCH`].
    fn push_transitions(&self, changes: impl IntoIterator<Item = AlertTransition>) {
        let mut pending = lock(&self.transitions);
        pending.extend(changes);
        let excess = pending.len().saturating_sub(MAX_ALERTS_PER_BATCH);
        pending.drain(..excess);
    }

    /// Queues the alert engine's transitions for the next write (the id is the rule and when
    /// the alert started firing, the same from fire to resolve).
    pub(crate) fn record_alerts(&self, transitions: &[vitals::AlertTransition]) {
        if transitions.is_empty() {
            return;
        }
        let unix_ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        self.push_transitions(transitions.iter().map(|t| AlertTransition {
            id: format!("{}:{}", t.alert.type_, unix_ms(t.alert.firing_since)),
            rule: t.alert.type_.clone(),
            severity: t.alert.severity.as_str().to_owned(),
            transition: match t.kind {
                vitals::AlertTransitionKind::Fired => Transition::Fired,
                vitals::AlertTransitionKind::Escalated => Transition::Escalated,
                vitals::AlertTransitionKind::Resolved => Transition::Resolved,
            },
            at_ms: unix_ms(t.alert.resolved_at.unwrap_or(t.alert.timestamp)),
        }));
    }

    /// The status changes since the last call.
    pub(crate) fn take_transitions(&self) -> Vec<AlertTransition> {
        std::mem::take(&mut *lock(&self.transitions))
    }

    /// Evaluates every budget at unix minute `now` (burn-rate windows divided by the board's
    /// window scale), keeps the verdicts and the page and ticket conditions the sampling loop
    /// hands to the alert engine (whose transitions are what the store records), and logs
    /// each change of status; a failure is logged and keeps the last verdicts. Blocking.
    pub(crate) fn evaluate(&self, store: &Store, now: i64) {
        if self.budgets.is_empty() {
            return;
        }
        let statuses = match evaluate_scaled(store, &self.budgets, now, self.window_scale) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "budgets: evaluation failed");
                return;
            }
        };
        let before: HashMap<String, Status> = lock(&self.latest)
            .as_ref()
            .map(|e| {
                e.statuses
                    .iter()
                    .map(|s| (s.name.clone(), s.status))
                    .collect()
            })
            .unwrap_or_default();
        for s in &statuses {
            if before.get(&s.name).copied().unwrap_or(Status::Ok) == s.status {
                continue;
            }
            let sli = s.sli.map_or_else(|| "-".to_owned(), |v| format!("{v:.5}"));
            if s.status == Status::Ok {
                tracing::info!(budget = %s.name, "budget recovered: burn rates back under the thresholds");
            } else {
                tracing::warn!(
                    budget = %s.name,
                    status = severity(s.status),
                    sli = %sli,
                    remaining = s.error_budget_remaining,
                    "budget burning too fast"
                );
            }
        }
        *lock(&self.conditions) = super::alerts::conditions(&statuses);
        *lock(&self.latest) = Some(Evaluation {
            at_minute: now,
            statuses,
        });
    }

    /// The page and ticket conditions of the latest evaluation (empty before the first).
    pub(crate) fn conditions(&self) -> Vec<vitals::AlertCondition> {
        lock(&self.conditions).clone()
    }

    /// `vitals_budget_burn_rate{budget,window}`, `vitals_budget_remaining_ratio{budget}`,
    /// `vitals_budget_sli_ratio{budget}` and `vitals_budget_status{budget,status}` (1 for the
    /// current one). Empty before the first evaluation.
    pub(crate) fn families(&self) -> Vec<MetricFamily> {
        let Some(latest) = self.latest() else {
            return Vec::new();
        };
        let mut burn = MetricFamily::gauge(
            "vitals_budget_burn_rate",
            "Error-budget burn rate of each budget over each window (1 spends the budget exactly over its period).",
        );
        let mut remaining = MetricFamily::gauge(
            "vitals_budget_remaining_ratio",
            "Error budget left over the budget's window: 1 untouched, 0 spent, negative overspent.",
        );
        let mut sli = MetricFamily::gauge(
            "vitals_budget_sli_ratio",
            "Good events over all events in the budget's window.",
        );
        let mut status = MetricFamily::gauge(
            "vitals_budget_status",
            "1 for each budget's current status (ok, ticket, page), else 0.",
        );
        for s in &latest.statuses {
            for b in &s.burn_rates {
                burn.push(
                    vec![("budget", s.name.clone()), ("window", b.window.clone())],
                    b.rate,
                );
            }
            remaining.push(vec![("budget", s.name.clone())], s.error_budget_remaining);
            if let Some(v) = s.sli {
                sli.push(vec![("budget", s.name.clone())], v);
            }
            for st in [Status::Ok, Status::Ticket, Status::Page] {
                status.push(
                    vec![
                        ("budget", s.name.clone()),
                        ("status", severity(st).to_owned()),
                    ],
                    f64::from(u8::from(st == s.status)),
                );
            }
        }
        vec![burn, remaining, sli, status]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vitals::{AlertEngine, AlertThresholds, Level, Signals};

    use super::*;

    #[test]
    fn alert_transitions_are_kept_for_the_store_with_one_id_from_fire_to_resolve() {
        let board = BudgetBoard::new(Vec::new(), 1);
        let mut engine = AlertEngine::new(
            AlertThresholds::default()
                .rss(Level::OFF)
                .heap(Level::mib(600, 1000)),
        );
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut signals = Signals::new(t0);
        signals.heap_bytes = Some(650 * 1024 * 1024);
        board.record_alerts(&engine.evaluate(&signals));
        signals.at = t0 + Duration::from_secs(5);
        signals.heap_bytes = Some(1_100 * 1024 * 1024);
        board.record_alerts(&engine.evaluate(&signals));
        signals.at = t0 + Duration::from_secs(10);
        signals.heap_bytes = Some(100 * 1024 * 1024);
        board.record_alerts(&engine.evaluate(&signals));

        let kept = board.take_transitions();
        let kinds: Vec<_> = kept.iter().map(|t| t.transition).collect();
        assert_eq!(
            kinds,
            [
                Transition::Fired,
                Transition::Escalated,
                Transition::Resolved
            ]
        );
        assert!(
            kept.iter()
                .all(|t| t.id == kept[0].id && t.rule == "memory")
        );
        assert_eq!(kept[0].severity, "warning");
        assert_eq!(kept[1].severity, "critical");
        assert_eq!(
            kept[2].at_ms, 1_800_000_010_000,
            "resolved when the alert resolved"
        );
        assert!(board.take_transitions().is_empty(), "taken once");
    }

    #[test]
    fn pending_transitions_are_bounded() {
        let board = BudgetBoard::new(Vec::new(), 1);
        let one = |i: usize| AlertTransition {
            id: format!("a{i}"),
            rule: "memory".to_owned(),
            severity: "warning".to_owned(),
            transition: Transition::Fired,
            at_ms: 0,
        };
        board.push_transitions((0..MAX_ALERTS_PER_BATCH + 5).map(one));
        let kept = board.take_transitions();
        assert_eq!(kept.len(), MAX_ALERTS_PER_BATCH);
        assert_eq!(kept[0].id, "a5", "the oldest go first");
    }
}
