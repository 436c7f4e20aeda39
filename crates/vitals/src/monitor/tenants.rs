//! Tenants: where a request's tenant comes from ([`TenantSource`]), the application's list of
//! its tenants ([`KnownTenants`]), and what the choice of the tenants `/metrics` names keeps
//! between two choices ([`Mark`], [`Selection`]). The choice itself is in `top`.

use std::sync::Arc;
use std::time::Instant;

use crate::series::PrometheusCounts;

/// Label of the `/metrics` series that folds every tenant not among the
/// [`top_tenants`](crate::MonitorConfig::top_tenants) (and the overflow series).
pub const OTHER: &str = "(other)";

/// Where a request's tenant came from, which decides whether it may create a tenant series.
///
/// A tenant that has a series counts every request, whatever its source and status. A tenant
/// without one gets a series only from a trusted source: what the application vouches for
/// ([`Vouched`](Self::Vouched): always), or what the request's route says
/// ([`Observed`](Self::Observed)): when the application gives its list of tenants through
/// [`MonitorConfig::is_known_tenant`], that list alone decides, whatever the status; without
/// one, unless the answer was a client error. Otherwise the request counts under
/// [`OVERFLOW`](crate::OVERFLOW), so a scan of made-up tenant ids mints nothing (and with the
/// list, neither does one that makes the application fail with 5xx).
///
/// ```
/// use vitals::TenantSource;
///
/// assert!(TenantSource::Vouched.creates(404));
/// assert!(TenantSource::Observed.creates(200));
/// assert!(TenantSource::Observed.creates(503));
/// assert!(!TenantSource::Observed.creates(400));
/// ```
///
/// [`MonitorConfig::is_known_tenant`]: crate::MonitorConfig::is_known_tenant
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TenantSource {
    /// Set by the application (an auth layer or a handler naming the tenant, a gateway header
    /// the application says it trusts).
    Vouched,
    /// Read from the request: a path parameter of the matched route.
    #[default]
    Observed,
}

impl TenantSource {
    /// Whether a request from this source answered `status` may create a series for a tenant,
    /// when the application gives no list of its tenants.
    #[must_use]
    pub fn creates(self, status: u16) -> bool {
        match self {
            Self::Vouched => true,
            Self::Observed => !(400..500).contains(&status),
        }
    }
}

/// The application's answer to "is this one of my tenants?" (see
/// [`MonitorConfig::is_known_tenant`](crate::MonitorConfig::is_known_tenant)).
#[derive(Clone)]
pub struct KnownTenants(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl KnownTenants {
    /// Wraps `known`.
    ///
    /// ```
    /// let known = vitals::KnownTenants::new(|id| id.starts_with("org-"));
    /// assert!(known.contains("org-1") && !known.contains("x"));
    /// ```
    pub fn new(known: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(known))
    }

    /// Whether `id` is one of the application's tenants.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        (self.0)(id)
    }
}

impl std::fmt::Debug for KnownTenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownTenants(..)")
    }
}

/// A tenant's counts at some instant (the buckets and sum, boxed, only when `/metrics` carries
/// tenant histograms: 24 bytes otherwise, not 112).
#[derive(Debug)]
pub(super) struct Counts {
    count: u64,
    errors: u64,
    histogram: Option<Box<PrometheusCounts>>,
}

impl Counts {
    fn new(histograms: bool) -> Self {
        Self {
            count: 0,
            errors: 0,
            histogram: histograms.then(Box::default),
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// What `counts` (read now) adds to these.
    pub(super) fn since(&self, counts: &PrometheusCounts) -> PrometheusCounts {
        let mut out = PrometheusCounts {
            count: counts.count.saturating_sub(self.count),
            errors: counts.errors.saturating_sub(self.errors),
            ..PrometheusCounts::default()
        };
        if let Some(h) = &self.histogram {
            out.sum_ns = counts.sum_ns.saturating_sub(h.sum_ns);
            for (o, (now, then)) in out
                .cumulative
                .iter_mut()
                .zip(counts.cumulative.iter().zip(&h.cumulative))
            {
                *o = now.saturating_sub(*then);
            }
        }
        out
    }

    /// Moves these to `counts`.
    pub(super) fn set(&mut self, counts: &PrometheusCounts) {
        self.count = counts.count;
        self.errors = counts.errors;
        if let Some(h) = &mut self.histogram {
            **h = *counts;
        }
    }
}

/// What the choice of named tenants keeps of one tenant (72 bytes with its mutex).
#[derive(Debug)]
pub(super) struct Mark {
    /// Its counts at the last choice: what it did since is its traffic of the interval, and,
    /// while it is not named, what `(other)` adds for it.
    pub(super) seen: Counts,
    /// Its counts when it was last named: its `/metrics` series shows what it did since.
    pub(super) base: Counts,
    /// When a choice last saw it busy (or its series began).
    pub(super) active: Instant,
}

impl Mark {
    pub(super) fn new(histograms: bool, now: Instant) -> Self {
        Self {
            seen: Counts::new(histograms),
            base: Counts::new(histograms),
            active: now,
        }
    }
}

/// Adds `more` to `into`.
pub(super) fn add_counts(into: &mut PrometheusCounts, more: &PrometheusCounts) {
    into.count += more.count;
    into.errors += more.errors;
    into.sum_ns += more.sum_ns;
    for (a, b) in into.cumulative.iter_mut().zip(&more.cumulative) {
        *a += b;
    }
}

/// The state of the choice of named tenants, behind one lock that only the choice and
/// `/metrics` take (never a request).
#[derive(Debug, Default)]
pub(super) struct Selection {
    /// When the last choice ran (the monitor's start before the first).
    pub(super) last: Option<Instant>,
    /// What `(other)` counted for tenants while they were not named, up to their last choice
    /// (the overflow series, and what unnamed tenants did since, are added when read).
    pub(super) other: PrometheusCounts,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mark_is_small() {
        assert_eq!(size_of::<std::sync::Mutex<super::Mark>>(), 72);
    }
}
