//! Alerts: warning and critical [`AlertThresholds`], and an [`AlertEngine`] that fires, escalates,
//! de-escalates and resolves [`Alert`]s with hysteresis.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::signals::Signals;
use crate::thresholds::{AlertThresholds, Rule, Severity, hold};
use crate::units::{rfc3339, rfc3339_opt};

/// How many resolved alerts [`AlertEngine`] keeps.
pub const RESOLVED_CAPACITY: usize = 50;

/// An alert: `{type, severity, message, value, threshold, timestamp}` plus its
/// lifecycle (`firingSince`, `resolvedAt`). Serialized camelCase, times in RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Rule: `memory` (heap), `rss`, `latency`, `errorRate`, `runtime` (busy ratio) or
    /// `schedulingDelay`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Current severity (the last one, for a resolved alert).
    pub severity: Severity,
    /// Human-readable summary, e.g. `High memory usage: 650 MiB`.
    pub message: String,
    /// Latest value in the rule's unit (see [`AlertEngine`]).
    pub value: f64,
    /// Threshold of the current severity, in the same unit.
    pub threshold: f64,
    /// When `value` was observed.
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: SystemTime,
    /// When the alert fired (kept across escalation and de-escalation).
    #[serde(serialize_with = "rfc3339")]
    pub firing_since: SystemTime,
    /// When the alert resolved; absent while active.
    #[serde(
        serialize_with = "rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolved_at: Option<SystemTime>,
}

impl Alert {
    /// Whether the alert is still active.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// How long the alert has been (or was) firing, as of `now` for an active alert.
    #[must_use]
    pub fn firing_for(&self, now: SystemTime) -> Duration {
        self.resolved_at
            .unwrap_or(now)
            .duration_since(self.firing_since)
            .unwrap_or(Duration::ZERO)
    }
}

/// What happened to an alert at one [`AlertEngine::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertTransitionKind {
    /// The alert started firing (at warning or straight at critical).
    Fired,
    /// An active warning became critical.
    Escalated,
    /// The alert stopped firing (its `resolved_at` is set).
    Resolved,
}

/// One alert's transition at one evaluation: the kind and the alert as it is after it.
///
/// ```
/// use std::time::SystemTime;
/// use vitals::{AlertEngine, AlertThresholds, AlertTransitionKind, Level, Signals};
///
/// let mut engine = AlertEngine::new(AlertThresholds::default().heap(Level::mib(600, 1000)));
/// let mut signals = Signals::new(SystemTime::now());
/// signals.heap_bytes = Some(650 * 1024 * 1024);
/// let changes = engine.evaluate(&signals);
/// assert_eq!(changes[0].kind, AlertTransitionKind::Fired);
/// assert_eq!(changes[0].alert.type_, "memory");
/// assert!(engine.evaluate(&signals).is_empty()); // still firing: no transition
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertTransition {
    /// What happened.
    pub kind: AlertTransitionKind,
    /// The alert after the transition (`resolved_at` set on `Resolved`).
    pub alert: Alert,
}

