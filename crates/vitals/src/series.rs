//! One time series of request latencies: a ring of one-minute slots plus an archive.

use std::sync::Mutex;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::histogram::{AtomicHistogram, HistogramSnapshot};

/// Number of one-minute slots: the current one, five full ones, and one being reset.
pub const SLOTS: usize = 7;
/// Minutes the longest window reaches back (besides the current partial minute).
pub const MAX_WINDOW_MINUTES: u64 = 5;

/// Upper bounds (seconds) of the cumulative buckets exposed to Prometheus: the
/// common client-library defaults, which most dashboards expect.
pub const PROMETHEUS_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const PROMETHEUS_BUCKETS_NS: [u64; 11] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// One request as a series stores it, computed once and added to every series it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Minutes since the monitor started, at the end of the request.
    pub minute: u64,
    /// Fine histogram bucket ([`crate::histogram::bucket_index`]).
    pub bucket: usize,
    /// Index of the first Prometheus bucket that holds it (exact: `value <= le`); 11 = `+Inf`.
    pub le: usize,
    /// Duration, ns.
    pub duration_ns: u64,
    /// Status >= 400.
    pub is_error: bool,
}

impl Observation {
    /// Classifies a duration once.
    #[must_use]
    pub fn new(minute: u64, duration_ns: u64, is_error: bool) -> Self {
        Self {
            minute,
            bucket: crate::histogram::bucket_index(duration_ns),
            le: PROMETHEUS_BUCKETS_NS.partition_point(|&le| le < duration_ns),
            duration_ns,
            is_error,
        }
    }
}

/// Cumulative Prometheus histogram figures of a series since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrometheusCounts {
    /// Requests at most each [`PROMETHEUS_BUCKETS`] bound (cumulative).
    pub cumulative: [u64; 11],
    /// All requests (the `+Inf` bucket).
    pub count: u64,
    /// Sum of durations, ns.
    pub sum_ns: u64,
    /// Requests with status >= 400.
    pub errors: u64,
}

/// Counters for one minute of one series: 40 bytes plus the histogram's chunks (there are
/// [`SLOTS`] per series and 10,000 tenant series by default, so every word here is 560 KB).
#[derive(Debug, Default)]
pub struct Cell {
    histogram: AtomicHistogram,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
    /// Requests with status >= 400 in the minute (32 bits: 71 million a second for a minute).
    errors: AtomicU32,
    /// Minute number + 1 that the cell holds; 0 = never used (32 bits: 8,000 years).
    epoch: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<Cell>() == 40);

impl Cell {
    #[inline]
    fn record(&self, bucket: usize, duration_ns: u64, is_error: bool) {
        self.histogram.record_index(bucket);
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

    /// Minute number + 1 held; 0: never used.
    #[inline]
    fn epoch(&self) -> u64 {
        u64::from(self.epoch.load(Acquire))
    }

    fn set_epoch(&self, epoch: u64) {
        self.epoch
            .store(u32::try_from(epoch).unwrap_or(u32::MAX), Release);
    }

    /// Adds this cell into an aggregate.
    pub fn add_to(&self, agg: &mut Aggregate) {
        self.histogram.add_to(&mut agg.histogram);
        agg.sum_ns = agg.sum_ns.saturating_add(self.sum_ns.load(Relaxed));
        agg.max_ns = agg.max_ns.max(self.max_ns.load(Relaxed));
        agg.errors = agg
            .errors
            .saturating_add(u64::from(self.errors.load(Relaxed)));
    }

    fn heap_bytes(&self) -> usize {
        self.histogram.heap_bytes()
    }
}

/// One-minute slots plus an archive.
///
/// A [`Series`] keeps one [`Cell`] (histogram, sum, max, errors) per minute in a ring of
/// [`SLOTS`] slots, and an archive of every minute that has left the ring. The window of the
/// last `n` minutes is the current (partial) minute plus the `n` before it, so "last minute"
/// covers 60 to 120 seconds and "last 5 minutes" 300 to 360 seconds; "since start" is the
/// archive plus every slot.
///
/// Recording a request touches one cell (the current minute's: a histogram bucket, the sum,
/// the maximum and the error count) and one since-start Prometheus bucket counter, and takes
/// no lock. A series holds [`SLOTS`] cells of 40 bytes, 12 Prometheus counters and the archive,
/// plus histogram chunks allocated as latencies land in them.
///
/// The slot the next minute will use is moved into the archive and reset by
/// [`Series::prepare`] (the maintenance tick calls it once a second), ahead of time, so
/// requests never wait. Without a tick, the first request of a new
/// minute does it itself under the archive's mutex: correct, just not lock-free at that one
/// instant per minute.
#[derive(Debug, Default)]
pub struct Series {
    slots: [Cell; SLOTS],
    archive: Mutex<Aggregate>,
    /// Non-cumulative counts per Prometheus bucket (index 11: above the last bound), since
    /// start: one more relaxed add per request buys an exposition that reads 12 words per
    /// series instead of merging histograms.
    prometheus: [AtomicU64; 12],
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
    /// Records one request.
    #[inline]
    pub fn record(&self, o: &Observation) {
        let slot = &self.slots[(o.minute % SLOTS as u64) as usize];
        if slot.epoch() != o.minute + 1 {
            self.rotate(slot, o.minute);
        }
        slot.record(o.bucket, o.duration_ns, o.is_error);
        self.prometheus[o.le].fetch_add(1, Relaxed);
    }

