//! The storage of one series: an atomic counter, gauge or histogram behind a `metrics` handle.
//!
//! Every update is lock-free and allocation-free: a counter increment is one relaxed
//! `fetch_add`, a gauge update one compare-and-swap loop on the `f64` bits, a histogram record
//! two `fetch_add`s (the exposed bucket and the fine bucket) plus a CAS loop for the sum.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use metrics::{CounterFn, GaugeFn, HistogramFn};
use vitals::PROMETHEUS_BUCKETS;
use vitals::{AtomicHistogram, HistogramSnapshot};

/// Exposed buckets: one per [`PROMETHEUS_BUCKETS`] bound, plus `+Inf`.
const LE: usize = PROMETHEUS_BUCKETS.len() + 1;

/// A counter: a `u64` total.
#[derive(Debug, Default)]
pub(crate) struct CounterCell(AtomicU64);

impl CounterCell {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl CounterFn for CounterCell {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Relaxed);
    }

    /// Keeps the largest value seen, so a counter never goes backwards when two writers race.
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Relaxed);
    }
}

/// A gauge: an `f64` stored as its bits.
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    fn add(&self, delta: f64) {
        // Infallible: the closure always returns `Some`.
        let _ = self.0.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + delta).to_bits())
        });
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.add(value);
    }

    fn decrement(&self, value: f64) {
        self.add(-value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Relaxed);
    }
}

/// A histogram on vitals' buckets.
///
/// `le` counts values exactly per [`PROMETHEUS_BUCKETS`] bound (64-bit, what `/metrics`
/// exposes, mergeable across a fleet); `fine` is the core's 1%-error histogram of the values
/// read as seconds (value × 10⁹ ns, so 100 ns to 1,000 s), for the percentiles of the JSON
/// snapshot. NaN values are ignored.
#[derive(Debug, Default)]
pub(crate) struct HistogramCell {
    le: [AtomicU64; LE],
    sum: AtomicU64,
    fine: AtomicHistogram,
}

/// A copy of a [`HistogramCell`].
#[derive(Debug, Clone, Default)]
pub(crate) struct HistogramRead {
    /// Cumulative counts at each [`PROMETHEUS_BUCKETS`] bound.
    pub(crate) cumulative: [u64; LE - 1],
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) fine: HistogramSnapshot,
}

impl HistogramCell {
    fn observe(&self, value: f64, n: u64) {
        if value.is_nan() || n == 0 {
            return;
        }
        let le = PROMETHEUS_BUCKETS.partition_point(|&bound| bound < value);
        self.le[le].fetch_add(n, Relaxed);
        // `as` saturates: negative values count as 0 ns, huge ones as u64::MAX; the core clamps
        // both into its first and last buckets.
        let ns = (value * 1e9) as u64;
        for _ in 0..n {
            self.fine.record(ns);
        }
        let total = value * n as f64;
        let _ = self.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + total).to_bits())
        });
    }

    pub(crate) fn read(&self) -> HistogramRead {
        let mut out = HistogramRead {
            sum: f64::from_bits(self.sum.load(Relaxed)),
            fine: self.fine.snapshot(),
            ..HistogramRead::default()
        };
        let mut running = 0u64;
        for (i, bucket) in self.le.iter().enumerate() {
            running = running.saturating_add(bucket.load(Relaxed));
            if let Some(slot) = out.cumulative.get_mut(i) {
                *slot = running;
            }
        }
        out.count = running;
        out
    }
}

impl HistogramFn for HistogramCell {
    #[inline]
    fn record(&self, value: f64) {
        self.observe(value, 1);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.observe(value, count as u64);
    }
}

/// One series of any kind; cloning clones the `Arc`.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

/// The kind of a metric, as `metrics` registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Cell {
    pub(crate) fn new(kind: Kind) -> Self {
        match kind {
            Kind::Counter => Cell::Counter(Arc::default()),
            Kind::Gauge => Cell::Gauge(Arc::default()),
            Kind::Histogram => Cell::Histogram(Arc::default()),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Cell::Counter(_) => Kind::Counter,
            Cell::Gauge(_) => Kind::Gauge,
            Cell::Histogram(_) => Kind::Histogram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_absolute_never_goes_back() {
        let c = CounterCell::default();
        c.increment(5);
        c.absolute(3);
        assert_eq!(c.get(), 5);
        c.absolute(9);
        assert_eq!(c.get(), 9);
    }

    #[test]
    fn gauge_adds_and_sets() {
        let g = GaugeCell::default();
        g.increment(2.5);
        g.decrement(1.0);
        assert_eq!(g.get(), 1.5);
        g.set(-4.0);
        assert_eq!(g.get(), -4.0);
    }

    #[test]
    fn histogram_buckets_are_exact_at_the_bounds() {
        let h = HistogramCell::default();
        h.record(0.005); // le 0.005 includes its bound
        h.record(0.0050001);
        h.record(-1.0);
        h.record(f64::NAN);
        h.record_many(20.0, 3);
        let r = h.read();
        assert_eq!(r.cumulative[0], 2);
        assert_eq!(r.cumulative[1], 3);
        assert_eq!(r.cumulative[10], 3);
        assert_eq!(r.count, 6);
        assert_eq!(r.fine.count(), 6);
        assert!((r.sum - (0.005 + 0.0050001 - 1.0 + 60.0)).abs() < 1e-9);
    }
}
