//! The in-flight registry behind `GET /debug/tasks`: a fixed array of slots, one per request
//! between its call and its response head, each with its start, poll count, longest poll and
//! the start of the poll running now, so a blocked worker shows even when no task dump can be
//! taken (a dump needs tasks to yield).
//!
//! Per request: a slot claimed with one compare-and-swap from a per-thread cursor (no shared
//! counter), an uncontended per-slot lock to write what the request is, and per poll two clock
//! reads and three relaxed atomic writes. Bound: [`DEFAULT_IN_FLIGHT_SLOTS`] slots (a request
//! finding none within [`PROBE`] tries is counted as untracked, not stored).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request, Uri};
use serde::Serialize;

/// Slots of the registry by default: requests tracked at once.
pub const DEFAULT_IN_FLIGHT_SLOTS: usize = 256;
/// Slots a request tries before it is counted as untracked.
pub const PROBE: usize = 8;

#[derive(Default)]
struct Slot {
    claimed: AtomicBool,
    meta: Mutex<Option<(Method, Uri)>>,
    /// Nanoseconds since the registry's epoch, plus one (0: unset).
    start: AtomicU64,
    polls: AtomicU32,
    longest_ns: AtomicU64,
    /// Start of the poll running now (since the epoch, plus one), 0 between polls.
    polling_since: AtomicU64,
}

struct Shared {
    epoch: Instant,
    slots: Box<[Slot]>,
    untracked: AtomicU64,
}

/// The registry; cheap to clone. Its [`InFlightLayer`] fills it.
#[derive(Clone)]
pub struct InFlight(Arc<Shared>);

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("slots", &self.0.slots.len())
            .finish_non_exhaustive()
    }
}

/// One in-flight request, as `GET /debug/tasks` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlightRequest {
    /// The request's method.
    pub method: String,
    /// Its path (never the query, which may carry secrets).
    pub path: String,
    /// Time since it arrived at the layer, in ms.
    pub age_ms: f64,
    /// Polls of its future so far (the poll running now included).
    pub polls: u32,
    /// The longest poll that ended, in ms.
    pub longest_poll_ms: f64,
    /// Whether a poll is running now: a request whose poll has run for long is blocking its
    /// worker thread.
    pub polling_now: bool,
    /// How long the poll running now has run, in ms.
    pub current_poll_ms: Option<f64>,
}

thread_local! {
    static CURSOR: Cell<usize> = const { Cell::new(usize::MAX) };
}

impl Default for InFlight {
    fn default() -> Self {
        Self::new(DEFAULT_IN_FLIGHT_SLOTS)
    }
}

impl InFlight {
    /// A registry of `slots` slots (at least 1).
    #[must_use]
    pub fn new(slots: usize) -> Self {
        let slots: Vec<Slot> = (0..slots.max(1)).map(|_| Slot::default()).collect();
        Self(Arc::new(Shared {
            epoch: Instant::now(),
            slots: slots.into_boxed_slice(),
            untracked: AtomicU64::new(0),
        }))
    }

    /// The layer that registers requests here.
    #[must_use]
    pub fn layer(&self) -> InFlightLayer {
        InFlightLayer(self.clone())
    }

    /// Slots in all.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.0.slots.len()
    }

    /// Requests that found no free slot, since start.
    #[must_use]
    pub fn untracked(&self) -> u64 {
        self.0.untracked.load(Ordering::Relaxed)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    fn claim(&self, method: &Method, uri: &Uri) -> Option<usize> {
        let n = self.0.slots.len();
        let start = CURSOR.with(|c| {
            let v = c.get();
            if v == usize::MAX {
                // Threads start apart (by their slot of the stack's address) so they rarely
                // probe the same slots.
                let seed = (&raw const *c as usize >> 6).wrapping_mul(0x9E37_79B9);
                seed % n
            } else {
                v
            }
        });
        for i in 0..PROBE.min(n) {
            let idx = (start + i) % n;
            let slot = &self.0.slots[idx];
            if slot
                .claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                CURSOR.with(|c| c.set((idx + 1) % n));
                *slot
                    .meta
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((method.clone(), uri.clone()));
                slot.polls.store(0, Ordering::Relaxed);
                slot.longest_ns.store(0, Ordering::Relaxed);
                slot.polling_since.store(0, Ordering::Relaxed);
                slot.start.store(self.now_ns(), Ordering::Release);
                return Some(idx);
            }
        }
        self.0.untracked.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn release(&self, idx: usize) {
        let slot = &self.0.slots[idx];
        slot.start.store(0, Ordering::Relaxed);
        // The request's bytes (a shared buffer) are let go now, not at the slot's next use.
        drop(
            slot.meta
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        slot.claimed.store(false, Ordering::Release);
    }

    /// The requests in flight now, oldest first.
    #[must_use]
    pub fn snapshot(&self) -> Vec<InFlightRequest> {
        let now = self.now_ns();
        let ms = |ns: u64| Duration::from_nanos(ns).as_secs_f64() * 1e3;
        let mut out: Vec<(u64, InFlightRequest)> = Vec::new();
        for slot in &*self.0.slots {
            if !slot.claimed.load(Ordering::Acquire) {
                continue;
            }
            let start = slot.start.load(Ordering::Acquire);
            let Some((method, uri)) = slot
                .meta
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
            else {
                continue;
            };
            if start == 0 {
                continue;
            }
            let since = slot.polling_since.load(Ordering::Relaxed);
            out.push((
                start,
                InFlightRequest {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    age_ms: ms(now.saturating_sub(start)),
                    polls: slot.polls.load(Ordering::Relaxed),
                    longest_poll_ms: ms(slot.longest_ns.load(Ordering::Relaxed)),
                    polling_now: since != 0,
                    current_poll_ms: (since != 0).then(|| ms(now.saturating_sub(since))),
                },
            ));
        }
        out.sort_by_key(|(start, _)| *start);
        out.into_iter().map(|(_, r)| r).collect()
    }
}

/// Registers each request in an [`InFlight`] registry from its call to its response head.
#[derive(Debug, Clone)]
pub struct InFlightLayer(InFlight);

impl<S> tower::Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlightService {
            inner,
            registry: self.0.clone(),
        }
    }
}

