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
use crate::notification::{Notification, Transition};
use crate::outbox::{Loaded, Outbox};
use crate::secret::scrub;

/// How long a channel whose outbox could not be read at start waits before trying again.
const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// What the notifier hands a channel's task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send this envelope (its queue slot is taken).
    Send(Envelope),
    /// The alerts the application holds as active after a restart: track those as firing
    /// (repeats, no new send) and resolve any other the channel still tracks as firing.
    Reconcile(Vec<Notification>),
}

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
    pub(crate) rx: mpsc::Receiver<Command>,
    pub(crate) stop: watch::Receiver<bool>,
    /// What `Config::start` read from the outbox (`None`: the read failed, retried later).
    pub(crate) loaded: Option<Loaded>,
}

struct Run {
    w: Worker,
    queue: VecDeque<Envelope>,
    firing: HashMap<String, Firing>,
    /// Failed attempts of the head envelope.
    attempt: u32,
    next_attempt: Instant,
    /// When to read the outbox again, while it could not be read.
    reload_at: Option<Instant>,
}

impl Worker {
    /// Runs until the notifier stops (pending envelopes stay in the outbox).
    pub(crate) async fn run(mut self) {
        let loaded = self.loaded.take();
        let mut run = Run {
            w: self,
            queue: VecDeque::new(),
            firing: HashMap::new(),
            attempt: 0,
            next_attempt: Instant::now(),
            reload_at: None,
        };
        match loaded {
            Some(l) => run.resume(l),
            None => run.reload_at = Some(Instant::now() + RELOAD_EVERY),
        }
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

    /// Takes in what a previous process left: its firing alerts, then its pending envelopes
    /// (ahead of anything queued since this start), and counts the rows it could not read as
    /// dead letters.
    fn resume(&mut self, loaded: Loaded) {
        for n in loaded.firing {
            if self.track_one(&n) {
                self.resend_soon(&n.alert_id);
            }
        }
        self.w.state.add_loaded(loaded.envelopes.len());
        for e in loaded.envelopes.iter().rev() {
            self.queue.push_front(e.clone());
        }
        for e in &loaded.envelopes {
            self.track(e);
        }
        for (id, reason) in loaded.unreadable {
            tracing::warn!(channel = %self.w.state.name, %reason, "notification outbox row dead-lettered");
            self.w.state.dead_lettered(DeadLetter {
                id,
                alert_ids: Vec::new(),
                status: None,
                reason,
                at: SystemTime::now(),
            });
        }
    }

    /// Reads the outbox again after a failed read at start.
    async fn reload(&mut self) {
        match self.outbox(|o, name| o.load(name)).await {
            Some(loaded) => {
                self.reload_at = None;
                self.resume(loaded);
            }
            None => self.reload_at = Some(Instant::now() + RELOAD_EVERY),
        }
    }

    /// After a restart, Alertmanager hears again at once about an alert still firing (it may
    /// have resolved it by its `resolve_timeout` while this process was down); elsewhere the
    /// repeat waits its interval (a Slack or PagerDuty repeat now would be a second message).
    fn resend_soon(&mut self, alert_id: &str) {
        if self.w.target.kind() != crate::channels::ChannelKind::Alertmanager {
            return;
        }
        let interval = self.w.options.repeat_interval;
        if let Some(f) = self.firing.get_mut(alert_id) {
            f.last_queued = Instant::now()
                .checked_sub(interval)
                .unwrap_or(f.last_queued);
        }
    }

    /// Records one firing alert (for repeats, bounded by the queue's capacity) or forgets a
    /// resolved one; returns whether the tracked set changed.
    fn track_one(&mut self, n: &Notification) -> bool {
        if !n.transition.is_firing() {
            return self.firing.remove(&n.alert_id).is_some();
        }
        if self.firing.len() >= self.w.state.capacity && !self.firing.contains_key(&n.alert_id) {
            return false;
        }
        let entry = Firing {
            notification: n.clone(),
            last_queued: Instant::now(),
        };
        self.firing.insert(n.alert_id.clone(), entry);
        true
    }

    /// Records the firing alerts of a transition envelope and forgets resolved ones; returns
    /// the notifications whose tracking changed (to persist).
    fn track(&mut self, e: &Envelope) -> Vec<Notification> {
        if e.kind != EnvelopeKind::Transition {
            return Vec::new();
        }
        e.notifications
            .iter()
            .filter(|n| self.track_one(n))
            .cloned()
            .collect()
    }

    /// Keeps the outbox's firing set in step with `changed`.
    async fn persist_firing(&self, changed: Vec<Notification>) {
        if changed.is_empty() {
            return;
        }
        self.outbox(move |o, name| {
            for n in &changed {
                if n.transition.is_firing() {
                    o.set_firing(name, n)?;
                } else {
                    o.clear_firing(name, &n.alert_id)?;
                }
            }
            Ok(())
        })
        .await;
    }

    /// Persists an envelope whose slot is already reserved and queues it; past the capacity
    /// (a resolve may take a slot beyond it), the oldest envelope carrying only firing
    /// notifications is dropped to make room.
    async fn admit(&mut self, e: Envelope) {
        let copy = e.clone();
        self.outbox(move |o, name| o.enqueue(name, &copy)).await;
        let changed = self.track(&e);
        self.persist_firing(changed).await;
        self.queue.push_back(e);
        while self.w.state.depth() > self.w.state.capacity {
            // Never the head: it may be in flight.
            let Some(i) = self
                .queue
                .iter()
                .skip(1)
                .position(|e| e.notifications.iter().all(|n| n.transition.is_firing()))
            else {
                break;
            };
            let Some(dropped) = self.queue.remove(i + 1) else {
                break;
            };
            let id = dropped.id.clone();
            self.outbox(move |o, name| o.complete(name, &id)).await;
            self.w.state.count_dropped(dropped.notifications.len());
            self.w.state.release();
        }
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Send(e) => self.admit(e).await,
            Command::Reconcile(active) => self.reconcile(active).await,
        }
    }

