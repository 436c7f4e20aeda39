//! Active alerts across restarts. The alert engine's active set is written to the history
//! store (table `active_alerts`, feature `history`) whenever an alert fires, escalates or
//! resolves, before the transitions are handed to the notifier; without a store, the notifier's
//! outbox keeps what each channel holds as firing. At build time the engine is given that set
//! back ([`vitals::AlertEngine::restore`]), so a still-firing alert is not paged again and one
//! that no longer holds resolves under the same notification id (PagerDuty's dedup key) and
//! labels (Alertmanager's identity); the notifier is told the set, so it keeps repeating those
//! alerts and resolves any other it still tracks as firing.

#[allow(unused_imports)]
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)]
use vitals::{Alert, Severity};

use crate::alert_record::Identity;
use crate::shared::Shared;

/// The alert types of the core's own rules (see `vitals::AlertEngine`).
const RULE_KINDS: [&str; 6] = [
    "memory",
    "rss",
    "latency",
    "errorRate",
    "runtime",
    "schedulingDelay",
];

#[allow(dead_code)]
fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[allow(dead_code)]
fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[allow(dead_code)]
fn severity(s: &str) -> Option<Severity> {
    match s {
        "critical" => Some(Severity::Critical),
        "warning" => Some(Severity::Warning),
        _ => None,
    }
}

/// The stored row of an active alert.
#[cfg(feature = "history")]
pub(crate) fn to_row(alert: &Alert, id: String, who: &Identity) -> vitals_store::ActiveAlert {
    vitals_store::ActiveAlert {
        rule: alert.type_.clone(),
        id,
        severity: match alert.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
        .to_owned(),
        message: alert.message.clone(),
        value: alert.value,
        threshold: alert.threshold,
        firing_since_ms: unix_ms(alert.firing_since),
        at_ms: unix_ms(alert.timestamp),
        instance: who.instance.clone(),
        service: who.service.clone(),
    }
}

/// The rows of the engine's active set, named as their notifications name them.
#[cfg(feature = "history")]
pub(crate) fn rows(shared: &Shared, active: &[Alert]) -> Vec<vitals_store::ActiveAlert> {
    active
        .iter()
        .map(|a| {
            #[allow(unused_mut)]
            let mut who = Identity {
                instance: String::new(),
                service: shared.service.clone(),
            };
            #[cfg(feature = "notify")]
            if let Some(d) = &shared.notify {
                who = d.identity(&shared.service, a);
            }
            let id = format!(
                "{}/{}/{}/{}",
                who.service,
                who.instance,
                a.type_,
                unix_ms(a.firing_since)
            );
            to_row(a, id, &who)
        })
        .collect()
}

/// An active alert back from its stored row.
#[cfg(feature = "history")]
pub(crate) fn from_row(row: &vitals_store::ActiveAlert) -> Option<(Alert, Identity)> {
    let alert = Alert {
        type_: row.rule.clone(),
        severity: severity(&row.severity)?,
        message: row.message.clone(),
        value: row.value,
        threshold: row.threshold,
        timestamp: from_ms(row.at_ms),
        firing_since: from_ms(row.firing_since_ms),
        resolved_at: None,
    };
    let who = Identity {
        instance: row.instance.clone(),
        service: row.service.clone(),
    };
    Some((alert, who))
}

/// An active alert back from the notification a channel last sent as firing (label `rule` is
/// its type, the summary its message, `starts_at` its `firing_since`).
#[cfg(feature = "notify")]
pub(crate) fn from_notification(n: &vitals_notify::Notification) -> Option<(Alert, Identity)> {
    if !n.transition.is_firing() {
        return None;
    }
    let alert = Alert {
        type_: n.labels.get("rule")?.clone(),
        severity: severity(n.severity.as_str())?,
        message: n.summary.clone(),
        value: n.values.values().next().copied().unwrap_or(f64::NAN),
        threshold: n.thresholds.values().next().copied().unwrap_or(f64::NAN),
        timestamp: n.starts_at,
        firing_since: n.starts_at,
        resolved_at: None,
    };
    let who = Identity {
        instance: n.instance.clone(),
        service: n.service.clone(),
    };
    Some((alert, who))
}

