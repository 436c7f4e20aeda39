//! Slack incoming webhook: a `text` fallback plus `blocks` (what, how bad, since when, value
//! against threshold, dashboard link).

use serde_json::{Value, json};

use crate::envelope::EnvelopeKind;
use crate::notification::{Notification, Severity, rfc3339};

/// Slack's limit on a section's text, in characters.
const SECTION_MAX_CHARS: usize = 3000;

pub(super) fn body(n: &Notification, kind: EnvelopeKind) -> Value {
    let status = status(n, kind);
    let icon = match (n.transition.is_firing(), n.severity) {
        (false, _) => ":large_green_circle:",
        (true, Severity::Critical) => ":red_circle:",
        (true, Severity::Warning) => ":large_orange_circle:",
        (true, Severity::Info) => ":large_blue_circle:",
    };
    let whom = if n.instance.is_empty() {
        n.service.clone()
    } else {
        format!("{} ({})", n.instance, n.service)
    };
    let text = format!("{icon} [{status}] {}: {} on {whom}", n.rule, n.headline());
    let mut head = format!(
        "{icon} *[{status}] {}*\n{}",
        escape(&n.rule),
        escape(n.headline())
    );
    if !n.description.is_empty() {
        head.push('\n');
        head.push_str(&escape(&n.description));
    }
    let mut fields = vec![
        field("Severity", n.severity.as_str()),
        field("Since", &rfc3339(n.starts_at)),
        field("Instance", &n.instance),
        field("Service", &n.service),
    ];
    if let Some(ends) = n.ends_at.filter(|_| !n.transition.is_firing()) {
        fields.push(field("Resolved at", &rfc3339(ends)));
    }
    let mut blocks = vec![section(&head), json!({"type": "section", "fields": fields})];
    let values = values_text(n);
    if !values.is_empty() {
        blocks.push(section(&values));
    }
    if let Some(url) = &n.dashboard_url {
        blocks.push(section(&format!("<{}|Open the dashboard>", escape(url))));
    }
    if !n.artifact_urls.is_empty() {
        let links: Vec<String> = n
            .artifact_urls
            .iter()
            .map(|u| format!("<{}|{}>", escape(u), escape(artifact_name(u))))
            .collect();
        blocks.push(section(&format!(
            "Evidence captured at firing: {}",
            links.join(", ")
        )));
    }
    json!({"text": text, "blocks": blocks})
}

/// The last path segment of an artifact URL, as the link text.
fn artifact_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

fn status(n: &Notification, kind: EnvelopeKind) -> String {
    let base = match (kind, n.transition.is_firing()) {
        (EnvelopeKind::Test, _) => return "TEST".to_owned(),
        (_, false) => return "RESOLVED".to_owned(),
        (EnvelopeKind::Repeat, true) => "STILL FIRING",
        (_, true) if n.transition.as_str() == "escalated" => "ESCALATED",
        (_, true) => "FIRING",
    };
    format!("{base} {}", n.severity.as_str())
}

/// One line per value: `` `name`: value (threshold t) ``.
fn values_text(n: &Notification) -> String {
    let mut lines = Vec::new();
    for (name, value) in &n.values {
        let line = match n.thresholds.get(name) {
            Some(t) => format!("`{}`: {value} (threshold {t})", escape(name)),
            None => format!("`{}`: {value}", escape(name)),
        };
        lines.push(line);
    }
    for (name, t) in n
        .thresholds
        .iter()
        .filter(|(k, _)| !n.values.contains_key(*k))
    {
        lines.push(format!("`{}`: threshold {t}", escape(name)));
    }
    lines.join("\n")
}

fn section(text: &str) -> Value {
    let text: String = text.chars().take(SECTION_MAX_CHARS).collect();
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn field(name: &str, value: &str) -> Value {
    let value = if value.is_empty() { "-" } else { value };
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{}", escape(value))})
}

/// Slack's three control characters in mrkdwn.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::Transition;

    fn sample(transition: Transition) -> Notification {
        let mut n = Notification::new("a1", "HeapHigh", Severity::Critical, transition);
        n.summary = "heap > 800 MB".into();
        n.instance = "host-1".into();
        n.service = "checkout".into();
        n.values.insert("heap_bytes".into(), 900.0);
        n.thresholds.insert("heap_bytes".into(), 800.0);
        n.dashboard_url = Some("http://host-1/metrics/dashboard".into());
        n
    }

    fn all_text(v: &Value) -> String {
        serde_json::to_string(&v["blocks"]).unwrap()
    }

    #[test]
    fn firing_message_says_what_how_bad_since_value_and_link() {
        let v = body(&sample(Transition::Fired), EnvelopeKind::Transition);
        assert_eq!(
            v["text"],
            ":red_circle: [FIRING critical] HeapHigh: heap > 800 MB on host-1 (checkout)"
        );
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] == "section"));
        let text = all_text(&v);
        assert!(text.contains("heap &gt; 800 MB"), "{text}");
        assert!(text.contains("*Since*"), "{text}");
        assert!(text.contains("`heap_bytes`: 900 (threshold 800)"), "{text}");
        assert!(
            text.contains("<http://host-1/metrics/dashboard|Open the dashboard>"),
            "{text}"
        );
    }

    #[test]
    fn resolved_and_repeat_and_escalated_are_labelled() {
        let v = body(&sample(Transition::Resolved), EnvelopeKind::Transition);
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .starts_with(":large_green_circle: [RESOLVED]")
        );
        let v = body(&sample(Transition::Fired), EnvelopeKind::Repeat);
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("[STILL FIRING critical]")
        );
        let v = body(&sample(Transition::Escalated), EnvelopeKind::Transition);
        assert!(v["text"].as_str().unwrap().contains("[ESCALATED critical]"));
    }

    #[test]
    fn long_description_stays_within_the_section_limit() {
        let mut n = sample(Transition::Fired);
        n.description = "x".repeat(10_000);
        let v = body(&n, EnvelopeKind::Transition);
        let t = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(t.chars().count(), SECTION_MAX_CHARS);
    }

    #[test]
    fn artifact_urls_are_linked() {
        let mut n = sample(Transition::Fired);
        n.artifact_urls = vec!["http://h/debug/artifacts/17-heap".into()];
        let text = all_text(&body(&n, EnvelopeKind::Transition));
        assert!(
            text.contains(
                "Evidence captured at firing: <http://h/debug/artifacts/17-heap|17-heap>"
            ),
            "{text}"
        );
        assert!(
            !all_text(&body(&sample(Transition::Fired), EnvelopeKind::Transition))
                .contains("Evidence")
        );
    }
}
