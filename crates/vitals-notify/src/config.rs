//! Configuration: a builder that consumes itself, validation naming the field, `from_env`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::channels::{ChannelKind, Target, WebhookSecret};
use crate::delivery::{ChannelState, DeliveryOptions, Worker};
use crate::notifier::{ChannelHandle, Notifier};
use crate::outbox::{MemoryOutbox, Outbox};
use crate::secret::{Secret, SecretUrl};

/// PagerDuty's Events API host.
const PAGERDUTY_DEFAULT_URL: &str = "https://events.pagerduty.com";
/// Alertmanager's default `resolve_timeout`: resends must come sooner.
const ALERTMANAGER_RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);

/// A setting is missing or malformed. The message names the field (or environment variable)
/// and never contains the value.
///
/// ```
/// let err = vitals_notify::Config::new().slack("not a url").start().unwrap_err();
/// assert!(err.to_string().starts_with("slack_webhook_url: "));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is malformed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field or environment variable.
        field: String,
        /// What is wrong (without the value).
        reason: String,
    },
    /// `start` was called outside a Tokio runtime.
    #[error("vitals-notify must be started inside a Tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A raw value and the name to blame when it is malformed.
#[derive(Clone)]
struct Field {
    value: String,
    name: String,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=***", self.name)
    }
}

fn field(value: impl Into<String>, name: &str) -> Field {
    Field {
        value: value.into(),
        name: name.to_owned(),
    }
}

/// What to deliver where. Build it with the methods (each consumes and returns the config) or
/// [`Config::from_env`], then [`Config::start`] inside a Tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use vitals_notify::{ChannelKind, Config, DeliveryOptions};
/// let notifier = Config::new()
///     .alertmanager("http://127.0.0.1:9093")
///     .webhook("https://hooks.example.com/vitals", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
///     .options(ChannelKind::Webhook, DeliveryOptions { capacity: 100, ..DeliveryOptions::defaults(ChannelKind::Webhook) })
///     .start()
///     .unwrap();
/// let names: Vec<_> = notifier.snapshot().channels.into_iter().map(|c| c.name).collect();
/// assert_eq!(names, ["alertmanager:http://127.0.0.1:9093", "webhook:https://hooks.example.com"]);
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Config {
    alertmanagers: Vec<Field>,
    pagerduty_key: Option<Field>,
    pagerduty_url: Option<Field>,
    slack: Option<Field>,
    webhook: Option<(Field, Field)>,
    options: HashMap<ChannelKind, DeliveryOptions>,
    outbox: Option<Arc<dyn Outbox>>,
}

impl std::fmt::Debug for dyn Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

impl Config {
    /// No channels, default options, in-memory outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an Alertmanager (base URL; alerts go to `{url}/api/v2/alerts`). Each is a channel.
    pub fn alertmanager(mut self, url: impl Into<String>) -> Self {
        self.alertmanagers.push(field(url, "alertmanager_url"));
        self
    }

    /// Sends to PagerDuty Events API v2 with this integration's routing key.
    pub fn pagerduty(mut self, routing_key: impl Into<String>) -> Self {
        self.pagerduty_key = Some(field(routing_key, "pagerduty_routing_key"));
        self
    }

    /// The PagerDuty events host (default `https://events.pagerduty.com`).
    pub fn pagerduty_url(mut self, url: impl Into<String>) -> Self {
        self.pagerduty_url = Some(field(url, "pagerduty_url"));
        self
    }

    /// Sends to a Slack incoming webhook.
    pub fn slack(mut self, webhook_url: impl Into<String>) -> Self {
        self.slack = Some(field(webhook_url, "slack_webhook_url"));
        self
    }

    /// Sends to a generic webhook, signed with a `whsec_` secret (Standard Webhooks).
    pub fn webhook(mut self, url: impl Into<String>, secret: impl Into<String>) -> Self {
        self.webhook = Some((field(url, "webhook_url"), field(secret, "webhook_secret")));
        self
    }

