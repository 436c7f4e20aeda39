//! The recording hot path: [`Monitor::record`], the in-flight counters and the per-second
//! maintenance.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::monitor::sample::{RequestSample, is_valid_organization_id};
use crate::monitor::state::{Monitor, STRIPES};
use crate::ring::{Entry, EntryRef};
use crate::series::Observation;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
}

impl Monitor {
    /// Records one finished request. Lock-free; allocation-free for a known route.
    pub fn record(&self, sample: &RequestSample<'_>) {
        let inner = &*self.inner;
        let since_start = sample.start.saturating_duration_since(inner.start);
        let minute = (since_start + sample.duration).as_secs() / 60;
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let duration_ns = ns(sample.duration);
        let is_error = sample.status >= 400;
        let observation = Observation::new(minute, duration_ns, is_error);

        let config = &inner.config;
        // High CPU: from the measured CPU time when there is one, else from busy time (an upper
        // bound on it, known for every request whose polls were timed); the record's
        // `MEASURED` flag says which.
        let busy = sample.polls.map(|p| p.busy);
        let mut flags = match sample.resources {
            Some(r) => {
                let mut f = Entry::MEASURED;
                if r.cpu > config.high_cpu_threshold {
                    f |= Entry::HIGH_CPU;
                }
                if r.allocated_bytes
                    .is_some_and(|b| b > config.high_memory_threshold)
                {
                    f |= Entry::HIGH_MEMORY;
                }
                f
            }
            None if busy.is_some_and(|b| b > config.high_cpu_threshold) => Entry::HIGH_CPU,
            None => 0,
        };
        // The polls word of the ring entry (count, longest in µs).
        let mut polls_word = 0;
        if let Some(p) = sample.polls {
            if p.longest > config.blocking_poll_threshold {
                flags |= Entry::BLOCKED;
            }
            let longest_us = u64::try_from(p.longest.as_micros())
                .unwrap_or(u64::MAX)
                .min(u64::from(u32::MAX));
            polls_word = u64::from(p.count) | (longest_us << 32);
        }
        let route_id = self.with_route(sample.route, sample.status, |route| {
            route
                .series(sample.method, sample.status)
                .record(&observation);
            if sample.resources.is_none() && sample.polls.is_none() {
                return route.id;
            }
            let t = route.resources[sample.method.index()].get_or_init(Box::default);
            // Busy time per route for every timed request: one more cache line per request,
            // the price of a CPU figure for every request rather than one in N.
            if let Some(busy) = busy {
                t.timed.fetch_add(1, Relaxed);
                t.busy_ns.fetch_add(ns(busy), Relaxed);
                if sample.resources.is_none() && flags & Entry::HIGH_CPU != 0 {
                    t.high_cpu.fetch_add(1, Relaxed);
                }
            }
            // Per route, polls of a tenth of the blocking threshold or more (1 ms by default):
            // a fast request's longest poll is not worth a compare more per request.
            let long_poll = sample.polls.filter(|p| p.longest >= inner.long_poll);
            if let Some(p) = long_poll {
                let longest = ns(p.longest);
                // A load first: `fetch_max` is a locked compare-exchange loop even when the
                // value does not change, and a new maximum is rare.
                if longest > t.longest_poll_ns.load(Relaxed) {
                    t.longest_poll_ns.fetch_max(longest, Relaxed);
                }
                if flags & Entry::BLOCKED != 0 {
                    t.blocked.fetch_add(1, Relaxed);
                }
            }
            if let Some(r) = sample.resources {
                t.measured.fetch_add(1, Relaxed);
                t.cpu_ns.fetch_add(ns(r.cpu), Relaxed);
                if let Some(allocated) = r.allocated_bytes {
                    t.allocations_known.fetch_add(1, Relaxed);
                    t.allocated_bytes.fetch_add(allocated, Relaxed);
                    t.freed_bytes.fetch_add(r.freed_bytes.unwrap_or(0), Relaxed);
                }
                t.polls
                    .fetch_add(u64::from(sample.polls.map_or(0, |p| p.count)), Relaxed);
                t.high_cpu
                    .fetch_add(u64::from(flags & Entry::HIGH_CPU != 0), Relaxed);
                t.high_memory
                    .fetch_add(u64::from(flags & Entry::HIGH_MEMORY != 0), Relaxed);
            }
            route.id
        });

        let mut organization = "";
        if let Some(org) = sample.organization {
            let valid = is_valid_organization_id(org);
            self.with_org(org, valid, sample.tenant_source, sample.status, |series| {
                series.record(&observation);
            });
            if valid {
                organization = org;
            }
        }

        let unix_ns = inner.start_unix_ns + u64::try_from(since_start.as_nanos()).unwrap_or(0);
        inner.ring.push(&EntryRef {
            unix_ns,
            duration_ns,
            route_id,
            method: sample.method.index() as u8,
            status: sample.status,
            flags: (u8::from(sample.aborted) * Entry::ABORTED)
                | (u8::from(sample.panicked) * Entry::PANICKED)
                | flags,
            organization,
            correlation_id: sample.correlation_id,
            trace_id: sample.trace_id.unwrap_or_default(),
            cpu_ns: sample.resources.map_or(0, |r| ns(r.cpu)),
            allocated_bytes: sample
                .resources
                .and_then(|r| r.allocated_bytes)
                .unwrap_or(0),
            freed_bytes: sample.resources.and_then(|r| r.freed_bytes).unwrap_or(0),
            polls: polls_word,
            busy_ns: busy.map_or(0, ns),
        });
    }

    /// Resets, ahead of time, the one-minute slots the next minute will use, and chooses the
    /// tenants `/metrics` names when a choice is due ([`Monitor::select_tenants_at`]). The
    /// axum integration calls it every second; without it, recording still works (see
    /// [`Series`](crate::Series)).
    pub fn maintain(&self) {
        let now = Instant::now();
        let minute = self.minute_of(now);
        let routes = self.inner.routes.pin();
        let specials = [&self.inner.unmatched, &self.inner.overflow_route];
        for entry in routes.values().chain(specials) {
            for (_, _, series) in entry.each_series() {
                series.prepare(minute);
            }
        }
        for entry in self.inner.orgs.pin().values() {
            entry.series.prepare(minute);
        }
        self.inner.overflow_org.series.prepare(minute);
        self.tenants_due(now);
    }

    /// Marks a request as started (for [`Monitor::in_flight`]); pair with
    /// [`Monitor::request_finished`]. Each thread adds to its own cache line.
    pub fn request_started(&self) {
        let stripe = STRIPE.with(|s| *s);
        self.inner.in_flight[stripe].0.fetch_add(1, Relaxed);
    }

    /// Marks a request as finished (possibly on another thread than it started).
    pub fn request_finished(&self) {
        let stripe = STRIPE.with(|s| *s);
        self.inner.in_flight[stripe].0.fetch_sub(1, Relaxed);
    }
}
