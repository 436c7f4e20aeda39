//! The input model: one alert transition, independent of the core's alert types.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// How bad an alert is.
///
/// ```
/// use vitals_notify::Severity;
/// assert_eq!(Severity::Critical.as_str(), "critical");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Someone must act now.
    Critical,
    /// Something is degrading.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The lowercase name used in labels and payloads.
    ///
    /// ```
    /// assert_eq!(vitals_notify::Severity::Info.as_str(), "info");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// What happened to the alert.
///
/// ```
/// use vitals_notify::Transition;
/// assert!(Transition::Escalated.is_firing());
/// assert!(!Transition::Resolved.is_firing());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The alert started firing.
    Fired,
    /// The alert is still firing, at a higher severity.
    Escalated,
    /// The alert stopped firing.
    Resolved,
}

impl Transition {
    /// The lowercase name used in payloads.
    ///
    /// ```
    /// assert_eq!(vitals_notify::Transition::Fired.as_str(), "fired");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
        }
    }

    /// Whether the alert is firing after this transition.
    ///
    /// ```
    /// assert!(vitals_notify::Transition::Fired.is_firing());
    /// ```
    pub fn is_firing(self) -> bool {
        !matches!(self, Self::Resolved)
    }
}

/// One alert transition to deliver. Plain data: the application maps its own alert type to it.
///
/// `alert_id` is stable for one alert instance (from fire to resolve): it is PagerDuty's
/// `dedup_key`, the key that keeps a resolve behind its fire, and the key of the repeat timer.
///
/// ```
/// use vitals_notify::{Notification, Severity, Transition};
/// let mut n = Notification::new("heap-1", "HeapHigh", Severity::Warning, Transition::Fired);
/// n.values.insert("heap_bytes".into(), 9.0e8);
/// n.thresholds.insert("heap_bytes".into(), 8.0e8);
/// assert_eq!(n.rule, "HeapHigh");
/// assert!(n.ends_at.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable identifier of this alert instance.
    pub alert_id: String,
    /// The rule's name (Alertmanager's `alertname`).
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// What happened.
    pub transition: Transition,
    /// One line for humans.
    pub summary: String,
    /// A longer explanation.
    pub description: String,
    /// The rule's own labels.
    pub labels: BTreeMap<String, String>,
    /// Observed values by name.
    pub values: BTreeMap<String, f64>,
    /// Thresholds by name (matched with `values` by name).
    pub thresholds: BTreeMap<String, f64>,
    /// When the alert started firing.
    pub starts_at: SystemTime,
    /// When it stopped firing (set on resolve).
    pub ends_at: Option<SystemTime>,
    /// The process or host that raised it.
    pub instance: String,
    /// The service it belongs to.
    pub service: String,
    /// Where to look (the dashboard).
    pub dashboard_url: Option<String>,
    /// What to do: the rule's runbook page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
    /// Evidence captured when the alert fired (profiles, task dumps), as URLs to download.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifact_urls: Vec<String>,
}

impl Notification {
    /// A notification with the given identity, starting now, other fields empty.
    ///
    /// ```
    /// use vitals_notify::{Notification, Severity, Transition};
    /// let n = Notification::new("a", "Rule", Severity::Critical, Transition::Resolved);
    /// assert!(n.labels.is_empty());
    /// ```
    pub fn new(
        alert_id: impl Into<String>,
        rule: impl Into<String>,
        severity: Severity,
        transition: Transition,
    ) -> Self {
        Self {
            alert_id: alert_id.into(),
            rule: rule.into(),
            severity,
            transition,
            summary: String::new(),
            description: String::new(),
            labels: BTreeMap::new(),
            values: BTreeMap::new(),
            thresholds: BTreeMap::new(),
            starts_at: SystemTime::now(),
            ends_at: None,
            instance: String::new(),
            service: String::new(),
            dashboard_url: None,
            runbook_url: None,
            artifact_urls: Vec::new(),
        }
    }

    /// A test notification (severity info, rule `VitalsTestNotification`), to check that a
    /// channel is wired. Each call has its own `alert_id`.
    ///
    /// ```
    /// let n = vitals_notify::Notification::test("checkout", "host-1:8080");
    /// assert_eq!(n.rule, "VitalsTestNotification");
    /// assert_eq!(n.service, "checkout");
    /// ```
    pub fn test(service: impl Into<String>, instance: impl Into<String>) -> Self {
        let mut n = Self::new(
            format!("vitals-test-{:016x}", fastrand::u64(..)),
            "VitalsTestNotification",
            Severity::Info,
            Transition::Fired,
        );
        n.summary = "Test notification from vitals".to_owned();
        n.description = "Sent on request to check that this channel delivers.".to_owned();
        n.service = service.into();
        n.instance = instance.into();
        n
    }

    /// Summary, or the rule's name when the summary is empty.
    pub(crate) fn headline(&self) -> &str {
        if self.summary.is_empty() {
            &self.rule
        } else {
            &self.summary
        }
    }
}

/// RFC 3339 with milliseconds, UTC (`2024-05-01T12:00:00.000Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
