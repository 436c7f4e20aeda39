//! The system sampler: [`Sampler::sample_now`] samples the process, the heap and the runtime
//! into the [`History`], and once a minute adds a minute point. [`crate::Vitals`] calls it every
//! sample interval (5 s by default) from its background loop, then re-evaluates the pressure
//! and the alerts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vitals::Monitor;
use vitals::{MinutePoint, SystemHistory as History, SystemSnapshot};

use crate::runtime::RuntimeProbe;

#[derive(Debug, Default)]
struct MinuteAccumulator {
    minute: Option<u64>,
    cpu: Vec<f64>,
    busy: Vec<f64>,
}

/// Samples the process into a [`History`].
///
/// Sampling reads `/proc/self` (about 30 µs), the allocator's statistics and the runtime's
/// counters, so it never blocks a worker for longer than that;
/// `cargo bench -p vitals-core --bench sample` measures one sample.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// use std::time::Duration;
/// use vitals_axum::Sampler;
///
/// let sampler = Sampler::new(vitals::Monitor::default(), Duration::from_secs(5));
/// let snapshot = sampler.sample_now();
/// assert!(snapshot.process.rss_bytes.is_some() || !cfg!(target_os = "linux"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Sampler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    monitor: Monitor,
    history: History,
    probe: Option<RuntimeProbe>,
    previous: Mutex<Option<SystemSnapshot>>,
    minute: Mutex<MinuteAccumulator>,
}

impl Sampler {
    /// A sampler with an empty history. Inside a tokio runtime it also starts the runtime
    /// probe (busy ratio, scheduling delay).
    #[must_use]
    pub fn new(monitor: Monitor, interval: Duration) -> Self {
        let probe = tokio::runtime::Handle::try_current()
            .ok()
            .map(|_| RuntimeProbe::start());
        Self {
            inner: Arc::new(Inner {
                monitor,
                history: History::new(interval),
                probe,
                previous: Mutex::new(None),
                minute: Mutex::new(MinuteAccumulator::default()),
            }),
        }
    }

    /// The history the sampler fills.
    #[must_use]
    pub fn history(&self) -> &History {
        &self.inner.history
    }

    /// Takes one sample now, stores it, and returns it.
    pub fn sample_now(&self) -> SystemSnapshot {
        let inner = &*self.inner;
        let now = SystemTime::now();
        let process =
            vitals::sample_process().unwrap_or_else(|_| vitals::ProcessSnapshot::unmeasured(now));
        let mut snapshot = SystemSnapshot::empty(now);
        snapshot.process = process;
        snapshot.heap = vitals::heap_stats();
        snapshot.runtime = inner.probe.as_ref().map(|p| p.sample().into());
        snapshot.in_flight = inner.monitor.in_flight();
        snapshot.requests_total = inner.monitor.recorded();
        {
            let mut previous = inner
                .previous
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(prev) = previous.as_ref() {
                let wall = now.duration_since(prev.taken_at).unwrap_or_default();
                snapshot.cpu_percent = snapshot.process.cpu_percent_since(&prev.process, wall);
            }
            *previous = Some(snapshot.clone());
        }
        self.accumulate_minute(&snapshot);
        inner.history.push(snapshot.clone());
        snapshot
    }

    fn accumulate_minute(&self, snapshot: &SystemSnapshot) {
        let inner = &*self.inner;
        let unix = snapshot
            .taken_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let minute = unix.as_secs() / 60;
        let mut acc = inner
            .minute
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = acc.minute.filter(|&m| m != minute) {
            let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            let stats = inner.monitor.last_full_minute();
            inner.history.push_minute(MinutePoint {
                unix_ms: open * 60_000,
                rss_bytes: snapshot.process.rss_bytes,
                heap_bytes: snapshot.heap.map(|h| h.allocated_bytes),
                cpu_percent: mean(&acc.cpu),
                busy_ratio: mean(&acc.busy),
                requests: stats.count,
                errors: stats.errors,
                p95_ms: vitals::as_ms(stats.p95),
            });
            acc.cpu.clear();
            acc.busy.clear();
        }
        acc.minute = Some(minute);
        if let Some(c) = snapshot.cpu_percent {
            acc.cpu.push(c);
        }
        if let Some(r) = snapshot.runtime {
            acc.busy.push(r.busy_ratio);
        }
    }
}
