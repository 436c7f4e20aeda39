//! [`RedisStore`]: quotas kept in Redis, so that every instance of a service shares them.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The GCRA step. `ARGV[1]`: emission interval (µs, time to earn back one request), `ARGV[2]`:
/// burst. Replies `{1, remaining burst}` when admitted, `{0, µs until admitted}` when refused.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local limit = interval * burst
if new_tat - now > limit then
  return {0, new_tat - now - limit}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((limit - (new_tat - now)) / interval)}
";

/// Default time Redis has to answer before the request is decided locally.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);

/// A Redis URL that does not parse (from [`RedisStore::open`]).
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL: {reason}")]
pub struct InvalidRedisUrl {
    reason: String,
}

/// Where to keep quotas shared by several instances: a Redis server, for
/// [`RateLimitLayer::redis`](super::RateLimitLayer::redis) (cargo feature `redis`).
///
/// Answers are those of the local limiter (same GCRA, same headers, same 429), with the
/// quota counted once for all instances. Failures never fail a request: see
/// below and [`RedisStore::fail_closed`].
///
/// ```
/// use std::time::Duration;
/// use vitals_axum::{RateLimitLayer, RedisStore};
///
/// let store = RedisStore::open("redis://127.0.0.1:6379/0")
///     .unwrap()
///     .timeout(Duration::from_millis(20))
///     .key_prefix("shop:rl:");
/// let layer = RateLimitLayer::per_window(100, Duration::from_secs(60)).redis(store);
/// # let _ = layer;
/// assert!(RedisStore::open("http://example.com").is_err());
/// ```
///
/// GCRA runs in one Lua script per request (one round trip: `EVALSHA`, with `SCRIPT LOAD` when
/// Redis answers `NOSCRIPT`, as `redis::Script` does): one key per client holding its
/// theoretical arrival time in microseconds of Redis' clock (`TIME`, so instances with skewed
/// clocks agree), written with `SET … PX` so it expires once the client's burst is full again.
/// Redis therefore holds at most one key per client active within the last window.
///
/// When Redis fails or does not answer within the timeout, the request is decided by the
/// quota's local limiter (or refused, with [`RedisStore::fail_closed`]), the fallback is
/// counted, and the store is marked down: until Redis answers a probe again (one request per
/// [retry interval](RedisStore::retry_interval) asks it), requests skip Redis and are decided
/// locally at once, so a dead Redis costs no latency.
#[derive(Clone)]
#[must_use]
pub struct RedisStore {
    client: redis::Client,
    timeout: Duration,
    retry_interval: Duration,
    prefix: String,
    fail_closed: bool,
}

impl fmt::Debug for RedisStore {
    // The URL can hold a password: only the settings are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("retry_interval", &self.retry_interval)
            .field("prefix", &self.prefix)
            .field("fail_closed", &self.fail_closed)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[:password@]host[:port][/db]`,
    /// `rediss://` with TLS support compiled into `redis`, `unix://`). Does not connect: the
    /// connection is made on the first request, and remade whenever it breaks.
    ///
    /// # Errors
    ///
    /// [`InvalidRedisUrl`] when `url` is not a Redis URL (the error does not repeat the URL,
    /// which may hold a password).
    pub fn open(url: &str) -> Result<Self, InvalidRedisUrl> {
        let client = redis::Client::open(url).map_err(|e| InvalidRedisUrl {
            reason: format!("{:?}", e.kind()),
        })?;
        Ok(Self {
            client,
            timeout: DEFAULT_REDIS_TIMEOUT,
            retry_interval: Duration::from_secs(1),
            prefix: "vitals:rl:".to_owned(),
            fail_closed: false,
        })
    }

    /// How long Redis has to answer (default [`DEFAULT_REDIS_TIMEOUT`], 50 ms; at least 1 ms);
    /// past it the request is decided locally and the store is marked down.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// While the store is down, how often one request asks Redis whether it is back (default
    /// 1 s; at least 1 ms). The other requests are decided locally without waiting.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Prefix of the Redis keys (default `vitals:rl:`); a key is the prefix, the policy name
    /// (`default` or the route template), `:` and the client key.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// What happens to a request while Redis cannot decide it. `false` (the default,
    /// fail-open): the quota's local limiter decides, so each instance enforces the quota on
    /// its own (N instances admit up to N times the quota) and the service stays available.
    /// `true` (fail-closed): the request is refused with the limiter's 429 problem and
    /// `Retry-After: 1` (a 429, not a 5xx: the client is told to retry, and the instance is
    /// not reported as failing).
    pub fn fail_closed(mut self, closed: bool) -> Self {
        self.fail_closed = closed;
        self
    }
}

/// The state of a layer's Redis store, shared by its quotas.
pub(super) struct Remote {
    settings: RedisStore,
    manager: OnceLock<ConnectionManager>,
    script: redis::Script,
    epoch: Instant,
    down: AtomicBool,
    /// When the next probe may ask Redis while down (ms since `epoch`).
    next_probe: AtomicU64,
    fallbacks: AtomicU64,
}

