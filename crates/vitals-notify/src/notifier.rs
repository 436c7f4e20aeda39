//! The handle the application keeps: `notify()` queues, `snapshot()` reports.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::delivery::{ChannelState, Command, NotifySnapshot};
use crate::envelope::{Envelope, EnvelopeKind};
use crate::notification::Notification;

/// One channel as the notifier sees it.
#[derive(Debug)]
pub(crate) struct ChannelHandle {
    pub(crate) state: Arc<ChannelState>,
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) batches: bool,
}

/// Delivers alert transitions to the configured channels from background tasks.
///
/// `notify` never blocks and never waits on the network: it takes a slot in each channel's
/// bounded queue or counts the notifications as dropped. Dropping the notifier stops its tasks;
/// what was not delivered stays in the outbox for the next start.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use vitals_notify::{Config, Notification, Severity, Transition};
/// let notifier = Config::new().start().unwrap(); // no channel: notify() is a no-op
/// notifier.notify(&[Notification::new("a1", "HeapHigh", Severity::Warning, Transition::Fired)]);
/// assert!(notifier.snapshot().channels.is_empty());
/// # }
/// ```
#[derive(Debug)]
pub struct Notifier {
    pub(crate) channels: Vec<ChannelHandle>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
    /// What the channels held as firing when the notifier started (from the outbox).
    pub(crate) firing: Vec<Notification>,
}

impl Notifier {
    /// Queues one evaluation's transitions to every channel: one envelope for the whole batch
    /// where the format takes an array (Alertmanager), one per notification elsewhere.
    /// Returns how many envelopes were queued (the rest were counted as dropped).
    pub fn notify(&self, batch: &[Notification]) -> usize {
        if batch.is_empty() {
            return 0;
        }
        self.channels
            .iter()
            .map(|c| self.enqueue(c, EnvelopeKind::Transition, batch))
            .sum()
    }

    /// Sends [`Notification::test`] to every channel (for an operator's "send a test" button).
    /// Returns how many channels queued it.
    pub fn send_test(&self, service: &str, instance: &str) -> usize {
        let test = [Notification::test(service, instance)];
        self.channels
            .iter()
            .map(|c| self.enqueue(c, EnvelopeKind::Test, &test))
            .sum()
    }

    fn enqueue(
        &self,
        channel: &ChannelHandle,
        kind: EnvelopeKind,
        batch: &[Notification],
    ) -> usize {
        let envelopes: Vec<Envelope> = if channel.batches {
            vec![Envelope::new(kind, batch.to_vec())]
        } else {
            batch
                .iter()
                .map(|n| Envelope::new(kind, vec![n.clone()]))
                .collect()
        };
        let mut queued = 0;
        for e in envelopes {
            let count = e.notifications.len();
            let resolves = e.notifications.iter().any(|n| !n.transition.is_firing());
            let reserved = if resolves {
                channel.state.reserve_resolve(count)
            } else {
                channel.state.reserve(count)
            };
            if !reserved {
                continue;
            }
            if channel.tx.try_send(Command::Send(e)).is_ok() {
                queued += 1;
            } else {
                // Closed (the task ended): give the slot back and count the loss.
                channel.state.release();
                channel.state.count_dropped(count);
            }
        }
        queued
    }

    /// The alerts the channels held as firing when this notifier started, read from the
    /// outbox (what a previous process delivered or queued as firing and not yet resolved),
    /// one per `alert_id`. With the in-memory outbox of a fresh process it is empty.
    pub fn firing(&self) -> &[Notification] {
        &self.firing
    }

    /// Tells every channel which alerts the application holds as active after a restart
    /// (restored from its own store): each one the channel tracks as firing stays so (repeats
    /// go on, nothing is sent now); one it does not know is sent as fired when the outbox is
    /// durable (its fire was lost before it reached the outbox), else only tracked; and an
    /// alert a channel still tracks as firing that is not among them is resolved (its resolve
    /// is queued, with the same `alert_id`). Call it once, at start.
    pub fn reconcile(&self, active: &[Notification]) {
        for c in &self.channels {
            // The channel holds twice its capacity in commands; at start it is empty.
            let _ = c.tx.try_send(Command::Reconcile(active.to_vec()));
        }
    }

    /// Every channel's counters, queue depth, last success, last error and recent dead letters.
    pub fn snapshot(&self) -> NotifySnapshot {
        NotifySnapshot {
            channels: self.channels.iter().map(|c| c.state.snapshot()).collect(),
        }
    }

    /// Whether no channel is configured.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Waits until every queue is empty or `deadline` passes; true when empty.
    /// For a graceful shutdown: call it, then drop the notifier.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            if self.channels.iter().all(|c| c.state.depth() == 0) {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the tasks and waits for them to end; undelivered envelopes stay in the outbox.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
