//! The memory trend across a restart: the store's `system` minutes of the last
//! [`SNAPSHOT_SPAN`] (30 minutes, the leak detector's window) become snapshots at the front of
//! the sampler's snapshot ring, so the growth rates and the leak verdict of `/metrics/memory`
//! and the dashboard go on from the points before the restart instead of starting empty.
//!
//! Called at build time, before the first live sample, so the seeded snapshots are older than
//! every live one. A minute's snapshot carries the minute's mean RSS and heap at its middle
//! (never later than now). The heap is seeded only when this process measures one (same
//! source), so the trend's basis (heap, else RSS) is the same before and after.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vitals::{HeapStats, SNAPSHOT_SPAN, SystemHistory, SystemSnapshot};
use vitals_store::{Step, Store};

/// Pushes the last [`SNAPSHOT_SPAN`] of the store's system minutes (the minute in progress
/// included) into `history` as snapshots; returns how many. Blocking.
pub(crate) fn seed_snapshots(store: &Store, history: &SystemHistory, now: SystemTime) -> usize {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let span = i64::try_from(SNAPSHOT_SPAN.as_secs()).unwrap_or(1_800);
    let from = (secs - span).div_euclid(60) * 60;
    let points = match store.system_history(from, secs, Step::Minute) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "history: the memory trend could not be read back");
            return 0;
        }
    };
    let live_heap = vitals::heap_stats();
    let mut n = 0;
    for p in points {
        let middle = UNIX_EPOCH + Duration::from_secs(u64::try_from(p.t + 30).unwrap_or(0));
        let at = middle.min(now - Duration::from_secs(1));
        let mut s = SystemSnapshot::empty(at);
        s.process.rss_bytes = p.rss_bytes.map(|g| g.mean as u64);
        s.heap = live_heap.zip(p.heap_bytes).map(|(live, g)| HeapStats {
            allocated_bytes: g.mean as u64,
            active_bytes: None,
            resident_bytes: None,
            source: live.source,
        });
        s.cpu_percent = p.cpu_percent.map(|g| g.mean);
        if s.trend_bytes().is_some() {
            history.push(s);
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use vitals_store::{MinuteBatch, StoreConfig, SystemPoint};

    use super::*;

    #[test]
    fn the_last_half_hour_of_system_minutes_become_older_snapshots() {
        let dir = std::env::temp_dir().join(format!("vitals-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.sqlite");
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&path, StoreConfig::default()).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000 + 20);
        let minute = 30_000_000i64; // now's minute
        // 40 minutes of growing RSS, the current minute included.
        for m in 0..=40 {
            let system = SystemPoint {
                rss_bytes: Some((100 + m as u64) << 20),
                ..SystemPoint::default()
            };
            store
                .write_minute(&MinuteBatch {
                    minute: minute - 40 + m,
                    system: Some(system),
                    ..MinuteBatch::default()
                })
                .unwrap();
        }
        let history = SystemHistory::new(Duration::from_secs(5));
        let n = seed_snapshots(&store, &history, now);
        assert_eq!(n, 31, "the 30 minutes before now's and now's own");
        let snaps = history.snapshots(Duration::from_secs(3_600));
        assert_eq!(snaps.len(), 31);
        assert!(snaps.iter().all(|s| s.taken_at < now));
        assert_eq!(snaps.last().unwrap().process.rss_bytes, Some(140 << 20));
        let points = history.memory_points(Duration::from_secs(1_800));
        let fit = vitals::fit_trend(&points).unwrap();
        assert!(
            (fit.mib_per_min() - 1.0).abs() < 0.05,
            "{}",
            fit.mib_per_min()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