    /// See [`Command::Reconcile`].
    async fn reconcile(&mut self, active: Vec<Notification>) {
        let mut changed = Vec::new();
        let mut lost = Vec::new();
        for n in &active {
            if self.firing.contains_key(&n.alert_id) {
                continue;
            }
            if self.w.outbox.durable() && self.reload_at.is_none() {
                // A durable outbox that does not know it: its fire never reached the outbox
                // (the process died between the evaluation and the write). Send it now.
                lost.push(n.clone());
            } else if self.track_one(n) {
                self.resend_soon(&n.alert_id);
                changed.push(n.clone());
            }
        }
        self.persist_firing(changed).await;
        for n in lost {
            tracing::info!(channel = %self.w.state.name, alert = %n.alert_id, "sending a fire lost before a restart");
            if self.w.state.reserve(1) {
                self.admit(Envelope::new(EnvelopeKind::Transition, vec![n]))
                    .await;
            }
        }
        let mut stale: Vec<Notification> = self
            .firing
            .iter()
            .filter(|(id, _)| !active.iter().any(|n| &n.alert_id == *id))
            .map(|(_, f)| f.notification.clone())
            .collect();
        stale.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        let now = SystemTime::now();
        for mut n in stale {
            n.transition = Transition::Resolved;
            n.ends_at = Some(now);
            tracing::info!(channel = %self.w.state.name, alert = %n.alert_id, "resolving an alert no longer active after a restart");
            if self.w.state.reserve_resolve(1) {
                self.admit(Envelope::new(EnvelopeKind::Transition, vec![n]))
                    .await;
            }
        }
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
            while let Ok(c) = self.w.rx.try_recv() {
                self.command(c).await;
            }
            if self.reload_at.is_some_and(|at| Instant::now() >= at) {
                self.reload().await;
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
            if let Some(at) = self.reload_at {
                wake = wake.min(at);
            }
            tokio::select! {
                _ = self.w.stop.changed() => return,
                c = self.w.rx.recv() => match c {
                    Some(c) => self.command(c).await,
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
        let age = SystemTime::now()
            .duration_since(head.created)
            .unwrap_or(Duration::ZERO);
        if age > self.w.options.max_age {
            let reason = format!(
                "gave up: older than {}",
                humantime::format_duration(self.w.options.max_age)
            );
            self.give_up(None, reason).await;
            return true;
        }
        let started = Instant::now();
        let request = self.w.target.build(head, SystemTime::now());
        let send = send(self.w.client.clone(), request, self.w.options.timeout);
        tokio::pin!(send);
        let outcome = loop {
            tokio::select! {
                biased;
                _ = self.w.stop.changed() => return false,
                o = &mut send => break o,
                c = self.w.rx.recv() => match c {
                    Some(c) => self.command(c).await,
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
                if self.attempt >= o.max_attempts {
                    let reason = format!("gave up after {} attempts: {error}", self.attempt);
                    self.w.state.count_failed();
                    self.give_up(status_of(&error), reason).await;
                    self.next_attempt = min_next;
                    return true;
                }
                // A receiver's `Retry-After` is honoured, but never as less than the backoff
                // (so `Retry-After: 0` cannot make the channel spin).
                let delay = backoff(self.attempt, o.backoff_base, o.backoff_max)
                    .max(after.unwrap_or(Duration::ZERO).min(o.retry_after_max));
                tracing::debug!(channel = %self.w.state.name, attempt = self.attempt, ?delay, %error, "notification retry");
                self.w.state.retrying(error);
                self.next_attempt = (Instant::now() + delay).max(min_next);
            }
            Outcome::Dead { status, error } => {
                let error = scrub(&error, &secrets);
                let e = self.queue.pop_front().expect("head exists");
                tracing::warn!(channel = %self.w.state.name, status, %error, "notification dead-lettered");
                self.w.state.count_failed();
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

impl Run {
    /// Dead-letters the head after its last allowed attempt or past its age, so the envelopes
    /// behind it go on; counted as given up and as dead-lettered.
    async fn give_up(&mut self, status: Option<u16>, reason: String) {
        let Some(e) = self.queue.pop_front() else {
            return;
        };
        tracing::warn!(channel = %self.w.state.name, %reason, "notification dead-lettered");
        let (id, r) = (e.id.clone(), reason.clone());
        self.outbox(move |o, name| o.dead_letter(name, &id, &r))
            .await;
        self.w.state.gave_up(e.notifications.len());
        self.w.state.dead_lettered(DeadLetter {
            id: e.id,
            alert_ids: e.notifications.iter().map(|n| n.alert_id.clone()).collect(),
            status,
            reason,
            at: SystemTime::now(),
        });
        self.w.state.release();
        self.attempt = 0;
    }
}

/// The HTTP status at the start of an attempt's error text (`HTTP 503 ...`), if any.
fn status_of(error: &str) -> Option<u16> {
    error
        .strip_prefix("HTTP ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
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