/// Fires, escalates and resolves [`Alert`]s.
///
/// # Rules
///
/// One rule per measured signal of [`Signals`]; an alert's `type` names its rule. Values and
/// thresholds of an alert are in the rule's display unit:
///
/// | `type` | signal | unit | warning | critical |
/// | --- | --- | --- | --- | --- |
/// | `memory` | live heap bytes | MiB | 512 MiB | 1024 MiB |
/// | `rss` | resident set size | MiB | 1100 MiB | 1300 MiB |
/// | `latency` | p95 over 5 min | ms | 1000 ms | 2000 ms |
/// | `errorRate` | error rate over 5 min | percent | 5% | 10% |
/// | `runtime` | runtime busy ratio | percent | 90% | 98% |
/// | `schedulingDelay` | scheduling delay p99 | ms | 50 ms | 200 ms |
///
/// **MB means MiB** (1024 × 1024 bytes) in every threshold, value and message, as in
/// [`LeakDetector`](crate::LeakDetector).
///
/// A rule fires when its value is strictly greater than a threshold (as `under-pressure`
/// trips). The `errorRate` rule needs at least [`AlertThresholds::error_rate_min_requests`]
/// requests in the window (default 20) to fire or escalate, so that one failure out of two
/// requests does not page anyone; with fewer requests an active alert can still calm down or
/// resolve. A rule whose warning and critical thresholds are both `None` is off.
///
/// # Lifecycle
///
/// [`AlertEngine::evaluate`] runs every rule against fresh [`Signals`]:
///
/// - **Fire:** the value rises above the warning (or straight above the critical) threshold.
///   The alert becomes active with `firingSince` set to the signals' time.
/// - **Escalate:** an active warning whose value rises above the critical threshold becomes
///   critical; `firingSince` is kept.
/// - **De-escalate, resolve (hysteresis):** an alert keeps its severity while the value stays
///   at or above that severity's threshold minus a margin, [`AlertThresholds::hysteresis`] × the
///   threshold (default 10%: a warning at 512 MiB holds down to 460.8 MiB). Below it, a
///   critical alert becomes a warning (if the value still holds the warning level) or
///   resolves; a warning resolves. So a value hovering around a threshold fires once and stays
///   active instead of flapping.
/// - **Resolved** alerts get `resolvedAt` and move to a list of the last
///   [`RESOLVED_CAPACITY`] (50), newest first. They keep the value, severity and message they
///   last fired with.
/// - **Transitions:** `evaluate` returns what changed, as [`AlertTransition`]s: `Fired`,
///   `Escalated` (warning to critical) and `Resolved`, in the order of the rules table. A
///   de-escalation or a new value of an active alert is not a transition. The alert in a
///   transition is a copy taken at that evaluation; its `firing_since` (with its `type`)
///   identifies the alert instance from fire to resolve.
/// - A signal that is not measured (`None`, or not finite) changes nothing: it never fires an
///   alert and does not resolve an active one. Switching a rule off resolves its active alert
///   at the next evaluation.
///
/// Besides its rules, the engine fires and resolves alerts on conditions the caller judges
/// (a budget's burn rate): [`AlertEngine::evaluate_conditions`], see [`AlertCondition`](crate::AlertCondition).
///
/// The engine is a plain struct with `&mut self` methods; share it behind a `Mutex`.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use vitals::{AlertEngine, AlertThresholds, Level, Severity};
/// use vitals::Signals;
///
/// let thresholds = AlertThresholds::default().rss(Level::OFF).heap(Level::mib(600, 1000));
/// let mut engine = AlertEngine::new(thresholds);
/// let t0 = SystemTime::now();
///
/// let mut signals = Signals::new(t0);
/// signals.heap_bytes = Some(650 * 1024 * 1024);
/// engine.evaluate(&signals);
/// let active = engine.active();
/// assert_eq!(active[0].type_, "memory");
/// assert_eq!(active[0].severity, Severity::Warning);
/// assert_eq!(active[0].message, "High memory usage: 650 MiB");
///
/// signals.at = t0 + Duration::from_secs(5);
/// signals.heap_bytes = Some(400 * 1024 * 1024);
/// engine.evaluate(&signals);
/// assert!(engine.active().is_empty());
/// assert_eq!(engine.recently_resolved()[0].resolved_at, Some(signals.at));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AlertEngine {
    thresholds: AlertThresholds,
    pub(crate) active: [Option<Alert>; Rule::ALL.len()],
    /// Active alerts of conditions judged by the caller (see [`crate::AlertCondition`]).
    pub(crate) conditions: Vec<Alert>,
    pub(crate) resolved: VecDeque<Alert>,
}

impl AlertEngine {
    /// An engine with no alerts.
    #[must_use]
    pub fn new(thresholds: AlertThresholds) -> Self {
        Self {
            thresholds,
            ..Self::default()
        }
    }

    /// The thresholds in use.
    #[must_use]
    pub fn thresholds(&self) -> &AlertThresholds {
        &self.thresholds
    }