    /// Replaces the delivery options of every channel of `kind`.
    pub fn options(mut self, kind: ChannelKind, options: DeliveryOptions) -> Self {
        self.options.insert(kind, options);
        self
    }

    /// Keeps pending envelopes in `outbox` (default: [`MemoryOutbox`]).
    pub fn outbox(mut self, outbox: impl Outbox) -> Self {
        self.outbox = Some(Arc::new(outbox));
        self
    }

    /// Reads `VITALS_ALERTMANAGER_URL` (comma list), `VITALS_PAGERDUTY_ROUTING_KEY` (+
    /// `VITALS_PAGERDUTY_URL`), `VITALS_SLACK_WEBHOOK_URL`, `VITALS_WEBHOOK_URL` +
    /// `VITALS_WEBHOOK_SECRET`. Empty means unset. A malformed value is an error naming the
    /// variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] over any source of variables.
    ///
    /// ```
    /// use vitals_notify::Config;
    /// let vars = |name: &str| match name {
    ///     "VITALS_ALERTMANAGER_URL" => Some("http://am1:9093, http://am2:9093".to_owned()),
    ///     "VITALS_WEBHOOK_URL" => Some("https://example.com/hook".to_owned()),
    ///     _ => None,
    /// };
    /// let err = Config::from_vars(vars).unwrap_err();
    /// assert!(err.to_string().starts_with("VITALS_WEBHOOK_SECRET: "));
    /// ```
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = Self::new();
        if let Some(list) = var("VITALS_ALERTMANAGER_URL") {
            for url in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                config
                    .alertmanagers
                    .push(field(url, "VITALS_ALERTMANAGER_URL"));
            }
        }
        config.pagerduty_key =
            var("VITALS_PAGERDUTY_ROUTING_KEY").map(|v| field(v, "VITALS_PAGERDUTY_ROUTING_KEY"));
        config.pagerduty_url =
            var("VITALS_PAGERDUTY_URL").map(|v| field(v, "VITALS_PAGERDUTY_URL"));
        config.slack =
            var("VITALS_SLACK_WEBHOOK_URL").map(|v| field(v, "VITALS_SLACK_WEBHOOK_URL"));
        match (var("VITALS_WEBHOOK_URL"), var("VITALS_WEBHOOK_SECRET")) {
            (Some(url), Some(secret)) => {
                config.webhook = Some((
                    field(url, "VITALS_WEBHOOK_URL"),
                    field(secret, "VITALS_WEBHOOK_SECRET"),
                ));
            }
            (Some(_), None) => {
                return Err(invalid(
                    "VITALS_WEBHOOK_SECRET",
                    "required with VITALS_WEBHOOK_URL",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "VITALS_WEBHOOK_URL",
                    "required with VITALS_WEBHOOK_SECRET",
                ));
            }
            (None, None) => {}
        }
        config.targets()?;
        Ok(config)
    }

    /// Whether no channel is configured.
    pub fn is_empty(&self) -> bool {
        self.alertmanagers.is_empty()
            && self.pagerduty_key.is_none()
            && self.slack.is_none()
            && self.webhook.is_none()
    }

    /// Parses every channel setting.
    fn targets(&self) -> Result<Vec<Target>, ConfigError> {
        let url = |f: &Field| SecretUrl::parse(&f.value).map_err(|r| invalid(&f.name, r));
        let mut targets = Vec::new();
        for f in &self.alertmanagers {
            targets.push(Target::Alertmanager { base: url(f)? });
        }
        match (&self.pagerduty_key, &self.pagerduty_url) {
            (Some(key), pd_url) => {
                let k = key.value.trim();
                if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid(
                        &key.name,
                        "must be a non-empty routing key without spaces",
                    ));
                }
                let base = match pd_url {
                    Some(f) => url(f)?,
                    None => SecretUrl::parse(PAGERDUTY_DEFAULT_URL)
                        .map_err(|r| invalid("pagerduty_url", r))?,
                };
                targets.push(Target::PagerDuty {
                    base,
                    routing_key: Secret::new(k),
                });
            }
            (None, Some(f)) => return Err(invalid(&f.name, "set without a PagerDuty routing key")),
            (None, None) => {}
        }
        if let Some(f) = &self.slack {
            targets.push(Target::Slack { url: url(f)? });
        }
        if let Some((u, s)) = &self.webhook {
            let secret = WebhookSecret::parse(&s.value).map_err(|r| invalid(&s.name, r))?;
            targets.push(Target::Webhook {
                url: url(u)?,
                secret,
            });
        }
        Ok(targets)
    }

    fn options_for(&self, kind: ChannelKind) -> Result<DeliveryOptions, ConfigError> {
        let o = self
            .options
            .get(&kind)
            .cloned()
            .unwrap_or_else(|| DeliveryOptions::defaults(kind));
        let name = format!("{}.options", kind.as_str());
        if o.capacity == 0 {
            return Err(invalid(&name, "capacity must be at least 1"));
        }
        if o.max_attempts == 0 || o.max_age.is_zero() {
            return Err(invalid(
                &name,
                "max_attempts and max_age must be above zero",
            ));
        }
        if o.timeout.is_zero() || o.repeat_interval.is_zero() {
            return Err(invalid(
                &name,
                "timeout and repeat_interval must be above zero",
            ));
        }
        if kind == ChannelKind::Alertmanager && o.repeat_interval >= ALERTMANAGER_RESOLVE_TIMEOUT {
            return Err(invalid(
                &name,
                "repeat_interval must stay below Alertmanager's 5 min resolve_timeout",
            ));
        }
        Ok(o)
    }

    /// Validates the settings and starts one delivery task per channel on the current Tokio
    /// runtime.
    pub fn start(self) -> Result<Notifier, ConfigError> {
        let targets = self.targets()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("vitals-notify/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A redirect would carry a signed body or a token elsewhere: treat 3xx as refusal.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Client(e.without_url().to_string()))?;
        let outbox = self
            .outbox
            .clone()
            .unwrap_or_else(|| Arc::new(MemoryOutbox::default()));
        let (stop, stop_rx) = watch::channel(false);
        let (mut channels, mut tasks, mut names) = (Vec::new(), Vec::new(), HashSet::new());
        let mut firing = std::collections::BTreeMap::new();
        for target in targets {
            let options = self.options_for(target.kind())?;
            let mut name = target.display_name();
            for i in 2.. {
                if names.insert(name.clone()) {
                    break;
                }
                name = format!("{}#{i}", target.display_name());
            }
            let state = Arc::new(ChannelState::new(
                name,
                target.kind(),
                options.capacity,
                options.dead_letters_kept,
            ));
            // Twice the capacity: resolves may take slots past it (see `reserve_resolve`).
            let (tx, rx) = mpsc::channel(options.capacity.saturating_mul(2));
            // Read here, at start, so the firing alerts are known before the first evaluation
            // (`Notifier::firing`); a failed read is logged and retried by the task.
            let loaded = match outbox.load(&state.name) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(channel = %state.name, error = %e, "notification outbox unreadable at start; retrying");
                    state.error(e.to_string());
                    None
                }
            };
            if let Some(l) = &loaded {
                merge_firing(&mut firing, l);
            }
            channels.push(ChannelHandle {
                state: state.clone(),
                tx,
                batches: target.batches(),
            });
            let worker = Worker {
                target,
                options,
                client: client.clone(),
                outbox: outbox.clone(),
                state,
                rx,
                stop: stop_rx.clone(),
                loaded,
            };
            tasks.push(runtime.spawn(worker.run()));
        }
        Ok(Notifier {
            channels,
            stop,
            tasks,
            firing: firing.into_values().collect(),
        })
    }
}

