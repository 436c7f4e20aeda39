//! Snapshots of the whole process over time: memory, CPU, heap, runtime.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::heap::HeapStats;
use crate::process::ProcessSnapshot;

/// The async runtime over one sampling interval (filled by the framework integration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeFigures {
    /// Worker threads.
    pub workers: usize,
    /// Busy time over wall time per worker, 0..1, over the interval (not since start).
    pub busy_ratio: f64,
    /// Median lateness of the scheduling probe, ms.
    pub scheduling_delay_p50_ms: f64,
    /// 99th percentile lateness of the scheduling probe, ms.
    pub scheduling_delay_p99_ms: f64,
    /// Worst lateness of the scheduling probe, ms.
    pub scheduling_delay_max_ms: f64,
    /// Tasks alive.
    pub live_tasks: usize,
    /// Tasks waiting in the global queue.
    pub global_queue_depth: usize,
}

/// Everything sampled at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSnapshot {
    /// When it was taken.
    pub taken_at: SystemTime,
    /// Process figures (RSS, CPU time, threads, fds).
    pub process: ProcessSnapshot,
    /// CPU use over the interval since the previous snapshot; 100 = one core.
    pub cpu_percent: Option<f64>,
    /// Heap from the allocator; `None` when no allocator reports it.
    pub heap: Option<HeapStats>,
    /// The runtime over the interval.
    pub runtime: Option<RuntimeFigures>,
    /// Requests in flight at the instant.
    pub in_flight: u64,
    /// Requests recorded since start, at the instant (request rates are differences of it).
    pub requests_total: u64,
}

impl SystemSnapshot {
    /// A snapshot with nothing measured.
    #[must_use]
    pub fn empty(taken_at: SystemTime) -> Self {
        Self {
            taken_at,
            process: ProcessSnapshot::unmeasured(taken_at),
            cpu_percent: None,
            heap: None,
            runtime: None,
            in_flight: 0,
            requests_total: 0,
        }
    }

    /// Heap fragmentation (see [`HeapStats::fragmentation`]).
    #[must_use]
    pub fn fragmentation(&self) -> Option<f64> {
        self.heap?.fragmentation(self.process.rss_bytes)
    }

    /// The bytes memory trends are computed on: live heap when known, else RSS.
    #[must_use]
    pub fn trend_bytes(&self) -> Option<u64> {
        self.heap
            .map(|h| h.allocated_bytes)
            .or(self.process.rss_bytes)
    }
}

/// One minute of the process, for day-long trends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinutePoint {
    /// Start of the minute, ms since the Unix epoch.
    pub unix_ms: u64,
    /// RSS at the end of the minute.
    pub rss_bytes: Option<u64>,
    /// Live heap at the end of the minute.
    pub heap_bytes: Option<u64>,
    /// Mean CPU % over the minute.
    pub cpu_percent: Option<f64>,
    /// Mean busy ratio over the minute.
    pub busy_ratio: Option<f64>,
    /// Requests finished in the minute.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// p95 latency of the minute, ms.
    pub p95_ms: f64,
}

/// Points kept at one-minute resolution: 24 hours.
pub const MINUTE_POINTS: usize = 24 * 60;
/// The snapshot ring covers at least this long.
pub const SNAPSHOT_SPAN: Duration = Duration::from_secs(30 * 60);

#[derive(Debug)]
struct Rings {
    snapshots: VecDeque<SystemSnapshot>,
    minutes: VecDeque<MinutePoint>,
}

/// Fixed rings of snapshots and minute points.
///
/// A sampler (the axum integration runs one every 5 s by default) builds a [`SystemSnapshot`]
/// and pushes it into a [`History`]: a fixed ring of snapshots covering at least 30 minutes,
/// and a fixed ring of one-minute points covering 24 hours. Both are allocated once, so the
/// history's memory never moves.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use vitals::ProcessSnapshot;
/// use vitals::{SystemHistory, SystemSnapshot};
///
/// let history = SystemHistory::new(Duration::from_secs(5));
/// let mut snap = SystemSnapshot::empty(SystemTime::now());
/// snap.process.rss_bytes = Some(64 << 20);
/// history.push(snap);
/// assert_eq!(history.latest().unwrap().process.rss_bytes, Some(64 << 20));
/// assert!(history.snapshot_capacity() >= 361);
/// ```
#[derive(Debug)]
pub struct History {
    interval: Duration,
    snapshot_capacity: usize,
    rings: Mutex<Rings>,
}

