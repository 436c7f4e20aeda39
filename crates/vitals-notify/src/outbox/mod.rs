//! Where envelopes wait until a receiver accepts them: an in-memory default and, behind the
//! `sqlite` feature, a durable store.

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryOutbox;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteOutbox;

use crate::envelope::Envelope;
use crate::notification::Notification;

/// An outbox failed.
///
/// ```
/// let e = vitals_notify::OutboxError::new("disk full");
/// assert_eq!(e.to_string(), "outbox: disk full");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(String);

impl OutboxError {
    /// An error with the given text (it must not contain secrets).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// What a channel resumes from at start: [`Outbox::load`].
///
/// ```
/// let l = vitals_notify::Loaded::default();
/// assert!(l.envelopes.is_empty() && l.firing.is_empty() && l.unreadable.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Pending envelopes, oldest first.
    pub envelopes: Vec<Envelope>,
    /// Alerts the channel last delivered (or queued) as firing, so repeats and a later resolve
    /// go on after a restart.
    pub firing: Vec<Notification>,
    /// Rows that could not be read (id, reason): dead-lettered by the outbox, not loaded, so
    /// one bad row never holds back the rest.
    pub unreadable: Vec<(String, String)>,
}

/// A store of envelopes per channel (keyed by the channel's safe display name).
///
/// The delivery task of a channel calls it from a blocking thread: `enqueue` when it takes an
/// envelope in, `complete` when a receiver accepted it, `dead_letter` when a receiver refused it
/// for good, and `pending` once at start, to resume what a previous process left.
/// Implementations must keep `pending` in enqueue order.
///
/// ```
/// use vitals_notify::{Envelope, EnvelopeKind, MemoryOutbox, Notification, Outbox};
/// let outbox = MemoryOutbox::default();
/// let e = Envelope::new(EnvelopeKind::Test, vec![Notification::test("svc", "host")]);
/// outbox.enqueue("slack", &e).unwrap();
/// assert_eq!(outbox.pending("slack").unwrap(), vec![e.clone()]);
/// outbox.complete("slack", &e.id).unwrap();
/// assert!(outbox.pending("slack").unwrap().is_empty());
/// ```
pub trait Outbox: Send + Sync + 'static {
    /// Stores a pending envelope for `channel`.
    fn enqueue(&self, channel: &str, envelope: &Envelope) -> Result<(), OutboxError>;
    /// Forgets a delivered envelope.
    fn complete(&self, channel: &str, id: &str) -> Result<(), OutboxError>;
    /// Marks an envelope as refused for good (no longer pending); `reason` is safe text.
    fn dead_letter(&self, channel: &str, id: &str, reason: &str) -> Result<(), OutboxError>;
    /// The pending envelopes of `channel`, oldest first.
    fn pending(&self, channel: &str) -> Result<Vec<Envelope>, OutboxError>;
    /// Remembers that `notification`'s alert is firing on `channel` (replacing what was kept
    /// for its `alert_id`). The default keeps nothing (repeats then stop at a restart).
    fn set_firing(&self, channel: &str, notification: &Notification) -> Result<(), OutboxError> {
        let _ = (channel, notification);
        Ok(())
    }
    /// Forgets a firing alert of `channel` (it resolved).
    fn clear_firing(&self, channel: &str, alert_id: &str) -> Result<(), OutboxError> {
        let _ = (channel, alert_id);
        Ok(())
    }
    /// The firing alerts kept for `channel`.
    fn firing(&self, channel: &str) -> Result<Vec<Notification>, OutboxError> {
        let _ = channel;
        Ok(Vec::new())
    }
    /// Whether what is stored survives the process (so a firing alert the outbox does not
    /// know after a restart was never taken in, and is sent by `Notifier::reconcile`).
    /// Default `false`.
    fn durable(&self) -> bool {
        false
    }
    /// Everything `channel` resumes from at start. The default reads [`pending`](Self::pending)
    /// and [`firing`](Self::firing); a store that can hold rows it cannot read should
    /// dead-letter those and list them in [`Loaded::unreadable`] instead of failing the load.
    fn load(&self, channel: &str) -> Result<Loaded, OutboxError> {
        Ok(Loaded {
            envelopes: self.pending(channel)?,
            firing: self.firing(channel)?,
            unreadable: Vec::new(),
        })
    }
}

/// A shared outbox (several notifiers in turn, or one the application also reads).
impl<T: Outbox + ?Sized> Outbox for std::sync::Arc<T> {
    fn enqueue(&self, channel: &str, envelope: &Envelope) -> Result<(), OutboxError> {
        (**self).enqueue(channel, envelope)
    }
    fn complete(&self, channel: &str, id: &str) -> Result<(), OutboxError> {
        (**self).complete(channel, id)
    }
    fn dead_letter(&self, channel: &str, id: &str, reason: &str) -> Result<(), OutboxError> {
        (**self).dead_letter(channel, id, reason)
    }
    fn pending(&self, channel: &str) -> Result<Vec<Envelope>, OutboxError> {
        (**self).pending(channel)
    }
    fn set_firing(&self, channel: &str, notification: &Notification) -> Result<(), OutboxError> {
        (**self).set_firing(channel, notification)
    }
    fn clear_firing(&self, channel: &str, alert_id: &str) -> Result<(), OutboxError> {
        (**self).clear_firing(channel, alert_id)
    }
    fn firing(&self, channel: &str) -> Result<Vec<Notification>, OutboxError> {
        (**self).firing(channel)
    }
    fn load(&self, channel: &str) -> Result<Loaded, OutboxError> {
        (**self).load(channel)
    }
    fn durable(&self) -> bool {
        (**self).durable()
    }
}
