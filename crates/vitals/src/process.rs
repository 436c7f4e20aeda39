//! The process's own vitals (memory, CPU time, threads, file descriptors) and its memory limit.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::units::BYTES_PER_MIB;

/// cgroup v1 reports "no limit" as a huge number (`PAGE_COUNTER_MAX` rounded to pages,
/// about 2^63); anything from 2^60 up is treated as no limit.
const CGROUP_V1_UNLIMITED: u64 = 1 << 60;

/// The process at one instant. Every measured field is `None` where the OS did not report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSnapshot {
    /// Resident set size: bytes of the process in physical memory.
    pub rss_bytes: Option<u64>,
    /// Highest resident set size since the process started (`VmHWM`).
    pub peak_rss_bytes: Option<u64>,
    /// Virtual memory size in bytes.
    pub virtual_bytes: Option<u64>,
    /// CPU time spent in user mode since the process started (tick resolution, usually 10 ms).
    pub cpu_user: Option<Duration>,
    /// CPU time spent in the kernel on the process's behalf since it started.
    pub cpu_system: Option<Duration>,
    /// Threads in the process.
    pub threads: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// Soft limit on open file descriptors (`RLIMIT_NOFILE`); `None` when unknown or
    /// unlimited. Cached after the first sample.
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch (to about a second: the
    /// kernel gives the boot time in whole seconds). Cached after the first sample.
    pub start_time_unix_secs: Option<f64>,
    /// When the sample was taken.
    pub taken_at: SystemTime,
}

impl ProcessSnapshot {
    /// A snapshot taken at `taken_at` with nothing measured.
    pub fn unmeasured(taken_at: SystemTime) -> Self {
        Self {
            rss_bytes: None,
            peak_rss_bytes: None,
            virtual_bytes: None,
            cpu_user: None,
            cpu_system: None,
            threads: None,
            open_fds: None,
            max_fds: None,
            start_time_unix_secs: None,
            taken_at,
        }
    }

    /// User plus system CPU time.
    pub fn cpu_total(&self) -> Option<Duration> {
        Some(self.cpu_user? + self.cpu_system?)
    }

    /// CPU used between `earlier` and this snapshot over `wall` elapsed time, in percent of
    /// one core (100 = one core fully busy; 400 = four).
    ///
    /// `None` when either snapshot lacks CPU times, `wall` is zero, or the CPU time went
    /// backwards (snapshots of different processes). Pass a `wall` measured with
    /// [`Instant`](std::time::Instant): `taken_at` is wall-clock time and may jump.
    pub fn cpu_percent_since(&self, earlier: &ProcessSnapshot, wall: Duration) -> Option<f64> {
        if wall.is_zero() {
            return None;
        }
        let used = self.cpu_total()?.checked_sub(earlier.cpu_total()?)?;
        Some(used.as_secs_f64() / wall.as_secs_f64() * 100.0)
    }

    /// Time since the process started, as of `taken_at` (zero if the clock says the start
    /// is in the future, which the start time's one-second precision can cause).
    pub fn uptime(&self) -> Option<Duration> {
        let now = self.taken_at.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
        Duration::try_from_secs_f64((now - self.start_time_unix_secs?).max(0.0)).ok()
    }

    /// Open file descriptors as a fraction of the limit (0..=1).
    pub fn fd_usage(&self) -> Option<f64> {
        let max = self.max_fds.filter(|&m| m > 0)?;
        Some(self.open_fds? as f64 / max as f64)
    }
}