    /// Replaces the thresholds; active alerts are re-judged at the next
    /// [`evaluate`](Self::evaluate).
    pub fn set_thresholds(&mut self, thresholds: AlertThresholds) {
        self.thresholds = thresholds;
    }

    /// Runs every rule against `signals` and returns the transitions it caused (empty, with
    /// no allocation, when nothing changed); see [`AlertEngine`].
    pub fn evaluate(&mut self, signals: &Signals) -> Vec<AlertTransition> {
        let mut transitions = Vec::new();
        let at = signals.at;
        let margin = self.thresholds.margin();
        for rule in Rule::ALL {
            let slot = &mut self.active[rule as usize];
            let levels = rule.levels(&self.thresholds);
            if levels == (None, None) {
                if let Some(alert) = slot.take() {
                    transitions.push(Self::retire(&mut self.resolved, alert, at));
                }
                continue;
            }
            let Some(value) = rule.value(signals) else {
                continue;
            };
            let current = slot.as_ref().map(|a| a.severity);
            let mut next = hold(value, levels, current, margin);
            if !rule.judged(signals, &self.thresholds) {
                next = next.min(current);
            }
            match (slot.take(), next) {
                (None, None) => {}
                (Some(alert), None) => {
                    transitions.push(Self::retire(&mut self.resolved, alert, at));
                }
                (alert, Some(severity)) => {
                    let kind = match &alert {
                        None => Some(AlertTransitionKind::Fired),
                        Some(a) if severity > a.severity => Some(AlertTransitionKind::Escalated),
                        Some(_) => None,
                    };
                    let threshold = match severity {
                        Severity::Warning => levels.0,
                        Severity::Critical => levels.1,
                    }
                    .unwrap_or(f64::NAN);
                    *slot = Some(Alert {
                        type_: rule.kind().to_owned(),
                        severity,
                        message: rule.message(value, signals),
                        value,
                        threshold,
                        timestamp: at,
                        firing_since: alert.map_or(at, |a| a.firing_since),
                        resolved_at: None,
                    });
                    if let (Some(kind), Some(alert)) = (kind, slot.as_ref()) {
                        transitions.push(AlertTransition {
                            kind,
                            alert: alert.clone(),
                        });
                    }
                }
            }
        }
        transitions
    }

    pub(crate) fn retire(
        resolved: &mut VecDeque<Alert>,
        mut alert: Alert,
        at: SystemTime,
    ) -> AlertTransition {
        alert.resolved_at = Some(at);
        resolved.push_front(alert.clone());
        resolved.truncate(RESOLVED_CAPACITY);
        AlertTransition {
            kind: AlertTransitionKind::Resolved,
            alert,
        }
    }

