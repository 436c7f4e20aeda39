//! Alert notifications (feature `notify`): the [`vitals_notify::Notifier`] a [`Vitals`] hands
//! each evaluation's transitions to, how a core [`vitals::AlertTransition`] becomes a
//! [`vitals_notify::Notification`], and the `/metrics` families that report delivery.
//!
//! The sampling loop maps and queues; `notify` never blocks or awaits (a slot in a bounded queue
//! per channel, or a `dropped` count), so delivery stays off the request path and the sampler.
//!
//! [`Vitals`]: crate::Vitals

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use vitals::{Alert, AlertTransition, AlertTransitionKind, MetricFamily};
use vitals_notify::{Notification, Notifier, NotifySnapshot, Severity, Transition};

use crate::alert_record::Identity;

/// Where transitions go, and how they name this process.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) notifier: Notifier,
    pub(crate) instance: String,
    pub(crate) dashboard_url: Option<String>,
    /// Alerts restored at start whose notifications named another instance or service (a
    /// renamed host): `type` to (`firing_since`, names), so their resolve names them the same.
    /// Bounded by the alerts restored; an entry leaves when its alert resolves.
    identities: Mutex<HashMap<String, (SystemTime, Identity)>>,
}

impl Delivery {
    pub(crate) fn new(notifier: Notifier, instance: String, dashboard_url: Option<String>) -> Self {
        Self {
            notifier,
            instance,
            dashboard_url,
            identities: Mutex::new(HashMap::new()),
        }
    }

    /// The names this alert instance's notifications carry.
    pub(crate) fn identity(&self, service: &str, alert: &Alert) -> Identity {
        let ids = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match ids.get(&alert.type_) {
            Some((since, who)) if *since == alert.firing_since => who.clone(),
            _ => Identity {
                instance: self.instance.clone(),
                service: service.to_owned(),
            },
        }
    }

    /// Takes in the alerts restored at start: remembers their names, and tells the channels
    /// which alerts are active (see `Notifier::reconcile`).
    pub(crate) fn restored(&self, service: &str, restored: &[(Alert, Identity)]) {
        {
            let mut ids = self
                .identities
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (a, who) in restored {
                ids.insert(a.type_.clone(), (a.firing_since, who.clone()));
            }
        }
        let active: Vec<Notification> = restored
            .iter()
            .map(|(a, _)| {
                let t = AlertTransition {
                    kind: AlertTransitionKind::Fired,
                    alert: a.clone(),
                };
                let who = self.identity(service, a);
                notification(
                    &t,
                    &who.service,
                    &who.instance,
                    self.dashboard_url.as_deref(),
                )
            })
            .collect();
        self.notifier.reconcile(&active);
    }

    /// Maps and queues one evaluation's transitions (one batch), each with the artifact URLs
    /// at its index in `artifacts` (from the alert hooks); returns the envelopes queued.
    pub(crate) fn deliver(
        &self,
        service: &str,
        transitions: &[AlertTransition],
        artifacts: &[Vec<String>],
    ) -> usize {
        if transitions.is_empty() || self.notifier.is_empty() {
            return 0;
        }
        let batch: Vec<Notification> = transitions
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let who = self.identity(service, &t.alert);
                let mut n = notification(
                    t,
                    &who.service,
                    &who.instance,
                    self.dashboard_url.as_deref(),
                );
                n.artifact_urls = artifacts.get(i).cloned().unwrap_or_default();
                n
            })
            .collect();
        let mut ids = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for t in transitions {
            if t.kind == AlertTransitionKind::Resolved {
                ids.remove(&t.alert.type_);
            }
        }
        drop(ids);
        self.notifier.notify(&batch)
    }
}

impl Delivery {
    /// Each channel for the dashboard's Protection panel: last success, last error, queue
    /// depth against its bound, counts and the last three dead letters (no secret in any).
    pub(crate) fn dashboard_json(&self) -> serde_json::Value {
        let channels: Vec<serde_json::Value> = self
            .notifier
            .snapshot()
            .channels
            .into_iter()
            .map(|c| {
                let dead: Vec<serde_json::Value> = c
                    .dead_letters
                    .iter()
                    .rev()
                    .take(3)
                    .map(|d| serde_json::json!({ "status": d.status, "reason": d.reason }))
                    .collect();
                serde_json::json!({
                    "name": c.name,
                    "lastSuccess": c.last_success.map(crate::util::rfc3339),
                    "lastError": c.last_error,
                    "lastErrorAt": c.last_error_at.map(crate::util::rfc3339),
                    "queue": format!("{} of {}", c.queue_depth, c.capacity),
                    "sent": c.sent,
                    "dropped": c.dropped,
                    "deadLettered": c.dead_lettered,
                    "gaveUp": c.gave_up,
                    "deadLetters": dead,
                })
            })
            .collect();
        serde_json::Value::Array(channels)
    }
}