/// Samples the current process: what it reads and what it costs.
///
/// # Errors
///
/// On Linux, when `/proc/self/stat` cannot be read (no `/proc` mounted). The other files are
/// optional: a field whose file cannot be read is `None`. On other systems this never fails.
///
/// [`sample_process`] reads them from `/proc/self` on Linux (through the `procfs` crate).
/// On other systems it returns a snapshot whose measured fields are `None`: nothing is ever
/// guessed. Derived figures (CPU percentage, uptime) are methods on [`ProcessSnapshot`].
///
/// **Cost.** One sample opens `/proc/self` and reads `/proc/self/stat` (CPU times, threads,
/// RSS, virtual size), `/proc/self/status` (only its `VmHWM` line, the peak RSS) and counts
/// `/proc/self/fd` (one `stat` on Linux ≥ 6.2, a directory scan before that): tens of
/// microseconds (most of it the kernel formatting `stat` and `status`), meant for a sampler
/// running every few seconds, not for the request path. The open-files limit
/// (`/proc/self/limits`) and the process start time are read on the first sample and cached
/// for the life of the process; a process that raises its limit with `setrlimit` after its
/// first sample keeps reporting the old `max_fds`.
///
/// [`detect_memory_limit`] finds the memory the process may use: `MEMORY_LIMIT_MB`, then the
/// cgroup v2 and v1 limits, then a default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use vitals::{MemoryLimitSource, detect_memory_limit, sample_process};
///
/// let before = sample_process().unwrap();
/// let busy: u64 = (0..1_000_000u64).map(|i| i.wrapping_mul(i)).sum();
/// let after = sample_process().unwrap();
/// # let _ = busy;
/// if let Some(cpu) = after.cpu_percent_since(&before, Duration::from_millis(10)) {
///     assert!(cpu >= 0.0);
/// }
/// #[cfg(target_os = "linux")]
/// assert!(after.rss_bytes.unwrap() > 0);
///
/// let limit = detect_memory_limit(Some("512"), 1 << 30);
/// assert_eq!((limit.bytes, limit.source), (512 * 1024 * 1024, MemoryLimitSource::Env));
/// ```
pub fn sample_process() -> io::Result<ProcessSnapshot> {
    sys::sample(SystemTime::now())
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    use procfs::ProcError;
    use procfs::process::{LimitValue, Process};

    use super::ProcessSnapshot;

    static MAX_FDS: OnceLock<Option<u64>> = OnceLock::new();
    static START_TIME: OnceLock<Option<f64>> = OnceLock::new();

    pub(super) fn sample(taken_at: SystemTime) -> io::Result<ProcessSnapshot> {
        let process = Process::myself().map_err(to_io)?;
        let stat = process.stat().map_err(to_io)?;
        let tps = procfs::ticks_per_second();
        let ticks = |n: u64| {
            (tps > 0).then(|| {
                Duration::from_secs(n / tps) + Duration::from_nanos((n % tps) * 1_000_000_000 / tps)
            })
        };
        // Only `VmHWM` is needed from status: scanning the text for it costs half of what
        // parsing every field with `Process::status` does.
        let peak_rss_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|text| super::status_kib(&text, "VmHWM:"))
            .map(|kib| kib * 1024);
        let max_fds =
            *MAX_FDS.get_or_init(|| match process.limits().ok()?.max_open_files.soft_limit {
                LimitValue::Value(n) => Some(n),
                LimitValue::Unlimited => None,
            });
        let start_time_unix_secs = *START_TIME.get_or_init(|| {
            let boot = procfs::boot_time_secs().ok()?;
            (tps > 0).then(|| boot as f64 + stat.starttime as f64 / tps as f64)
        });
        Ok(ProcessSnapshot {
            rss_bytes: Some(stat.rss * procfs::page_size()),
            peak_rss_bytes,
            virtual_bytes: Some(stat.vsize),
            cpu_user: ticks(stat.utime),
            cpu_system: ticks(stat.stime),
            threads: u64::try_from(stat.num_threads).ok(),
            open_fds: process.fd_count().ok().map(|n| n as u64),
            max_fds,
            start_time_unix_secs,
            taken_at,
        })
    }

    fn to_io(e: ProcError) -> io::Error {
        match e {
            ProcError::Io(e, _) => e,
            ProcError::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, e),
            ProcError::PermissionDenied(_) => io::Error::new(io::ErrorKind::PermissionDenied, e),
            e => io::Error::other(e),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::time::SystemTime;

    use super::ProcessSnapshot;

    pub(super) fn sample(taken_at: SystemTime) -> io::Result<ProcessSnapshot> {
        Ok(ProcessSnapshot::unmeasured(taken_at))
    }
}

/// The value of a `Name:   123 kB` line of `/proc/<pid>/status`, in KiB.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    let value = line[key.len()..].trim().strip_suffix("kB")?;
    value.trim().parse().ok()
}

/// Where a [`MemoryLimit`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LimitSource {
    /// The `MEMORY_LIMIT_MB` setting.
    Env,
    /// cgroup v2 `memory.max`.
    CgroupV2,
    /// cgroup v1 `memory/memory.limit_in_bytes`.
    CgroupV1,
    /// None of the above: the caller's default.
    Default,
}

/// The memory the process may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryLimit {
    /// The limit in bytes (never 0).
    pub bytes: u64,
    /// Where it came from.
    pub source: LimitSource,
}

impl MemoryLimit {
    /// `used_bytes` as a fraction of the limit (1.0 = at the limit).
    pub fn usage(&self, used_bytes: u64) -> f64 {
        used_bytes as f64 / self.bytes as f64
    }
}

/// Finds the memory limit under `/sys/fs/cgroup`; see [`detect_memory_limit_in`].
///
/// `env_mb` is the value of `MEMORY_LIMIT_MB` if the caller has one; see
/// [`detect_memory_limit_from_env`] to read it from the environment.
pub fn detect_memory_limit(env_mb: Option<&str>, default_bytes: u64) -> MemoryLimit {
    detect_memory_limit_in(Path::new("/sys/fs/cgroup"), env_mb, default_bytes)
}

