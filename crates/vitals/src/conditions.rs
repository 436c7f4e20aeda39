//! Alerts on conditions the caller judges itself (a performance budget burning too fast, for
//! example), fired, escalated and resolved by the same [`AlertEngine`] as its own rules, so
//! they are listed, recorded and notified the same way.

use std::time::SystemTime;

use crate::alerts::{Alert, AlertEngine, AlertTransition, AlertTransitionKind};
use crate::thresholds::{Rule, Severity};

/// Most condition alerts active at once.
pub const MAX_CONDITION_ALERTS: usize = 256;

/// A condition judged by the caller.
///
/// An [`AlertCondition`] names its alert (`type`), says whether it holds and at which
/// severity, with a message, a value and a threshold. [`AlertEngine::evaluate_conditions`]
/// compares it with the alert of that name:
///
/// - holds and no alert: **fired**; holds at a higher severity: **escalated**; holds at a
///   lower one: de-escalated (no transition); holds at the same: the value and message are
///   updated;
/// - does not hold (`severity: None`) and an alert is active: **resolved**;
/// - a name the engine's own rules use (`memory`, `latency`, ...) is ignored, and a name
///   absent from the list is left as it is (not measured this time, as a `None` signal).
///
/// The caller decides the hysteresis (a burn-rate pair's short window is one). At most
/// [`MAX_CONDITION_ALERTS`] condition alerts are active at once; a condition that would fire
/// beyond them is not fired until one resolves, so the engine stays bounded whatever names it
/// is given.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use vitals::{AlertCondition, AlertEngine, AlertTransitionKind, Severity};
///
/// let mut engine = AlertEngine::default();
/// let t0 = SystemTime::now();
/// let mut page = AlertCondition::new("budgetPage:checkout");
/// page.severity = Some(Severity::Critical);
/// page.message = "Budget checkout burns 20x its budget".into();
/// page.value = 20.0;
/// page.threshold = 14.4;
/// let fired = engine.evaluate_conditions(t0, &[page.clone()]);
/// assert_eq!(fired[0].kind, AlertTransitionKind::Fired);
/// assert_eq!(engine.active()[0].type_, "budgetPage:checkout");
///
/// page.severity = None;
/// let resolved = engine.evaluate_conditions(t0 + Duration::from_secs(60), &[page]);
/// assert_eq!(resolved[0].kind, AlertTransitionKind::Resolved);
/// assert!(engine.active().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCondition {
    /// The alert's name (its `type`), e.g. `budgetPage:checkout`.
    pub type_: String,
    /// The severity it holds at; `None`: it does not hold.
    pub severity: Option<Severity>,
    /// Human-readable summary.
    pub message: String,
    /// The value judged.
    pub value: f64,
    /// The threshold it was judged against.
    pub threshold: f64,
}

impl AlertCondition {
    /// A condition named `type_` that does not hold (severity `None`, value 0, no threshold).
    #[must_use]
    pub fn new(type_: impl Into<String>) -> Self {
        Self {
            type_: type_.into(),
            severity: None,
            message: String::new(),
            value: 0.0,
            threshold: f64::NAN,
        }
    }
}

impl AlertEngine {
    /// Puts active alerts a previous process persisted back in place, so they survive a
    /// restart: an alert still firing at the next [`evaluate`](Self::evaluate) is held without
    /// a new `Fired` transition (no second page), and one that no longer holds resolves with
    /// its original `firing_since` (the same alert instance, so the same notification id).
    ///
    /// An alert of one of the engine's rules goes to that rule's place unless it is taken;
    /// any other `type` becomes a condition alert (see
    /// [`evaluate_conditions`](Self::evaluate_conditions)), up to
    /// [`MAX_CONDITION_ALERTS`]. Resolved alerts and duplicates
    /// are skipped. Returns how many were restored. Call it before the first evaluation.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use vitals::{AlertEngine, AlertTransitionKind, Signals};
    ///
    /// let t0 = SystemTime::now();
    /// let mut before = AlertEngine::default();
    /// let mut s = Signals::new(t0);
    /// s.heap_bytes = Some(2 << 30);
    /// before.evaluate(&s);
    /// // ... the process restarts ...
    /// let mut after = AlertEngine::default();
    /// assert_eq!(after.restore(before.active()), 1);
    /// s.at = t0 + Duration::from_secs(5);
    /// assert!(after.evaluate(&s).is_empty(), "still firing: no new page");
    /// s.heap_bytes = Some(1 << 20);
    /// let resolved = after.evaluate(&s);
    /// assert_eq!(resolved[0].kind, AlertTransitionKind::Resolved);
    /// assert_eq!(resolved[0].alert.firing_since, t0);
    /// ```
    pub fn restore(&mut self, alerts: impl IntoIterator<Item = Alert>) -> usize {
        let mut restored = 0;
        for alert in alerts {
            if !alert.is_active() {
                continue;
            }
            if let Some(rule) = Rule::ALL.iter().find(|r| r.kind() == alert.type_) {
                let slot = &mut self.active[*rule as usize];
                if slot.is_none() {
                    *slot = Some(alert);
                    restored += 1;
                }
            } else if self.conditions.len() < MAX_CONDITION_ALERTS
                && !self.conditions.iter().any(|a| a.type_ == alert.type_)
            {
                self.conditions.push(alert);
                restored += 1;
            }
        }
        restored
    }

