//! A lock-free latency histogram with a guaranteed relative error.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use once_cell::race::OnceBox;

/// The guaranteed relative error of a quantile.
pub const RELATIVE_ERROR: f64 = 0.01;
/// Smallest value resolved (ns); smaller values count in the first bucket.
pub const MIN_VALUE: u64 = 100;
/// Largest value resolved (ns); larger values count in the last bucket.
pub const MAX_VALUE: u64 = 1_000_000_000_000;

const GAMMA: f64 = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);
const CHUNK: usize = 32;
/// `1 / ln(γ)`.
fn inv_ln_gamma() -> f64 {
    1.0 / GAMMA.ln()
}

fn raw_key(value: f64) -> i32 {
    // ceil(log_γ(v)): bucket k holds (γ^(k-1), γ^k].
    (value.ln() * inv_ln_gamma()).ceil() as i32
}

fn min_key() -> i32 {
    raw_key(MIN_VALUE as f64)
}

/// Number of buckets (fixed by the constants above).
pub fn bucket_count() -> usize {
    (raw_key(MAX_VALUE as f64) - min_key() + 1) as usize
}

/// Chunks in a histogram's table: [`chunk_count`] as a constant, so that the table is one
/// fixed-size allocation (checked by a test).
const TABLE: usize = 36;

#[cfg(test)]
fn chunk_count() -> usize {
    bucket_count().div_ceil(CHUNK)
}

/// The bucket index of a value, by the definition: `ceil(log_γ(v))` through the logarithm.
/// The reference [`bucket_index`] is checked against.
fn bucket_index_by_log(value_ns: u64) -> usize {
    let v = value_ns.clamp(MIN_VALUE, MAX_VALUE);
    (raw_key(v as f64) - min_key()) as usize
}

/// Mantissa bits (after the leading one) that pick a bin of [`IndexTables::first`]: 2^6 bins
/// per power of two, each narrower (ratio 65/64) than a bucket (ratio γ = 1.0202), so a bin
/// overlaps at most two buckets.
const BIN_BITS: u32 = 6;

/// Tables that turn a value into its bucket index with integer operations, computed once from
/// [`bucket_index_by_log`] so that both give the same index for every value (a test checks
/// every bucket edge). Hand-written rather than the logarithm on the hot path: `ln` is a libm
/// call of ~45 instructions with lookup tables of its own, four first-level cache misses per
/// request in the profile; this is a shift, two table reads and a compare.
struct IndexTables {
    /// Bucket index of the smallest value of each bin (bins of [`BIN_BITS`] per power of two,
    /// from 2^6, below [`MIN_VALUE`], up to 2^40, above [`MAX_VALUE`]).
    first: Box<[u16]>,
    /// Largest value of each bucket.
    upper: Box<[u64]>,
}

/// Power of two of the first bin: `MIN_VALUE` (100) lies in [2^6, 2^7).
const FIRST_LOG2: u32 = 6;
const _: () = assert!(MIN_VALUE >= 1 << FIRST_LOG2 && MAX_VALUE < 1 << 40);

fn bin_of(v: u64) -> usize {
    let log2 = 63 - v.leading_zeros(); // v >= MIN_VALUE > 0
    let mantissa = (v >> (log2 - BIN_BITS)) & ((1 << BIN_BITS) - 1);
    (((log2 - FIRST_LOG2) << BIN_BITS) as usize) | mantissa as usize
}

