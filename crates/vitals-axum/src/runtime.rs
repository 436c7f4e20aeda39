//! The tokio runtime's health: busy ratio (how much of the time the workers are busy) and
//! scheduling delay (how long a ready task waits for a worker).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use vitals::AtomicHistogram;

/// How often the probe task asks to wake while the runtime is busy: the resolution of the
/// scheduling-delay figure.
pub const PROBE_PERIOD: Duration = Duration::from_millis(10);

/// How often the probe wakes while the runtime is idle. Each wake-up costs some 3,800
/// instructions (the timer, a park and an unpark): at [`PROBE_PERIOD`] an idle service spent
/// 380,000 instructions a second on the probe alone, at this period some 20,000 (with the
/// sampler and the tick, the idle process stays under 100,000).
const IDLE_PROBE_PERIOD: Duration = Duration::from_millis(200);

/// Wake-ups that count as activity: the workers were busy at least this share of the time since
/// the previous wake-up (tasks are running, so a ready task may have to wait), or the probe was
/// at least [`LATE_ACTIVE`] late (something held a worker).
const ACTIVE_BUSY_SHARE: f64 = 0.02;
const LATE_ACTIVE: Duration = Duration::from_millis(5);

/// Quiet wake-ups at [`PROBE_PERIOD`] before the probe slows to [`IDLE_PROBE_PERIOD`] (200 ms:
/// the pauses of a service under traffic keep the fine period).
const QUIET_WAKES_BEFORE_IDLE: u32 = 20;

/// The probe's choice of period: fine while the runtime is active, coarse once it has been
/// quiet for [`QUIET_WAKES_BEFORE_IDLE`] wake-ups. Its own wake-ups are not activity: at the
/// fine period one costs well under 1% of a worker.
#[derive(Debug, Default)]
struct Cadence {
    quiet_wakes: u32,
}

impl Cadence {
    /// The period to sleep next, after a wake-up `late` late, with the workers busy
    /// `busy_share` (0..1) of the time since the previous one.
    fn next(&mut self, busy_share: f64, late: Duration) -> Duration {
        if busy_share >= ACTIVE_BUSY_SHARE || late >= LATE_ACTIVE {
            self.quiet_wakes = 0;
        } else {
            self.quiet_wakes = self.quiet_wakes.saturating_add(1);
        }
        if self.quiet_wakes >= QUIET_WAKES_BEFORE_IDLE {
            IDLE_PROBE_PERIOD
        } else {
            PROBE_PERIOD
        }
    }
}

/// The workers' busy time so far, summed (tokio's stable per-worker counters).
fn total_busy(metrics: &tokio::runtime::RuntimeMetrics) -> Duration {
    (0..metrics.num_workers())
        .map(|w| metrics.worker_total_busy_duration(w))
        .sum()
}

/// The runtime over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeSample {
    /// Worker threads.
    pub workers: usize,
    /// Busy time over wall time per worker, 0..1, over the interval.
    pub busy_ratio: f64,
    /// Interval length.
    #[serde(serialize_with = "ser_ms", rename = "intervalMs")]
    pub interval: Duration,
    /// Median lateness of the probe.
    #[serde(serialize_with = "ser_ms", rename = "schedulingDelayP50Ms")]
    pub scheduling_delay_p50: Duration,
    /// 99th percentile lateness of the probe.
    #[serde(serialize_with = "ser_ms", rename = "schedulingDelayP99Ms")]
    pub scheduling_delay_p99: Duration,
    /// Worst lateness of the probe.
    #[serde(serialize_with = "ser_ms", rename = "schedulingDelayMaxMs")]
    pub scheduling_delay_max: Duration,
    /// Probe wake-ups measured in the interval.
    pub probe_samples: u64,
    /// Tasks alive now.
    pub live_tasks: usize,
    /// Tasks waiting in the global queue now.
    pub global_queue_depth: usize,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(vitals::as_ms(*d))
}

#[derive(Debug)]
struct Lateness {
    histogram: AtomicHistogram,
    max_ns: std::sync::atomic::AtomicU64,
}

