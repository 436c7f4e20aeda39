//! A counting global allocator, for services that do not run jemalloc.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Counters touched on allocation, on a cache line of their own.
#[repr(align(128))]
struct AllocCounters {
    bytes: AtomicU64,
    count: AtomicU64,
}

/// The counter touched on free, on another cache line.
#[repr(align(128))]
struct FreeCounter {
    bytes: AtomicU64,
}

static ALLOCATED: AllocCounters = AllocCounters {
    bytes: AtomicU64::new(0),
    count: AtomicU64::new(0),
};
static FREED: FreeCounter = FreeCounter {
    bytes: AtomicU64::new(0),
};

#[inline(always)]
fn count_alloc(bytes: usize) {
    ALLOCATED.bytes.fetch_add(bytes as u64, Relaxed);
    ALLOCATED.count.fetch_add(1, Relaxed);
}

#[inline(always)]
fn count_free(bytes: usize) {
    FREED.bytes.fetch_add(bytes as u64, Relaxed);
}

/// A global allocator that counts what it allocates and frees, then forwards to `A`.
///
/// Install it with `#[global_allocator]` (see below); read the counts with
/// [`allocator_stats`]. Sizes counted are the sizes requested (`Layout::size`), not what the
/// inner allocator rounds them up to.
///
/// [`CountingAllocator`] wraps another allocator (the system one by default), forwards every
/// call to it unchanged, and counts the bytes allocated and freed and the number of
/// allocations in process-wide atomics. [`allocator_stats`] reads them; live heap bytes are
/// [`AllocatorStats::live_bytes`]. `heap::heap_stats` falls back to these figures
/// when jemalloc is not the allocator.
///
/// **Cost.** An allocation adds two relaxed `fetch_add`s to the inner allocator's work, a free
/// one, a reallocation three: a few nanoseconds when uncontended. The counters are shared by
/// every thread, so under heavy allocation on many cores their cache lines move between cores
/// (tens of nanoseconds per operation at worst); the allocation and free counters sit on
/// separate cache lines so that threads allocating and threads freeing do not contend with
/// each other. The counts are global: per-thread counters, for attributing allocations to
/// requests, are not offered (yet).
///
/// **Never a guess.** [`allocator_stats`] returns `None` unless a `CountingAllocator` has
/// actually served an allocation, i.e. it is installed as the global allocator (or, unusually,
/// called directly: those calls count too).
///
/// # Example
///
/// ```
/// use vitals::{CountingAllocator, allocator_stats};
///
/// #[global_allocator]
/// static GLOBAL: CountingAllocator = CountingAllocator::new(std::alloc::System);
///
/// fn main() {
///     let before = allocator_stats().expect("the counting allocator is installed");
///     let buffer = vec![0u8; 1 << 20];
///     let during = allocator_stats().unwrap();
///     assert!(during.allocated_bytes_total - before.allocated_bytes_total >= 1 << 20);
///     drop(buffer);
///     let after = allocator_stats().unwrap();
///     assert!(after.freed_bytes_total - before.freed_bytes_total >= 1 << 20);
///     println!("live heap: {} bytes", after.live_bytes());
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl<A> CountingAllocator<A> {
    /// Wraps `inner`; usable in a `static`.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method forwards to `A` with the caller's arguments unchanged and returns its
// result unchanged, so `A`'s guarantees carry over; the counting only touches atomics and
// never allocates.
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `A::alloc`'s.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            count_alloc(layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract, which is `A`'s.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count_alloc(layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, hence by `A`, with `layout`, as the
        // caller guarantees.
        unsafe { self.inner.dealloc(ptr, layout) };
        count_free(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by this allocator, hence by `A`, with `layout`, and
        // `new_size` is valid, as the caller guarantees.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        // On failure the old block is untouched and still live: count nothing.
        if !new.is_null() {
            count_free(layout.size());
            count_alloc(new_size);
        }
        new
    }
}

/// Totals counted by [`CountingAllocator`] since the process started.
///
/// A reallocation counts as freeing the old size and allocating the new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocatorStats {
    /// Bytes allocated, in total.
    pub allocated_bytes_total: u64,
    /// Bytes freed, in total.
    pub freed_bytes_total: u64,
    /// Allocations (and reallocations) made, in total.
    pub allocations_total: u64,
}

impl AllocatorStats {
    /// Bytes allocated and not yet freed: the live heap.
    pub fn live_bytes(&self) -> u64 {
        self.allocated_bytes_total
            .saturating_sub(self.freed_bytes_total)
    }
}

/// The counts of the installed [`CountingAllocator`], or `None` when none has served an
/// allocation (it is not the global allocator).
///
/// The three counters are read one after the other, not as one atomic snapshot; frees are
/// read first so that allocations racing with the read can only make `live_bytes` larger,
/// never wrap it below zero.
pub fn allocator_stats() -> Option<AllocatorStats> {
    let freed_bytes_total = FREED.bytes.load(Relaxed);
    let allocated_bytes_total = ALLOCATED.bytes.load(Relaxed);
    let allocations_total = ALLOCATED.count.load(Relaxed);
    (allocations_total > 0).then_some(AllocatorStats {
        allocated_bytes_total,
        freed_bytes_total,
        allocations_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_in_unit_tests() {
        // The unit-test binary uses the system allocator directly: no figures, not zeros.
        assert_eq!(allocator_stats(), None);
    }

    #[test]
    fn live_bytes_never_wraps() {
        let stats = AllocatorStats {
            allocated_bytes_total: 10,
            freed_bytes_total: 12,
            allocations_total: 1,
        };
        assert_eq!(stats.live_bytes(), 0);
        let stats = AllocatorStats {
            freed_bytes_total: 4,
            ..stats
        };
        assert_eq!(stats.live_bytes(), 6);
    }

    #[test]
    fn new_is_const_and_wraps() {
        static A: CountingAllocator = CountingAllocator::new(System);
        let _: &System = A.inner();
    }
}
