//! Generic webhook signed per Standard Webhooks.
//!
//! Body (`application/json`):
//! `{"type": "alert.fired" | "alert.escalated" | "alert.resolved" | "alert.test",
//!   "timestamp": RFC 3339, "data": {alert_id, rule, severity, transition, repeat, test,
//!   summary, description, labels, values, thresholds, starts_at, ends_at, instance, service,
//!   dashboard_url, artifact_urls}}` (`artifact_urls`: evidence captured at firing, `[]` if none).
//! Headers: `webhook-id` (the envelope id, the same on every retry), `webhook-timestamp`
//! (Unix seconds of the attempt), `webhook-signature` (`v1,` + base64 HMAC-SHA256 over
//! `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of the `whsec_` secret).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::envelope::{Envelope, EnvelopeKind};
use crate::notification::{Notification, rfc3339};

/// A decoded `whsec_` signing key; `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parses `whsec_<base64>` (the prefix is optional); the error never contains the input.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let b64 = raw.trim().strip_prefix("whsec_").unwrap_or(raw.trim());
        let key = STANDARD.decode(b64).map_err(|_| {
            "not a whsec_ secret: the part after `whsec_` must be base64".to_owned()
        })?;
        if key.is_empty() {
            return Err("the signing secret is empty".to_owned());
        }
        Ok(Self(key))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

pub(super) fn body(n: &Notification, envelope: &Envelope) -> Value {
    let kind = match envelope.kind {
        EnvelopeKind::Test => "alert.test".to_owned(),
        _ => format!("alert.{}", n.transition.as_str()),
    };
    json!({
        "type": kind,
        "timestamp": rfc3339(envelope.created),
        "data": {
            "alert_id": n.alert_id,
            "rule": n.rule,
            "severity": n.severity,
            "transition": n.transition,
            "repeat": envelope.kind == EnvelopeKind::Repeat,
            "test": envelope.kind == EnvelopeKind::Test,
            "summary": n.summary,
            "description": n.description,
            "labels": n.labels,
            "values": n.values,
            "thresholds": n.thresholds,
            "starts_at": rfc3339(n.starts_at),
            "ends_at": n.ends_at.map(rfc3339),
            "instance": n.instance,
            "service": n.service,
            "dashboard_url": n.dashboard_url,
            "artifact_urls": n.artifact_urls,
        },
    })
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub(super) fn sign(secret: &WebhookSecret, id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{Severity, Transition};

    #[test]
    fn signature_matches_the_specification_example() {
        // The example of the Standard Webhooks specification (and its reference libraries).
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_parse_with_or_without_prefix_and_fail_without_echo() {
        assert!(WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        let err = WebhookSecret::parse("whsec_not*base64*secret").unwrap_err();
        assert!(!err.contains("not*base64"), "{err}");
        assert!(WebhookSecret::parse("whsec_").is_err());
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{s:?}"), "WebhookSecret(***)");
    }

    #[test]
    fn body_is_the_documented_shape() {
        let mut n = Notification::new("a1", "HeapHigh", Severity::Warning, Transition::Resolved);
        n.values.insert("heap_bytes".into(), 1.5);
        let e = Envelope::new(EnvelopeKind::Transition, vec![n.clone()]);
        let v = body(&n, &e);
        assert_eq!(v["type"], "alert.resolved");
        assert_eq!(v["data"]["alert_id"], "a1");
        assert_eq!(v["data"]["severity"], "warning");
        assert_eq!(v["data"]["transition"], "resolved");
        assert_eq!(v["data"]["repeat"], false);
        assert_eq!(v["data"]["values"]["heap_bytes"], 1.5);
        assert!(v["data"]["ends_at"].is_null());
        assert_eq!(v["data"]["artifact_urls"], serde_json::json!([]));
        n.artifact_urls = vec!["http://h/debug/artifacts/a".into()];
        let v = body(&n, &e);
        assert_eq!(v["data"]["artifact_urls"][0], "http://h/debug/artifacts/a");
    }
}
