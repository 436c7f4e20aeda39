//! The per-thread route cache: a known route is found in memory only this thread touches,
//! before the shared map.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::monitor::sample::RouteKey;
use crate::monitor::state::{Monitor, RouteEntry};

thread_local! {
    static PATH_BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    static ROUTE_CACHE: std::cell::RefCell<[Option<CachedRoute>; ROUTE_CACHE_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; ROUTE_CACHE_SLOTS]) };
}

/// Slots of the per-thread route cache: direct-mapped by the template's length and last byte.
const ROUTE_CACHE_SLOTS: usize = 16;

/// A route a worker thread recorded recently. The hot path finds a known route here, in memory
/// only this thread touches, instead of in the shared map (whose lookup pins an epoch, hashes
/// the template and probes a table: ~150 instructions and several cache misses per request in
/// the profile). Routes are never removed from a monitor, so an entry cannot go stale; it keeps
/// the route's entry alive until the slot is reused (at most 16 per thread).
struct CachedRoute {
    monitor: u64,
    entry: Arc<RouteEntry>,
}

fn route_cache_slot(template: &str) -> usize {
    let last = template.as_bytes().last().copied().unwrap_or(0);
    (template.len() ^ usize::from(last) << 2) % ROUTE_CACHE_SLOTS
}

impl Monitor {
    /// Runs `f` on the route's entry, creating it if there is room. No `Arc` is cloned: a
    /// shared reference count would be one more cache line every worker writes.
    pub(super) fn with_route<R>(
        &self,
        key: RouteKey<'_>,
        status: u16,
        f: impl FnOnce(&RouteEntry) -> R,
    ) -> R {
        match key {
            RouteKey::Unmatched => f(&self.inner.unmatched),
            RouteKey::Path(_) if status == 404 => f(&self.inner.unmatched),
            RouteKey::Template(t) => self.with_named_route(t, f),
            RouteKey::Path(p) => PATH_BUF.with_borrow_mut(|buf| {
                crate::normalize::normalize_path_into(p, buf);
                self.with_named_route(buf, f)
            }),
        }
    }

    fn with_named_route<R>(&self, template: &str, f: impl FnOnce(&RouteEntry) -> R) -> R {
        let inner = &*self.inner;
        let slot = route_cache_slot(template);
        // `f` runs inside the cache's borrow: cloning the entry's `Arc` out would write its
        // shared reference count, a cache line every worker contends for.
        let mut f = Some(f);
        let cached = ROUTE_CACHE.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let hit = cache[slot].as_ref()?;
            if hit.monitor != inner.id || *hit.entry.name != *template {
                return None;
            }
            f.take().map(|f| f(&hit.entry))
        });
        if let Ok(Some(done)) = cached {
            return done;
        }
        let Some(f) = f else {
            unreachable!("the cache's closure takes `f` only to return its result")
        };
        let routes = inner.routes.pin();
        if let Some(entry) = routes.get(template) {
            let _ = ROUTE_CACHE.try_with(|cache| {
                if let Ok(mut cache) = cache.try_borrow_mut() {
                    cache[slot] = Some(CachedRoute {
                        monitor: inner.id,
                        entry: Arc::clone(entry),
                    });
                }
            });
            return f(entry);
        }
        if inner.route_slots.fetch_add(1, Relaxed) >= inner.config.max_routes {
            inner.route_slots.fetch_sub(1, Relaxed);
            return f(&inner.overflow_route);
        }
        // Ids 0 and 1 are the unmatched and overflow routes.
        let id = u32::try_from(routes.len() + 2).unwrap_or(u32::MAX);
        let entry =
            routes.get_or_insert_with(template.into(), || Arc::new(RouteEntry::new(id, template)));
        if entry.id != id {
            inner.route_slots.fetch_sub(1, Relaxed); // lost the race to another thread
        }
        f(entry)
    }
}