impl Remote {
    pub(super) fn new(settings: RedisStore) -> Self {
        Self {
            settings,
            manager: OnceLock::new(),
            script: redis::Script::new(GCRA),
            epoch: Instant::now(),
            down: AtomicBool::new(false),
            next_probe: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    pub(super) fn fail_closed(&self) -> bool {
        self.settings.fail_closed
    }

    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    pub(super) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether this request should ask Redis: always while it answers; while down, one
    /// request per retry interval. A request told no is a fallback, counted here.
    pub(super) fn should_ask(&self) -> bool {
        if !self.is_down() {
            return true;
        }
        let now = self.now_ms();
        let next = self.next_probe.load(Ordering::Relaxed);
        let retry = self.settings.retry_interval.as_millis() as u64;
        if now >= next
            && self
                .next_probe
                .compare_exchange(next, now + retry, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return true;
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn manager(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        // One attempt per call, bounded by the timeout: the request is bounded by it anyway,
        // and the manager reconnects on the next call after an I/O error.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.settings.timeout))
            .set_response_timeout(Some(self.settings.timeout))
            .set_number_of_retries(0);
        let m = ConnectionManager::new_lazy_with_config(self.settings.client.clone(), config)?;
        Ok(self.manager.get_or_init(|| m).clone())
    }

    /// Runs the GCRA step for `key` (the full Redis key) on a quota earning one request back
    /// every `interval` with burst `burst`: `Ok(admitted: remaining burst, or refused: wait)`,
    /// or `Err(())` when Redis failed or was too slow (counted, store marked down).
    pub(super) async fn check(
        &self,
        key: String,
        interval: Duration,
        burst: u32,
    ) -> Result<Result<u32, Duration>, ()> {
        let interval_us = (interval.as_micros() as u64).max(1);
        let call = async {
            let mut conn = self.manager()?;
            self.script
                .key(&key)
                .arg(interval_us)
                .arg(burst)
                .invoke_async::<(i64, i64)>(&mut conn)
                .await
        };
        let answer = tokio::time::timeout(self.settings.timeout, call).await;
        match answer {
            Ok(Ok((admitted, n))) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limit: Redis answers again; shared quotas resume");
                }
                let n = n.max(0);
                Ok(if admitted == 1 {
                    Ok(u32::try_from(n).unwrap_or(u32::MAX))
                } else {
                    Err(Duration::from_micros(n as u64))
                })
            }
            failed => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                let retry = self.settings.retry_interval.as_millis() as u64;
                self.next_probe
                    .store(self.now_ms() + retry, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    // The error's kind and detail, never the URL (it can hold a password).
                    let reason = match failed {
                        Ok(Err(e)) => format!("{:?}: {}", e.kind(), e.detail().unwrap_or("")),
                        _ => format!("no answer within {:?}", self.settings.timeout),
                    };
                    tracing::warn!(
                        reason,
                        fail_closed = self.settings.fail_closed,
                        "rate limit: Redis store unavailable; deciding locally until it answers"
                    );
                }
                Err(())
            }
        }
    }

    /// The Redis key of `client` under the policy `policy`.
    pub(super) fn key(&self, policy: &str, client: &dyn fmt::Display) -> String {
        format!("{}{policy}:{client}", self.settings.prefix)
    }
}

/// The state of a rate limit's Redis store, from
/// [`RateLimitLayer::store_status`](super::RateLimitLayer::store_status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStoreStatus {
    /// `true` while Redis failed its last request: requests are decided locally (or refused
    /// when fail-closed) until it answers again.
    pub falling_back: bool,
    /// Requests decided without Redis since the layer was built.
    pub fallbacks_total: u64,
    /// Whether requests are refused (rather than limited locally) while falling back.
    pub fail_closed: bool,
}

impl Remote {
    pub(super) fn status(&self) -> RateLimitStoreStatus {
        RateLimitStoreStatus {
            falling_back: self.is_down(),
            fallbacks_total: self.fallbacks(),
            fail_closed: self.fail_closed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_checks_the_url_without_connecting_and_debug_hides_it() {
        let store = RedisStore::open("redis://:hunter2@127.0.0.1:1/0").expect("a Redis URL");
        let debug = format!("{store:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        for bad in ["http://x", "", "redis//x"] {
            let err = RedisStore::open(bad).expect_err(bad).to_string();
            assert!(err.starts_with("invalid Redis URL"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_dead_redis_is_a_counted_fallback_and_probed_once_per_interval() {
        // Port 1 on loopback: connection refused at once.
        let remote = Remote::new(
            RedisStore::open("redis://127.0.0.1:1/")
                .expect("URL")
                .retry_interval(Duration::from_secs(3600)),
        );
        assert!(remote.should_ask());
        let answer = remote.check("k".into(), Duration::from_millis(10), 5).await;
        assert_eq!(answer, Err(()));
        assert!(remote.is_down());
        assert_eq!(remote.fallbacks(), 1);
        // Down, and the next probe an hour away: requests are decided locally, counted.
        assert!(!remote.should_ask());
        assert!(!remote.should_ask());
        assert_eq!(remote.fallbacks(), 3);
        assert_eq!(
            remote.status(),
            RateLimitStoreStatus {
                falling_back: true,
                fallbacks_total: 3,
                fail_closed: false
            }
        );
    }
}
