//! The dashboard streams' places: at most `max` at once, each with a deadline. A stream gives
//! its place back when it ends; a stream whose reader stalled (the connection stops reading,
//! so the stream is never polled again and never ends) loses its place at the deadline anyway:
//! the next stream takes an expired slot. Fixed slots, one atomic each: no lock, no growth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Stream places with deadlines; cloned into the router.
#[derive(Debug, Clone)]
pub(super) struct StreamLimiter {
    /// Per slot: its deadline in ms since `base` (0: free).
    slots: Arc<[AtomicU64]>,
    base: Instant,
    lifetime: Duration,
}

/// One stream's place, given back when dropped (unless it expired and was taken over).
#[derive(Debug)]
pub(super) struct StreamPermit {
    limiter: StreamLimiter,
    slot: usize,
    deadline: u64,
}

impl StreamLimiter {
    /// `max` places, each held at most `lifetime`.
    pub(super) fn new(max: usize, lifetime: Duration) -> Self {
        Self {
            slots: (0..max).map(|_| AtomicU64::new(0)).collect(),
            base: Instant::now(),
            lifetime,
        }
    }

    /// How many places there are.
    pub(super) fn max(&self) -> usize {
        self.slots.len()
    }

    fn ms(&self, at: Instant) -> u64 {
        // +1: 0 marks a free slot.
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX) + 1
    }

    /// A place now, if one is free or expired.
    pub(super) fn try_acquire(&self) -> Option<StreamPermit> {
        self.try_acquire_at(Instant::now())
    }

    pub(super) fn try_acquire_at(&self, now: Instant) -> Option<StreamPermit> {
        let now_ms = self.ms(now);
        let deadline = self.ms(now + self.lifetime);
        self.slots.iter().enumerate().find_map(|(slot, held)| {
            let current = held.load(Ordering::Acquire);
            let free = current == 0 || current <= now_ms;
            (free
                && held
                    .compare_exchange(current, deadline, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok())
            .then(|| StreamPermit {
                limiter: self.clone(),
                slot,
                deadline,
            })
        })
    }

    /// Places held and not expired at `now`.
    pub(super) fn open_at(&self, now: Instant) -> usize {
        let now_ms = self.ms(now);
        self.slots
            .iter()
            .filter(|s| s.load(Ordering::Acquire) > now_ms)
            .count()
    }
}

impl StreamPermit {
    /// Streams open now (this one included while its place holds).
    pub(super) fn open(&self) -> usize {
        self.limiter.open_at(Instant::now())
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        // Only if still ours: an expired place may have been taken by a newer stream.
        let _ = self.limiter.slots[self.slot].compare_exchange(
            self.deadline,
            0,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_bounds_and_releases() {
        let limiter = StreamLimiter::new(2, Duration::from_secs(60));
        let a = limiter.try_acquire().unwrap();
        let b = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        drop(a);
        let c = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        assert_eq!(c.open(), 2);
        drop((b, c));
        assert_eq!(limiter.open_at(Instant::now()), 0);
    }

    #[test]
    fn a_stalled_stream_loses_its_place_at_the_deadline() {
        let limiter = StreamLimiter::new(1, Duration::from_secs(60));
        let now = Instant::now();
        let stalled = limiter.try_acquire_at(now).unwrap();
        assert!(
            limiter
                .try_acquire_at(now + Duration::from_secs(59))
                .is_none()
        );
        let later = now + Duration::from_secs(61);
        assert_eq!(limiter.open_at(later), 0, "expired places are not open");
        let fresh = limiter
            .try_acquire_at(later)
            .expect("the expired place is free");
        // The stalled stream ending at last does not free the new holder's place.
        drop(stalled);
        assert!(limiter.try_acquire_at(later).is_none());
        drop(fresh);
        assert!(limiter.try_acquire_at(later).is_some());
    }
}
