//! The unit of delivery: what one channel sends in one request.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::notification::Notification;

/// Why an envelope exists.
///
/// ```
/// assert_eq!(vitals_notify::EnvelopeKind::Repeat.as_str(), "repeat");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvelopeKind {
    /// Fresh transitions from one evaluation.
    Transition,
    /// Still-firing alerts sent again (Alertmanager's resend, the 4 h repeat elsewhere).
    Repeat,
    /// A test notification requested by an operator.
    Test,
}

impl EnvelopeKind {
    /// The lowercase name.
    ///
    /// ```
    /// assert_eq!(vitals_notify::EnvelopeKind::Test.as_str(), "test");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transition => "transition",
            Self::Repeat => "repeat",
            Self::Test => "test",
        }
    }
}

/// One request's worth of notifications for one channel, with the id that stays the same
/// across retries (the generic webhook's `webhook-id`) and across restarts (the outbox key).
///
/// ```
/// use vitals_notify::{Envelope, EnvelopeKind, Notification};
/// let e = Envelope::new(EnvelopeKind::Test, vec![Notification::test("svc", "host")]);
/// assert!(e.id.starts_with("msg_"));
/// let json = serde_json::to_string(&e).unwrap();
/// assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), e);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique id (`msg_` + 32 hex digits).
    pub id: String,
    /// Why it exists.
    pub kind: EnvelopeKind,
    /// The notifications it carries (one, or one evaluation's batch for Alertmanager).
    pub notifications: Vec<Notification>,
    /// When it was created.
    pub created: SystemTime,
}

impl Envelope {
    /// A new envelope with a fresh random id.
    pub fn new(kind: EnvelopeKind, notifications: Vec<Notification>) -> Self {
        Self {
            id: format!("msg_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            kind,
            notifications,
            created: SystemTime::now(),
        }
    }
}