/// [`detect_memory_limit`] with `env_mb` read from the `MEMORY_LIMIT_MB` environment variable.
pub fn detect_memory_limit_from_env(default_bytes: u64) -> MemoryLimit {
    let env = std::env::var("MEMORY_LIMIT_MB").ok();
    detect_memory_limit(env.as_deref(), default_bytes)
}

/// Finds the memory limit, with the cgroup filesystem mounted at `cgroup_root`. The first of
/// these that gives a limit wins:
///
/// 1. `env_mb`, a number of MiB (1024 × 1024 bytes; decimals allowed, e.g. `"1536"` or
///    `"0.5"`). Ignored when it is not a positive finite number.
/// 2. cgroup v2: `<cgroup_root>/memory.max` in bytes; `max` means no limit.
/// 3. cgroup v1: `<cgroup_root>/memory/memory.limit_in_bytes`; values of 2^60 and above mean
///    no limit.
/// 4. `default_bytes` (raised to 1 if 0, so the limit can always divide).
///
/// A limit of 0 in any file is ignored. The cgroup files read are those at the root of the
/// mount, which inside a container (its own cgroup namespace) are the container's. On a host
/// without a cgroup namespace the root has no limit file and the default applies.
///
/// ```
/// use std::path::Path;
/// use vitals::{MemoryLimitSource, detect_memory_limit_in};
///
/// let limit = detect_memory_limit_in(Path::new("/nonexistent"), None, 1 << 30);
/// assert_eq!((limit.bytes, limit.source), (1 << 30, MemoryLimitSource::Default));
/// ```
pub fn detect_memory_limit_in(
    cgroup_root: &Path,
    env_mb: Option<&str>,
    default_bytes: u64,
) -> MemoryLimit {
    let found = env_mb
        .and_then(parse_mib)
        .map(|bytes| (bytes, LimitSource::Env))
        .or_else(|| {
            read_limit(&cgroup_root.join("memory.max"), u64::MAX)
                .map(|bytes| (bytes, LimitSource::CgroupV2))
        })
        .or_else(|| {
            read_limit(
                &cgroup_root.join("memory").join("memory.limit_in_bytes"),
                CGROUP_V1_UNLIMITED,
            )
            .map(|bytes| (bytes, LimitSource::CgroupV1))
        });
    let (bytes, source) = found.unwrap_or((default_bytes.max(1), LimitSource::Default));
    MemoryLimit { bytes, source }
}

fn parse_mib(value: &str) -> Option<u64> {
    let mib: f64 = value.trim().parse().ok()?;
    let bytes = (mib * BYTES_PER_MIB).round();
    // `as` saturates at u64::MAX for huge values; reject those as nonsense.
    (mib.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Reads a cgroup limit file: a byte count below `unlimited_from`, not `max`, not 0.
fn read_limit(path: &Path, unlimited_from: u64) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes > 0 && bytes < unlimited_from).then_some(bytes)
}

