//! Performance budgets: a latency or availability objective per route over a rolling window,
//! judged the way SRE teams judge services, by error budget and multiwindow burn rates.
//!
//! - [`Budget`]: which routes (a template or a glob over templates, optionally one method),
//!   what counts as good (latency: at most a threshold that is an edge of the exposed
//!   Prometheus histogram, see [`snap_threshold`]; availability: not 5xx), the objective and
//!   the window (30 days by default).
//! - [`evaluate`]: good and total events over the window from the [`Store`](crate::Store),
//!   the SLI, the error budget left and burn rates over the Google SRE workbook's window pairs
//!   ([`WINDOW_PAIRS`]); a pair alerts only when both of its windows burn too fast.
//! - [`parse_budgets`], [`parse_budgets_yaml`], [`load_budgets`]: budgets from TOML or YAML,
//!   errors naming the line.
//! - [`prometheus_rules`]: the same budgets as Prometheus recording and alerting rules in the
//!   shape Sloth generates, over vitals' own metric names.

mod config;
mod entry;
mod eval;
mod rules;
mod yaml;

use std::time::Duration;

use vitals::Method;
use vitals::PROMETHEUS_BUCKETS;

use crate::model::SeriesKey;

pub use config::{load_budgets, parse_budgets};
pub use entry::ConfigError;
pub use eval::{BudgetStatus, BurnRate, Status, evaluate, evaluate_scaled};
pub use rules::prometheus_rules;
pub use yaml::parse_budgets_yaml;

/// A pair of windows of the multiwindow, multi-burn-rate alert: both must burn faster than
/// `factor` times the budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowPair {
    /// The long window, minutes.
    pub long_minutes: i64,
    /// The short window, minutes.
    pub short_minutes: i64,
    /// Burn-rate factor (budget fraction × period / long window, for a 30-day period).
    pub factor: f64,
    /// What the pair raises.
    pub status: Status,
}

/// The Google SRE workbook's pairs for a 30-day budget: 2% of the budget in an hour or 5% in
/// six hours pages; 10% in a day or 10% in three days opens a ticket.
pub const WINDOW_PAIRS: [WindowPair; 4] = [
    WindowPair {
        long_minutes: 60,
        short_minutes: 5,
        factor: 14.4,
        status: Status::Page,
    },
    WindowPair {
        long_minutes: 360,
        short_minutes: 30,
        factor: 6.0,
        status: Status::Page,
    },
    WindowPair {
        long_minutes: 1_440,
        short_minutes: 120,
        factor: 3.0,
        status: Status::Ticket,
    },
    WindowPair {
        long_minutes: 4_320,
        short_minutes: 360,
        factor: 1.0,
        status: Status::Ticket,
    },
];

/// Every window a burn rate is computed over, minutes, shortest first.
pub const BURN_WINDOWS: [i64; 7] = [5, 30, 60, 120, 360, 1_440, 4_320];

/// `5m`, `1h`, `1d`, ... for a window in minutes.
#[must_use]
pub fn window_label(minutes: i64) -> String {
    if minutes % 1_440 == 0 {
        format!("{}d", minutes / 1_440)
    } else if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

/// What makes a request good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// Good: finished within `threshold` (an edge of the exposed histogram).
    Latency {
        /// The threshold.
        threshold: Duration,
    },
    /// Good: not answered 5xx.
    Availability,
}

/// Why a budget cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// The route pattern is not a glob this crate reads (`*`, `**`, `?` only).
    #[error("invalid route pattern {0:?} (templates and globs with *, ** and ? only)")]
    BadPattern(String),
    /// The name is not 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    #[error("invalid budget name {0:?} (1 to 64 of A-Z a-z 0-9 _ -)")]
    BadName(String),
    /// The objective is not strictly between 0 and 1.
    #[error("objective {0} is not strictly between 0% and 100%")]
    BadObjective(f64),
    /// The window is shorter than a day or longer than 90 days.
    #[error("window {0:?} is not between 1 day and 90 days")]
    BadWindow(Duration),
}

