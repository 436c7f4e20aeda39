//! Alertmanager's push API: `POST /api/v2/alerts` with an array of alerts, as Prometheus sends.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::notification::{Notification, rfc3339};

/// The array for one request: labels (the rule's own, then `alertname`, `severity`, `service`,
/// `instance`, which win), annotations `summary` and `description`, `startsAt`, `endsAt` on
/// resolve (never before `startsAt`), `generatorURL` the dashboard.
pub(super) fn body(notifications: &[Notification], now: SystemTime) -> Value {
    Value::Array(notifications.iter().map(|n| alert(n, now)).collect())
}

fn alert(n: &Notification, now: SystemTime) -> Value {
    let mut labels: Map<String, Value> = n
        .labels
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert("alertname".into(), json!(n.rule));
    labels.insert("severity".into(), json!(n.severity.as_str()));
    for (key, value) in [("service", &n.service), ("instance", &n.instance)] {
        if !value.is_empty() {
            labels.insert(key.into(), json!(value));
        }
    }
    let mut annotations = Map::new();
    for (key, value) in [("summary", &n.summary), ("description", &n.description)] {
        if !value.is_empty() {
            annotations.insert(key.into(), json!(value));
        }
    }
    // Evidence captured when the alert fired: `artifact_url` (the first), `artifact_urls`
    // (all, space-separated: annotations are strings).
    if let Some(first) = n.artifact_urls.first() {
        annotations.insert("artifact_url".into(), json!(first));
        annotations.insert("artifact_urls".into(), json!(n.artifact_urls.join(" ")));
    }
    let mut alert = Map::new();
    alert.insert("labels".into(), Value::Object(labels));
    alert.insert("annotations".into(), Value::Object(annotations));
    alert.insert("startsAt".into(), json!(rfc3339(n.starts_at)));
    if !n.transition.is_firing() {
        let ends = n.ends_at.unwrap_or(now).max(n.starts_at);
        alert.insert("endsAt".into(), json!(rfc3339(ends)));
    }
    if let Some(url) = &n.dashboard_url {
        alert.insert("generatorURL".into(), json!(url));
    }
    Value::Object(alert)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::notification::{Severity, Transition};

    fn sample(transition: Transition) -> Notification {
        let mut n = Notification::new("a1", "HeapHigh", Severity::Critical, transition);
        n.summary = "heap above 800 MB".into();
        n.description = "held allocations".into();
        n.labels.insert("team".into(), "core".into());
        n.labels.insert("alertname".into(), "spoofed".into());
        n.service = "checkout".into();
        n.instance = "host-1:8080".into();
        n.starts_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        n.dashboard_url = Some("http://host-1:8080/metrics/dashboard".into());
        n
    }

    #[test]
    fn firing_alert_has_labels_annotations_and_no_end() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let v = body(&[sample(Transition::Fired)], now);
        assert_eq!(
            v,
            json!([{
                "labels": {"alertname": "HeapHigh", "severity": "critical", "service": "checkout",
                           "instance": "host-1:8080", "team": "core"},
                "annotations": {"summary": "heap above 800 MB", "description": "held allocations"},
                "startsAt": "2023-11-14T22:13:20.000Z",
                "generatorURL": "http://host-1:8080/metrics/dashboard"
            }])
        );
    }

    #[test]
    fn resolved_alert_carries_ends_at_not_before_start() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let mut n = sample(Transition::Resolved);
        assert_eq!(
            body(&[n.clone()], now)[0]["endsAt"],
            "2023-11-14T22:15:00.000Z"
        );
        n.ends_at = Some(SystemTime::UNIX_EPOCH);
        assert_eq!(body(&[n], now)[0]["endsAt"], "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn batch_is_one_array() {
        let now = SystemTime::now();
        let v = body(
            &[sample(Transition::Fired), sample(Transition::Resolved)],
            now,
        );
        assert_eq!(v.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn artifact_urls_are_annotations() {
        let mut n = sample(Transition::Fired);
        n.artifact_urls = vec!["http://h/debug/artifacts/a".into(), "http://h/b".into()];
        let v = body(&[n], SystemTime::now());
        assert_eq!(
            v[0]["annotations"]["artifact_url"],
            "http://h/debug/artifacts/a"
        );
        assert_eq!(
            v[0]["annotations"]["artifact_urls"],
            "http://h/debug/artifacts/a http://h/b"
        );
        let v = body(&[sample(Transition::Fired)], SystemTime::now());
        assert!(v[0]["annotations"].get("artifact_url").is_none());
    }
}