/// Measures the runtime it was started on.
///
/// - **Busy ratio**: the workers' busy time over the interval's wall time, divided by the
///   number of workers, so 0 is idle and 1 is every worker busy the whole interval. Per
///   interval, never cumulative since start (so that a busy minute is not
///   diluted by an idle hour). Read through `tokio-metrics`' `RuntimeMonitor`, which uses
///   tokio's stable `worker_total_busy_duration`.
/// - **Scheduling delay**: a probe task asks to wake every [`PROBE_PERIOD`] (10 ms) and records
///   how late it actually runs into a histogram; each interval reports p50, p99 and max, then
///   starts afresh. Tokio's timer has millisecond resolution, so an idle runtime reports up to
///   about 1 ms; a worker blocked for 200 ms shows as about 200 ms. While the runtime is idle
///   (workers busy under 2% of the time and the probe on time for 200 ms) the probe wakes
///   every 200 ms instead, which cuts its idle cost twentyfold: a worker blocked then still shows,
///   as up to 200 ms less than it lasted (fewer `probe_samples`), and the next wake-up that
///   finds the workers busy or itself late returns to 10 ms.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// use std::time::Duration;
/// use vitals_axum::RuntimeProbe;
///
/// let probe = RuntimeProbe::start();
/// tokio::time::sleep(Duration::from_millis(50)).await;
/// let sample = probe.sample();
/// assert_eq!(sample.workers, 2);
/// assert!((0.0..=1.0).contains(&sample.busy_ratio));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeProbe {
    intervals: Arc<Mutex<tokio_metrics::RuntimeIntervals>>,
    lateness: Arc<Lateness>,
    handle: tokio::runtime::Handle,
}