impl History {
    /// Rings sized for one snapshot per `interval` over [`SNAPSHOT_SPAN`] (plus one), and
    /// [`MINUTE_POINTS`] minutes.
    #[must_use]
    pub fn new(interval: Duration) -> Self {
        let interval = interval.max(Duration::from_millis(100));
        let snapshot_capacity =
            usize::try_from(SNAPSHOT_SPAN.as_millis().div_ceil(interval.as_millis()))
                .unwrap_or(361)
                + 1;
        Self {
            interval,
            snapshot_capacity,
            rings: Mutex::new(Rings {
                snapshots: VecDeque::with_capacity(snapshot_capacity),
                minutes: VecDeque::with_capacity(MINUTE_POINTS),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rings> {
        self.rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sampling interval the rings were sized for.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Snapshots kept.
    #[must_use]
    pub fn snapshot_capacity(&self) -> usize {
        self.snapshot_capacity
    }

    /// Adds a snapshot, dropping the oldest when full.
    pub fn push(&self, snapshot: SystemSnapshot) {
        let mut rings = self.lock();
        if rings.snapshots.len() == self.snapshot_capacity {
            rings.snapshots.pop_front();
        }
        rings.snapshots.push_back(snapshot);
    }

    /// Adds a minute point, dropping the oldest when full.
    pub fn push_minute(&self, point: MinutePoint) {
        let mut rings = self.lock();
        if rings.minutes.len() == MINUTE_POINTS {
            rings.minutes.pop_front();
        }
        rings.minutes.push_back(point);
    }

    /// The newest snapshot.
    #[must_use]
    pub fn latest(&self) -> Option<SystemSnapshot> {
        self.lock().snapshots.back().cloned()
    }

    /// Snapshots taken within `span` of the newest, oldest first.
    #[must_use]
    pub fn snapshots(&self, span: Duration) -> Vec<SystemSnapshot> {
        let rings = self.lock();
        let Some(newest) = rings.snapshots.back().map(|s| s.taken_at) else {
            return Vec::new();
        };
        rings
            .snapshots
            .iter()
            .filter(|s| {
                newest
                    .duration_since(s.taken_at)
                    .map_or(true, |age| age <= span)
            })
            .cloned()
            .collect()
    }

    /// The last `n` minute points, oldest first.
    #[must_use]
    pub fn minutes(&self, n: usize) -> Vec<MinutePoint> {
        let rings = self.lock();
        let skip = rings.minutes.len().saturating_sub(n);
        rings.minutes.iter().skip(skip).copied().collect()
    }

    /// `(seconds since the oldest point, bytes)` of [`SystemSnapshot::trend_bytes`] over
    /// `span`: the input of [`fit_trend`](crate::fit_trend).
    #[must_use]
    pub fn memory_points(&self, span: Duration) -> Vec<(f64, f64)> {
        let snaps = self.snapshots(span);
        let Some(first) = snaps.first().map(|s| s.taken_at) else {
            return Vec::new();
        };
        snaps
            .iter()
            .filter_map(|s| {
                let t = s.taken_at.duration_since(first).ok()?.as_secs_f64();
                Some((t, s.trend_bytes()? as f64))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(at: SystemTime, rss: u64) -> SystemSnapshot {
        let mut s = SystemSnapshot::empty(at);
        s.process.rss_bytes = Some(rss);
        s
    }

    #[test]
    fn rings_are_fixed_and_keep_the_newest() {
        let h = History::new(Duration::from_secs(5));
        assert_eq!(h.snapshot_capacity(), 361);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..1_000u64 {
            h.push(snap(t0 + Duration::from_secs(5 * i), i));
        }
        let all = h.snapshots(Duration::from_secs(3_600));
        assert_eq!(all.len(), 361);
        assert_eq!(all.last().unwrap().process.rss_bytes, Some(999));
        let last_5m = h.snapshots(Duration::from_secs(300));
        assert_eq!(last_5m.len(), 61);
        for m in 0..2_000u64 {
            h.push_minute(MinutePoint {
                unix_ms: m,
                ..MinutePoint::default()
            });
        }
        let minutes = h.minutes(MINUTE_POINTS + 10);
        assert_eq!(minutes.len(), MINUTE_POINTS);
        assert_eq!(minutes.last().unwrap().unix_ms, 1_999);
    }

    #[test]
    fn memory_points_prefer_heap_and_are_relative() {
        let h = History::new(Duration::from_secs(5));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(50);
        h.push(snap(t0, 100));
        let mut s = snap(t0 + Duration::from_secs(5), 200);
        s.heap = Some(HeapStats {
            allocated_bytes: 42,
            active_bytes: None,
            resident_bytes: None,
            source: crate::heap::HeapSource::CountingAllocator,
        });
        h.push(s);
        assert_eq!(
            h.memory_points(Duration::from_secs(60)),
            vec![(0.0, 100.0), (5.0, 42.0)]
        );
    }
}
