//! The dependency checks' results, each kept for a second: `/health`, the probes,
//! `/metrics/health` and the health score run a check at most once per [`CHECK_CACHE_TTL`], so
//! a flood of health probes (public endpoints) cannot become a flood of database queries.
//! Probes that arrive while a check runs wait for it (one async lock per check, held only by
//! health endpoints, never by the request path) and share its answer. Each check has a slot of
//! its own, so a probe that runs only its group's checks (`/health/live`) never waits for a
//! slow check of another group.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use vitals::DependencySignal;

/// How long one run of a check answers for.
pub(crate) const CHECK_CACHE_TTL: Duration = Duration::from_secs(1);

/// A check's signal and, when it failed, why.
pub(crate) type CheckResult = (DependencySignal, Option<String>);

/// One slot per registered check, in registration order.
#[derive(Debug, Default)]
pub(crate) struct CheckCache {
    slots: Vec<Mutex<Option<(Instant, CheckResult)>>>,
}

impl CheckCache {
    /// Slots for `checks` checks.
    pub(crate) fn new(checks: usize) -> Self {
        Self {
            slots: (0..checks).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Check `index`'s cached result when younger than [`CHECK_CACHE_TTL`], else that of
    /// `run`, cached.
    ///
    /// # Panics
    ///
    /// When `index` is not a slot (a check registered after the cache was made: a bug).
    pub(crate) async fn get_or_run<F>(&self, index: usize, run: F) -> CheckResult
    where
        F: std::future::Future<Output = CheckResult>,
    {
        let mut last = self.slots[index].lock().await;
        if let Some((at, result)) = &*last {
            if at.elapsed() < CHECK_CACHE_TTL {
                return result.clone();
            }
        }
        let result = run.await;
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn signal() -> CheckResult {
        (
            DependencySignal {
                name: "db".into(),
                ok: true,
                response_time: Duration::ZERO,
            },
            None,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn runs_at_most_once_per_ttl_and_slot() {
        let cache = CheckCache::new(2);
        let runs = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let run = |i: usize| {
            let runs = &runs;
            async move {
                runs[i].fetch_add(1, Ordering::Relaxed);
                signal()
            }
        };
        for _ in 0..100 {
            cache.get_or_run(0, run(0)).await;
        }
        assert_eq!(runs[0].load(Ordering::Relaxed), 1);
        assert_eq!(runs[1].load(Ordering::Relaxed), 0);
        cache.get_or_run(1, run(1)).await;
        assert_eq!(runs[1].load(Ordering::Relaxed), 1);
        tokio::time::advance(CHECK_CACHE_TTL).await;
        cache.get_or_run(0, run(0)).await;
        assert_eq!(runs[0].load(Ordering::Relaxed), 2);
    }
}
