//! Evaluation of budgets from the store.
//!
//! Good and total events are summed over every route series a budget covers. The burn-rate
//! windows (up to 3 days) are read from the minute tier in one pass per series; the budget's
//! own window (30 days by default) from the hour tier, in whole hours (the hour row of the
//! current hour holds every minute written so far). A latency event is good when its bucket's
//! upper edge is at most the threshold plus the histogram's 1% (the core's `count_at_most`
//! rule); with a threshold on an exposed edge, this matches `_bucket{le}` within 1%.

use serde::Serialize;

use super::{BURN_WINDOWS, Budget, BudgetKind, WINDOW_PAIRS, WindowPair, window_label};
use crate::error::StoreError;
use crate::store::{Step, Store};

/// A budget's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No pair of windows burns too fast.
    Ok,
    /// A slow burn: 1 d & 2 h above 3, or 3 d & 6 h above 1.
    Ticket,
    /// A fast burn: 1 h & 5 m above 14.4, or 6 h & 30 m above 6.
    Page,
}

/// The burn rate over one window: its error ratio over the budget's allowed ratio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRate {
    /// `5m`, `30m`, `1h`, `2h`, `6h`, `1d` or `3d`.
    pub window: String,
    /// Minutes actually evaluated: the window's, or fewer under a window scale
    /// ([`evaluate_scaled`]).
    pub minutes: i64,
    /// Events in the window.
    pub total: u64,
    /// Bad events in the window.
    pub bad: u64,
    /// `(bad / total) / (1 - objective)`; 0 without events.
    pub rate: f64,
}

/// A budget evaluated at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStatus {
    /// The budget's name.
    pub name: String,
    /// Route series the budget covers.
    pub series: usize,
    /// The objective, fraction.
    pub objective: f64,
    /// The window, days.
    pub window_days: f64,
    /// Good events over the window.
    pub good: u64,
    /// All events over the window.
    pub total: u64,
    /// `good / total`; `None` without events.
    pub sli: Option<f64>,
    /// `1 - (bad / total) / (1 - objective)`: 1 untouched, 0 spent, negative overspent.
    pub error_budget_remaining: f64,
    /// Burn rates, shortest window first.
    pub burn_rates: Vec<BurnRate>,
    /// The worst pair's verdict.
    pub status: Status,
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    total: u64,
    bad: u64,
}

impl Tally {
    fn add(&mut self, total: u64, bad: u64) {
        self.total = self.total.saturating_add(total);
        self.bad = self.bad.saturating_add(bad);
    }

    fn ratio(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.bad as f64 / self.total as f64
        }
    }
}

/// The last bucket index counted as within `threshold` (the core's `count_at_most` rule), or
/// `None` when even the first bucket is above it.
fn last_good_index(threshold: std::time::Duration) -> Option<u32> {
    let limit = threshold.as_nanos() as f64 * (1.0 + vitals::HISTOGRAM_RELATIVE_ERROR);
    let n = vitals::bucket_count();
    (0..n)
        .take_while(|&i| vitals::bucket_upper_bound(i) <= limit)
        .last()
        .map(|i| i as u32)
}

impl BudgetStatus {
    /// The burn rate over the window of `minutes` (as named: 5, 30, 60, ...), 0 for a window
    /// that is not computed.
    #[must_use]
    pub fn rate(&self, minutes: i64) -> f64 {
        BURN_WINDOWS
            .iter()
            .position(|&w| w == minutes)
            .and_then(|i| self.burn_rates.get(i))
            .map_or(0.0, |b| b.rate)
    }

    /// Of the window pairs raising `status`, the one burning hardest relative to its factor,
    /// with its burn rate (the lower of its two windows': a pair burns as fast as its slower
    /// window). `None` when no pair raises `status`.
    #[must_use]
    pub fn hottest_pair(&self, status: Status) -> Option<(WindowPair, f64)> {
        WINDOW_PAIRS
            .iter()
            .filter(|p| p.status == status)
            .map(|p| {
                (
                    *p,
                    self.rate(p.long_minutes).min(self.rate(p.short_minutes)),
                )
            })
            .max_by(|a, b| (a.1 / a.0.factor).total_cmp(&(b.1 / b.0.factor)))
    }

    /// True when a pair raising `status` burns too fast: both its windows above its factor.
    #[must_use]
    pub fn burning(&self, status: Status) -> bool {
        self.hottest_pair(status)
            .is_some_and(|(pair, rate)| rate > pair.factor)
    }
}

/// The minutes a window of `minutes` spans under `scale` (at least one).
fn scaled(minutes: i64, scale: u32) -> i64 {
    (minutes + i64::from(scale.max(1)) - 1) / i64::from(scale.max(1))
}