/// CPU time the calling thread has used since it started (`CLOCK_THREAD_CPUTIME_ID` on Unix),
/// through the `cpu-time` crate. A system call (a few hundred ns), so callers sample it.
#[must_use]
pub fn thread_cpu_time() -> Option<Duration> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|t| t.as_duration())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempRoot(PathBuf);

    impl TempRoot {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "vitals-cgroup-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(path.join("memory")).unwrap();
            Self(path)
        }

        fn v2(self, contents: &str) -> Self {
            std::fs::write(self.0.join("memory.max"), contents).unwrap();
            self
        }

        fn v1(self, contents: &str) -> Self {
            std::fs::write(
                self.0.join("memory").join("memory.limit_in_bytes"),
                contents,
            )
            .unwrap();
            self
        }

        fn detect(&self, env: Option<&str>) -> (u64, LimitSource) {
            let limit = detect_memory_limit_in(&self.0, env, 7);
            (limit.bytes, limit.source)
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn cgroup_v2_number() {
        let root = TempRoot::new().v2("536870912\n");
        assert_eq!(root.detect(None), (536_870_912, LimitSource::CgroupV2));
    }

    #[test]
    fn cgroup_v2_max_means_no_limit() {
        let root = TempRoot::new().v2("max\n");
        assert_eq!(root.detect(None), (7, LimitSource::Default));
    }

    #[test]
    fn cgroup_v1_number() {
        let root = TempRoot::new().v1("268435456\n");
        assert_eq!(root.detect(None), (268_435_456, LimitSource::CgroupV1));
    }

    #[test]
    fn cgroup_v1_huge_means_no_limit() {
        let root = TempRoot::new().v1("9223372036854771712\n");
        assert_eq!(root.detect(None), (7, LimitSource::Default));
    }

    #[test]
    fn v2_wins_over_v1() {
        let root = TempRoot::new().v2("1000\n").v1("2000\n");
        assert_eq!(root.detect(None), (1000, LimitSource::CgroupV2));
    }

    #[test]
    fn v2_max_falls_through_to_v1() {
        let root = TempRoot::new().v2("max\n").v1("2000\n");
        assert_eq!(root.detect(None), (2000, LimitSource::CgroupV1));
    }

    #[test]
    fn env_overrides_cgroups() {
        let root = TempRoot::new().v2("1000\n").v1("2000\n");
        assert_eq!(root.detect(Some("256")), (256 << 20, LimitSource::Env));
        assert_eq!(root.detect(Some(" 0.5 ")), (512 << 10, LimitSource::Env));
    }

    #[test]
    fn invalid_env_is_ignored() {
        let root = TempRoot::new().v2("1000\n");
        for bad in ["", "abc", "-5", "0", "NaN", "inf", "12MB", "1e300"] {
            assert_eq!(
                root.detect(Some(bad)),
                (1000, LimitSource::CgroupV2),
                "{bad:?}"
            );
        }
        let empty = TempRoot::new();
        assert_eq!(empty.detect(Some("abc")), (7, LimitSource::Default));
    }

    #[test]
    fn garbage_or_zero_in_files_is_ignored() {
        let root = TempRoot::new().v2("0\n").v1("lots\n");
        assert_eq!(root.detect(None), (7, LimitSource::Default));
    }

    #[test]
    fn missing_root_gives_the_default_never_zero() {
        let limit = detect_memory_limit_in(Path::new("/nonexistent/cgroup"), None, 0);
        assert_eq!((limit.bytes, limit.source), (1, LimitSource::Default));
        assert_eq!(
            MemoryLimit {
                bytes: 200,
                source: LimitSource::Env
            }
            .usage(50),
            0.25
        );
    }

    #[test]
    fn status_lines() {
        let status = "Name:\tvitals\nVmPeak:\t  12345 kB\nVmHWM:\t    2300 kB\nThreads:\t4\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(2300));
        assert_eq!(status_kib(status, "VmPeak:"), Some(12345));
        assert_eq!(status_kib(status, "Threads:"), None);
        assert_eq!(status_kib(status, "VmRSS:"), None);
    }

    #[test]
    fn cpu_percent_and_uptime() {
        let at = UNIX_EPOCH + Duration::from_secs(1_000);
        let earlier = ProcessSnapshot {
            cpu_user: Some(Duration::from_millis(500)),
            cpu_system: Some(Duration::from_millis(100)),
            start_time_unix_secs: Some(900.0),
            open_fds: Some(25),
            max_fds: Some(100),
            ..ProcessSnapshot::unmeasured(at)
        };
        let later = ProcessSnapshot {
            cpu_user: Some(Duration::from_millis(1_900)),
            cpu_system: Some(Duration::from_millis(200)),
            taken_at: at + Duration::from_secs(1),
            ..earlier
        };
        let pct = later
            .cpu_percent_since(&earlier, Duration::from_secs(1))
            .unwrap();
        assert!((pct - 150.0).abs() < 1e-9, "{pct}");
        assert_eq!(later.cpu_percent_since(&earlier, Duration::ZERO), None);
        assert_eq!(
            earlier.cpu_percent_since(&later, Duration::from_secs(1)),
            None
        );
        let blank = ProcessSnapshot::unmeasured(at);
        assert_eq!(
            later.cpu_percent_since(&blank, Duration::from_secs(1)),
            None
        );
        assert_eq!(later.uptime(), Some(Duration::from_secs(101)));
        assert_eq!(earlier.fd_usage(), Some(0.25));
        assert_eq!(blank.uptime(), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn samples_this_process() {
        let s = sample_process().unwrap();
        assert!(s.rss_bytes.unwrap() > 0);
        assert!(s.peak_rss_bytes.unwrap() >= s.rss_bytes.unwrap());
        assert!(s.virtual_bytes.unwrap() >= s.rss_bytes.unwrap());
        assert!(s.threads.unwrap() >= 1);
        assert!(s.open_fds.unwrap() >= 1);
        assert!(s.max_fds.is_none_or(|m| m >= s.open_fds.unwrap()));
        assert!(s.cpu_total().is_some());
        let uptime = s.uptime().unwrap();
        assert!(uptime < Duration::from_secs(24 * 3600), "{uptime:?}");
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn measures_nothing_elsewhere() {
        let s = sample_process().unwrap();
        assert_eq!(s.rss_bytes, None);
        assert_eq!(s.cpu_total(), None);
    }
}
