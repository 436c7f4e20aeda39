//! History on disk (feature `history`): the minute flush into a [`vitals_store::Store`], the
//! read-back of the system's minute points at start, and budgets evaluated from the store.
//!
//! Everything here runs on a blocking thread from the history task (once a flush interval,
//! 60 s by default) or at shutdown ([`crate::Vitals::flush_history`]); the request path never
//! touches it. A store that cannot be opened or written is logged once per change of reason
//! and reported as a `warn` check by `/health`; serving goes on without history.

mod active;
mod alerts;
mod budgets;
mod flush;
mod seed;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vitals::{MinutePoint, Monitor, SystemHistory};
use vitals_store::budget::Budget;
use vitals_store::{SeriesKey, Step, Store, SystemPoint};

pub(crate) use active::ActiveSaver;
pub(crate) use budgets::BudgetBoard;
use flush::Flusher;

/// Default time between two flushes: a minute.
pub(crate) const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the builder was given.
#[derive(Debug, Default)]
pub(crate) enum Source {
    /// No history.
    #[default]
    Off,
    /// An open store.
    Store(Box<Store>),
    /// A store to open at build time.
    Path(std::path::PathBuf, vitals_store::StoreConfig),
}

/// The history state a [`crate::Vitals`] shares with its tasks and endpoints.
#[derive(Debug)]
pub(crate) struct HistoryState {
    store: Option<Arc<Store>>,
    enabled: bool,
    /// Why history is not kept: (the public reason, the detail with the file and SQLite's
    /// text, for operator views and the log only).
    warning: Mutex<Option<(String, String)>>,
    flusher: Mutex<Flusher>,
    pub(crate) flush_interval: Duration,
    pub(crate) budgets: BudgetBoard,
    /// The active alerts' writer (see [`active`]).
    pub(crate) active: ActiveSaver,
}

/// The public reason of an open failure (no path, no SQLite text).
fn open_reason(e: &vitals_store::OpenError) -> &'static str {
    use vitals_store::OpenError as E;
    match e {
        E::Corrupt { .. } => "the history store is corrupt or not a database",
        E::ReadOnly { .. } => "the history store is read-only",
        E::Locked { .. } => "the history store is locked by another process",
        E::NewerSchema { .. } => "the history store was written by a newer version",
        E::Other { .. } => "the history store cannot be opened",
    }
}

impl HistoryState {
    /// Opens the store if given a path (a failure is logged and kept as the `/health` warning).
    pub(crate) fn new(
        source: Source,
        flush_interval: Duration,
        budgets: Vec<Budget>,
        window_scale: u32,
    ) -> Self {
        let (enabled, store, warning) = match source {
            Source::Off => (false, None, None),
            Source::Store(s) => (true, Some(Arc::new(*s)), None),
            Source::Path(path, config) => match Store::open(&path, config) {
                Ok(s) => (true, Some(Arc::new(s)), None),
                Err(e) => {
                    tracing::error!(error = %e, "history is off: the store cannot be opened");
                    (
                        true,
                        None,
                        Some((open_reason(&e).to_owned(), e.to_string())),
                    )
                }
            },
        };
        Self {
            store,
            enabled,
            warning: Mutex::new(warning),
            flusher: Mutex::new(Flusher::default()),
            flush_interval: flush_interval.max(Duration::from_secs(1)),
            budgets: BudgetBoard::new(budgets, window_scale),
            active: ActiveSaver::default(),
        }
    }