/// A budget's burn-rate alert (`budgetPage:<name>`, `budgetTicket:<name>`): the name
/// Prometheus' generated rules give it (`VitalsBudgetPage`, `VitalsBudgetTicket`) and the budget.
fn budget_alert(kind: &str) -> Option<(&'static str, &str)> {
    kind.strip_prefix("budgetPage:")
        .map(|b| ("VitalsBudgetPage", b))
        .or_else(|| {
            kind.strip_prefix("budgetTicket:")
                .map(|b| ("VitalsBudgetTicket", b))
        })
}

/// The alert's rule as Alertmanager's `alertname` (the core's `type` stays in label `rule`).
fn rule_name(kind: &str) -> &str {
    if let Some((name, _)) = budget_alert(kind) {
        return name;
    }
    match kind {
        "memory" => "VitalsHeapHigh",
        "rss" => "VitalsRssHigh",
        "latency" => "VitalsLatencyHigh",
        "errorRate" => "VitalsErrorRateHigh",
        "runtime" => "VitalsRuntimeBusy",
        "schedulingDelay" => "VitalsSchedulingDelayHigh",
        other => other,
    }
}

/// The unit of a rule's value and threshold (see the core's alert rules table).
fn unit(kind: &str) -> &'static str {
    match kind {
        "memory" | "rss" => "mib",
        "latency" | "schedulingDelay" => "ms",
        "errorRate" | "runtime" => "percent",
        _ if budget_alert(kind).is_some() => "burn_rate",
        _ => "value",
    }
}

fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// The id of one alert instance, the same from fire to resolve: service, instance, rule and
/// the millisecond it started firing (which the core keeps across escalation).
pub(crate) fn alert_id(alert: &Alert, service: &str, instance: &str) -> String {
    format!(
        "{service}/{instance}/{}/{}",
        alert.type_,
        unix_ms(alert.firing_since)
    )
}

/// One core transition as a notification: labels `rule` and `severity`, the value and the
/// threshold under `<rule>_<unit>`, the alert's message as the summary.
pub(crate) fn notification(
    t: &AlertTransition,
    service: &str,
    instance: &str,
    dashboard_url: Option<&str>,
) -> Notification {
    let a = &t.alert;
    let severity = match a.severity {
        vitals::Severity::Critical => Severity::Critical,
        vitals::Severity::Warning => Severity::Warning,
    };
    let transition = match t.kind {
        AlertTransitionKind::Fired => Transition::Fired,
        AlertTransitionKind::Escalated => Transition::Escalated,
        AlertTransitionKind::Resolved => Transition::Resolved,
    };
    let mut n = Notification::new(
        alert_id(a, service, instance),
        rule_name(&a.type_),
        severity,
        transition,
    );
    let unit = unit(&a.type_);
    let mut key = format!("{}_{unit}", a.type_);
    if let Some((_, budget)) = budget_alert(&a.type_) {
        n.labels.insert("budget".to_owned(), budget.to_owned());
        key = unit.to_owned();
    }
    n.labels.insert("rule".to_owned(), a.type_.clone());
    n.labels
        .insert("severity".to_owned(), severity.as_str().to_owned());
    n.values.insert(key.clone(), a.value);
    if a.threshold.is_finite() {
        n.thresholds.insert(key, a.threshold);
    }
    n.summary.clone_from(&a.message);
    let since = humantime::format_rfc3339_seconds(a.firing_since);
    n.description = match a.resolved_at {
        Some(at) => format!(
            "{} {}: resolved at {} (last value {} {unit} against {} {unit}; firing since {since}).",
            a.type_,
            severity.as_str(),
            humantime::format_rfc3339_seconds(at),
            a.value,
            a.threshold,
        ),
        None => format!(
            "{} {}: {} {unit} against a threshold of {} {unit}, firing since {since}.",
            a.type_,
            severity.as_str(),
            a.value,
            a.threshold,
        ),
    };
    n.starts_at = a.firing_since;
    n.ends_at = a.resolved_at;
    instance.clone_into(&mut n.instance);
    service.clone_into(&mut n.service);
    n.dashboard_url = dashboard_url.map(str::to_owned);
    n
}

/// `vitals_notifications{channel,outcome}` (counter: `sent`, `dropped`, `dead_lettered`,
/// `gave_up` (of `dead_lettered`, past the attempt or age bound), `failed_attempt`, `retried`) and `vitals_notifications_queue_depth{channel}` (gauge). The
/// channel label is the snapshot's safe name (scheme and host, never a token).
pub(crate) fn metric_families(snapshot: &NotifySnapshot) -> [MetricFamily; 2] {
    let mut total = MetricFamily::counter(
        "vitals_notifications",
        "Alert notifications by channel and outcome (sent, dropped: queue full, dead_lettered: \
         refused for good, gave_up: of those, past the attempt or age bound; failed_attempt and \
         retried count requests).",
    );
    let mut depth = MetricFamily::gauge(
        "vitals_notifications_queue_depth",
        "Notification envelopes waiting per channel (queued or being retried).",
    );
    for c in &snapshot.channels {
        for (outcome, n) in [
            ("sent", c.sent),
            ("dropped", c.dropped),
            ("dead_lettered", c.dead_lettered),
            ("gave_up", c.gave_up),
            ("failed_attempt", c.failed_attempts),
            ("retried", c.retried),
        ] {
            total.push(
                vec![("channel", c.name.clone()), ("outcome", outcome.to_owned())],
                n as f64,
            );
        }
        depth.push(vec![("channel", c.name.clone())], c.queue_depth as f64);
    }
    [total, depth]
}