/// Evaluates `budgets` at unix minute `now` (windows end just before it: pass the minute in
/// progress, whose figures are not written yet).
pub fn evaluate(
    store: &Store,
    budgets: &[Budget],
    now: i64,
) -> Result<Vec<BudgetStatus>, StoreError> {
    evaluate_scaled(store, budgets, now, 1)
}

/// As [`evaluate`], each burn-rate window divided by `scale` (rounded up to whole minutes,
/// at least one): with 60, the 1-hour window is a minute and the 3-day one 72 minutes. For
/// tests and demonstrations of the alerts, which otherwise take an hour to page; the factors
/// and the budget's own window are unchanged. `scale` 0 or 1 is the real thing.
pub fn evaluate_scaled(
    store: &Store,
    budgets: &[Budget],
    now: i64,
    scale: u32,
) -> Result<Vec<BudgetStatus>, StoreError> {
    let windows = BURN_WINDOWS.map(|w| scaled(w, scale));
    let series = store.series_with_ids()?;
    let minute_steps = store.config().retention.steps(Step::Minute);
    budgets
        .iter()
        .map(|budget| {
            let ids: Vec<i64> = series
                .iter()
                .filter(|(_, key)| budget.covers(key))
                .map(|&(id, _)| id)
                .collect();
            let good_up_to = match budget.kind {
                BudgetKind::Latency { threshold } => Some(last_good_index(threshold)),
                BudgetKind::Availability => None,
            };
            let bad_of = |row: &crate::store::Row| match good_up_to {
                None => row.errors_5xx.min(row.count),
                Some(None) => row.count,
                Some(Some(last)) => row.count.saturating_sub(row.buckets.total_up_to(last)),
            };

            // Burn windows from the minute tier (those it keeps), in one pass.
            let mut burn = [Tally::default(); BURN_WINDOWS.len()];
            let longest = windows
                .iter()
                .copied()
                .filter(|&w| w <= minute_steps)
                .max()
                .unwrap_or(0);
            if longest > 0 {
                store.for_each_row(&ids, Step::Minute, now - longest, now - 1, |t, row| {
                    let bad = bad_of(&row);
                    for (tally, &w) in burn.iter_mut().zip(&windows) {
                        if t >= now - w && w <= minute_steps {
                            tally.add(row.count, bad);
                        }
                    }
                })?;
            }
            // Longer windows (and the budget's own) from the hour tier.
            let hour_tally = |minutes: i64| -> Result<Tally, StoreError> {
                let mut tally = Tally::default();
                let first = (now - minutes).div_euclid(60) + i64::from((now - minutes) % 60 != 0);
                store.for_each_row(
                    &ids,
                    Step::Hour,
                    first,
                    (now - 1).div_euclid(60),
                    |_, row| {
                        tally.add(row.count, bad_of(&row));
                    },
                )?;
                Ok(tally)
            };
            for (tally, &w) in burn.iter_mut().zip(&windows) {
                if w > minute_steps {
                    *tally = hour_tally(w)?;
                }
            }
            let window_minutes = i64::try_from(budget.window.as_secs() / 60).unwrap_or(i64::MAX);
            let whole = hour_tally(window_minutes)?;

            let allowed = budget.error_budget();
            let rate = |t: Tally| t.ratio() / allowed;
            let burn_rates: Vec<BurnRate> = burn
                .iter()
                .zip(BURN_WINDOWS.iter().zip(&windows))
                .map(|(t, (&w, &minutes))| BurnRate {
                    window: window_label(w),
                    minutes,
                    total: t.total,
                    bad: t.bad,
                    rate: rate(*t),
                })
                .collect();
            let rate_of = |minutes: i64| {
                let i = BURN_WINDOWS.iter().position(|&w| w == minutes);
                i.map_or(0.0, |i| burn_rates[i].rate)
            };
            let status = WINDOW_PAIRS
                .iter()
                .filter(|p| {
                    rate_of(p.long_minutes) > p.factor && rate_of(p.short_minutes) > p.factor
                })
                .map(|p| p.status)
                .max()
                .unwrap_or(Status::Ok);
            Ok(BudgetStatus {
                name: budget.name.clone(),
                series: ids.len(),
                objective: budget.objective,
                window_days: budget.window.as_secs_f64() / 86_400.0,
                good: whole.total - whole.bad,
                total: whole.total,
                sli: (whole.total > 0)
                    .then(|| (whole.total - whole.bad) as f64 / whole.total as f64),
                error_budget_remaining: 1.0 - rate(whole),
                burn_rates,
                status,
            })
        })
        .collect()
}
