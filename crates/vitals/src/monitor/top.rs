//! Tenant series: which request may create one, the choice of the tenants `/metrics` names
//! (the busiest of the last interval, at most [`MonitorConfig::top_tenants`]), the `(other)`
//! series that folds the rest, and the eviction of idle tenants.
//!
//! The choice runs at tick or scrape time ([`Monitor::maintain`], [`Monitor::tenant_counts`]),
//! never per request: a request only reads the tenant map (a new tenant is named at once while
//! fewer than `top_tenants` are, so a service with few tenants sees each of them from its
//! first request). Each request counts once in `/metrics`: a named tenant's series shows what
//! it did since it was named, and `(other)` what every tenant did while not named plus the
//! overflow series. Both only grow while the set of named tenants stays; when a tenant joins
//! or leaves it, its series starts or stops (to Prometheus, a new series or a stale one) and
//! `(other)` still never goes down.
//!
//! [`MonitorConfig::top_tenants`]: crate::MonitorConfig::top_tenants

use std::cmp::Reverse;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::monitor::state::{Monitor, OrgEntry};
use crate::monitor::tenants::{Selection, TenantSource, add_counts};
use crate::series::{PrometheusCounts, Series};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Monitor {
    /// Runs `f` on the organization's series. An id without a series gets one only when there
    /// is room, the id is valid and its source may create one (see [`TenantSource`]); else
    /// the request counts under the overflow series.
    pub(super) fn with_org<R>(
        &self,
        id: &str,
        valid: bool,
        source: TenantSource,
        status: u16,
        f: impl FnOnce(&Series) -> R,
    ) -> R {
        let inner = &*self.inner;
        let orgs = inner.orgs.pin();
        if let Some(entry) = orgs.get(id) {
            return f(&entry.series);
        }
        // With the application's list, it alone decides for an observed id, whatever the
        // status (a 5xx for a made-up id mints nothing either).
        let trusted = match (&inner.config.known_tenants, source) {
            (_, TenantSource::Vouched) => true,
            (Some(known), TenantSource::Observed) => known.contains(id),
            (None, TenantSource::Observed) => source.creates(status),
        };
        if !valid || !trusted {
            return f(&inner.overflow_org.series);
        }
        if inner.org_slots.fetch_add(1, Relaxed) >= inner.config.max_organizations {
            inner.org_slots.fetch_sub(1, Relaxed);
            return f(&inner.overflow_org.series);
        }
        let mut created = false;
        let name: Arc<str> = Arc::from(id);
        let histograms = inner.config.tenant_histograms;
        let entry = orgs.get_or_insert_with(name.clone(), || {
            created = true;
            let named = inner.named_slots.fetch_add(1, Relaxed) < inner.config.top_tenants;
            if !named {
                inner.named_slots.fetch_sub(1, Relaxed);
            }
            Arc::new(OrgEntry::new(name, histograms, named))
        });
        if !created {
            inner.org_slots.fetch_sub(1, Relaxed);
        }
        f(&entry.series)
    }

    /// Chooses the tenants `/metrics` names as of `now`, and evicts the tenants idle for
    /// [`MonitorConfig::tenant_idle`](crate::MonitorConfig::tenant_idle). [`Monitor::maintain`]
    /// and [`Monitor::tenant_counts`] do this once every
    /// [`tenant_interval`](crate::MonitorConfig::tenant_interval) on their own; call it with a
    /// clock of your own (a test, a simulation) to choose at a given instant.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use vitals::{Monitor, MonitorConfig, RequestSample};
    ///
    /// let monitor = Monitor::new(MonitorConfig::default().top_tenants(1));
    /// let count = |org| monitor.record(&RequestSample { organization: Some(org), ..RequestSample::default() });
    /// let exposed = || -> Vec<(String, u64)> {
    ///     monitor.tenant_counts().into_iter().map(|(id, c)| (id.to_string(), c.count)).collect()
    /// };
    /// count("a"); // named at once: there is room
    /// count("b");
    /// count("b");
    /// assert_eq!(exposed(), [("(other)".into(), 2), ("a".into(), 1)]);
    /// monitor.select_tenants_at(Instant::now()); // b was the busiest: named from now on
    /// count("b");
    /// assert_eq!(exposed(), [("(other)".into(), 2), ("b".into(), 1)]);
    ///
    /// // A day later: a, without a request since the last choice, is evicted; b was busy.
    /// monitor.select_tenants_at(Instant::now() + Duration::from_secs(25 * 3600));
    /// assert!(monitor.organization_stats("a").is_none());
    /// assert_eq!(monitor.organization_stats("b").unwrap().since_start.count, 3);
    /// ```
    pub fn select_tenants_at(&self, now: Instant) {
        let mut selection = lock(&self.inner.selection);
        self.choose(&mut selection, now);
    }

    /// The choice, if one is due at `now`.
    pub(super) fn tenants_due(&self, now: Instant) {
        let inner = &*self.inner;
        let mut selection = lock(&inner.selection);
        let due = selection
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= inner.config.tenant_interval);
        if due {
            self.choose(&mut selection, now);
        }
    }

    /// The choice: evicts idle tenants, folds what unnamed tenants did into `(other)`, names
    /// the busiest since the last choice (ties: the ones named already, then by id) and moves
    /// every mark.
    fn choose(&self, selection: &mut Selection, now: Instant) {
        let inner = &*self.inner;
        let idle = inner.config.tenant_idle;
        let orgs = inner.orgs.pin();
        let mut ranked = Vec::with_capacity(orgs.len());
        for entry in orgs.values() {
            let counts = entry.series.prometheus_counts();
            let mut mark = lock(&entry.mark);
            let delta = counts.count.saturating_sub(mark.seen.count());
            let named = entry.named.load(Relaxed);
            if delta > 0 {
                mark.active = now;
            } else if now.saturating_duration_since(mark.active) >= idle {
                // Nothing since the last choice, so nothing is lost. (A request racing with
                // the removal counts into the removed series: one request, after a day idle.)
                orgs.remove(&entry.name);
                inner.org_slots.fetch_sub(1, Relaxed);
                if named {
                    inner.named_slots.fetch_sub(1, Relaxed);
                }
                continue;
            }
            if !named {
                add_counts(&mut selection.other, &mark.seen.since(&counts));
            }
            mark.seen.set(&counts);
            ranked.push((Reverse(delta), !named, Arc::clone(entry), counts));
        }
        ranked.sort_unstable_by(|a, b| (a.0, a.1, &a.2.name).cmp(&(b.0, b.1, &b.2.name)));
        let top = inner.config.top_tenants;
        for (i, (_, unnamed, entry, counts)) in ranked.iter().enumerate() {
            let name = i < top;
            if name && *unnamed {
                // Named from now on: its series shows what it does from here.
                lock(&entry.mark).base.set(counts);
            }
            entry.named.store(name, Relaxed);
        }
        // (A tenant created during the choice and named at birth may leave one more named
        // than `top_tenants` until the next choice.)
        inner.named_slots.store(ranked.len().min(top), Relaxed);
        selection.last = Some(now);
    }

    /// What `/metrics` carries per tenant, sorted by label: the named tenants (at most
    /// [`MonitorConfig::top_tenants`](crate::MonitorConfig::top_tenants)) with their counts
    /// since they were named, and [`OTHER`](crate::OTHER) (when it has requests) with
    /// everything else: the overflow series and what tenants did while not named.
    /// Runs the choice first when one is due. Every tenant's full figures stay in
    /// [`Monitor::organizations`].
    ///
    /// ```
    /// use vitals::{Monitor, RequestSample, TenantSource};
    ///
    /// let monitor = Monitor::default();
    /// monitor.record(&RequestSample { organization: Some("acme"), ..RequestSample::default() });
    /// // A made-up id on a 404: no series of its own.
    /// monitor.record(&RequestSample {
    ///     organization: Some("nope"),
    ///     status: 404,
    ///     tenant_source: TenantSource::Observed,
    ///     ..RequestSample::default()
    /// });
    /// let counts = monitor.tenant_counts();
    /// assert_eq!(counts.len(), 2);
    /// assert_eq!((&*counts[0].0, counts[0].1.count), ("(other)", 1));
    /// assert_eq!((&*counts[1].0, counts[1].1.count), ("acme", 1));
    /// ```
    #[must_use]
    pub fn tenant_counts(&self) -> Vec<(Arc<str>, PrometheusCounts)> {
        self.tenants_due(Instant::now());
        let inner = &*self.inner;
        let selection = lock(&inner.selection);
        let mut other = selection.other;
        add_counts(&mut other, &inner.overflow_org.series.prometheus_counts());
        let orgs = inner.orgs.pin();
        let mut out = Vec::with_capacity(inner.named_slots.load(Relaxed) + 1);
        for entry in orgs.values() {
            let counts = entry.series.prometheus_counts();
            let mark = lock(&entry.mark);
            if entry.named.load(Relaxed) {
                out.push((Arc::clone(&entry.name), mark.base.since(&counts)));
            } else {
                add_counts(&mut other, &mark.seen.since(&counts));
            }
        }
        if other.count > 0 {
            out.push((Arc::clone(&inner.other_name), other));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The label `/metrics` gives tenant `id` now: its id while it is named, else
    /// [`OTHER`](crate::OTHER). One lookup in the tenant map; no lock, no allocation (the
    /// returned `Arc` is the map's or the monitor's). For labels of other figures that follow
    /// the same rules (the application's own metrics, say).
    ///
    /// ```
    /// use vitals::{Monitor, RequestSample};
    ///
    /// let monitor = Monitor::default();
    /// monitor.record(&RequestSample { organization: Some("acme"), ..RequestSample::default() });
    /// assert_eq!(&*monitor.tenant_label("acme"), "acme");
    /// assert_eq!(&*monitor.tenant_label("stranger"), "(other)");
    /// ```
    #[must_use]
    pub fn tenant_label(&self, id: &str) -> Arc<str> {
        let inner = &*self.inner;
        match inner.orgs.pin().get(id) {
            Some(entry) if entry.named.load(Relaxed) => Arc::clone(&entry.name),
            _ => Arc::clone(&inner.other_name),
        }
    }

    /// [`tenant_label`](Self::tenant_label) for a request still being handled, whose tenant
    /// came from `source`: a tenant the application vouches for or knows gets its series now
    /// (as its request would at its end), so the figures of its first request carry its label
    /// too. An observed tenant without a series stays [`OTHER`](crate::OTHER): whether its
    /// answer is a client error is not known yet.
    ///
    /// ```
    /// use vitals::{Monitor, TenantSource};
    ///
    /// let monitor = Monitor::default();
    /// assert_eq!(&*monitor.tenant_label_for("acme", TenantSource::Vouched), "acme");
    /// assert_eq!(&*monitor.tenant_label_for("made-up", TenantSource::Observed), "(other)");
    /// assert_eq!(monitor.organization_stats("acme").unwrap().since_start.count, 0);
    /// ```
    #[must_use]
    pub fn tenant_label_for(&self, id: &str, source: TenantSource) -> Arc<str> {
        let inner = &*self.inner;
        if !inner.orgs.pin().contains_key(id) {
            let known = inner
                .config
                .known_tenants
                .as_ref()
                .is_some_and(|k| k.contains(id));
            if source == TenantSource::Vouched || known {
                let valid = crate::monitor::sample::is_valid_organization_id(id);
                self.with_org(id, valid, TenantSource::Vouched, 200, |_| ());
            }
        }
        self.tenant_label(id)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::monitor::{Monitor, MonitorConfig, RequestSample, TenantSource};

    fn hit(monitor: &Monitor, org: &str, status: u16, source: TenantSource) {
        monitor.record(&RequestSample {
            organization: Some(org),
            status,
            tenant_source: source,
            ..RequestSample::default()
        });
    }

    fn exposed(monitor: &Monitor) -> Vec<(String, u64)> {
        monitor
            .tenant_counts()
            .into_iter()
            .map(|(id, c)| (id.to_string(), c.count))
            .collect()
    }

    #[test]
    fn only_trusted_sources_create_series() {
        let monitor = Monitor::new(MonitorConfig::default().is_known_tenant(|id| id == "known"));
        hit(&monitor, "seen", 200, TenantSource::Observed);
        hit(&monitor, "scan", 404, TenantSource::Observed);
        hit(&monitor, "bad", 400, TenantSource::Observed);
        hit(&monitor, "down", 503, TenantSource::Observed);
        hit(&monitor, "vouched", 404, TenantSource::Vouched);
        hit(&monitor, "known", 404, TenantSource::Observed);
        // Once it has a series, a tenant counts every request.
        hit(&monitor, "known", 200, TenantSource::Observed);
        let mut ids: Vec<_> = monitor
            .organizations()
            .into_iter()
            .map(|o| (o.organization_id.to_string(), o.since_start.count))
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                ("(overflow)".to_owned(), 4),
                ("known".to_owned(), 2),
                ("vouched".to_owned(), 1),
            ]
        );
        // Without a list, the status decides for an observed id.
        let monitor = Monitor::default();
        hit(&monitor, "seen", 200, TenantSource::Observed);
        hit(&monitor, "scan", 404, TenantSource::Observed);
        hit(&monitor, "down", 503, TenantSource::Observed);
        hit(&monitor, "seen", 404, TenantSource::Observed);
        let mut ids: Vec<_> = monitor
            .organizations()
            .into_iter()
            .map(|o| (o.organization_id.to_string(), o.since_start.count))
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                ("(overflow)".to_owned(), 1),
                ("down".to_owned(), 1),
                ("seen".to_owned(), 2),
            ]
        );
    }

    #[test]
    fn names_the_busiest_and_other_never_goes_down() {
        let monitor = Monitor::new(MonitorConfig::default().top_tenants(2));
        let t0 = Instant::now();
        for (org, n) in [("a", 5), ("b", 3), ("c", 1)] {
            for _ in 0..n {
                hit(&monitor, org, 200, TenantSource::Observed);
            }
        }
        monitor.select_tenants_at(t0);
        assert_eq!(
            exposed(&monitor),
            [("(other)".into(), 1), ("a".into(), 5), ("b".into(), 3)]
        );
        // Next interval: c is the busiest, b idle.
        for _ in 0..4 {
            hit(&monitor, "c", 200, TenantSource::Observed);
        }
        hit(&monitor, "a", 200, TenantSource::Observed);
        // Before the choice, c's requests count under (other).
        assert_eq!(
            exposed(&monitor),
            [("(other)".into(), 5), ("a".into(), 6), ("b".into(), 3)]
        );
        monitor.select_tenants_at(t0 + Duration::from_secs(60));
        // c is named and counts from here; (other) keeps what c did unnamed (5), and b's later
        // requests add to it.
        assert_eq!(
            exposed(&monitor),
            [("(other)".into(), 5), ("a".into(), 6), ("c".into(), 0)]
        );
        hit(&monitor, "b", 200, TenantSource::Observed);
        hit(&monitor, "c", 200, TenantSource::Observed);
        assert_eq!(
            exposed(&monitor),
            [("(other)".into(), 6), ("a".into(), 6), ("c".into(), 1)]
        );
        assert_eq!(&*monitor.tenant_label("c"), "c");
        assert_eq!(&*monitor.tenant_label("b"), "(other)");
    }

    #[test]
    fn idle_tenants_are_evicted_and_free_their_slot() {
        let monitor = Monitor::new(
            MonitorConfig::default()
                .max_organizations(2)
                .tenant_idle(Duration::from_secs(3600)),
        );
        let t0 = Instant::now();
        hit(&monitor, "old", 200, TenantSource::Observed);
        hit(&monitor, "busy", 200, TenantSource::Observed);
        hit(&monitor, "late", 200, TenantSource::Observed); // no room: overflow
        assert!(monitor.organization_stats("late").is_none());
        monitor.select_tenants_at(t0 + Duration::from_secs(1));
        hit(&monitor, "busy", 200, TenantSource::Observed);
        monitor.select_tenants_at(t0 + Duration::from_secs(3700));
        assert!(monitor.organization_stats("old").is_none(), "idle an hour");
        assert_eq!(
            monitor
                .organization_stats("busy")
                .unwrap()
                .since_start
                .count,
            2
        );
        // The slot is free again.
        hit(&monitor, "late", 200, TenantSource::Observed);
        assert_eq!(
            monitor
                .organization_stats("late")
                .unwrap()
                .since_start
                .count,
            1
        );
        assert_eq!(monitor.memory().organizations, 2);
    }
}
