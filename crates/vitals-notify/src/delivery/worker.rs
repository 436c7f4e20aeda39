//! The task of one channel: persists what it takes in, sends in order, retries, repeats.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::options::DeliveryOptions;
use super::retry::{Outcome, backoff, classify, parse_retry_after};
use super::stats::{ChannelState, DeadLetter};
use crate::channels::{HttpRequest, Target};
use crate::envelope::{Envelope, EnvelopeKind};
use crate::notification::Notification;
use crate::outbox::Outbox;
use crate::secret::scrub;

/// Bytes of a refusing reply kept in a dead letter's reason.
const REPLY_SNIPPET: usize = 256;

/// A still-firing alert and when it was last queued.
#[derive(Debug)]
struct Firing {
    notification: Notification,
    last_queued: Instant,
}

/// Everything one channel's task owns.
pub(crate) struct Worker {
    pub(crate) target: Target,
    pub(crate) options: DeliveryOptions,
    pub(crate) client: reqwest::Client,
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) state: Arc<ChannelState>,
    pub(crate) rx: mpsc::Receiver<Envelope>,
    pub(crate) stop: watch::Receiver<bool>,
}

struct Run {
    w: Worker,
    queue: VecDeque<Envelope>,
    firing: HashMap<String, Firing>,
    attempt: u32,
    next_attempt: Instant,
}

impl Worker {
    /// Runs until the notifier stops (pending envelopes stay in the outbox).
    pub(crate) async fn run(self) {
        let mut run = Run {
            w: self,
            queue: VecDeque::new(),
            firing: HashMap::new(),
            attempt: 0,
            next_attempt: Instant::now(),
        };
        run.load().await;
        run.main().await;
    }
}

