//! Heap profiles: jemalloc's sampling profiler (one allocation sampled every 2^`lg_sample`
//! bytes on average, with its stack), dumped and converted to a symbolized pprof protobuf by
//! `jemalloc_pprof`. Needs jemalloc as the global allocator, built with profiling
//! (`tikv-jemallocator` feature `profiling`) and started with `prof:true` in its `malloc_conf`.

use serde::Serialize;

/// How to turn heap profiling on, said wherever it is off.
pub const HOW_TO_ENABLE: &str = "use tikv-jemallocator (feature `profiling`) as the global \
    allocator and start the process with jemalloc's profiler enabled: \
    `_RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19` (or the same string in \
    the binary's `_rjem_malloc_conf` symbol, as the vitals reference server does)";

/// Why no heap profile was taken.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    /// Built without the `jemalloc` feature.
    #[error("heap profiling is not built in (vitals-diag feature `jemalloc`); {HOW_TO_ENABLE}")]
    NotBuilt,
    /// jemalloc is not the global allocator, or its profiler was not enabled at start.
    #[error("heap profiling is off: {0}; {HOW_TO_ENABLE}")]
    Off(&'static str),
    /// The dump failed.
    #[error("the heap profile failed: {0}")]
    Failed(String),
}

/// The heap profiler's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeapProfiling {
    /// Whether a heap profile can be dumped now.
    pub active: bool,
    /// The mean sampling interval in bytes (2^`lg_prof_sample`), when profiling is on.
    pub sample_interval_bytes: Option<u64>,
}

/// The heap profiler's state now.
#[must_use]
pub fn heap_profiling() -> HeapProfiling {
    imp::status()
}

/// Sets jemalloc's profiler active or not, and (when given) its sampling interval to
/// 2^`lg_sample` bytes (resetting what was sampled so far). For start-up settings.
///
/// # Errors
///
/// [`HeapError::Off`] when the profiler was not enabled at start.
pub fn configure_heap_profiling(active: bool, lg_sample: Option<u8>) -> Result<(), HeapError> {
    imp::configure(active, lg_sample)
}

/// A gzipped pprof protobuf of the live sampled allocations (`inuse_space`, bytes, by stack,
/// symbolized). Blocking: run it on a blocking thread.
///
/// # Errors
///
/// [`HeapError`] saying why and how to turn it on.
pub fn heap_profile() -> Result<Vec<u8>, HeapError> {
    imp::dump()
}

#[cfg(feature = "jemalloc")]
mod imp {
    use super::{HeapError, HeapProfiling};

    /// Whether jemalloc is the global allocator (it has handed out bytes).
    fn jemalloc_is_global() -> bool {
        vitals::heap_stats().is_some_and(|s| s.source == vitals::HeapSource::Jemalloc)
    }

    fn ctl() -> Result<
        &'static std::sync::Arc<tokio::sync::Mutex<jemalloc_pprof::JemallocProfCtl>>,
        HeapError,
    > {
        if !jemalloc_is_global() {
            return Err(HeapError::Off("jemalloc is not the global allocator"));
        }
        jemalloc_pprof::PROF_CTL
            .as_ref()
            .ok_or(HeapError::Off("jemalloc was started without `prof:true`"))
    }

    pub(super) fn status() -> HeapProfiling {
        match ctl() {
            Ok(ctl) => match ctl.try_lock() {
                Ok(ctl) => HeapProfiling {
                    active: ctl.activated(),
                    sample_interval_bytes: u32::try_from(ctl.lg_sample())
                        .ok()
                        .and_then(|lg| 1u64.checked_shl(lg)),
                },
                // A dump is running: profiling is on.
                Err(_) => HeapProfiling {
                    active: true,
                    sample_interval_bytes: None,
                },
            },
            Err(_) => HeapProfiling {
                active: false,
                sample_interval_bytes: None,
            },
        }
    }

    pub(super) fn configure(active: bool, lg_sample: Option<u8>) -> Result<(), HeapError> {
        // `try_lock`: callable from async code at start-up, when no dump holds it.
        let mut ctl = ctl()?
            .try_lock()
            .map_err(|_| HeapError::Failed("a heap dump is running".to_owned()))?;
        let failed = |e: tikv_jemalloc_ctl::Error| HeapError::Failed(e.to_string());
        if let Some(lg) = lg_sample {
            // `prof.reset` takes the new lg_sample and clears what was sampled.
            #[allow(unsafe_code)]
            // SAFETY: "prof.reset" is documented as writable, taking a size_t
            // (https://jemalloc.net/jemalloc.3.html#prof.reset); the name is NUL-terminated.
            unsafe { tikv_jemalloc_ctl::raw::write(b"prof.reset\0", usize::from(lg)) }
                .map_err(failed)?;
            debug_assert_eq!(ctl.lg_sample(), usize::from(lg));
        }
        if active {
            ctl.activate().map_err(failed)
        } else {
            ctl.deactivate().map_err(failed)
        }
    }

    pub(super) fn dump() -> Result<Vec<u8>, HeapError> {
        let mut ctl = ctl()?.blocking_lock();
        if !ctl.activated() {
            return Err(HeapError::Off(
                "the profiler is not active (prof_active:false)",
            ));
        }
        ctl.dump_pprof()
            .map_err(|e| HeapError::Failed(e.to_string()))
    }
}

#[cfg(not(feature = "jemalloc"))]
mod imp {
    use super::{HeapError, HeapProfiling};

    pub(super) fn status() -> HeapProfiling {
        HeapProfiling {
            active: false,
            sample_interval_bytes: None,
        }
    }

    pub(super) fn configure(_: bool, _: Option<u8>) -> Result<(), HeapError> {
        Err(HeapError::NotBuilt)
    }

    pub(super) fn dump() -> Result<Vec<u8>, HeapError> {
        Err(HeapError::NotBuilt)
    }
}
