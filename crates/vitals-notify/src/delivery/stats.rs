//! Counters and recent history of one channel, and the plain snapshot of them.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::channels::ChannelKind;
use crate::notification::rfc3339;

/// An envelope a receiver refused for good (a 4xx other than 429).
///
/// ```
/// let d = vitals_notify::DeadLetter { id: "msg_1".into(), alert_ids: vec!["a".into()],
///     status: Some(400), reason: "HTTP 400 Bad Request".into(), at: std::time::SystemTime::now() };
/// assert_eq!(d.status, Some(400));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The envelope's id.
    pub id: String,
    /// The alerts it carried.
    pub alert_ids: Vec<String>,
    /// The refusing HTTP status.
    pub status: Option<u16>,
    /// Why (status and the start of the reply, secrets scrubbed).
    pub reason: String,
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub at: SystemTime,
}

/// One channel's state. Counts are of notifications except `failed_attempts` and `retried`,
/// which count requests.
///
/// ```
/// use vitals_notify::{ChannelKind, ChannelSnapshot};
/// let s = ChannelSnapshot { name: "slack".into(), kind: ChannelKind::Slack, sent: 3,
///     failed_attempts: 1, retried: 1, dropped: 0, dead_lettered: 0, gave_up: 0, dead_letters: vec![],
///     queue_depth: 0, capacity: 1000, last_success: None, last_error: None, last_error_at: None };
/// assert_eq!(s.sent, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSnapshot {
    /// Safe name: `alertmanager:http://host:9093`, `pagerduty`, `slack`, `webhook:https://host`.
    pub name: String,
    /// The channel's kind.
    pub kind: ChannelKind,
    /// Notifications a receiver accepted.
    pub sent: u64,
    /// Requests that failed (any cause).
    pub failed_attempts: u64,
    /// Failed requests that will be tried again.
    pub retried: u64,
    /// Notifications refused because the queue was full, or dropped from a full queue to make
    /// room for a resolve (the oldest firing ones; a resolve is never dropped for a firing one).
    pub dropped: u64,
    /// Notifications dead-lettered: refused for good by a receiver, given up (see `gave_up`),
    /// or in an outbox row that could not be read back (each such row counts one).
    pub dead_lettered: u64,
    /// Of `dead_lettered`, those given up after the channel's `max_attempts` or past its
    /// `max_age`.
    pub gave_up: u64,
    /// The most recent dead letters, oldest first.
    pub dead_letters: Vec<DeadLetter>,
    /// Envelopes waiting (queued or being retried).
    pub queue_depth: usize,
    /// The queue's bound.
    pub capacity: usize,
    /// Last accepted request.
    #[serde(serialize_with = "ser_opt_time")]
    pub last_success: Option<SystemTime>,
    /// Last error text (no secrets).
    pub last_error: Option<String>,
    /// When the last error happened.
    #[serde(serialize_with = "ser_opt_time")]
    pub last_error_at: Option<SystemTime>,
}

/// Every channel's state, in configuration order.
///
/// ```
/// let s = vitals_notify::NotifySnapshot { channels: vec![] };
/// assert!(s.channels.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotifySnapshot {
    /// One entry per channel.
    pub channels: Vec<ChannelSnapshot>,
}

fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn ser_opt_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Default)]
struct Detail {
    last_success: Option<SystemTime>,
    last_error: Option<(SystemTime, String)>,
    dead_letters: VecDeque<DeadLetter>,
}

/// Shared between `notify()` (atomics only) and the channel's task (everything).
#[derive(Debug)]
pub(crate) struct ChannelState {
    pub(crate) name: String,
    pub(crate) kind: ChannelKind,
    pub(crate) capacity: usize,
    dead_letters_kept: usize,
    depth: AtomicUsize,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    dead: AtomicU64,
    gave_up: AtomicU64,
    detail: Mutex<Detail>,
}

impl ChannelState {
    pub(crate) fn new(
        name: String,
        kind: ChannelKind,
        capacity: usize,
        dead_letters_kept: usize,
    ) -> Self {
        Self {
            name,
            kind,
            capacity,
            dead_letters_kept,
            depth: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            detail: Mutex::new(Detail::default()),
        }
    }