impl Run {
    async fn outbox<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Outbox, &str) -> Result<R, crate::outbox::OutboxError> + Send + 'static,
    ) -> Option<R> {
        let (outbox, name) = (self.w.outbox.clone(), self.w.state.name.clone());
        let res = tokio::task::spawn_blocking(move || f(outbox.as_ref(), &name)).await;
        match res {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                tracing::warn!(channel = %self.w.state.name, error = %e, "notification outbox failed");
                self.w.state.error(e.to_string());
                None
            }
            Err(e) => {
                self.w.state.error(format!("outbox task failed: {e}"));
                None
            }
        }
    }

    async fn load(&mut self) {
        let pending = self
            .outbox(|o, name| o.pending(name))
            .await
            .unwrap_or_default();
        self.w.state.add_loaded(pending.len());
        for e in pending {
            self.track(&e);
            self.queue.push_back(e);
        }
    }

    /// Records firing alerts (for repeats) and forgets resolved ones.
    fn track(&mut self, e: &Envelope) {
        if e.kind != EnvelopeKind::Transition {
            return;
        }
        for n in &e.notifications {
            if !n.transition.is_firing() {
                self.firing.remove(&n.alert_id);
            } else if self.firing.len() < self.w.state.capacity
                || self.firing.contains_key(&n.alert_id)
            {
                let entry = Firing {
                    notification: n.clone(),
                    last_queued: Instant::now(),
                };
                self.firing.insert(n.alert_id.clone(), entry);
            }
        }
    }

    /// Persists an envelope whose slot is already reserved and queues it.
    async fn admit(&mut self, e: Envelope) {
        let copy = e.clone();
        self.outbox(move |o, name| o.enqueue(name, &copy)).await;
        self.track(&e);
        self.queue.push_back(e);
    }

    /// Queues one repeat envelope (or one per alert when the format takes one per request)
    /// for still-firing alerts not sent for `repeat_interval`, unless one is already queued.
    async fn repeats(&mut self) {
        let now = Instant::now();
        let interval = self.w.options.repeat_interval;
        let mut due: Vec<Notification> = Vec::new();
        for (id, f) in &mut self.firing {
            if now.duration_since(f.last_queued) < interval {
                continue;
            }
            f.last_queued = now;
            let queued = self
                .queue
                .iter()
                .any(|e| e.notifications.iter().any(|n| &n.alert_id == id));
            if !queued {
                due.push(f.notification.clone());
            }
        }
        if due.is_empty() {
            return;
        }
        due.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        let envelopes = if self.w.target.batches() {
            vec![Envelope::new(EnvelopeKind::Repeat, due)]
        } else {
            due.into_iter()
                .map(|n| Envelope::new(EnvelopeKind::Repeat, vec![n]))
                .collect()
        };
        for e in envelopes {
            if self.w.state.reserve(e.notifications.len()) {
                self.admit(e).await;
            }
        }
    }

    fn next_repeat(&self) -> Option<Instant> {
        self.firing
            .values()
            .map(|f| f.last_queued + self.w.options.repeat_interval)
            .min()
    }

    async fn main(&mut self) {
        loop {
            while let Ok(e) = self.w.rx.try_recv() {
                self.admit(e).await;
            }
            self.repeats().await;
            let now = Instant::now();
            if !self.queue.is_empty() && now >= self.next_attempt {
                if !self.attempt_head().await {
                    return;
                }
                continue;
            }
            let far = now + Duration::from_secs(3600);
            let mut wake = self.next_repeat().unwrap_or(far);
            if !self.queue.is_empty() {
                wake = wake.min(self.next_attempt);
            }
            tokio::select! {
                _ = self.w.stop.changed() => return,
                e = self.w.rx.recv() => match e {
                    Some(e) => self.admit(e).await,
                    None => return,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Sends the head of the queue once, taking new envelopes in while the request runs.
    /// Returns false when the notifier stopped.
    async fn attempt_head(&mut self) -> bool {
        let Some(head) = self.queue.front() else {
            return true;
        };
        let started = Instant::now();
        let request = self.w.target.build(head, SystemTime::now());
        let send = send(self.w.client.clone(), request, self.w.options.timeout);
        tokio::pin!(send);
        let outcome = loop {
            tokio::select! {
                biased;
                _ = self.w.stop.changed() => return false,
                o = &mut send => break o,
                e = self.w.rx.recv() => match e {
                    Some(e) => self.admit(e).await,
                    None => return false,
                },
            }
        };
        let secrets = self.w.target.secrets();
        let min_next = started + self.w.options.min_interval;
        match outcome {
            Outcome::Delivered => {
                let e = self.queue.pop_front().expect("head exists");
                let id = e.id.clone();
                self.outbox(move |o, name| o.complete(name, &id)).await;
                self.w.state.delivered(e.notifications.len());
                self.w.state.release();
                self.attempt = 0;
                self.next_attempt = min_next;
            }
            Outcome::Retry { after, error } => {
                let error = scrub(&error, &secrets);
                self.attempt = self.attempt.saturating_add(1);
                let o = &self.w.options;
                let delay = match after {
                    Some(after) => after.min(o.retry_after_max),
                    None => backoff(self.attempt, o.backoff_base, o.backoff_max),
                };
                tracing::debug!(channel = %self.w.state.name, attempt = self.attempt, ?delay, %error, "notification retry");
                self.w.state.retrying(error);
                self.next_attempt = (Instant::now() + delay).max(min_next);
            }
            Outcome::Dead { status, error } => {
                let error = scrub(&error, &secrets);
                let e = self.queue.pop_front().expect("head exists");
                tracing::warn!(channel = %self.w.state.name, status, %error, "notification dead-lettered");
                let (id, reason) = (e.id.clone(), error.clone());
                self.outbox(move |o, name| o.dead_letter(name, &id, &reason))
                    .await;
                self.w.state.dead_lettered(DeadLetter {
                    id: e.id,
                    alert_ids: e.notifications.iter().map(|n| n.alert_id.clone()).collect(),
                    status: Some(status),
                    reason: error,
                    at: SystemTime::now(),
                });
                self.w.state.release();
                self.attempt = 0;
                self.next_attempt = min_next;
            }
        }
        true
    }
}

/// One POST; transport errors (timeouts, refused connections) are retried.
async fn send(client: reqwest::Client, request: HttpRequest, timeout: Duration) -> Outcome {
    let mut builder = client.post(request.url).timeout(timeout).body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let mut response = match builder.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                after: None,
                error: transport_error(&e),
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered;
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let mut reply = Vec::new();
    while reply.len() < REPLY_SNIPPET {
        match tokio::time::timeout(timeout, response.chunk()).await {
            Ok(Ok(Some(chunk))) => reply.extend_from_slice(&chunk),
            _ => break,
        }
    }
    reply.truncate(REPLY_SNIPPET);
    let reply = String::from_utf8_lossy(&reply);
    let detail: String = reply.trim().chars().filter(|c| !c.is_control()).collect();
    classify(status, retry_after, &detail)
}

/// The error and its causes, without the URL.
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else {
        "request error"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