    /// Judges `conditions` at `at` and returns the transitions they caused; see the
    /// [`AlertCondition`](crate::AlertCondition) docs.
    pub fn evaluate_conditions(
        &mut self,
        at: SystemTime,
        conditions: &[AlertCondition],
    ) -> Vec<AlertTransition> {
        let mut transitions = Vec::new();
        for c in conditions {
            if Rule::ALL.iter().any(|r| r.kind() == c.type_) {
                continue;
            }
            let index = self.conditions.iter().position(|a| a.type_ == c.type_);
            match (index, c.severity) {
                (None, None) => {}
                (Some(i), None) => {
                    let alert = self.conditions.remove(i);
                    transitions.push(Self::retire(&mut self.resolved, alert, at));
                }
                (None, Some(severity)) => {
                    if self.conditions.len() >= MAX_CONDITION_ALERTS {
                        continue;
                    }
                    let alert = Alert {
                        type_: c.type_.clone(),
                        severity,
                        message: c.message.clone(),
                        value: c.value,
                        threshold: c.threshold,
                        timestamp: at,
                        firing_since: at,
                        resolved_at: None,
                    };
                    self.conditions.push(alert.clone());
                    transitions.push(AlertTransition {
                        kind: AlertTransitionKind::Fired,
                        alert,
                    });
                }
                (Some(i), Some(severity)) => {
                    let alert = &mut self.conditions[i];
                    let escalated = severity > alert.severity;
                    alert.severity = severity;
                    c.message.clone_into(&mut alert.message);
                    alert.value = c.value;
                    alert.threshold = c.threshold;
                    alert.timestamp = at;
                    if escalated {
                        transitions.push(AlertTransition {
                            kind: AlertTransitionKind::Escalated,
                            alert: alert.clone(),
                        });
                    }
                }
            }
        }
        transitions
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::signals::Signals;
    use crate::thresholds::{AlertThresholds, Level};
    use AlertTransitionKind::{Escalated, Fired, Resolved};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn holds(name: &str, severity: Option<Severity>, value: f64) -> AlertCondition {
        AlertCondition {
            severity,
            value,
            threshold: 14.4,
            message: format!("{name} at {value}"),
            ..AlertCondition::new(name)
        }
    }

    fn kinds(t: &[AlertTransition]) -> Vec<(&str, AlertTransitionKind, Severity)> {
        t.iter()
            .map(|t| (t.alert.type_.as_str(), t.kind, t.alert.severity))
            .collect()
    }

    #[test]
    fn fire_escalate_deescalate_resolve() {
        let mut e = AlertEngine::default();
        let w = Some(Severity::Warning);
        let c = Some(Severity::Critical);
        assert!(
            e.evaluate_conditions(at(0), &[holds("a", None, 1.0)])
                .is_empty()
        );
        let t = e.evaluate_conditions(at(5), &[holds("a", w, 3.0), holds("b", None, 0.0)]);
        assert_eq!(kinds(&t), [("a", Fired, Severity::Warning)]);
        assert!(
            e.evaluate_conditions(at(10), &[holds("a", w, 4.0)])
                .is_empty()
        );
        assert_eq!(e.active()[0].value, 4.0);
        let t = e.evaluate_conditions(at(15), &[holds("a", c, 20.0)]);
        assert_eq!(kinds(&t), [("a", Escalated, Severity::Critical)]);
        assert_eq!(t[0].alert.firing_since, at(5));
        assert!(
            e.evaluate_conditions(at(20), &[holds("a", w, 5.0)])
                .is_empty()
        );
        assert_eq!(e.active()[0].severity, Severity::Warning);
        // Absent from the list: not measured, unchanged.
        assert!(e.evaluate_conditions(at(25), &[]).is_empty());
        assert_eq!(e.active().len(), 1);
        let t = e.evaluate_conditions(at(30), &[holds("a", None, 0.5)]);
        assert_eq!(kinds(&t), [("a", Resolved, Severity::Warning)]);
        assert_eq!(t[0].alert.resolved_at, Some(at(30)));
        assert_eq!(t[0].alert.firing_since, at(5));
        assert!(e.active().is_empty());
        assert_eq!(e.recently_resolved()[0].type_, "a");
    }

    #[test]
    fn conditions_sit_beside_the_rules_and_cannot_take_their_names() {
        let mut e = AlertEngine::new(AlertThresholds::default().heap(Level::mib(600, 1000)));
        let mut s = Signals::new(at(0));
        s.heap_bytes = Some(700 * 1024 * 1024);
        e.evaluate(&s);
        let t = e.evaluate_conditions(
            at(0),
            &[
                holds("memory", None, 0.0),
                holds("budgetPage:x", Some(Severity::Critical), 20.0),
            ],
        );
        assert_eq!(kinds(&t), [("budgetPage:x", Fired, Severity::Critical)]);
        let names: Vec<String> = e.active().into_iter().map(|a| a.type_).collect();
        assert_eq!(names, ["budgetPage:x", "memory"], "critical first");
        // The rules' evaluation leaves condition alerts alone.
        s.heap_bytes = Some(10);
        let t = e.evaluate(&s);
        assert_eq!(kinds(&t), [("memory", Resolved, Severity::Warning)]);
        assert_eq!(e.active().len(), 1);
    }

    #[test]
    fn condition_alerts_are_bounded() {
        let mut e = AlertEngine::default();
        let many: Vec<AlertCondition> = (0..MAX_CONDITION_ALERTS + 10)
            .map(|i| holds(&format!("c{i}"), Some(Severity::Warning), 1.0))
            .collect();
        let t = e.evaluate_conditions(at(0), &many);
        assert_eq!(t.len(), MAX_CONDITION_ALERTS);
        assert_eq!(e.active().len(), MAX_CONDITION_ALERTS);
        // One resolves: the next one may fire.
        let t = e.evaluate_conditions(
            at(5),
            &[holds("c0", None, 0.0), many[MAX_CONDITION_ALERTS].clone()],
        );
        assert_eq!(t.len(), 2);
        assert_eq!(e.active().len(), MAX_CONDITION_ALERTS);
    }
}