impl IndexTables {
    fn build() -> Self {
        let buckets = bucket_count();
        // Largest value of bucket i: binary search for the last value whose index is <= i.
        let upper: Box<[u64]> = (0..buckets)
            .map(|i| {
                let (mut lo, mut hi) = (MIN_VALUE, MAX_VALUE);
                if bucket_index_by_log(hi) <= i {
                    return u64::MAX; // the last bucket takes everything above
                }
                // invariant: index(lo) <= i < index(hi)
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if bucket_index_by_log(mid) <= i {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                lo
            })
            .collect();
        let bins = ((40 - FIRST_LOG2) as usize) << BIN_BITS;
        let first = (0..bins)
            .map(|bin| {
                let log2 = FIRST_LOG2 + (bin >> BIN_BITS) as u32;
                let mantissa = (bin & ((1 << BIN_BITS) - 1)) as u64;
                let smallest = ((1 << BIN_BITS) | mantissa) << (log2 - BIN_BITS);
                bucket_index_by_log(smallest) as u16
            })
            .collect();
        Self { first, upper }
    }
}

static INDEX_TABLES: std::sync::LazyLock<IndexTables> =
    std::sync::LazyLock::new(IndexTables::build);

/// The bucket index of a value: `ceil(log_γ(v))`, offset so that [`MIN_VALUE`] is in bucket 0.
#[inline]
pub fn bucket_index(value_ns: u64) -> usize {
    let v = value_ns.clamp(MIN_VALUE, MAX_VALUE);
    let tables = &*INDEX_TABLES;
    let mut index = usize::from(tables.first[bin_of(v)]);
    // A bin overlaps at most two buckets, so this runs at most once (checked by a test).
    while v > tables.upper[index] {
        index += 1;
    }
    index
}

/// The value reported for a bucket: within [`RELATIVE_ERROR`] of every value in it.
pub fn bucket_value(index: usize) -> u64 {
    let k = index as i32 + min_key();
    (2.0 * GAMMA.powi(k) / (GAMMA + 1.0)).round() as u64
}

/// The upper bound (inclusive, ns) of a bucket.
pub fn bucket_upper_bound(index: usize) -> f64 {
    let k = index as i32 + min_key();
    GAMMA.powi(k)
}

type Chunk = [AtomicU32; CHUNK];

/// The chunk a histogram used first, and which one it is.
struct First {
    chunk: usize,
    counts: Chunk,
}

/// A concurrent histogram.
///
/// Values (nanoseconds) fall into logarithmic buckets `(γ^(k-1), γ^k]` with
/// `γ = (1 + α) / (1 - α)` and `α = 0.01`, the DDSketch mapping: reporting `2γ^k / (γ + 1)` for
/// a bucket is within 1% of every value in it, so every quantile read from the histogram is
/// within 1% of the sample at that rank. Buckets cover 100 ns to 1,000 s; values outside are
/// clamped into the first or last bucket (the exact maximum is tracked separately by callers).
///
/// Recording is one relaxed `fetch_add` on an `AtomicU32`; no lock, no allocation once the
/// bucket's chunk exists. Chunks of 32 buckets (128 bytes, a band of values spanning a factor of
/// about 1.9) are allocated the first time a value lands in them, so an idle histogram costs two
/// pointers. The first chunk a histogram uses stands alone; only a value outside its band
/// allocates the table of the other chunks (36 pointers), so a histogram whose values stay in
/// one band (a minute of a steady route, a tenant seen once) costs 136 bytes, not 416. The first
/// chunk stays the first for the histogram's life (clearing keeps it), so a histogram whose
/// first value was an outlier pays the table as soon as its usual values come.
///
/// Counts are 32-bit per bucket, which halves the memory of every series (it matters with ten
/// thousand tenants): the histogram is meant for a window (vitals uses it per minute and per
/// sample interval) and a bucket wraps only after 4.29 billion values in one window, 71 million
/// a second for a minute. Sums across windows ([`HistogramSnapshot`]) are 64-bit.
///
/// Hand-written rather than `hdrhistogram` or `sketches-ddsketch`: neither can be recorded into
/// concurrently through `&self` without a lock.
///
/// # Example
///
/// ```
/// use vitals::{AtomicHistogram, HistogramSnapshot};
///
/// let h = AtomicHistogram::new();
/// for ns in [1_000_000u64, 2_000_000, 3_000_000, 4_000_000] {
///     h.record(ns);
/// }
/// let snap: HistogramSnapshot = h.snapshot();
/// assert_eq!(snap.count(), 4);
/// let p50 = snap.quantile(0.5).unwrap() as f64;
/// assert!((p50 - 2_000_000.0).abs() <= 0.01 * 2_000_000.0);
/// ```
#[derive(Default)]
pub struct AtomicHistogram {
    /// The first chunk used. Its slot in `chunks` is never filled.
    first: OnceBox<First>,
    /// The other chunks, made when a value first lands outside the first chunk.
    chunks: OnceBox<[OnceBox<Chunk>; TABLE]>,
}

fn zeroed_chunk() -> Chunk {
    std::array::from_fn(|_| AtomicU32::new(0))
}

impl std::fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicHistogram")
            .field("count", &self.snapshot().count())
            .finish()
    }
}

