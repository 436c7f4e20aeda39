//! CPU profiles: pprof-rs samples every thread on `SIGPROF` (a CPU-time timer, so an idle
//! process takes no samples), unwinds with framehop (DWARF `.eh_frame`, async-signal-safe, no
//! frame pointers needed) and symbolizes once the profile ends. Nothing is installed until a
//! profile starts: an idle profiler costs nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The sampling rate: 99 per second of CPU time (pprof-rs' default; off 100 so that samples
/// do not beat in step with work scheduled every 10 ms).
pub const DEFAULT_FREQUENCY_HZ: i32 = 99;
/// Most seconds one profile may last (Go's `net/http/pprof` has none; a stranger-sized value
/// would hold the single profiler for as long as they like).
pub const DEFAULT_MAX_SECONDS: u64 = 60;

/// Why no profile was taken.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// Another profile is running (one at a time: the timer and the sample buffer are
    /// process-wide).
    #[error("a CPU profile is already running; one at a time")]
    Busy,
    /// Built without the `cpu` feature.
    #[error("CPU profiling is not built in (vitals-diag feature `cpu`)")]
    NotBuilt,
    /// The profiler failed.
    #[error("the profiler failed: {0}")]
    Failed(String),
}

/// The output format of a CPU profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuFormat {
    /// Gzipped pprof protobuf (`go tool pprof`, Pyroscope, Polar Signals).
    Pprof,
    /// An SVG flame graph (inferno; feature `flamegraph`).
    Svg,
}

/// The process's one CPU profiler: at most one profile at a time.
#[derive(Debug, Clone)]
pub struct CpuProfiler {
    busy: Arc<AtomicBool>,
    frequency: i32,
    max_seconds: u64,
}

impl Default for CpuProfiler {
    fn default() -> Self {
        Self {
            busy: Arc::new(AtomicBool::new(false)),
            frequency: DEFAULT_FREQUENCY_HZ,
            max_seconds: DEFAULT_MAX_SECONDS,
        }
    }
}

/// Frees the profiler when a profile ends, also on panic.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl CpuProfiler {
    /// Samples per second of CPU time (1 to 1,000; default [`DEFAULT_FREQUENCY_HZ`]).
    #[must_use]
    pub fn frequency(mut self, hz: i32) -> Self {
        self.frequency = hz.clamp(1, 1_000);
        self
    }

    /// Most seconds one profile may last (default [`DEFAULT_MAX_SECONDS`]).
    #[must_use]
    pub fn max_seconds(mut self, seconds: u64) -> Self {
        self.max_seconds = seconds.max(1);
        self
    }

    /// The sampling rate.
    #[must_use]
    pub fn frequency_hz(&self) -> i32 {
        self.frequency
    }

    /// The cap on `seconds`.
    #[must_use]
    pub fn seconds_cap(&self) -> u64 {
        self.max_seconds
    }

    /// Whether a profile is running now.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Profiles the whole process for `duration` (capped) on a blocking thread and answers
    /// the profile's bytes; [`CpuError::Busy`] at once when one is running.
    ///
    /// # Errors
    ///
    /// [`CpuError`].
    pub async fn profile(
        &self,
        duration: Duration,
        format: CpuFormat,
    ) -> Result<Vec<u8>, CpuError> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(CpuError::Busy);
        }
        let running = Running(Arc::clone(&self.busy));
        let duration = duration.min(Duration::from_secs(self.max_seconds));
        let frequency = self.frequency;
        tokio::task::spawn_blocking(move || {
            let _running = running;
            take(duration, frequency, format)
        })
        .await
        .map_err(|e| CpuError::Failed(e.to_string()))?
    }
}

#[cfg(feature = "cpu")]
fn take(duration: Duration, frequency: i32, format: CpuFormat) -> Result<Vec<u8>, CpuError> {
    use pprof::protos::Message as _;
    let failed = |e: pprof::Error| CpuError::Failed(e.to_string());
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(frequency)
        // Frames inside these libraries are not unwound through (the signal trampoline and
        // the C library's own frames are where unwinding is least reliable).
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(failed)?;
    std::thread::sleep(duration);
    let report = guard.report().build().map_err(failed)?;
    drop(guard);
    match format {
        CpuFormat::Pprof => {
            let profile = report.pprof().map_err(failed)?;
            Ok(gzip(&profile.encode_to_vec()))
        }
        #[cfg(feature = "flamegraph")]
        CpuFormat::Svg => {
            let mut svg = Vec::new();
            report.flamegraph(&mut svg).map_err(failed)?;
            if svg.is_empty() {
                return Err(CpuError::Failed(
                    "no samples: the process used no CPU time while profiled".to_owned(),
                ));
            }
            Ok(svg)
        }
        #[cfg(not(feature = "flamegraph"))]
        CpuFormat::Svg => Err(CpuError::NotBuilt),
    }
}

#[cfg(not(feature = "cpu"))]
fn take(_: Duration, _: i32, _: CpuFormat) -> Result<Vec<u8>, CpuError> {
    Err(CpuError::NotBuilt)
}

/// Gzips `bytes` (pprof's container format), off the request path.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}