/// The service of [`InFlightLayer`].
#[derive(Debug, Clone)]
pub struct InFlightService<S> {
    inner: S,
    registry: InFlight,
}

impl<S, B> tower::Service<Request<B>> for InFlightService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = InFlightFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let slot = self.registry.claim(req.method(), req.uri());
        InFlightFuture {
            inner: self.inner.call(req),
            guard: slot.map(|idx| Guard {
                registry: self.registry.clone(),
                idx,
            }),
        }
    }
}

struct Guard {
    registry: InFlight,
    idx: usize,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.registry.release(self.idx);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`InFlightService`]: times each poll into the request's slot.
    pub struct InFlightFuture<F> {
        #[pin]
        inner: F,
        guard: Option<Guard>,
    }
}

impl<F> std::fmt::Debug for InFlightFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlightFuture").finish_non_exhaustive()
    }
}

impl<F: Future> Future for InFlightFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(guard) = this.guard.as_ref() else {
            return this.inner.poll(cx);
        };
        let registry = &guard.registry;
        let slot = &registry.0.slots[guard.idx];
        let begin = registry.now_ns();
        slot.polling_since.store(begin, Ordering::Relaxed);
        slot.polls.fetch_add(1, Ordering::Relaxed);
        let out = this.inner.poll(cx);
        let took = registry.now_ns().saturating_sub(begin);
        slot.polling_since.store(0, Ordering::Relaxed);
        if took > slot.longest_ns.load(Ordering::Relaxed) {
            slot.longest_ns.store(took, Ordering::Relaxed);
        }
        if out.is_ready() {
            *this.guard = None;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_released() {
        let reg = InFlight::new(4);
        let uri: Uri = "/a?token=secret".parse().unwrap();
        let held: Vec<usize> = (0..4)
            .map(|_| reg.claim(&Method::GET, &uri).unwrap())
            .collect();
        assert!(reg.claim(&Method::GET, &uri).is_none());
        assert_eq!(reg.untracked(), 1);
        let snap = reg.snapshot();
        assert_eq!(snap.len(), 4);
        assert_eq!(snap[0].path, "/a");
        for idx in held {
            reg.release(idx);
        }
        assert!(reg.snapshot().is_empty());
        assert!(reg.claim(&Method::GET, &uri).is_some());
    }

    #[tokio::test]
    async fn a_pending_request_shows_its_polls_until_it_answers() {
        use tower::{Layer as _, ServiceExt as _};
        let reg = InFlight::new(8);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
        let svc = reg
            .layer()
            .layer(tower::service_fn(move |_req: Request<()>| {
                let rx = Arc::clone(&rx);
                async move {
                    let rx = rx.lock().await.take().unwrap();
                    let _ = rx.await;
                    Ok::<_, std::convert::Infallible>(())
                }
            }));
        let call = tokio::spawn(svc.oneshot(Request::get("/slow").body(()).unwrap()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let snap = reg.snapshot();
        assert_eq!(snap.len(), 1, "{snap:?}");
        assert_eq!(snap[0].path, "/slow");
        assert!(snap[0].polls >= 1);
        assert!(!snap[0].polling_now);
        assert!(snap[0].age_ms >= 40.0, "{snap:?}");
        tx.send(()).unwrap();
        call.await.unwrap().unwrap();
        assert!(reg.snapshot().is_empty());
    }
}
