//! The four channel formats: each a pure function from an envelope to an HTTP request.

mod alertmanager;
mod pagerduty;
mod slack;
mod webhook;

use std::time::SystemTime;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::secret::{Secret, SecretUrl};

pub(crate) use webhook::WebhookSecret;

/// The kind of a channel.
///
/// ```
/// assert_eq!(vitals_notify::ChannelKind::PagerDuty.as_str(), "pagerduty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Prometheus Alertmanager, `POST /api/v2/alerts`.
    Alertmanager,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// Slack incoming webhook.
    Slack,
    /// Generic webhook signed per Standard Webhooks.
    Webhook,
}

impl ChannelKind {
    /// The lowercase name (the `channel` label's prefix).
    ///
    /// ```
    /// assert_eq!(vitals_notify::ChannelKind::Webhook.as_str(), "webhook");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alertmanager => "alertmanager",
            Self::PagerDuty => "pagerduty",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
        }
    }
}

/// Where and how a channel sends.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Alertmanager {
        base: SecretUrl,
    },
    PagerDuty {
        base: SecretUrl,
        routing_key: Secret,
    },
    Slack {
        url: SecretUrl,
    },
    Webhook {
        url: SecretUrl,
        secret: WebhookSecret,
    },
}

/// A request ready to send. Its URL may hold a token (Slack, webhooks) and its body a
/// routing key (PagerDuty), so `Debug` shows only the scheme, host and port, the header names
/// and the body's length.
pub(crate) struct HttpRequest {
    pub(crate) url: Url,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("HttpRequest")
            .field(
                "url",
                &format_args!(
                    "{}://{}{}/***",
                    self.url.scheme(),
                    self.url.host_str().unwrap_or(""),
                    self.url.port().map(|p| format!(":{p}")).unwrap_or_default()
                ),
            )
            .field("headers", &names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Target {
    pub(crate) fn kind(&self) -> ChannelKind {
        match self {
            Self::Alertmanager { .. } => ChannelKind::Alertmanager,
            Self::PagerDuty { .. } => ChannelKind::PagerDuty,
            Self::Slack { .. } => ChannelKind::Slack,
            Self::Webhook { .. } => ChannelKind::Webhook,
        }
    }

    /// The safe name: `alertmanager:http://host:9093`, `pagerduty`, `slack`, `webhook:https://host`.
    pub(crate) fn display_name(&self) -> String {
        match self {
            Self::Alertmanager { base } => format!("alertmanager:{}", base.display_name()),
            Self::PagerDuty { .. } => "pagerduty".to_owned(),
            Self::Slack { .. } => "slack".to_owned(),
            Self::Webhook { url, .. } => format!("webhook:{}", url.display_name()),
        }
    }

    /// Whether one request may carry many notifications.
    pub(crate) fn batches(&self) -> bool {
        matches!(self, Self::Alertmanager { .. })
    }

    /// Raw secret strings, scrubbed from any text a receiver sends back.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Self::Alertmanager { base } => vec![base.expose().as_str()],
            Self::PagerDuty { routing_key, .. } => vec![routing_key.expose()],
            Self::Slack { url } => vec![url.expose().as_str(), url.expose().path()],
            Self::Webhook { url, .. } => vec![url.expose().as_str(), url.expose().path()],
        }
    }

    /// Builds the request for one attempt; `now` stamps time-dependent parts (signature
    /// timestamp, Alertmanager's `endsAt` fallback).
    pub(crate) fn build(&self, envelope: &Envelope, now: SystemTime) -> HttpRequest {
        let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
        let content_type = ("content-type", "application/json".to_owned());
        match self {
            Self::Alertmanager { base } => HttpRequest {
                url: base.join_path("api/v2/alerts"),
                headers: vec![content_type],
                body: json(alertmanager::body(&envelope.notifications, now)),
            },
            Self::PagerDuty { base, routing_key } => {
                let n = envelope.notifications.first();
                HttpRequest {
                    url: base.join_path("v2/enqueue"),
                    headers: vec![content_type],
                    body: n
                        .map(|n| json(pagerduty::body(routing_key.expose(), n)))
                        .unwrap_or_default(),
                }
            }
            Self::Slack { url } => {
                let n = envelope.notifications.first();
                HttpRequest {
                    url: url.expose().clone(),
                    headers: vec![content_type],
                    body: n
                        .map(|n| json(slack::body(n, envelope.kind)))
                        .unwrap_or_default(),
                }
            }
            Self::Webhook { url, secret } => {
                let body = envelope
                    .notifications
                    .first()
                    .map(|n| json(webhook::body(n, envelope)))
                    .unwrap_or_default();
                let ts = now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let signature = webhook::sign(secret, &envelope.id, ts, &body);
                HttpRequest {
                    url: url.expose().clone(),
                    headers: vec![
                        content_type,
                        ("webhook-id", envelope.id.clone()),
                        ("webhook-timestamp", ts.to_string()),
                        ("webhook-signature", signature),
                    ],
                    body,
                }
            }
        }
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn request_debug_shows_no_token_and_no_body() {
        let r = HttpRequest {
            url: Url::parse("https://hooks.slack.com:8443/services/T0/B0/s3cr3t?k=t0ken").unwrap(),
            headers: vec![("webhook-signature", "v1,s1gnature".to_owned())],
            body: br#"{"routing_key":"pdk3y"}"#.to_vec(),
        };
        let text = format!("{r:?}");
        assert!(text.contains("https://hooks.slack.com:8443/***"), "{text}");
        assert!(text.contains("webhook-signature"), "{text}");
        for secret in ["s3cr3t", "t0ken", "s1gnature", "pdk3y", "services"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