    /// True when history was asked for (even if its store failed).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The open store.
    pub(crate) fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Why history is not being kept right now, if it is not, for any client (the public
    /// `/health`): the kind of failure, without the file's path or SQLite's text.
    pub(crate) fn warning(&self) -> Option<String> {
        lock(&self.warning)
            .as_ref()
            .map(|(public, _)| public.clone())
    }

    /// As [`warning`](Self::warning), with the file and SQLite's report: operator views only.
    pub(crate) fn warning_detail(&self) -> Option<String> {
        lock(&self.warning)
            .as_ref()
            .map(|(_, detail)| detail.clone())
    }

    fn set_warning(&self, warning: Option<String>) {
        let mut current = lock(&self.warning);
        if current.as_ref().map(|(_, d)| d) != warning.as_ref() {
            match &warning {
                Some(w) => tracing::error!(error = %w, "history: the minute could not be written"),
                None => tracing::info!("history: writing again"),
            }
            *current = warning.map(|d| ("the history store cannot be written".to_owned(), d));
        }
    }

    /// Writes the minutes not yet written (with `include_current`, the minute in progress so
    /// far), then evaluates the budgets over the minutes written (so with `include_current`
    /// the burn-rate windows end with the minute in progress). Blocking: call from
    /// `spawn_blocking`.
    pub(crate) fn flush(
        &self,
        monitor: &Monitor,
        system: Option<SystemPoint>,
        include_current: bool,
    ) {
        let Some(store) = &self.store else { return };
        let mut flusher = lock(&self.flusher);
        let mut batches = flusher.batches(monitor, system, include_current);
        if let Some((_, first)) = batches.first_mut() {
            first.alerts = self.budgets.take_transitions();
        }
        for (minute, batch) in &batches {
            match store.write_minute(batch) {
                Ok(report) => {
                    flusher.written(monitor, *minute, batch);
                    if report.over_size {
                        tracing::debug!(pruned = report.pruned_rows, "history: size bound reached");
                    }
                    self.set_warning(None);
                }
                Err(e) => {
                    self.set_warning(Some(e.to_string()));
                    return;
                }
            }
        }
        drop(flusher);
        let now = i64::try_from(monitor.unix_minute_of(monitor.current_minute())).unwrap_or(0);
        self.budgets
            .evaluate(store, now + i64::from(include_current));
    }

    /// Puts the last day's minute points from the store into `history` (oldest first, minutes
    /// before the current one), so day-long trends and the dashboard's hour continue across a
    /// restart, and the last half hour's system minutes as snapshots, so the memory trend and
    /// leak verdict do too ([`seed::seed_snapshots`]). Call before the first live sample.
    /// Blocking (a few milliseconds).
    pub(crate) fn seed(&self, history: &SystemHistory) {
        let Some(store) = &self.store else { return };
        let snapshots = seed::seed_snapshots(store, history, SystemTime::now());
        if snapshots > 0 {
            tracing::info!(
                snapshots,
                "history: read back the memory trend's last half hour"
            );
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let now = i64::try_from(now).unwrap_or(0);
        let this_minute = now.div_euclid(60) * 60;
        let from = this_minute - i64::try_from(vitals::MINUTE_POINTS).unwrap_or(1_440) * 60;
        let to = this_minute - 1;
        let system = store.system_history(from, to, Step::Minute);
        let service = match store.query(&SeriesKey::Service, from, to, Step::Minute) {
            // A store that has no request minute yet: nothing to read back, not a failure.
            Err(vitals_store::HistoryError::Query(vitals_store::QueryError::UnknownSeries(_))) => {
                Ok(Vec::new())
            }
            other => other,
        };
        let (system, service) = match (system, service) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "history: the last day could not be read back");
                return;
            }
        };
        let mut points: std::collections::BTreeMap<i64, MinutePoint> = Default::default();
        let ms = |t: i64| u64::try_from(t).unwrap_or(0) * 1_000;
        for s in &system {
            let p = points.entry(s.t).or_insert_with(|| MinutePoint {
                unix_ms: ms(s.t),
                ..MinutePoint::default()
            });
            p.rss_bytes = s.rss_bytes.map(|g| g.mean as u64);
            p.heap_bytes = s.heap_bytes.map(|g| g.mean as u64);
            p.cpu_percent = s.cpu_percent.map(|g| g.mean);
            p.busy_ratio = s.busy_ratio.map(|g| g.mean);
        }
        for r in &service {
            let p = points.entry(r.t).or_insert_with(|| MinutePoint {
                unix_ms: ms(r.t),
                ..MinutePoint::default()
            });
            p.requests = r.count;
            p.errors = r.errors;
            p.p95_ms = r.p95.unwrap_or(0.0);
        }
        let n = points.len();
        for p in points.into_values() {
            history.push_minute(p);
        }
        if n > 0 {
            tracing::info!(
                minutes = n,
                "history: read back the last day's minute points"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use vitals::{Method, RequestSample, RouteKey};
    use vitals_store::StoreConfig;

    use super::*;

    fn points_of(monitor: &Monitor) -> vitals_store::Point {
        let r = monitor.minute_report(monitor.current_minute(), 0);
        vitals_store::Point::from_aggregate(SeriesKey::Service, &r.service, 0)
    }

    #[test]
    fn flush_writes_and_seed_reads_back() {
        let dir = std::env::temp_dir().join(format!("vitals-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.sqlite");
        let _ = std::fs::remove_file(&path);
        let state = HistoryState::new(
            Source::Path(path.clone(), StoreConfig::default()),
            DEFAULT_FLUSH_INTERVAL,
            Vec::new(),
            1,
        );
        assert!(state.warning().is_none());
        let monitor = Monitor::default();
        for _ in 0..3 {
            monitor.record(&RequestSample {
                method: Method::Get,
                route: RouteKey::Template("/x"),
                status: 200,
                start: Instant::now(),
                duration: Duration::from_millis(5),
                ..RequestSample::default()
            });
        }
        let system = SystemPoint {
            rss_bytes: Some(64 << 20),
            ..SystemPoint::default()
        };
        state.flush(&monitor, Some(system), true);
        let minute = i64::try_from(monitor.unix_minute_of(monitor.current_minute())).unwrap();
        let points = state
            .store()
            .unwrap()
            .query(
                &SeriesKey::route(Method::Get, "/x"),
                minute * 60,
                minute * 60,
                Step::Minute,
            )
            .unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].count, 3);
        // Minutes before the current one are seeded (service requests, system figures);
        // the current one is not.
        let now_minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60;
        let earlier = i64::try_from(now_minute).unwrap() - 2;
        let mut service = points_of(&monitor);
        service.series = SeriesKey::Service;
        service.count = 7;
        state
            .store()
            .unwrap()
            .write_minute(&vitals_store::MinuteBatch {
                minute: earlier,
                points: vec![service],
                system: Some(system),
                alerts: Vec::new(),
            })
            .unwrap();
        let history = SystemHistory::new(Duration::from_secs(5));
        state.seed(&history);
        let seeded = history.minutes(10);
        assert!(seeded.iter().all(|p| p.unix_ms / 60_000 < now_minute));
        let p = seeded
            .iter()
            .find(|p| p.unix_ms == u64::try_from(earlier).unwrap() * 60_000)
            .expect("the earlier minute is seeded");
        assert_eq!(p.requests, 7);
        assert_eq!(p.rss_bytes, Some(64 << 20));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_store_that_cannot_open_is_a_warning() {
        let dir = std::env::temp_dir().join(format!("vitals-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.sqlite");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let state = HistoryState::new(
            Source::Path(path, StoreConfig::default()),
            DEFAULT_FLUSH_INTERVAL,
            Vec::new(),
            1,
        );
        assert!(state.enabled() && state.store().is_none());
        let warning = state.warning().unwrap();
        assert_eq!(warning, "the history store is corrupt or not a database");
        assert!(!warning.contains("bad.sqlite") && !warning.contains(&*dir.to_string_lossy()));
        let detail = state.warning_detail().unwrap();
        assert!(detail.contains("bad.sqlite"), "{detail}");
        // Flushing without a store is a no-op, not a panic.
        state.flush(&Monitor::default(), None, true);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