/// A route template or glob over templates: `*` matches within one path segment, `**` any
/// number of segments, `?` one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    glob: glob::Pattern,
}

impl RoutePattern {
    /// Parses a pattern.
    ///
    /// ```
    /// use vitals_store::budget::RoutePattern;
    ///
    /// let p = RoutePattern::new("/api/*/items").unwrap();
    /// assert!(p.matches("/api/{orgId}/items"));
    /// assert!(!p.matches("/api/a/b/items"));
    /// assert!(RoutePattern::new("/api/**").unwrap().matches("/api/a/b"));
    /// ```
    pub fn new(text: &str) -> Result<Self, BudgetError> {
        let bad = || BudgetError::BadPattern(text.to_owned());
        if text.is_empty()
            || text.len() > crate::model::MAX_NAME_BYTES
            || text.contains(['[', ']'])
            || text.chars().any(char::is_control)
        {
            return Err(bad());
        }
        let glob = glob::Pattern::new(text).map_err(|_| bad())?;
        Ok(RoutePattern {
            text: text.to_owned(),
            glob,
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when a template matches.
    #[must_use]
    pub fn matches(&self, template: &str) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.glob.matches_with(template, options)
    }

    /// True when the pattern is a plain template (no glob characters).
    #[must_use]
    pub fn is_literal(&self) -> bool {
        !self.text.contains(['*', '?'])
    }
}

/// A performance budget; see the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use vitals::Method;
/// use vitals_store::budget::{Budget, BudgetKind};
///
/// let b = Budget::latency("checkout", "/api/orgs/{orgId}/checkout", Duration::from_millis(300))
///     .unwrap()
///     .method(Method::Post)
///     .objective(0.99)
///     .unwrap();
/// // 300 ms is not an edge of the exposed histogram: snapped to 250 ms.
/// assert_eq!(b.kind, BudgetKind::Latency { threshold: Duration::from_millis(250) });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Name (used in alert ids and Prometheus labels).
    pub name: String,
    /// Routes covered.
    pub route: RoutePattern,
    /// Method covered; `None`: all.
    pub method: Option<Method>,
    /// What counts as good.
    pub kind: BudgetKind,
    /// Fraction of good events to reach, e.g. `0.999`.
    pub objective: f64,
    /// Rolling window (default 30 days).
    pub window: Duration,
}

/// Default budget window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 86_400);

fn check_name(name: &str) -> Result<(), BudgetError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BudgetError::BadName(name.to_owned()))
    }
}

impl Budget {
    fn new(name: &str, route: &str, kind: BudgetKind) -> Result<Self, BudgetError> {
        check_name(name)?;
        Ok(Budget {
            name: name.to_owned(),
            route: RoutePattern::new(route)?,
            method: None,
            kind,
            objective: 0.999,
            window: DEFAULT_WINDOW,
        })
    }

    /// A latency budget (objective 99.9%, window 30 days); the threshold is snapped to the
    /// nearest edge of the exposed histogram ([`snap_threshold`]).
    pub fn latency(name: &str, route: &str, threshold: Duration) -> Result<Self, BudgetError> {
        let threshold = snap_threshold(threshold);
        Budget::new(name, route, BudgetKind::Latency { threshold })
    }

    /// An availability budget: good = not 5xx (objective 99.9%, window 30 days).
    pub fn availability(name: &str, route: &str) -> Result<Self, BudgetError> {
        Budget::new(name, route, BudgetKind::Availability)
    }

    /// Covers one method only.
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Sets the objective, a fraction strictly between 0 and 1 (`0.999` for 99.9%).
    pub fn objective(mut self, objective: f64) -> Result<Self, BudgetError> {
        if !(objective > 0.0 && objective < 1.0) {
            return Err(BudgetError::BadObjective(objective));
        }
        self.objective = objective;
        Ok(self)
    }