    /// Active alerts, critical first, then in the order of the rules table, then those of
    /// conditions ([`evaluate_conditions`](Self::evaluate_conditions)) in the order they fired.
    #[must_use]
    pub fn active(&self) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self.active.iter().flatten().cloned().collect();
        alerts.extend(self.conditions.iter().cloned());
        alerts.sort_by_key(|a| std::cmp::Reverse(a.severity));
        alerts
    }

    /// The last [`RESOLVED_CAPACITY`] resolved alerts, newest first.
    #[must_use]
    pub fn recently_resolved(&self) -> Vec<Alert> {
        self.resolved.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thresholds::Level;

    const MIB: u64 = 1024 * 1024;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_705_314_600 + secs)
    }

    fn heap(secs: u64, mib: u64) -> Signals {
        Signals {
            heap_bytes: Some(mib * MIB),
            ..Signals::new(at(secs))
        }
    }

    fn engine() -> AlertEngine {
        AlertEngine::default()
    }

    #[test]
    fn defaults() {
        let t = AlertThresholds::default();
        assert_eq!(t.heap, Level::new(512 * MIB, 1024 * MIB));
        assert_eq!(t.rss, Level::new(1100 * MIB, 1300 * MIB));
        assert_eq!(
            t.latency_p95,
            Level::new(Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!(t.error_rate, Level::new(0.05, 0.10));
        assert_eq!(t.error_rate_min_requests, 20);
        assert_eq!(t.busy_ratio, Level::new(0.9, 0.98));
        assert_eq!(
            t.scheduling_delay_p99,
            Level::new(Duration::from_millis(50), Duration::from_millis(200))
        );
        assert_eq!(t.hysteresis, 0.1);
    }

    #[test]
    fn fires_on_crossing() {
        let mut e = engine();
        e.evaluate(&heap(0, 512)); // at the threshold: not above it
        assert!(e.active().is_empty());
        e.evaluate(&heap(5, 650));
        let a = e.active();
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(a.type_, "memory");
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(a.message, "High memory usage: 650 MiB");
        assert_eq!((a.value, a.threshold), (650.0, 512.0));
        assert_eq!(
            (a.timestamp, a.firing_since, a.resolved_at),
            (at(5), at(5), None)
        );
        assert!(a.is_active());

        e.evaluate(&heap(10, 700));
        let a = &e.active()[0];
        assert_eq!(
            (a.value, a.timestamp, a.firing_since),
            (700.0, at(10), at(5))
        );
        assert_eq!(a.firing_for(at(12)), Duration::from_secs(7));
    }

    #[test]
    fn escalates_to_critical_and_keeps_firing_since() {
        let mut e = engine();
        e.evaluate(&heap(0, 600));
        e.evaluate(&heap(5, 1100));
        let a = &e.active()[0];
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!((a.threshold, a.firing_since), (1024.0, at(0)));
        assert!(e.recently_resolved().is_empty());

        // Straight to critical from nothing.
        let mut e = engine();
        e.evaluate(&heap(0, 2000));
        assert_eq!(e.active()[0].severity, Severity::Critical);
    }

    #[test]
    fn de_escalates_with_hysteresis() {
        let mut e = engine();
        e.evaluate(&heap(0, 1100));
        // 1000 is below 1024 but above 1024 * 0.9 = 921.6: stays critical.
        e.evaluate(&heap(5, 1000));
        assert_eq!(e.active()[0].severity, Severity::Critical);
        e.evaluate(&heap(10, 900));
        let a = &e.active()[0];
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!((a.threshold, a.firing_since), (512.0, at(0)));
        assert!(e.recently_resolved().is_empty());
        // Critical straight to resolved when the value falls below both margins.
        let mut e = engine();
        e.evaluate(&heap(0, 1100));
        e.evaluate(&heap(5, 100));
        assert!(e.active().is_empty());
        assert_eq!(e.recently_resolved()[0].severity, Severity::Critical);
    }

    #[test]
    fn hysteresis_prevents_flapping() {
        let mut e = engine();
        for (i, mib) in [500, 515, 505, 520, 500, 515, 505, 520, 470]
            .into_iter()
            .enumerate()
        {
            e.evaluate(&heap(i as u64 * 5, mib));
        }
        let active = e.active();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].firing_since, at(5)); // fired once, at 515
        assert!(e.recently_resolved().is_empty());

        e.evaluate(&heap(100, 400));
        assert!(e.active().is_empty());
        let resolved = e.recently_resolved();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].resolved_at, Some(at(100)));
        assert_eq!(resolved[0].firing_since, at(5));
        assert_eq!(resolved[0].value, 470.0); // last firing value kept
        e.evaluate(&heap(105, 400));
        assert_eq!(e.recently_resolved().len(), 1);
    }

    #[test]
    fn zero_hysteresis_resolves_just_below_threshold() {
        let mut e = AlertEngine::new(AlertThresholds::default().hysteresis(0.0));
        e.evaluate(&heap(0, 515));
        e.evaluate(&heap(5, 512)); // at the threshold: holds
        assert_eq!(e.active().len(), 1);
        e.evaluate(&heap(10, 511));
        assert!(e.active().is_empty());
    }

    #[test]
    fn unmeasured_signal_never_fires_nor_resolves() {
        let mut e = engine();
        e.evaluate(&Signals::new(at(0)));
        assert!(e.active().is_empty());
        let mut s = Signals::new(at(0));
        s.busy_ratio = Some(f64::NAN);
        s.p95 = Some(Duration::from_secs(5)); // measured
        e.evaluate(&s);
        let a = e.active();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].type_, "latency");
        assert_eq!(a[0].message, "High P95 response time: 5000 ms");
        // p95 no longer measured: the alert stays as it was.
        e.evaluate(&Signals::new(at(5)));
        assert_eq!(e.active()[0].timestamp, at(0));
    }

    #[test]
    fn error_rate_needs_minimum_volume() {
        let sig = |secs, rate, n| Signals {
            error_rate: Some(rate),
            requests_last_5m: n,
            ..Signals::new(at(secs))
        };
        let mut e = engine();
        e.evaluate(&sig(0, 0.5, 2)); // 1 of 2
        e.evaluate(&sig(5, 1.0, 19));
        assert!(e.active().is_empty());
        e.evaluate(&sig(10, 0.06, 20));
        let a = &e.active()[0];
        assert_eq!(
            (a.type_.as_str(), a.severity),
            ("errorRate", Severity::Warning)
        );
        assert_eq!((a.value, a.threshold), (6.0, 5.0));
        assert_eq!(
            a.message,
            "High error rate: 6% of 20 requests in the last 5 minutes"
        );
        // Few requests cannot escalate...
        e.evaluate(&sig(15, 0.5, 4));
        assert_eq!(e.active()[0].severity, Severity::Warning);
        // ...but can resolve.
        e.evaluate(&sig(20, 0.0, 4));
        assert!(e.active().is_empty());
        assert_eq!(e.recently_resolved().len(), 1);
    }

    #[test]
    fn every_rule_fires() {
        let s = Signals {
            heap_bytes: Some(2000 * MIB),
            rss_bytes: Some(1200 * MIB),
            p95: Some(Duration::from_millis(1500)),
            error_rate: Some(0.2),
            requests_last_5m: 100,
            busy_ratio: Some(0.95),
            scheduling_delay_p99: Some(Duration::from_millis(300)),
            ..Signals::new(at(0))
        };
        let mut e = engine();
        e.evaluate(&s);
        let got: Vec<(String, Severity)> = e
            .active()
            .into_iter()
            .map(|a| (a.type_, a.severity))
            .collect();
        let want = [
            ("memory", Severity::Critical),
            ("errorRate", Severity::Critical),
            ("schedulingDelay", Severity::Critical),
            ("rss", Severity::Warning),
            ("latency", Severity::Warning),
            ("runtime", Severity::Warning),
        ];
        let want: Vec<(String, Severity)> =
            want.iter().map(|(t, s)| ((*t).to_owned(), *s)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn switched_off_rule_never_fires_and_resolves_when_switched_off() {
        let mut e = AlertEngine::new(AlertThresholds::default().heap(Level::OFF));
        e.evaluate(&heap(0, 5000));
        assert!(e.active().is_empty());

        let mut e =
            AlertEngine::new(AlertThresholds::default().heap(Level::warning_only(100 * MIB)));
        e.evaluate(&heap(0, 5000));
        assert_eq!(e.active()[0].severity, Severity::Warning);
        e.set_thresholds(AlertThresholds::default().heap(Level::OFF));
        e.evaluate(&Signals::new(at(5)));
        assert!(e.active().is_empty());
        assert_eq!(e.recently_resolved()[0].resolved_at, Some(at(5)));

        let mut e =
            AlertEngine::new(AlertThresholds::default().heap(Level::critical_only(100 * MIB)));
        e.evaluate(&heap(0, 150));
        assert_eq!(e.active()[0].severity, Severity::Critical);
        e.evaluate(&heap(5, 95)); // within the 10% margin
        assert_eq!(e.active()[0].severity, Severity::Critical);
        e.evaluate(&heap(10, 85));
        assert!(e.active().is_empty());
    }

    #[test]
    fn resolved_list_is_bounded_newest_first() {
        let mut e = engine();
        for i in 0..60 {
            e.evaluate(&heap(i * 10, 600));
            e.evaluate(&heap(i * 10 + 5, 100));
        }
        let resolved = e.recently_resolved();
        assert_eq!(resolved.len(), RESOLVED_CAPACITY);
        assert_eq!(resolved[0].resolved_at, Some(at(595)));
        assert_eq!(resolved[49].resolved_at, Some(at(105)));
        assert!(resolved.iter().all(|a| !a.is_active()));
    }

    fn kinds(changes: &[AlertTransition]) -> Vec<(&str, AlertTransitionKind, Severity)> {
        changes
            .iter()
            .map(|t| (t.alert.type_.as_str(), t.kind, t.alert.severity))
            .collect()
    }

    #[test]
    fn evaluate_reports_fire_escalate_resolve_once_each() {
        use AlertTransitionKind::{Escalated, Fired, Resolved};
        let mut e = engine();
        assert!(e.evaluate(&heap(0, 100)).is_empty());
        let fired = e.evaluate(&heap(5, 600));
        assert_eq!(kinds(&fired), [("memory", Fired, Severity::Warning)]);
        assert_eq!(fired[0].alert.firing_since, at(5));
        assert!(e.evaluate(&heap(10, 700)).is_empty(), "new value only");
        let up = e.evaluate(&heap(15, 1100));
        assert_eq!(kinds(&up), [("memory", Escalated, Severity::Critical)]);
        assert_eq!(up[0].alert.firing_since, at(5));
        assert!(e.evaluate(&heap(20, 1000)).is_empty(), "held by hysteresis");
        assert!(e.evaluate(&heap(25, 900)).is_empty(), "de-escalation");
        assert_eq!(e.active()[0].severity, Severity::Warning);
        let gone = e.evaluate(&heap(30, 100));
        assert_eq!(kinds(&gone), [("memory", Resolved, Severity::Warning)]);
        assert_eq!(gone[0].alert.resolved_at, Some(at(30)));
        assert_eq!(gone[0].alert.firing_since, at(5));
        assert_eq!(gone[0].alert, e.recently_resolved()[0]);
        assert!(e.evaluate(&heap(35, 100)).is_empty());
    }

    #[test]
    fn evaluate_reports_straight_to_critical_several_rules_and_switch_off() {
        use AlertTransitionKind::{Fired, Resolved};
        let mut e = engine();
        let s = Signals {
            heap_bytes: Some(2000 * MIB),
            p95: Some(Duration::from_millis(1500)),
            ..Signals::new(at(0))
        };
        assert_eq!(
            kinds(&e.evaluate(&s)),
            [
                ("memory", Fired, Severity::Critical),
                ("latency", Fired, Severity::Warning)
            ]
        );
        e.set_thresholds(AlertThresholds::default().heap(Level::OFF));
        let changes = e.evaluate(&Signals::new(at(5))); // latency unmeasured: unchanged
        assert_eq!(kinds(&changes), [("memory", Resolved, Severity::Critical)]);
        assert_eq!(e.active().len(), 1);
    }

    #[test]
    fn json_shape() {
        let mut e = engine();
        e.evaluate(&heap(0, 650));
        let v = serde_json::to_value(&e.active()[0]).unwrap();
        assert_eq!(v["type"], "memory");
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["message"], "High memory usage: 650 MiB");
        assert_eq!(v["value"], 650.0);
        assert_eq!(v["threshold"], 512.0);
        assert_eq!(v["timestamp"], "2024-01-15T10:30:00.000Z");
        assert_eq!(v["firingSince"], "2024-01-15T10:30:00.000Z");
        assert!(v.get("resolvedAt").is_none());
        e.evaluate(&heap(5, 100));
        let v = serde_json::to_value(&e.recently_resolved()[0]).unwrap();
        assert_eq!(v["resolvedAt"], "2024-01-15T10:30:05.000Z");
        let before_epoch = Alert {
            timestamp: UNIX_EPOCH - Duration::from_secs(1),
            ..e.recently_resolved()[0].clone()
        };
        assert!(serde_json::to_value(&before_epoch).is_err());
    }
}