impl AtomicHistogram {
    /// An empty histogram; allocates nothing until the first value.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> &[OnceBox<Chunk>] {
        self.chunks
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceBox::new())))
    }

    /// Records one value in nanoseconds.
    #[inline]
    pub fn record(&self, value_ns: u64) {
        self.record_index(bucket_index(value_ns));
    }

    /// Records one value by its bucket index ([`bucket_index`]), for callers that add the same
    /// value to several histograms.
    #[inline]
    pub fn record_index(&self, index: usize) {
        let index = index.min(bucket_count() - 1);
        let c = index / CHUNK;
        // Threads racing to make the first chunk agree on the winner's; a loser whose value
        // lies in another chunk goes to the table.
        let first = self.first.get_or_init(|| {
            Box::new(First {
                chunk: c,
                counts: zeroed_chunk(),
            })
        });
        let chunk = if first.chunk == c {
            &first.counts
        } else {
            self.table()[c].get_or_init(|| Box::new(zeroed_chunk()))
        };
        chunk[index % CHUNK].fetch_add(1, Relaxed);
    }

    /// Sets every bucket to zero (keeps the allocated chunks).
    pub fn clear(&self) {
        if let Some(first) = self.first.get() {
            for bucket in &first.counts {
                bucket.store(0, Relaxed);
            }
        }
        if let Some(table) = self.chunks.get() {
            for chunk in table.iter().filter_map(OnceBox::get) {
                for bucket in chunk {
                    bucket.store(0, Relaxed);
                }
            }
        }
    }

    /// Adds the current counts to `into`.
    pub fn add_to(&self, into: &mut HistogramSnapshot) {
        let add_chunk = |into: &mut HistogramSnapshot, c: usize, chunk: &Chunk| {
            for (i, bucket) in chunk.iter().enumerate() {
                let n = bucket.load(Relaxed);
                if n > 0 {
                    into.add(c * CHUNK + i, u64::from(n));
                }
            }
        };
        if let Some(first) = self.first.get() {
            add_chunk(into, first.chunk, &first.counts);
        }
        if let Some(table) = self.chunks.get() {
            for (c, chunk) in table.iter().enumerate() {
                if let Some(chunk) = chunk.get() {
                    add_chunk(into, c, chunk);
                }
            }
        }
    }

    /// A copy of the current counts.
    #[must_use]
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut snap = HistogramSnapshot::default();
        self.add_to(&mut snap);
        snap
    }

    /// Bytes held by this histogram (for the documented memory bound).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let first = self.first.get().map_or(0, |_| size_of::<First>());
        first
            + self.chunks.get().map_or(0, |table| {
                table.len() * size_of::<OnceBox<Chunk>>()
                    + table.iter().filter(|c| c.get().is_some()).count() * size_of::<Chunk>()
            })
    }
}

/// A plain (non-atomic) copy of a histogram: sparse, mergeable, queryable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `(bucket index, count)`, sorted by index, counts non-zero.
    buckets: Vec<(u32, u64)>,
    count: u64,
}

