//! Live heap bytes from the allocator, and giving free memory back to the OS.

#![allow(unsafe_code)] // FFI calls into the allocator (jemalloc's mallctl, glibc's malloc_trim)

use serde::Serialize;

/// Where heap figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HeapSource {
    /// jemalloc's statistics.
    Jemalloc,
    /// [`crate::alloc::CountingAllocator`].
    CountingAllocator,
}

/// The heap right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeapStats {
    /// Bytes allocated by the application and not yet freed.
    pub allocated_bytes: u64,
    /// Bytes in pages the allocator has handed out (jemalloc only).
    pub active_bytes: Option<u64>,
    /// Bytes the allocator holds in physical memory (jemalloc only).
    pub resident_bytes: Option<u64>,
    /// Where the figures come from.
    pub source: HeapSource,
}

impl HeapStats {
    /// Fragmentation: memory held beyond what is allocated, as a fraction of what is
    /// allocated: `resident / allocated - 1` (jemalloc), else `rss / allocated - 1`. 0 means
    /// none; 1 means the process holds twice what it uses.
    #[must_use]
    pub fn fragmentation(&self, rss_bytes: Option<u64>) -> Option<f64> {
        let held = self.resident_bytes.or(rss_bytes)?;
        if self.allocated_bytes == 0 {
            return None;
        }
        Some((held as f64 / self.allocated_bytes as f64 - 1.0).max(0.0))
    }
}

/// Reads the heap.
///
/// The Rust translation of V8's `heapUsed` and `global.gc()`:
///
/// - [`heap_stats`] reads the allocator: jemalloc's `stats.allocated`, `stats.active` and
///   `stats.resident` when the `jemalloc` feature is on and jemalloc is the global allocator
///   (it refreshes jemalloc's statistics epoch, which touches every arena: call it on the
///   sampling interval, not per request); else the [`CountingAllocator`](crate::CountingAllocator) when one
///   is installed; else `None`. Never a guess from RSS.
/// - [`reclaim`] asks the allocator to return free pages: jemalloc purges every arena
///   (`arena.<MALLCTL_ARENAS_ALL>.purge`); under glibc's allocator, `malloc_trim(0)`. The caller
///   measures RSS before and after.
///
/// # Example
///
/// ```
/// match vitals::heap_stats() {
///     // No allocator that reports (the default build): unknown, never a guess.
///     None => {}
///     Some(stats) => assert!(stats.allocated_bytes > 0),
/// }
/// let outcome = vitals::reclaim_memory();
/// assert!(!outcome.method.is_empty());
/// ```
#[must_use]
pub fn heap_stats() -> Option<HeapStats> {
    jemalloc_stats().or_else(|| {
        crate::alloc::allocator_stats().map(|s| HeapStats {
            allocated_bytes: s.live_bytes(),
            active_bytes: None,
            resident_bytes: None,
            source: HeapSource::CountingAllocator,
        })
    })
}

#[cfg(feature = "jemalloc")]
fn jemalloc_stats() -> Option<HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let allocated = stats::allocated::read().ok()? as u64;
    if allocated == 0 {
        return None; // linked but not the global allocator
    }
    Some(HeapStats {
        allocated_bytes: allocated,
        active_bytes: stats::active::read().ok().map(|v| v as u64),
        resident_bytes: stats::resident::read().ok().map(|v| v as u64),
        source: HeapSource::Jemalloc,
    })
}

#[cfg(not(feature = "jemalloc"))]
fn jemalloc_stats() -> Option<HeapStats> {
    None
}

/// Bytes the calling thread has allocated and freed since it started, from jemalloc's
/// per-thread counters (`thread.allocatedp` / `thread.deallocatedp`: reading them is a plain
/// memory load once the pointers are cached). `None` without jemalloc.
#[must_use]
pub fn thread_allocation() -> Option<(u64, u64)> {
    thread_counters()
}

#[cfg(feature = "jemalloc")]
fn thread_counters() -> Option<(u64, u64)> {
    use tikv_jemalloc_ctl::thread::{ThreadLocal, allocatedp, deallocatedp};
    thread_local! {
        static COUNTERS: Option<(ThreadLocal<u64>, ThreadLocal<u64>)> =
            jemalloc_stats().and_then(|_| Some((allocatedp::read().ok()?, deallocatedp::read().ok()?)));
    }
    COUNTERS.with(|c| c.map(|(a, d)| (a.get(), d.get())))
}

#[cfg(not(feature = "jemalloc"))]
fn thread_counters() -> Option<(u64, u64)> {
    None
}

/// What [`reclaim`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimOutcome {
    /// `jemalloc-purge`, `malloc-trim` or `none`.
    pub method: &'static str,
    /// False when the allocator refused (the reason is in `error`).
    pub ok: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Asks the allocator to return free memory to the OS; see [`heap_stats`].
#[must_use]
pub fn reclaim() -> ReclaimOutcome {
    if let Some(outcome) = jemalloc_purge() {
        return outcome;
    }
    malloc_trim()
}

#[cfg(feature = "jemalloc")]
fn jemalloc_purge() -> Option<ReclaimOutcome> {
    jemalloc_stats()?;
    // MALLCTL_ARENAS_ALL = 4096: every arena. The ctl takes no input and gives no output, so
    // it must be called with null pointers, which the typed `raw::write` cannot do.
    let name = b"arena.4096.purge\0";
    // SAFETY: `name` is NUL-terminated; null old/new pointers with zero lengths are what this
    // ctl expects.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    Some(ReclaimOutcome {
        method: "jemalloc-purge",
        ok: rc == 0,
        error: (rc != 0).then(|| format!("mallctl returned {rc}")),
    })
}

#[cfg(not(feature = "jemalloc"))]
fn jemalloc_purge() -> Option<ReclaimOutcome> {
    None
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_trim() -> ReclaimOutcome {
    // SAFETY: malloc_trim has no preconditions; it only releases free memory.
    unsafe { libc::malloc_trim(0) };
    ReclaimOutcome {
        method: "malloc-trim",
        ok: true,
        error: None,
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn malloc_trim() -> ReclaimOutcome {
    ReclaimOutcome {
        method: "none",
        ok: false,
        error: Some("this allocator offers no way to return memory".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragmentation_is_held_over_allocated() {
        let s = HeapStats {
            allocated_bytes: 100,
            active_bytes: None,
            resident_bytes: Some(150),
            source: HeapSource::Jemalloc,
        };
        assert_eq!(s.fragmentation(Some(1_000)), Some(0.5));
        let c = HeapStats {
            resident_bytes: None,
            source: HeapSource::CountingAllocator,
            ..s
        };
        assert_eq!(c.fragmentation(Some(300)), Some(2.0));
        assert_eq!(c.fragmentation(None), None);
    }
}