/// This host's name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else `localhost`), the
/// default `instance` of notifications.
pub(crate) fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vitals::{AlertEngine, AlertThresholds, Level, Signals};

    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn heap(engine: &mut AlertEngine, secs: u64, mib: u64) -> Vec<AlertTransition> {
        let mut s = Signals::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs));
        s.heap_bytes = Some(mib * MIB);
        engine.evaluate(&s)
    }

    #[test]
    fn fire_escalate_resolve_share_one_alert_id_and_carry_values() {
        let mut e = AlertEngine::new(
            AlertThresholds::default()
                .rss(Level::OFF)
                .heap(Level::mib(100, 200)),
        );
        let url = Some("http://h:1/metrics/dashboard");
        let map = |t: &[AlertTransition]| notification(&t[0], "svc", "h:1", url);
        let fired = map(&heap(&mut e, 0, 150));
        let up = map(&heap(&mut e, 5, 250));
        let gone = map(&heap(&mut e, 10, 10));
        assert_eq!(fired.alert_id, "svc/h:1/memory/1700000000000");
        assert_eq!(fired.alert_id, up.alert_id);
        assert_eq!(fired.alert_id, gone.alert_id);
        assert_eq!(
            (fired.transition, up.transition, gone.transition),
            (
                Transition::Fired,
                Transition::Escalated,
                Transition::Resolved
            )
        );
        assert_eq!(fired.rule, "VitalsHeapHigh");
        assert_eq!(fired.labels["rule"], "memory");
        assert_eq!(fired.labels["severity"], "warning");
        assert_eq!(up.severity, Severity::Critical);
        assert_eq!(fired.values["memory_mib"], 150.0);
        assert_eq!(fired.thresholds["memory_mib"], 100.0);
        assert_eq!(up.thresholds["memory_mib"], 200.0);
        assert_eq!(fired.summary, "High memory usage: 150 MiB");
        assert!(
            fired
                .description
                .contains("firing since 2023-11-14T22:13:20Z")
        );
        assert!(
            gone.description
                .contains("resolved at 2023-11-14T22:13:30Z")
        );
        assert_eq!(fired.starts_at, gone.starts_at);
        assert!(fired.ends_at.is_none());
        assert_eq!(
            gone.ends_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_010))
        );
        assert_eq!(
            (gone.service.as_str(), gone.instance.as_str()),
            ("svc", "h:1")
        );
        assert_eq!(gone.dashboard_url.as_deref(), url);
    }

    #[test]
    fn budget_alerts_are_named_as_the_prometheus_rules_name_them() {
        let mut e = AlertEngine::default();
        let mut c = vitals::AlertCondition::new("budgetPage:api");
        c.severity = Some(vitals::Severity::Critical);
        c.value = 20.0;
        c.threshold = 14.4;
        c.message = "Budget api burns".into();
        let t = e.evaluate_conditions(UNIX_EPOCH + Duration::from_secs(1_700_000_000), &[c]);
        let n = notification(&t[0], "svc", "h:1", None);
        assert_eq!(n.rule, "VitalsBudgetPage");
        assert_eq!(n.labels["budget"], "api");
        assert_eq!(n.labels["rule"], "budgetPage:api");
        assert_eq!(n.severity, Severity::Critical);
        assert_eq!(n.values["burn_rate"], 20.0);
        assert_eq!(n.thresholds["burn_rate"], 14.4);
        assert_eq!(rule_name("budgetTicket:x"), "VitalsBudgetTicket");
    }

    #[test]
    fn metric_families_have_every_outcome_per_channel() {
        let snapshot = NotifySnapshot {
            channels: vec![vitals_notify::ChannelSnapshot {
                name: "webhook:http://127.0.0.1:9".into(),
                kind: vitals_notify::ChannelKind::Webhook,
                sent: 3,
                failed_attempts: 2,
                retried: 2,
                dropped: 7,
                dead_lettered: 1,
                gave_up: 1,
                dead_letters: vec![],
                queue_depth: 4,
                capacity: 10,
                last_success: None,
                last_error: None,
                last_error_at: None,
            }],
        };
        let mut text = String::new();
        vitals::encode_text(&metric_families(&snapshot), &mut text);
        for line in [
            r#"vitals_notifications_total{channel="webhook:http://127.0.0.1:9",outcome="sent"} 3"#,
            r#"vitals_notifications_total{channel="webhook:http://127.0.0.1:9",outcome="dropped"} 7"#,
            r#"vitals_notifications_total{channel="webhook:http://127.0.0.1:9",outcome="dead_lettered"} 1"#,
            r#"vitals_notifications_total{channel="webhook:http://127.0.0.1:9",outcome="gave_up"} 1"#,
            r#"vitals_notifications_queue_depth{channel="webhook:http://127.0.0.1:9"} 4"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