impl HistogramSnapshot {
    /// Adds `n` to bucket `index`.
    pub fn add(&mut self, index: usize, n: u64) {
        let index = index as u32;
        match self.buckets.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(pos) => self.buckets[pos].1 += n,
            Err(pos) => self.buckets.insert(pos, (index, n)),
        }
        self.count += n;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        if self.buckets.is_empty() {
            self.clone_from(other);
            return;
        }
        for &(i, n) in &other.buckets {
            self.add(i as usize, n);
        }
    }

    /// Number of values.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Non-empty buckets as `(index, count)`, ascending.
    #[must_use]
    pub fn buckets(&self) -> &[(u32, u64)] {
        &self.buckets
    }

    /// The nearest-rank quantile `q` in `0.0..=1.0`, in ns; `None` when empty.
    ///
    /// Within [`RELATIVE_ERROR`] of the sample of rank `ceil(q * count)`.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(i as usize));
            }
        }
        self.buckets.last().map(|&(i, _)| bucket_value(i as usize))
    }

    /// Number of values at most `bound_ns` (a bucket counts when its upper bound is at most
    /// `bound_ns * (1 + α)`, so bucket edges are exact to within the relative error).
    #[must_use]
    pub fn count_at_most(&self, bound_ns: f64) -> u64 {
        let limit = bound_ns * (1.0 + RELATIVE_ERROR);
        self.buckets
            .iter()
            .take_while(|&&(i, _)| bucket_upper_bound(i as usize) <= limit)
            .map(|&(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn table_index_matches_the_logarithm(v in 0u64..2_000_000_000_000) {
            proptest::prop_assert_eq!(bucket_index(v), bucket_index_by_log(v));
        }

        /// Whatever chunk comes first, every value counts once in its own bucket, through a
        /// clear too.
        #[test]
        fn counts_match_a_plain_tally(values in proptest::collection::vec(0u64..2_000_000_000_000, 1..200)) {
            let h = AtomicHistogram::new();
            let mut tally = std::collections::BTreeMap::new();
            for &v in &values {
                h.record(v);
                *tally.entry(bucket_index(v)).or_insert(0u64) += 1;
            }
            let expected: Vec<(u32, u64)> =
                tally.into_iter().map(|(i, n)| (i as u32, n)).collect();
            let snap = h.snapshot();
            proptest::prop_assert_eq!(snap.buckets(), expected.as_slice());
            h.clear();
            proptest::prop_assert_eq!(h.snapshot().count(), 0);
            h.record(values[0]);
            proptest::prop_assert_eq!(h.snapshot().count(), 1);
        }
    }

    #[test]
    fn one_band_needs_no_table_and_threads_racing_for_the_first_chunk_lose_nothing() {
        let h = AtomicHistogram::new();
        for v in [1_000_000, 1_100_000, 1_200_000] {
            h.record(v);
        }
        assert!(h.chunks.get().is_none(), "values in one band made a table");
        assert_eq!(h.heap_bytes(), size_of::<First>());

        // Four threads start at once in four different bands: one of them makes the first
        // chunk, the others' values go to the table; every value is counted.
        let h = std::sync::Arc::new(AtomicHistogram::new());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = [1_000u64, 100_000, 10_000_000, 1_000_000_000]
            .into_iter()
            .map(|base| {
                let (h, barrier) = (h.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..10_000 {
                        h.record(base + i % 7);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = h.snapshot();
        assert_eq!(snap.count(), 40_000);
        for base in [1_000u64, 100_000, 10_000_000, 1_000_000_000] {
            let in_band: u64 = snap
                .buckets()
                .iter()
                .filter(|(i, _)| {
                    (bucket_index(base)..=bucket_index(base + 6)).contains(&(*i as usize))
                })
                .map(|(_, n)| n)
                .sum();
            assert_eq!(in_band, 10_000, "values from {base}");
        }
    }

    #[test]
    fn table_index_matches_the_logarithm_at_every_bucket_edge() {
        let tables = &*INDEX_TABLES;
        for (i, &upper) in tables.upper.iter().enumerate() {
            if upper == u64::MAX {
                assert_eq!(i, bucket_count() - 1);
                continue;
            }
            for v in [upper.saturating_sub(1), upper, upper + 1] {
                assert_eq!(bucket_index(v), bucket_index_by_log(v), "value {v}");
            }
            // The bin of the bucket's first value needs at most one step.
            let first_value = upper + 1;
            let start = usize::from(tables.first[bin_of(first_value.clamp(MIN_VALUE, MAX_VALUE))]);
            assert!(bucket_index(first_value) - start <= 1);
        }
        for v in [
            0,
            1,
            99,
            100,
            101,
            MAX_VALUE - 1,
            MAX_VALUE,
            MAX_VALUE + 1,
            u64::MAX,
        ] {
            assert_eq!(bucket_index(v), bucket_index_by_log(v), "value {v}");
        }
    }

    #[test]
    fn the_table_covers_every_bucket() {
        assert_eq!(TABLE, chunk_count());
        let h = AtomicHistogram::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.snapshot().count(), 2);
    }

    fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn bucket_value_is_within_error_of_bucket_edges() {
        for index in 0..bucket_count() {
            let v = bucket_value(index) as f64;
            let upper = bucket_upper_bound(index);
            let lower = upper / GAMMA;
            if upper < MIN_VALUE as f64 * 2.0 || upper > MAX_VALUE as f64 {
                continue;
            }
            // Values are whole nanoseconds: allow the half nanosecond of rounding.
            assert!(
                (upper - v).abs() - 0.5 <= RELATIVE_ERROR * upper,
                "index {index}"
            );
            assert!(
                (v - lower).abs() - 0.5 <= RELATIVE_ERROR * lower,
                "index {index}"
            );
        }
    }

    #[test]
    fn quantiles_within_one_percent_of_exact_on_random_data() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..20 {
            let n = 1 + rng.usize(..20_000);
            // log-uniform latencies between 10 µs and 30 s, plus a heavy tail.
            let mut values: Vec<u64> = (0..n)
                .map(|_| {
                    let exp = 4.0 + rng.f64() * 6.5;
                    10f64.powf(exp) as u64
                })
                .collect();
            let h = AtomicHistogram::new();
            for &v in &values {
                h.record(v);
            }
            values.sort_unstable();
            let snap = h.snapshot();
            assert_eq!(snap.count(), n as u64);
            for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let exact = exact_quantile(&values, q) as f64;
                let got = snap.quantile(q).unwrap() as f64;
                let err = (got - exact).abs() / exact;
                assert!(
                    err <= RELATIVE_ERROR,
                    "round {round} q {q}: exact {exact} got {got}"
                );
            }
        }
    }

    #[test]
    fn merge_equals_recording_into_one() {
        let (a, b, both) = (
            AtomicHistogram::new(),
            AtomicHistogram::new(),
            AtomicHistogram::new(),
        );
        for v in 0..5_000u64 {
            let value = v * 7_919 % 100_000_000 + 1_000;
            if v % 3 == 0 {
                a.record(value);
            } else {
                b.record(value);
            }
            both.record(value);
        }
        let mut merged = a.snapshot();
        merged.merge(&b.snapshot());
        assert_eq!(merged, both.snapshot());
    }

    #[test]
    fn clamps_out_of_range_values() {
        let h = AtomicHistogram::new();
        h.record(0);
        h.record(u64::MAX);
        let snap = h.snapshot();
        assert_eq!(snap.count(), 2);
        assert_eq!(snap.buckets()[0].0, 0);
        assert_eq!(snap.buckets()[1].0 as usize, bucket_count() - 1);
    }

    #[test]
    fn count_at_most_matches_exact_counts_at_bucket_resolution() {
        let h = AtomicHistogram::new();
        for ms in 1..=1000u64 {
            h.record(ms * 1_000_000);
        }
        let snap = h.snapshot();
        let at_100ms = snap.count_at_most(100_000_000.0);
        assert!((99..=101).contains(&at_100ms), "{at_100ms}");
        assert_eq!(snap.count_at_most(f64::INFINITY), 1000);
    }

    #[test]
    fn clear_resets_counts() {
        let h = AtomicHistogram::new();
        h.record(5_000);
        h.clear();
        assert_eq!(h.snapshot().count(), 0);
        assert!(h.heap_bytes() > 0);
    }
}