    /// Takes one queue slot, or counts `notifications` as dropped when the queue is full.
    pub(crate) fn reserve(&self, notifications: usize) -> bool {
        let ok = self
            .depth
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                (d < self.capacity).then_some(d + 1)
            })
            .is_ok();
        if !ok {
            self.dropped
                .fetch_add(notifications as u64, Ordering::Relaxed);
        }
        ok
    }

    /// Takes one queue slot for an envelope carrying a resolve: past the capacity too (the
    /// task then drops the oldest firing envelope to make room), up to twice the capacity, the
    /// hard bound; past that it is counted as dropped.
    pub(crate) fn reserve_resolve(&self, notifications: usize) -> bool {
        let ok = self
            .depth
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                (d < self.capacity.saturating_mul(2)).then_some(d + 1)
            })
            .is_ok();
        if !ok {
            self.dropped
                .fetch_add(notifications as u64, Ordering::Relaxed);
        }
        ok
    }

    /// Counts notifications lost after their slot was taken.
    pub(crate) fn count_dropped(&self, notifications: usize) {
        self.dropped
            .fetch_add(notifications as u64, Ordering::Relaxed);
    }

    /// Counts envelopes loaded from the outbox (they may exceed the capacity once).
    pub(crate) fn add_loaded(&self, n: usize) {
        self.depth.fetch_add(n, Ordering::AcqRel);
    }

    /// Returns a slot taken by `reserve` (a send that failed, or a finished envelope).
    pub(crate) fn release(&self) {
        let _ = self
            .depth
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1));
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Ordering::Acquire)
    }

    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        self.detail.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn delivered(&self, notifications: usize) {
        self.sent.fetch_add(notifications as u64, Ordering::Relaxed);
        self.detail().last_success = Some(SystemTime::now());
    }

    pub(crate) fn error(&self, text: String) {
        self.detail().last_error = Some((SystemTime::now(), text));
    }

    pub(crate) fn retrying(&self, text: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.retried.fetch_add(1, Ordering::Relaxed);
        self.error(text);
    }

    /// Counts a failed request.
    pub(crate) fn count_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts notifications given up (they are dead-lettered too).
    pub(crate) fn gave_up(&self, notifications: usize) {
        self.gave_up
            .fetch_add(notifications as u64, Ordering::Relaxed);
    }

    pub(crate) fn dead_lettered(&self, letter: DeadLetter) {
        self.dead
            .fetch_add(letter.alert_ids.len().max(1) as u64, Ordering::Relaxed);
        let mut d = self.detail();
        d.last_error = Some((letter.at, letter.reason.clone()));
        if self.dead_letters_kept > 0 {
            if d.dead_letters.len() >= self.dead_letters_kept {
                d.dead_letters.pop_front();
            }
            d.dead_letters.push_back(letter);
        }
    }

    pub(crate) fn snapshot(&self) -> ChannelSnapshot {
        let d = self.detail();
        ChannelSnapshot {
            name: self.name.clone(),
            kind: self.kind,
            sent: self.sent.load(Ordering::Relaxed),
            failed_attempts: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            dead_lettered: self.dead.load(Ordering::Relaxed),
            gave_up: self.gave_up.load(Ordering::Relaxed),
            dead_letters: d.dead_letters.iter().cloned().collect(),
            queue_depth: self.depth(),
            capacity: self.capacity,
            last_success: d.last_success,
            last_error: d.last_error.as_ref().map(|(_, e)| e.clone()),
            last_error_at: d.last_error.as_ref().map(|(t, _)| *t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_respects_capacity_and_counts_drops() {
        let s = ChannelState::new("slack".into(), ChannelKind::Slack, 2, 1);
        assert!(s.reserve(1) && s.reserve(1));
        assert!(!s.reserve(3));
        assert_eq!(s.snapshot().dropped, 3);
        s.release();
        assert!(s.reserve(1));
        assert_eq!(s.depth(), 2);
    }

    #[test]
    fn dead_letters_are_bounded() {
        let s = ChannelState::new("slack".into(), ChannelKind::Slack, 2, 2);
        for i in 0..5 {
            let at = SystemTime::now();
            s.dead_lettered(DeadLetter {
                id: format!("m{i}"),
                alert_ids: vec!["a".into()],
                status: Some(400),
                reason: "r".into(),
                at,
            });
        }
        let snap = s.snapshot();
        assert_eq!(snap.dead_lettered, 5);
        assert_eq!(
            snap.dead_letters
                .iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>(),
            ["m3", "m4"]
        );
    }
}
