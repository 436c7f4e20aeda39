//! One time series of request latencies: totals since start plus a ring of one-minute slots.
//!
//! A [`Series`] keeps a [`Cell`] (histogram, sum, max, errors) for everything since start and
//! one per minute in a ring of [`SLOTS`] slots. The window of the last `n` minutes is the
//! current (partial) minute plus the `n` before it, so "last minute" covers 60 to 120 seconds
//! and "last 5 minutes" 300 to 360 seconds; the span actually covered is reported with it.
//!
//! Recording touches two cells and takes no lock. A slot whose minute has passed is reset by
//! [`Series::prepare`] (called once a second by the maintenance tick) before any request needs
//! it; without a tick, the first request of a new minute resets it itself, and requests racing
//! with that reset may be missed by that minute's window (never by the totals).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::histogram::{AtomicHistogram, HistogramSnapshot};

/// Number of one-minute slots: the current one, five full ones, and one being reset.
pub const SLOTS: usize = 7;
/// Minutes the longest window reaches back (besides the current partial minute).
pub const MAX_WINDOW_MINUTES: u64 = 5;

/// Counters for one window of one series.
#[derive(Debug, Default)]
pub struct Cell {
    histogram: AtomicHistogram,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
    errors: AtomicU64,
}

impl Cell {
    #[inline]
    fn record(&self, duration_ns: u64, is_error: bool) {
        self.histogram.record(duration_ns);
        self.sum_ns.fetch_add(duration_ns, Relaxed);
        if duration_ns > self.max_ns.load(Relaxed) {
            self.max_ns.fetch_max(duration_ns, Relaxed);
        }
        if is_error {
            self.errors.fetch_add(1, Relaxed);
        }
    }

    fn clear(&self) {
        self.histogram.clear();
        self.sum_ns.store(0, Relaxed);
        self.max_ns.store(0, Relaxed);
        self.errors.store(0, Relaxed);
    }

    /// Adds this cell into an aggregate.
    pub fn add_to(&self, agg: &mut Aggregate) {
        self.histogram.add_to(&mut agg.histogram);
        agg.sum_ns = agg.sum_ns.saturating_add(self.sum_ns.load(Relaxed));
        agg.max_ns = agg.max_ns.max(self.max_ns.load(Relaxed));
        agg.errors = agg.errors.saturating_add(self.errors.load(Relaxed));
    }

    fn heap_bytes(&self) -> usize {
        self.histogram.heap_bytes()
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// Minute number + 1 that the slot holds; 0 = never used.
    epoch: AtomicU64,
    cell: Cell,
}

/// Totals since start plus per-minute slots; see the [module docs](self).
#[derive(Debug, Default)]
pub struct Series {
    total: Cell,
    slots: [Slot; SLOTS],
}

/// A plain sum of cells: what a window holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// Latency histogram (its count is the number of requests).
    pub histogram: HistogramSnapshot,
    /// Sum of durations, ns.
    pub sum_ns: u64,
    /// Longest duration, ns.
    pub max_ns: u64,
    /// Requests answered with status >= 400.
    pub errors: u64,
}

impl Aggregate {
    /// Adds another aggregate.
    pub fn merge(&mut self, other: &Aggregate) {
        self.histogram.merge(&other.histogram);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.errors = self.errors.saturating_add(other.errors);
    }
}

impl Series {
    /// Records one request that ended in `minute` (minutes since the monitor started).
    #[inline]
    pub fn record(&self, minute: u64, duration_ns: u64, is_error: bool) {
        self.total.record(duration_ns, is_error);
        let slot = &self.slots[(minute % SLOTS as u64) as usize];
        if slot.epoch.load(Relaxed) != minute + 1 {
            Self::rotate(slot, minute);
        }
        slot.cell.record(duration_ns, is_error);
    }

    #[cold]
    fn rotate(slot: &Slot, minute: u64) {
        let current = slot.epoch.load(Relaxed);
        if current < minute + 1
            && slot
                .epoch
                .compare_exchange(current, minute + 1, Relaxed, Relaxed)
                .is_ok()
        {
            slot.cell.clear();
        }
    }

    /// Resets the slot that `minute + 1` will use, ahead of time. Call at least once a minute.
    pub fn prepare(&self, minute: u64) {
        let next = minute + 1;
        let slot = &self.slots[(next % SLOTS as u64) as usize];
        if slot.epoch.load(Relaxed) < next + 1 {
            Self::rotate(slot, next);
        }
    }

    /// Adds the window of the last `minutes` full minutes plus the current one (`None`: since
    /// start) into `agg`.
    pub fn add_window_to(&self, now_minute: u64, minutes: Option<u64>, agg: &mut Aggregate) {
        let Some(minutes) = minutes else {
            self.total.add_to(agg);
            return;
        };
        let minutes = minutes.min(MAX_WINDOW_MINUTES);
        let oldest = now_minute.saturating_sub(minutes);
        for slot in &self.slots {
            let epoch = slot.epoch.load(Relaxed);
            if epoch == 0 {
                continue;
            }
            let minute = epoch - 1;
            if (oldest..=now_minute).contains(&minute) {
                slot.cell.add_to(agg);
            }
        }
    }

    /// Requests recorded since start.
    #[must_use]
    pub fn total_count(&self) -> u64 {
        self.total.histogram.snapshot().count()
    }

    /// The totals since start.
    #[must_use]
    pub fn total(&self) -> &Cell {
        &self.total
    }

    /// Heap bytes held (excluding the `Series` itself).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.total.heap_bytes() + self.slots.iter().map(|s| s.cell.heap_bytes()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(series: &Series, now: u64, minutes: Option<u64>) -> Aggregate {
        let mut agg = Aggregate::default();
        series.add_window_to(now, minutes, &mut agg);
        agg
    }

    #[test]
    fn old_burst_leaves_recent_windows() {
        let s = Series::default();
        for _ in 0..100 {
            s.record(0, 5_000_000_000, true); // a burst of 5 s errors in minute 0
        }
        for minute in 1..=10 {
            for _ in 0..10 {
                s.record(minute, 1_000_000, false);
            }
        }
        let last = window(&s, 10, Some(1));
        assert_eq!(last.histogram.count(), 20);
        assert_eq!(last.errors, 0);
        assert_eq!(last.max_ns, 1_000_000);
        let five = window(&s, 10, Some(5));
        assert_eq!(five.histogram.count(), 60);
        let all = window(&s, 10, None);
        assert_eq!(all.histogram.count(), 200);
        assert_eq!(all.errors, 100);
        assert_eq!(all.max_ns, 5_000_000_000);
    }

    #[test]
    fn prepare_resets_next_slot_before_use() {
        let s = Series::default();
        s.record(0, 1_000, false);
        // minute 7 reuses minute 0's slot; prepare at minute 6 clears it.
        s.prepare(6);
        assert_eq!(window(&s, 7, Some(0)).histogram.count(), 0);
        s.record(7, 2_000, false);
        assert_eq!(window(&s, 7, Some(0)).histogram.count(), 1);
        assert_eq!(window(&s, 7, None).histogram.count(), 2);
    }

    #[test]
    fn windows_skip_idle_gaps() {
        let s = Series::default();
        s.record(3, 1_000, false);
        assert_eq!(window(&s, 100, Some(5)).histogram.count(), 0);
        assert_eq!(window(&s, 100, None).histogram.count(), 1);
    }
}