    /// Sets the window (1 to 90 days).
    pub fn window(mut self, window: Duration) -> Result<Self, BudgetError> {
        if window < Duration::from_secs(86_400) || window > Duration::from_secs(90 * 86_400) {
            return Err(BudgetError::BadWindow(window));
        }
        self.window = window;
        Ok(self)
    }

    /// The fraction of events allowed to be bad.
    #[must_use]
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// True when the budget covers a series (route series only).
    #[must_use]
    pub fn covers(&self, series: &SeriesKey) -> bool {
        match series {
            SeriesKey::Route { method, template } => {
                self.method.is_none_or(|m| m == *method) && self.route.matches(template)
            }
            _ => false,
        }
    }
}

/// The exposed histogram's edge nearest to `threshold` (by ratio), so that a latency budget
/// can be computed the same way in process and in Prometheus (`_bucket{le="..."}`).
///
/// ```
/// use std::time::Duration;
/// use vitals_store::budget::snap_threshold;
///
/// assert_eq!(snap_threshold(Duration::from_millis(400)), Duration::from_millis(500));
/// assert_eq!(snap_threshold(Duration::from_millis(100)), Duration::from_millis(100));
/// assert_eq!(snap_threshold(Duration::from_secs(60)), Duration::from_secs(10));
/// ```
#[must_use]
pub fn snap_threshold(threshold: Duration) -> Duration {
    let t = threshold.as_secs_f64().max(1e-9);
    let nearest = PROMETHEUS_BUCKETS
        .iter()
        .copied()
        .min_by(|a, b| {
            let (da, db) = ((a / t).ln().abs(), (b / t).ln().abs());
            da.total_cmp(&db)
        })
        .unwrap_or(PROMETHEUS_BUCKETS[0]);
    edge_duration(nearest)
}

/// An edge in seconds as an exact duration (0.005 s is 5,000,000 ns, not 4,999,999).
fn edge_duration(seconds: f64) -> Duration {
    Duration::from_nanos((seconds * 1e9).round() as u64)
}

/// True when `threshold` is exactly an edge of the exposed histogram.
#[must_use]
pub fn is_bucket_edge(threshold: Duration) -> bool {
    PROMETHEUS_BUCKETS
        .iter()
        .any(|&edge| edge_duration(edge) == threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapping_lands_on_an_edge_and_keeps_edges() {
        for ms in [1, 7, 33, 180, 300, 400, 700, 1_600, 4_000, 8_000, 100_000] {
            assert!(
                is_bucket_edge(snap_threshold(Duration::from_millis(ms))),
                "{ms}"
            );
        }
        for &edge in &PROMETHEUS_BUCKETS {
            let d = edge_duration(edge);
            assert_eq!(snap_threshold(d), d);
        }
        assert!(!is_bucket_edge(Duration::from_millis(300)));
    }

    #[test]
    fn budgets_cover_matching_routes_and_methods_only() {
        let b = Budget::availability("api", "/api/**")
            .unwrap()
            .method(Method::Get);
        assert!(b.covers(&SeriesKey::route(Method::Get, "/api/a/{id}")));
        assert!(!b.covers(&SeriesKey::route(Method::Post, "/api/a/{id}")));
        assert!(!b.covers(&SeriesKey::route(Method::Get, "/health")));
        assert!(!b.covers(&SeriesKey::Service));
        assert!(Budget::availability("bad name", "/").is_err());
        assert!(Budget::availability("x", "/a[b]").is_err());
        assert!(b.clone().objective(1.0).is_err());
        assert!(b.window(Duration::from_secs(60)).is_err());
    }

    #[test]
    fn window_labels() {
        let labels: Vec<_> = BURN_WINDOWS.iter().map(|&m| window_label(m)).collect();
        assert_eq!(labels, ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
        assert_eq!(window_label(43_200), "30d");
    }
}