/// Whether an alert restored with this type can still be judged: one of the core's rules, or
/// the page or ticket alert of a budget still configured (any other would stay active for
/// good, since nothing reports on it any more).
#[allow(unused_variables)]
fn judged(shared: &Shared, kind: &str) -> bool {
    if RULE_KINDS.contains(&kind) {
        return true;
    }
    #[cfg(feature = "history")]
    if let Some(budget) = kind
        .strip_prefix("budgetPage:")
        .or_else(|| kind.strip_prefix("budgetTicket:"))
    {
        return shared
            .history
            .budgets
            .budgets()
            .iter()
            .any(|b| b.name == budget);
    }
    false
}

/// Restores the engine's active alerts (from the store, else from the notifier's outbox) and
/// tells the notifier. Blocking (one small read); call at build time, before sampling starts.
pub(crate) fn restore(shared: &Shared) {
    #[allow(unused_mut)]
    let mut restored: Vec<(Alert, Identity)> = Vec::new();
    #[allow(unused_mut)]
    let mut from_store = false;
    #[cfg(feature = "history")]
    if let Some(store) = shared.history.store() {
        from_store = true;
        match store.active_alerts() {
            Ok(rows) => restored = rows.iter().filter_map(from_row).collect(),
            Err(e) => tracing::warn!(error = %e, "active alerts could not be read back"),
        }
    }
    #[cfg(feature = "notify")]
    if let (false, Some(d)) = (from_store, &shared.notify) {
        restored = d
            .notifier
            .firing()
            .iter()
            .filter_map(from_notification)
            .collect();
    }
    restored.retain(|(a, _)| judged(shared, &a.type_));
    let count = shared
        .alerts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .restore(restored.iter().map(|(a, _)| a.clone()));
    if count > 0 {
        tracing::info!(
            alerts = count,
            from = if from_store {
                "history store"
            } else {
                "notification outbox"
            },
            "active alerts restored"
        );
    }
    #[cfg(feature = "notify")]
    if let Some(d) = &shared.notify {
        d.restored(&shared.service, &restored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            type_: "memory".into(),
            severity: Severity::Critical,
            message: "High memory usage: 650 MiB".into(),
            value: 650.0,
            threshold: 512.0,
            timestamp: from_ms(1_700_000_005_000),
            firing_since: from_ms(1_700_000_000_000),
            resolved_at: None,
        }
    }

    #[cfg(feature = "history")]
    #[test]
    fn a_row_round_trips() {
        let who = Identity {
            instance: "h:1".into(),
            service: "svc".into(),
        };
        let row = to_row(&alert(), "svc/h:1/memory/1700000000000".into(), &who);
        assert_eq!(row.firing_since_ms, 1_700_000_000_000);
        assert_eq!(from_row(&row), Some((alert(), who)));
    }

    #[cfg(feature = "notify")]
    #[test]
    fn a_firing_notification_maps_back_with_its_identity() {
        let t = vitals::AlertTransition {
            kind: vitals::AlertTransitionKind::Fired,
            alert: alert(),
        };
        let n = crate::notifications::notification(&t, "svc", "h:1", None);
        let (back, who) = from_notification(&n).unwrap();
        assert_eq!(back.type_, "memory");
        assert_eq!(back.firing_since, alert().firing_since);
        assert_eq!((back.value, back.threshold), (650.0, 512.0));
        assert_eq!(back.severity, Severity::Critical);
        assert_eq!(who.instance, "h:1");
        let mut resolved = n.clone();
        resolved.transition = vitals_notify::Transition::Resolved;
        assert!(from_notification(&resolved).is_none());
    }
}
