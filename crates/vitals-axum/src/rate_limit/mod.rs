//! The rate-limit middleware: [`RateLimitLayer`] (settings and counters), [`RateLimitService`]
//! (admits or refuses) and [`ResponseFuture`], with their domain parts in rooms of their own:
//! `key` (client keys, CIDR ranges, forwarded-for), `headers` (the draft and legacy header
//! dialects), `policy` (a quota), `store` (the capped keyed store and its cleanup), `redis` (quotas shared through
//! Redis, cargo feature `redis`) and `state`
//! (what a layer and its services share).

mod future;
mod headers;
mod key;
mod layer;
mod policy;
#[cfg(feature = "redis")]
mod redis;
mod service;
mod state;
mod store;

pub use future::ResponseFuture;
pub use key::{InvalidIpRange, IpRange, KeyFn, KeySource, RateLimitKey};
pub use layer::{DEFAULT_SKIPPED_ROUTES, RateLimitLayer};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_REDIS_TIMEOUT, InvalidRedisUrl, RateLimitStoreStatus, RedisStore};
pub use service::RateLimitService;
pub use store::{DEFAULT_MAX_KEYS, PRESSURE_IPV6_PREFIX};