/// Adds to `firing` (by alert id) what a channel holds as firing once its outbox is replayed:
/// its firing set, then its pending transitions in order (a pending resolve removes one).
fn merge_firing(
    firing: &mut std::collections::BTreeMap<String, crate::notification::Notification>,
    loaded: &crate::outbox::Loaded,
) {
    let mut mine: std::collections::BTreeMap<String, crate::notification::Notification> = loaded
        .firing
        .iter()
        .map(|n| (n.alert_id.clone(), n.clone()))
        .collect();
    for e in &loaded.envelopes {
        if e.kind != crate::envelope::EnvelopeKind::Transition {
            continue;
        }
        for n in &e.notifications {
            if n.transition.is_firing() {
                mine.insert(n.alert_id.clone(), n.clone());
            } else {
                mine.remove(&n.alert_id);
            }
        }
    }
    for (id, n) in mine {
        firing.entry(id).or_insert(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn env_errors_name_the_variable_and_hide_the_value() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("VITALS_ALERTMANAGER_URL", "http://ok:9093,notaurl-t0ken")],
                "VITALS_ALERTMANAGER_URL",
            ),
            (
                &[("VITALS_SLACK_WEBHOOK_URL", "hooks.slack.com/t0ken")],
                "VITALS_SLACK_WEBHOOK_URL",
            ),
            (
                &[("VITALS_PAGERDUTY_ROUTING_KEY", "a t0ken")],
                "VITALS_PAGERDUTY_ROUTING_KEY",
            ),
            (
                &[
                    ("VITALS_PAGERDUTY_ROUTING_KEY", "k"),
                    ("VITALS_PAGERDUTY_URL", "t0ken"),
                ],
                "VITALS_PAGERDUTY_URL",
            ),
            (
                &[("VITALS_PAGERDUTY_URL", "http://pd")],
                "VITALS_PAGERDUTY_URL",
            ),
            (
                &[
                    ("VITALS_WEBHOOK_URL", "http://h/t0ken"),
                    ("VITALS_WEBHOOK_SECRET", "whsec_t0ken!!"),
                ],
                "VITALS_WEBHOOK_SECRET",
            ),
            (
                &[("VITALS_WEBHOOK_SECRET", "whsec_AAAA")],
                "VITALS_WEBHOOK_URL",
            ),
        ];
        for (pairs, var) in cases {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(pairs.to_vec().into_boxed_slice());
            let err = Config::from_vars(vars(pairs)).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{var}: ")), "{err}");
            assert!(!err.contains("t0ken"), "{err}");
        }
    }

    #[test]
    fn env_builds_every_channel_and_empty_means_unset() {
        let c = Config::from_vars(vars(&[
            ("VITALS_ALERTMANAGER_URL", " http://a:9093 , ,http://b:9093"),
            ("VITALS_PAGERDUTY_ROUTING_KEY", "R0UTINGKEY"),
            (
                "VITALS_SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/X",
            ),
            ("VITALS_WEBHOOK_URL", "https://example.com/h"),
            (
                "VITALS_WEBHOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ]))
        .unwrap();
        let names: Vec<String> = c
            .targets()
            .unwrap()
            .iter()
            .map(Target::display_name)
            .collect();
        assert_eq!(
            names,
            [
                "alertmanager:http://a:9093",
                "alertmanager:http://b:9093",
                "pagerduty",
                "slack",
                "webhook:https://example.com"
            ]
        );
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("R0UTINGKEY") && !dbg.contains("services") && !dbg.contains("MfKQ"),
            "{dbg}"
        );
        assert!(
            Config::from_vars(vars(&[("VITALS_SLACK_WEBHOOK_URL", "  ")]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn options_are_validated() {
        let am = DeliveryOptions {
            repeat_interval: Duration::from_secs(300),
            ..DeliveryOptions::defaults(ChannelKind::Alertmanager)
        };
        let err = Config::new()
            .options(ChannelKind::Alertmanager, am)
            .options_for(ChannelKind::Alertmanager)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("alertmanager.options: "),
            "{err}"
        );
        let zero = DeliveryOptions {
            capacity: 0,
            ..DeliveryOptions::defaults(ChannelKind::Slack)
        };
        assert!(
            Config::new()
                .options(ChannelKind::Slack, zero)
                .options_for(ChannelKind::Slack)
                .is_err()
        );
    }

    #[test]
    fn start_needs_a_runtime() {
        assert!(matches!(Config::new().start(), Err(ConfigError::NoRuntime)));
    }
}
