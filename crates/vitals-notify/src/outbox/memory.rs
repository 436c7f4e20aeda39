//! The default outbox: in memory, shared by every `Notifier` built with the same instance.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{Outbox, OutboxError};
use crate::envelope::Envelope;
use crate::notification::Notification;

/// An in-memory outbox. It holds only envelopes a channel admitted and the alerts it tracks as
/// firing, so it is bounded by the channels' queue capacities. Dead letters are not kept here
/// (the channel's snapshot keeps the recent ones). Shared by two notifiers in turn, it carries
/// pending envelopes and firing alerts from one to the next (as a restart does with SQLite).
///
/// ```
/// use vitals_notify::{MemoryOutbox, Outbox};
/// assert!(MemoryOutbox::default().pending("slack").unwrap().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    pending: Mutex<HashMap<String, VecDeque<Envelope>>>,
    firing: Mutex<HashMap<String, Vec<Notification>>>,
}

impl MemoryOutbox {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, VecDeque<Envelope>>) -> R) -> R {
        let mut guard = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn remove(&self, channel: &str, id: &str) {
        self.with(|m| {
            if let Some(q) = m.get_mut(channel) {
                q.retain(|e| e.id != id);
            }
        });
    }
}

impl Outbox for MemoryOutbox {
    fn enqueue(&self, channel: &str, envelope: &Envelope) -> Result<(), OutboxError> {
        self.with(|m| {
            m.entry(channel.to_owned())
                .or_default()
                .push_back(envelope.clone());
        });
        Ok(())
    }

    fn complete(&self, channel: &str, id: &str) -> Result<(), OutboxError> {
        self.remove(channel, id);
        Ok(())
    }

    fn dead_letter(&self, channel: &str, id: &str, _reason: &str) -> Result<(), OutboxError> {
        self.remove(channel, id);
        Ok(())
    }

    fn set_firing(&self, channel: &str, notification: &Notification) -> Result<(), OutboxError> {
        let mut m = self.firing.lock().unwrap_or_else(|p| p.into_inner());
        let list = m.entry(channel.to_owned()).or_default();
        list.retain(|n| n.alert_id != notification.alert_id);
        list.push(notification.clone());
        Ok(())
    }

    fn clear_firing(&self, channel: &str, alert_id: &str) -> Result<(), OutboxError> {
        let mut m = self.firing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = m.get_mut(channel) {
            list.retain(|n| n.alert_id != alert_id);
        }
        Ok(())
    }

    fn firing(&self, channel: &str) -> Result<Vec<Notification>, OutboxError> {
        let m = self.firing.lock().unwrap_or_else(|p| p.into_inner());
        Ok(m.get(channel).cloned().unwrap_or_default())
    }

    fn pending(&self, channel: &str) -> Result<Vec<Envelope>, OutboxError> {
        Ok(self.with(|m| {
            m.get(channel)
                .map(|q| q.iter().cloned().collect())
                .unwrap_or_default()
        }))
    }
}
