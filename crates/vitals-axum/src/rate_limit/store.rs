//! The keyed state of a quota: governor's GCRA over a DashMap capped at a number of keys, and
//! the timer that drops idle keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

use super::key::{RateLimitKey, mask};

/// IPv6 prefix a new client network is keyed by once a quota's key table is under pressure
/// (7/8 of [`max_keys`](crate::RateLimitLayer::max_keys) or more): a provider's customer
/// usually holds a /48, so a flood from many /64s of one customer adds one key per /48 while
/// a client from another prefix still gets a bucket of its own.
pub const PRESSURE_IPV6_PREFIX: u8 = 48;

/// foldhash (random seed per limiter) rather than the default SipHash: the key is hashed on
/// every request, and SipHash was 200 instructions of it; the core monitor's maps make the same
/// choice for the same client-chosen keys (tenant ids).
pub(super) type KeyHasher = foldhash::fast::RandomState;

pub(super) type Limiter =
    RateLimiter<RateLimitKey, CappedStore, DefaultClock, StateInformationMiddleware>;

/// By default a quota keeps state for at most this many keys (4 to 8 MB; see the
/// [memory](crate::RateLimitLayer#memory)).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// governor's DashMap store with a cap on keys: a new key that finds the table full is limited
/// by one state shared by every such key (the overflow rule of the monitor's tenants), until
/// the cleanup makes room. Under pressure (the table at 7/8 of its cap or more) a new IPv6
/// network key is coarsened to its /48 ([`PRESSURE_IPV6_PREFIX`]): a client flooding the table
/// from many /64s then adds one key per /48 it holds and shares those buckets, while a client
/// from another prefix still gets a bucket of its own rather than the exhausted overflow. Written here because governor's stores grow with every distinct key
/// until the next `retain_recent`, and a client with a million addresses or tenant ids would
/// grow the table a million keys in one cleanup interval.
pub(super) struct CappedStore {
    map: DashMapStateStore<RateLimitKey, KeyHasher>,
    /// Keys in `map`, counted as they are added and recounted at each cleanup: `len()` would
    /// lock every shard, on every request of a flood of new keys (the case the cap is for).
    /// Approximate: two threads adding the same new key at once count it twice, and a key
    /// added while a cleanup recounts can be missed, so the table can pass the cap by about
    /// one key per thread.
    keys: std::sync::atomic::AtomicUsize,
    max_keys: usize,
    overflow: InMemoryState,
    /// Requests limited by the overflow state (shared with the [`Policy`]: governor's limiter
    /// does not give its store back).
    overflowed: Arc<AtomicU64>,
}

impl CappedStore {
    fn new(max_keys: usize, overflowed: Arc<AtomicU64>) -> Self {
        Self {
            map: DashMapStateStore::with_hasher(KeyHasher::default()),
            keys: std::sync::atomic::AtomicUsize::new(0),
            max_keys,
            overflow: InMemoryState::default(),
            overflowed,
        }
    }
}

impl StateStore for CappedStore {
    type Key = RateLimitKey;

    fn measure_and_replace<T, F, E>(&self, key: &RateLimitKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        // A new key. Concurrent new keys can each see room, so the table can pass the cap by
        // one key per thread.
        let keys = self.keys.load(Ordering::Relaxed);
        if let RateLimitKey::Ip(ip @ std::net::IpAddr::V6(_)) = key {
            if keys >= self.max_keys - self.max_keys / 8 {
                // Its own key (not `Ip`, whose /48 would alias the /64 of the same bits); a
                // string only for new networks under pressure.
                let coarse = RateLimitKey::Custom(
                    format!("{}/{PRESSURE_IPV6_PREFIX}", mask(*ip, PRESSURE_IPV6_PREFIX)).into(),
                );
                if let Some(state) = self.map.get(&coarse) {
                    return state.measure_and_replace(&NotKeyed::NonKey, f);
                }
                if keys < self.max_keys {
                    self.keys.fetch_add(1, Ordering::Relaxed);
                    return self.map.measure_and_replace(&coarse, f);
                }
            }
        }
        if keys >= self.max_keys {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        self.keys.fetch_add(1, Ordering::Relaxed);
        self.map.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<RateLimitKey> for CappedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
        self.keys.store(self.map.len(), Ordering::Relaxed);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.map);
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Where a quota keeps its keys' state: in this process's memory, or in Redis shared by
/// several instances (with the memory limiter deciding while Redis cannot), giving the same
/// answers so that the layer and its policies do not change.
pub(super) enum QuotaStore {
    /// governor's GCRA over a [`CappedStore`].
    Memory(Limiter),
    /// Redis, falling back to the local limiter.
    #[cfg(feature = "redis")]
    Redis(RedisQuota),
}

/// A quota kept in Redis: the layer's Redis store, the policy's name (part of each key) and
/// the local limiter that decides while Redis cannot.
#[cfg(feature = "redis")]
pub(super) struct RedisQuota {
    pub(super) remote: Arc<super::redis::Remote>,
    pub(super) policy: String,
    local: Limiter,
}

impl QuotaStore {
    /// An in-memory store for `quota`, of at most `max_keys` keys; requests limited by the
    /// overflow state are counted in `overflowed`.
    pub(super) fn memory(quota: Quota, max_keys: usize, overflowed: Arc<AtomicU64>) -> Self {
        Self::Memory(Limiter::new(
            quota,
            CappedStore::new(max_keys, overflowed),
            DefaultClock::default(),
        ))
    }

    /// A Redis store for the policy `policy`, with an in-memory fallback as [`Self::memory`].
    #[cfg(feature = "redis")]
    pub(super) fn redis(
        remote: Arc<super::redis::Remote>,
        policy: &str,
        quota: Quota,
        max_keys: usize,
        overflowed: Arc<AtomicU64>,
    ) -> Self {
        let Self::Memory(local) = Self::memory(quota, max_keys, overflowed) else {
            unreachable!("memory() builds the memory variant")
        };
        Self::Redis(RedisQuota {
            remote,
            policy: policy.to_owned(),
            local,
        })
    }

    /// The Redis side of the store, if it has one.
    #[cfg(feature = "redis")]
    #[inline]
    pub(super) fn remote(&self) -> Option<&RedisQuota> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(quota) => Some(quota),
        }
    }

    fn local(&self) -> &Limiter {
        match self {
            Self::Memory(limiter) => limiter,
            #[cfg(feature = "redis")]
            Self::Redis(quota) => &quota.local,
        }
    }

    /// Admits a request of `key` (the burst it has left) or refuses it (how long until the
    /// next request of the key would be admitted), by the local limiter.
    #[inline]
    pub(super) fn check(&self, key: &RateLimitKey) -> Result<u32, Duration> {
        let limiter = self.local();
        match limiter.check_key(key) {
            Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
            Err(not_until) => Err(not_until.wait_time_from(limiter.clock().now())),
        }
    }

    /// Drops the state of keys whose burst is full again, then shrinks the table.
    pub(super) fn cleanup(&self) {
        let limiter = self.local();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    /// Keys with state (in this process).
    pub(super) fn len(&self) -> usize {
        self.local().len()
    }
}
