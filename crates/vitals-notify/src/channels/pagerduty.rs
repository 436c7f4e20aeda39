//! PagerDuty Events API v2: `POST /v2/enqueue`, trigger and resolve sharing one `dedup_key`.

use serde_json::{Value, json};

use crate::notification::{Notification, Severity, rfc3339};

/// The API's limit on `payload.summary`, in characters.
const SUMMARY_MAX_CHARS: usize = 1024;

/// One event: `trigger` while firing (fired, escalated, repeats), `resolve` on resolve; the
/// `dedup_key` is the alert instance's id; `source` the instance; `custom_details` the values
/// and thresholds.
pub(super) fn body(routing_key: &str, n: &Notification) -> Value {
    if !n.transition.is_firing() {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": n.alert_id});
    }
    let source = if n.instance.is_empty() {
        "vitals"
    } else {
        &n.instance
    };
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.alert_id,
        "client": "vitals",
        "payload": {
            "summary": truncate_chars(n.headline(), SUMMARY_MAX_CHARS),
            "source": source,
            "severity": severity(n.severity),
            "timestamp": rfc3339(n.starts_at),
            "component": n.service,
            "group": n.rule,
            "class": n.transition.as_str(),
            "custom_details": {
                "description": n.description,
                "values": n.values,
                "thresholds": n.thresholds,
                "labels": n.labels,
            },
        },
    });
    if let Some(url) = &n.dashboard_url {
        event["client_url"] = json!(url);
        event["links"] = json!([{"href": url, "text": "vitals dashboard"}]);
    }
    if !n.artifact_urls.is_empty() {
        event["payload"]["custom_details"]["artifact_urls"] = json!(n.artifact_urls);
        let links = event["links"].as_array().cloned().unwrap_or_default();
        let evidence = n
            .artifact_urls
            .iter()
            .map(|u| json!({"href": u, "text": "evidence captured at firing"}));
        event["links"] = json!(links.into_iter().chain(evidence).collect::<Vec<_>>());
    }
    event
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// At most `max` characters; a cut string ends with `…` (counted in `max`).
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::notification::Transition;

    #[test]
    fn trigger_event_matches_the_documented_shape() {
        let mut n = Notification::new("a1", "HeapHigh", Severity::Warning, Transition::Fired);
        n.summary = "heap high".into();
        n.instance = "host-1".into();
        n.service = "checkout".into();
        n.values.insert("heap_bytes".into(), 9.0);
        n.thresholds.insert("heap_bytes".into(), 8.0);
        n.dashboard_url = Some("http://d".into());
        let v = body("KEY", &n);
        assert_eq!(v["routing_key"], "KEY");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], "a1");
        assert_eq!(v["payload"]["summary"], "heap high");
        assert_eq!(v["payload"]["source"], "host-1");
        assert_eq!(v["payload"]["severity"], "warning");
        assert_eq!(v["payload"]["custom_details"]["values"]["heap_bytes"], 9.0);
        assert_eq!(
            v["payload"]["custom_details"]["thresholds"]["heap_bytes"],
            8.0
        );
        assert_eq!(v["links"][0]["href"], "http://d");
    }

    #[test]
    fn resolve_shares_the_dedup_key() {
        let n = Notification::new("a1", "HeapHigh", Severity::Critical, Transition::Resolved);
        assert_eq!(
            body("K", &n),
            json!({"routing_key": "K", "event_action": "resolve", "dedup_key": "a1"})
        );
    }

    #[test]
    fn severities_map() {
        assert_eq!(severity(Severity::Critical), "critical");
        assert_eq!(severity(Severity::Warning), "warning");
        assert_eq!(severity(Severity::Info), "info");
    }

    #[test]
    fn long_summary_is_cut_on_a_char_boundary() {
        let mut n = Notification::new("a", "R", Severity::Info, Transition::Fired);
        n.summary = "é".repeat(2000);
        let v = body("K", &n);
        let s = v["payload"]["summary"].as_str().unwrap();
        assert_eq!(s.chars().count(), 1024);
        assert!(s.ends_with('…'));
    }

    proptest! {
        #[test]
        fn truncation_bounds_and_prefix(s in "\\PC{0,1500}") {
            let t = truncate_chars(&s, SUMMARY_MAX_CHARS);
            prop_assert!(t.chars().count() <= SUMMARY_MAX_CHARS);
            let kept = t.trim_end_matches('…');
            prop_assert!(s.starts_with(kept));
        }
    }

    #[test]
    fn artifact_urls_are_custom_details_and_links() {
        let mut n = Notification::new("a1", "HeapHigh", Severity::Warning, Transition::Fired);
        n.dashboard_url = Some("http://d".into());
        n.artifact_urls = vec!["http://h/debug/artifacts/a".into()];
        let v = body("KEY", &n);
        assert_eq!(
            v["payload"]["custom_details"]["artifact_urls"][0],
            "http://h/debug/artifacts/a"
        );
        assert_eq!(v["links"][0]["href"], "http://d");
        assert_eq!(v["links"][1]["href"], "http://h/debug/artifacts/a");
    }
}
