//! The dependency checks' results, kept for a second: `/health`, `/metrics/health` and the
//! health score run the checks at most once per [`CHECK_CACHE_TTL`], so a flood of health
//! probes (public endpoints) cannot become a flood of database queries. Probes that arrive
//! while a run is in flight wait for it (one async lock, held only by health endpoints, never
//! by the request path) and share its answer.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use vitals::DependencySignal;

/// How long one run of the checks answers for.
pub(crate) const CHECK_CACHE_TTL: Duration = Duration::from_secs(1);

/// Each check's signal and, when it failed, why.
pub(crate) type CheckResults = Arc<[(DependencySignal, Option<String>)]>;

/// The last run and when it finished.
#[derive(Debug, Default)]
pub(crate) struct CheckCache {
    last: Mutex<Option<(Instant, CheckResults)>>,
}

impl CheckCache {
    /// The cached results when younger than [`CHECK_CACHE_TTL`], else those of `run`, cached.
    pub(crate) async fn get_or_run<F>(&self, run: F) -> CheckResults
    where
        F: std::future::Future<Output = Vec<(DependencySignal, Option<String>)>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, results)) = &*last {
            if at.elapsed() < CHECK_CACHE_TTL {
                return Arc::clone(results);
            }
        }
        let results: CheckResults = run.await.into();
        *last = Some((Instant::now(), Arc::clone(&results)));
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn runs_at_most_once_per_ttl() {
        let cache = CheckCache::default();
        let runs = AtomicUsize::new(0);
        let run = || async {
            runs.fetch_add(1, Ordering::Relaxed);
            vec![]
        };
        for _ in 0..100 {
            cache.get_or_run(run()).await;
        }
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        tokio::time::advance(CHECK_CACHE_TTL).await;
        cache.get_or_run(run()).await;
        assert_eq!(runs.load(Ordering::Relaxed), 2);
    }
}