    /// Cumulative Prometheus figures since start.
    #[must_use]
    pub fn prometheus_counts(&self) -> PrometheusCounts {
        let mut out = PrometheusCounts::default();
        let mut running = 0;
        for (i, c) in self.prometheus.iter().enumerate() {
            running += c.load(Relaxed);
            if let Some(slot) = out.cumulative.get_mut(i) {
                *slot = running;
            }
        }
        out.count = running;
        let archive = self
            .archive
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.sum_ns = archive.sum_ns;
        out.errors = archive.errors;
        for slot in &self.slots {
            if slot.epoch() != 0 {
                out.sum_ns = out.sum_ns.saturating_add(slot.sum_ns.load(Relaxed));
                out.errors = out
                    .errors
                    .saturating_add(u64::from(slot.errors.load(Relaxed)));
            }
        }
        out
    }

    /// Archives and resets `slot` for `minute`, unless it already holds that minute or a later
    /// one.
    #[cold]
    fn rotate(&self, slot: &Cell, minute: u64) {
        let mut archive = self
            .archive
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.epoch() > minute {
            return;
        }
        slot.add_to(&mut archive);
        slot.clear();
        slot.set_epoch(minute + 1);
    }

    /// Readies, ahead of time, the slot that `minute + 1` will use. Call at least once a
    /// minute.
    pub fn prepare(&self, minute: u64) {
        let next = minute + 1;
        let slot = &self.slots[(next % SLOTS as u64) as usize];
        if slot.epoch() < next + 1 {
            self.rotate(slot, next);
        }
    }

    /// Adds the window of the last `minutes` full minutes plus the current one (`None`: since
    /// start) into `agg`.
    pub fn add_window_to(&self, now_minute: u64, minutes: Option<u64>, agg: &mut Aggregate) {
        let range = match minutes {
            None => {
                // Hold the archive while reading the slots, so a rotation cannot move a
                // minute from a slot into the archive between the two reads.
                let archive = self
                    .archive
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                agg.merge(&archive);
                for slot in &self.slots {
                    if slot.epoch() != 0 {
                        slot.add_to(agg);
                    }
                }
                return;
            }
            Some(m) => now_minute.saturating_sub(m.min(MAX_WINDOW_MINUTES))..=now_minute,
        };
        for slot in &self.slots {
            let epoch = slot.epoch();
            if epoch != 0 && range.contains(&(epoch - 1)) {
                slot.add_to(agg);
            }
        }
    }

    /// Adds exactly one minute (if the ring still holds it) into `agg`.
    pub fn add_minute_to(&self, minute: u64, agg: &mut Aggregate) {
        for slot in &self.slots {
            if slot.epoch() == minute + 1 {
                slot.add_to(agg);
            }
        }
    }

    /// Requests recorded since start.
    #[must_use]
    pub fn total_count(&self) -> u64 {
        let mut agg = Aggregate::default();
        self.add_window_to(0, None, &mut agg);
        agg.histogram.count()
    }

    /// Heap bytes held (excluding the `Series` itself).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let archive = self
            .archive
            .lock()
            .map_or(0, |a| a.histogram.buckets().len() * 16);
        archive + self.slots.iter().map(Cell::heap_bytes).sum::<usize>()
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
            s.record(&Observation::new(0, 5_000_000_000, true)); // a burst of 5 s errors in minute 0
        }
        for minute in 1..=10 {
            for _ in 0..10 {
                s.record(&Observation::new(minute, 1_000_000, false));
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
        s.record(&Observation::new(0, 1_000, false));
        // minute 7 reuses minute 0's slot; prepare at minute 6 clears it.
        s.prepare(6);
        assert_eq!(window(&s, 7, Some(0)).histogram.count(), 0);
        s.record(&Observation::new(7, 2_000, false));
        assert_eq!(window(&s, 7, Some(0)).histogram.count(), 1);
        assert_eq!(window(&s, 7, None).histogram.count(), 2);
    }

    #[test]
    fn prometheus_buckets_are_exact_and_cumulative() {
        let s = Series::default();
        // exactly on a bound counts in that bucket (value <= le)
        for ns in [5_000_000, 5_000_001, 100_000_000, 20_000_000_000] {
            s.record(&Observation::new(0, ns, false));
        }
        let p = s.prometheus_counts();
        assert_eq!(p.cumulative[0], 1);
        assert_eq!(p.cumulative[1], 2);
        assert_eq!(p.cumulative[4], 3);
        assert_eq!(p.cumulative[10], 3);
        assert_eq!(p.count, 4);
        assert_eq!(
            p.sum_ns,
            5_000_000 + 5_000_001 + 100_000_000 + 20_000_000_000
        );
    }

    #[test]
    fn windows_skip_idle_gaps() {
        let s = Series::default();
        s.record(&Observation::new(3, 1_000, false));
        assert_eq!(window(&s, 100, Some(5)).histogram.count(), 0);
        assert_eq!(window(&s, 100, None).histogram.count(), 1);
    }
}