impl RuntimeProbe {
    /// Starts the probe task on the current runtime. The task stops when the last clone of
    /// the probe is dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    #[must_use]
    pub fn start() -> Self {
        let handle = tokio::runtime::Handle::current();
        let monitor = tokio_metrics::RuntimeMonitor::new(&handle);
        let lateness = Arc::new(Lateness {
            histogram: AtomicHistogram::new(),
            max_ns: std::sync::atomic::AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&lateness);
        let metrics = handle.metrics();
        handle.spawn(async move {
            let mut cadence = Cadence::default();
            let mut period = PROBE_PERIOD;
            let mut busy_before = total_busy(&metrics);
            let mut woke = Instant::now();
            loop {
                let due = Instant::now() + period;
                tokio::time::sleep_until(due.into()).await;
                let now = Instant::now();
                let late = now.saturating_duration_since(due);
                let Some(lateness) = weak.upgrade() else {
                    break;
                };
                let late_ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
                lateness.histogram.record(late_ns.max(1));
                lateness
                    .max_ns
                    .fetch_max(late_ns, std::sync::atomic::Ordering::Relaxed);
                let busy = total_busy(&metrics);
                let wall = now.saturating_duration_since(woke).as_secs_f64()
                    * metrics.num_workers().max(1) as f64;
                let busy_share = busy.saturating_sub(busy_before).as_secs_f64() / wall.max(1e-9);
                (busy_before, woke) = (busy, now);
                period = cadence.next(busy_share, late);
            }
        });
        Self {
            intervals: Arc::new(Mutex::new(monitor.intervals())),
            lateness,
            handle,
        }
    }

    /// The figures since the previous call (or since start), and starts a new interval.
    #[must_use]
    pub fn sample(&self) -> RuntimeSample {
        let interval = {
            let mut intervals = self
                .intervals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            intervals.next()
        };
        let snapshot = self.lateness.histogram.snapshot();
        self.lateness.histogram.clear();
        let max = self
            .lateness
            .max_ns
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        let q = |q: f64| Duration::from_nanos(snapshot.quantile(q).unwrap_or(0).min(max));
        let metrics = self.handle.metrics();
        let (workers, busy_ratio, elapsed) = match interval {
            Some(m) if !m.elapsed.is_zero() && m.workers_count > 0 => {
                let ratio = m.total_busy_duration.as_secs_f64()
                    / (m.elapsed.as_secs_f64() * m.workers_count as f64);
                (m.workers_count, ratio.clamp(0.0, 1.0), m.elapsed)
            }
            Some(m) => (m.workers_count, 0.0, m.elapsed),
            None => (metrics.num_workers(), 0.0, Duration::ZERO),
        };
        RuntimeSample {
            workers,
            busy_ratio,
            interval: elapsed,
            scheduling_delay_p50: q(0.5),
            scheduling_delay_p99: q(0.99),
            scheduling_delay_max: Duration::from_nanos(max),
            probe_samples: snapshot.count(),
            live_tasks: metrics.num_alive_tasks(),
            global_queue_depth: metrics.global_queue_depth(),
        }
    }
}

impl From<RuntimeSample> for vitals::RuntimeFigures {
    fn from(s: RuntimeSample) -> Self {
        Self {
            workers: s.workers,
            busy_ratio: s.busy_ratio,
            scheduling_delay_p50_ms: vitals::as_ms(s.scheduling_delay_p50),
            scheduling_delay_p99_ms: vitals::as_ms(s.scheduling_delay_p99),
            scheduling_delay_max_ms: vitals::as_ms(s.scheduling_delay_max),
            live_tasks: s.live_tasks,
            global_queue_depth: s.global_queue_depth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_slows_when_quiet_and_speeds_up_on_activity() {
        let mut c = Cadence::default();
        let on_time = Duration::from_micros(300);
        for _ in 1..QUIET_WAKES_BEFORE_IDLE {
            assert_eq!(c.next(0.001, on_time), PROBE_PERIOD);
        }
        assert_eq!(c.next(0.001, on_time), IDLE_PROBE_PERIOD);
        assert_eq!(c.next(0.0, on_time), IDLE_PROBE_PERIOD);
        // Busy workers, or a late wake-up (a blocked worker), bring back the fine period at once.
        assert_eq!(c.next(ACTIVE_BUSY_SHARE, on_time), PROBE_PERIOD);
        for _ in 1..QUIET_WAKES_BEFORE_IDLE {
            assert_eq!(c.next(0.0, on_time), PROBE_PERIOD);
        }
        assert_eq!(c.next(0.0, on_time), IDLE_PROBE_PERIOD);
        assert_eq!(c.next(0.0, LATE_ACTIVE), PROBE_PERIOD);
        assert_eq!(c.next(0.5, on_time), PROBE_PERIOD);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_busy_counters_the_cadence_reads_grow_with_work() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = total_busy(&metrics);
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(30)) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await; // the worker parks: counters flush
        assert!(total_busy(&metrics) >= before + Duration::from_millis(25));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cpu_bound_load_raises_the_busy_ratio() {
        let probe = RuntimeProbe::start();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let idle = probe.sample();
        assert!(idle.busy_ratio < 0.5, "{idle:?}");
        // Two tasks that spin (and yield now and then) for 300 ms keep both workers busy.
        let spin = || {
            tokio::spawn(async {
                let until = Instant::now() + Duration::from_millis(300);
                let mut x = 1u64;
                while Instant::now() < until {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    }
                    tokio::task::yield_now().await;
                }
                x
            })
        };
        let (a, b) = (spin(), spin());
        let _ = tokio::join!(a, b);
        let busy = probe.sample();
        assert!(busy.busy_ratio > 0.5, "{busy:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocked_worker_shows_as_busy_and_late() {
        let probe = RuntimeProbe::start();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = probe.sample(); // start a fresh interval
        // Block both workers for 300 ms: the probe cannot run meanwhile.
        let a = tokio::spawn(async { std::thread::sleep(Duration::from_millis(300)) });
        let b = tokio::spawn(async { std::thread::sleep(Duration::from_millis(300)) });
        let _ = tokio::join!(a, b);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = probe.sample();
        assert_eq!(s.workers, 2);
        assert!(s.busy_ratio > 0.5, "{s:?}");
        assert!(
            s.scheduling_delay_max >= Duration::from_millis(200),
            "{s:?}"
        );
        // The next interval starts afresh.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = probe.sample();
        assert!(
            next.scheduling_delay_max < Duration::from_millis(200),
            "{next:?}"
        );
        assert!(next.busy_ratio < 0.5, "{next:?}");
    }
}
