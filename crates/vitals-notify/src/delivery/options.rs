//! Per-channel delivery settings.

use std::time::Duration;

use crate::channels::ChannelKind;

/// How one channel delivers. Start from [`DeliveryOptions::defaults`] for its kind.
///
/// Defaults: queue of 1,000 envelopes, 10 s request timeout, backoff from 1 s doubling to
/// 5 min with full jitter, `Retry-After` honoured up to 1 h (and never shorter than the
/// backoff), at most 100 attempts per envelope and none once it is 24 h old (then it is a dead
/// letter, so one envelope a receiver keeps failing cannot hold the channel for good), 20
/// recent dead letters shown;
/// Slack sends at most one message a second; still-firing alerts are sent again every minute
/// to Alertmanager (below its 5 min `resolve_timeout`) and every 4 h elsewhere.
///
/// ```
/// use std::time::Duration;
/// use vitals_notify::{ChannelKind, DeliveryOptions};
/// let slack = DeliveryOptions::defaults(ChannelKind::Slack);
/// assert_eq!(slack.min_interval, Duration::from_secs(1));
/// let am = DeliveryOptions { capacity: 50, ..DeliveryOptions::defaults(ChannelKind::Alertmanager) };
/// assert_eq!(am.repeat_interval, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Most envelopes waiting (queued or being retried); more are dropped and counted.
    pub capacity: usize,
    /// Timeout of one request, connection to last body byte.
    pub timeout: Duration,
    /// First backoff ceiling; it doubles per failed attempt.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured. A shorter one (`0` included) waits the backoff.
    pub retry_after_max: Duration,
    /// Most attempts of one envelope (at least 1); past them it is dead-lettered.
    pub max_attempts: u32,
    /// Oldest an envelope may be (from its creation, across restarts) and still be tried.
    pub max_age: Duration,
    /// Least time between two requests of this channel.
    pub min_interval: Duration,
    /// How often a still-firing alert is sent again.
    pub repeat_interval: Duration,
    /// Dead letters kept in the snapshot.
    pub dead_letters_kept: usize,
}

impl DeliveryOptions {
    /// The defaults for a channel kind.
    ///
    /// ```
    /// use vitals_notify::{ChannelKind, DeliveryOptions};
    /// assert_eq!(DeliveryOptions::defaults(ChannelKind::PagerDuty).capacity, 1000);
    /// ```
    pub fn defaults(kind: ChannelKind) -> Self {
        Self {
            capacity: 1000,
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            retry_after_max: Duration::from_secs(3600),
            max_attempts: 100,
            max_age: Duration::from_secs(24 * 3600),
            min_interval: match kind {
                ChannelKind::Slack => Duration::from_secs(1),
                _ => Duration::ZERO,
            },
            repeat_interval: match kind {
                ChannelKind::Alertmanager => Duration::from_secs(60),
                _ => Duration::from_secs(4 * 3600),
            },
            dead_letters_kept: 20,
        }
    }
}
