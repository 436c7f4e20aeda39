//! `RateLimitLayer`: per-client request quotas answered with 429 (the analogue of
//! `@fastify/rate-limit`).
//!
//! # Algorithm
//!
//! Each key (a client IP, a tenant, or your own key) gets `max` requests per `window`, enforced
//! with GCRA (the generic cell rate algorithm, via [`governor`]) rather than fastify's fixed
//! window. The burst equals `max`, so a fresh key can send `max` requests at once; after that,
//! GCRA *spreads* the quota: one more request is admitted every `window / max`, and the full
//! burst is back once the key has been idle for `window`. There is no window edge at which a
//! client can send `2 × max` in a moment, as with fixed windows.
//!
//! # Keys
//!
//! [`KeySource`] picks the key:
//!
//! - [`KeySource::ClientIp`] (the default): the socket peer, from axum's
//!   [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension (serve with
//!   `into_make_service_with_connect_info::<SocketAddr>()`). `X-Forwarded-For` is used **only**
//!   when the peer is one of the [trusted proxies](RateLimitLayer::trusted_proxies); the client
//!   is then the right-most address in it that is not itself a trusted proxy (the left part of
//!   the header is whatever the client sent, so taking the first value, as some extractors do,
//!   lets anyone pick their own key). Values with ports (`1.2.3.4:5678`, `[::1]:80`) are
//!   accepted. An `X-Forwarded-For` from an untrusted peer is ignored, so it cannot be used to
//!   dodge the limit. IPv4-mapped IPv6 addresses count as IPv4, and IPv6 clients are keyed by
//!   their /64 (as fastify does, [configurable](RateLimitLayer::ipv6_prefix)): a single host
//!   usually holds a whole /64 and could otherwise rotate through 2⁶⁴ keys.
//! - [`KeySource::Organization`]: the tenant, from an [`Organization`] in the request extensions
//!   (set by an authentication layer in front of this one), else the route's `{orgId}` or
//!   `{organizationId}` path parameter, else the `x-organization-id` header; ids must pass
//!   [`vitals::monitor::is_valid_organization_id`]. Requests without a tenant are keyed by
//!   client IP. A header or a path segment is chosen by the client: unless an authentication
//!   layer vouches for the tenant, a client can spread its requests over many tenant ids.
//! - [`KeySource::custom`]: your closure, given the request head and the client IP resolved as
//!   above.
//!
//! A request with no key (no `ConnectInfo`, or a custom closure answering `None`) is not limited;
//! a missing `ConnectInfo` is logged once as a warning.
//!
//! # Routes
//!
//! Routes are identified by axum's [`MatchedPath`] (the template, such as
//! `/api/orgs/{orgId}/properties`), so apply the layer with `Router::layer`; without a matched
//! path (the layer outside the router, or an unmatched request) the raw path is compared, which
//! only matches templates without parameters.
//!
//! - [`RateLimitLayer::route_quota`] gives a route its own quota and its own limiter (a key's
//!   requests to that route do not count against the default quota).
//! - [`RateLimitLayer::skip_route`] exempts a route. `/health`, `/health/ping`,
//!   `/health/pressure` and `/metrics/health` are exempt by default: load balancers and
//!   orchestrators probe them from a few addresses and must never be refused. If you nest the
//!   vitals router under a prefix, skip the prefixed templates too.
//! - [`RateLimitLayer::allow`] and [`RateLimitLayer::allow_keys`] exempt keys.
//!
//! # Headers and refusals
//!
//! Every limited response, admitted or refused, carries the current IETF draft's fields
//! (`RateLimit-Policy: "default";q=100;w=60` and `RateLimit: "default";r=42;t=35`) and the
//! legacy `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; either set
//! can be switched off ([`RateLimitLayer::draft_headers`], [`RateLimitLayer::legacy_headers`]).
//! Remaining is the burst the key has left after this request; reset is the number of seconds
//! until the full burst is back. A route quota's policy is named after its template instead
//! of `"default"`. Window and reset are whole seconds, rounded up.
//!
//! A refused request gets `429 Too Many Requests` as an RFC 9457 [`Problem`]
//! (`application/problem+json`) with `Retry-After` (whole seconds until the next request would
//! be admitted, at least 1), without calling the inner service. The layer never changes the
//! inner service's error type. Refusals are counted ([`RateLimitLayer::refused_total`]).
//!
//! # Memory
//!
//! Keyed state lives in a [`DashMap`](governor::state::keyed::DashMapStateStore) per quota.
//! Each key costs a 32-byte entry (the key and governor's 8-byte GCRA state) plus hash-table
//! slack, so 40 to 75 bytes; a tenant or custom key adds an allocation of 16 bytes plus the
//! id's length (100,000 IP keys: 4 to 8 MB). State is dropped on a timer: every
//! [cleanup interval](RateLimitLayer::cleanup_interval) (60 s by default) governor's
//! `retain_recent` drops keys idle long enough that their burst is full again
//! (`window + window / max` after their last request), then the table is shrunk.
//!
//! Between cleanups the table is capped: at most [`max_keys`](RateLimitLayer::max_keys) keys
//! per quota ([`DEFAULT_MAX_KEYS`], 100,000: 4 to 8 MB, plus the ids of tenant or custom keys).
//! A new key that finds the table full is limited by one state that all such keys share (as
//! the monitor folds tenants beyond its cap into one overflow series) until the cleanup makes
//! room; such requests are counted ([`RateLimitLayer::overflowed_total`]). So a client rotating
//! through a million addresses or tenant ids cannot grow the table past the cap; what it costs
//! is that new clients share one quota while the table is full. (`@fastify/rate-limit` caps
//! its store too, at 5,000 keys by default, evicting the least recently used key, which resets
//! that client's count; sharing an overflow state keeps every admitted key's count exact.)
//! The timer task starts when the layer is applied (or on the first request) inside a tokio
//! runtime and stops once the layer and all its services are dropped; without a runtime, call
//! [`RateLimitLayer::cleanup`] yourself.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use vitals_axum::rate_limit::{KeySource, RateLimitLayer};
//!
//! let limits = RateLimitLayer::per_window(100, Duration::from_secs(60))
//!     .key(KeySource::Organization)
//!     .trusted_proxies(["10.0.0.0/8".parse::<vitals_axum::rate_limit::IpRange>().unwrap()])
//!     .route_quota("/api/orgs/{orgId}/exports", 5, Duration::from_secs(60))
//!     .allow_keys(["internal-batch"]);
//! let app: Router = Router::new()
//!     .route("/api/orgs/{orgId}/properties", get(|| async { "[]" }))
//!     .route("/api/orgs/{orgId}/exports", get(|| async { "started" }))
//!     .layer(limits.clone());
//! assert_eq!(limits.tracked_keys(), 0);
//! assert_eq!(limits.refused_total(), 0);
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::Problem;
use crate::context::{ORGANIZATION_HEADER, Organization};
use crate::header_arena::{header_value_of, header_value_unchecked};
use crate::context::ORGANIZATION_PARAMS;

const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Routes exempt by default: the health endpoints load balancers probe.
pub const DEFAULT_SKIPPED_ROUTES: [&str; 4] = [
    "/health",
    "/health/ping",
    "/health/pressure",
    "/metrics/health",
];

/// The key a request is limited under (and what [`RateLimitLayer::allow`] is asked about).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitKey {
    /// A client address: an IPv4 address, or an IPv6 network (the address masked to
    /// [`RateLimitLayer::ipv6_prefix`] bits).
    Ip(IpAddr),
    /// A tenant ([`KeySource::Organization`]).
    Organization(Arc<str>),
    /// A key from a [`KeySource::custom`] closure.
    Custom(Arc<str>),
}

impl fmt::Display for RateLimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimitKey::Ip(ip) => ip.fmt(f),
            RateLimitKey::Organization(id) | RateLimitKey::Custom(id) => f.write_str(id),
        }
    }
}

/// A custom key function: the request head and the client IP (resolved through trusted proxies,
/// not masked); `None` leaves the request unlimited.
pub type KeyFn = Arc<dyn Fn(&http::request::Parts, Option<IpAddr>) -> Option<String> + Send + Sync>;

type AllowFn = Arc<dyn Fn(&RateLimitKey) -> bool + Send + Sync>;

/// What a request is keyed by; see the [module docs](self#keys).
#[derive(Clone, Default)]
pub enum KeySource {
    /// The client IP (the default).
    #[default]
    ClientIp,
    /// The tenant, falling back to the client IP.
    Organization,
    /// A closure; build it with [`KeySource::custom`].
    Custom(KeyFn),
}

impl KeySource {
    /// Keys by `f(request head, client IP)`; `None` leaves the request unlimited.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&http::request::Parts, Option<IpAddr>) -> Option<String> + Send + Sync + 'static,
    {
        KeySource::Custom(Arc::new(f))
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::ClientIp => f.write_str("ClientIp"),
            KeySource::Organization => f.write_str("Organization"),
            KeySource::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `192.0.2.1`), for
/// [`RateLimitLayer::trusted_proxies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// The range of `prefix` leading bits of `addr`; `None` if `prefix` is too long for the
    /// address family. An IPv4-mapped IPv6 range with a prefix of at least 96 becomes IPv4.
    #[must_use]
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then(|| Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl From<IpAddr> for IpRange {
    fn from(addr: IpAddr) -> Self {
        let addr = addr.to_canonical();
        Self {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
}

impl From<Ipv4Addr> for IpRange {
    fn from(addr: Ipv4Addr) -> Self {
        IpAddr::V4(addr).into()
    }
}

impl From<Ipv6Addr> for IpRange {
    fn from(addr: Ipv6Addr) -> Self {
        IpAddr::V6(addr).into()
    }
}

/// A text that is neither an IP address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IP range `{0}`: expected an address or address/prefix")]
pub struct InvalidIpRange(String);

impl FromStr for IpRange {
    type Err = InvalidIpRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpRange(s.to_owned());
        match s.trim().split_once('/') {
            None => s
                .trim()
                .parse::<IpAddr>()
                .map(Self::from)
                .map_err(|_| invalid()),
            Some((addr, prefix)) => {
                let addr = addr.parse::<IpAddr>().map_err(|_| invalid())?;
                let prefix = prefix.parse::<u8>().map_err(|_| invalid())?;
                Self::new(addr, prefix).ok_or_else(invalid)
            }
        }
    }
}

/// The leading `prefix` bits of `ip`.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// One `X-Forwarded-For` element: an address, optionally with a port (`1.2.3.4:5678`,
/// `[::1]:80`) or in brackets (`[::1]`).
fn parse_forwarded(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    let ip = if let Ok(ip) = value.parse::<IpAddr>() {
        ip
    } else if let Ok(socket) = value.parse::<SocketAddr>() {
        socket.ip()
    } else {
        let inner = value.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inner.parse().ok()?)
    };
    Some(ip.to_canonical())
}

/// `value` as an RFC 8941 sf-string.
fn sf_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars().filter(|c| (' '..='~').contains(c)) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Numbers below this have a static header value ([`SMALL_NUMBERS_TEXT`]).
const SMALL_NUMBERS: usize = 1000;

/// Decimal text of 0..[`SMALL_NUMBERS`], number `n` at `3 * n` (shorter ones padded), built at
/// compile time.
static SMALL_NUMBERS_TEXT: [u8; 3 * SMALL_NUMBERS] = {
    let mut out = [b' '; 3 * SMALL_NUMBERS];
    let mut n = 0;
    while n < SMALL_NUMBERS {
        let digits = [(n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8];
        let skip = if n >= 100 {
            0
        } else if n >= 10 {
            1
        } else {
            2
        };
        let mut i = skip;
        while i < 3 {
            out[3 * n + i - skip] = b'0' + digits[i];
            i += 1;
        }
        n += 1;
    }
    out
};

/// The header value of `n`. Small numbers (the usual remaining count and reset seconds) are
/// static values: no bytes cut, no reference count touched (two atomic operations and ~200
/// instructions per value otherwise).
fn number_header(n: u64) -> HeaderValue {
    if let Some(n) = usize::try_from(n).ok().filter(|&n| n < SMALL_NUMBERS) {
        let len = 1 + usize::from(n >= 10) + usize::from(n >= 100);
        if let Ok(s) = std::str::from_utf8(&SMALL_NUMBERS_TEXT[3 * n..3 * n + len]) {
            return HeaderValue::from_static(s);
        }
    }
    let mut buf = itoa::Buffer::new();
    let text = buf.format(n);
    // SAFETY: `itoa` writes decimal digits.
    #[allow(unsafe_code)]
    unsafe {
        header_value_unchecked(text.as_bytes())
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// foldhash (random seed per limiter) rather than the default SipHash: the key is hashed on
/// every request, and SipHash was 200 instructions of it; the core monitor's maps make the same
/// choice for the same client-chosen keys (tenant ids).
type KeyHasher = foldhash::fast::RandomState;

type Limiter = RateLimiter<RateLimitKey, CappedStore, DefaultClock, StateInformationMiddleware>;

/// By default a quota keeps state for at most this many keys (4 to 8 MB; see the
/// [module docs](self#memory)).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// governor's DashMap store with a cap on keys: a new key that finds the table full is limited
/// by one state shared by every such key (the overflow rule of the monitor's tenants), until
/// the cleanup makes room. Written here because governor's stores grow with every distinct key
/// until the next `retain_recent`, and a client with a million addresses or tenant ids would
/// grow the table a million keys in one cleanup interval.
struct CappedStore {
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
        if self.keys.load(Ordering::Relaxed) >= self.max_keys {
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

/// A quota and its limiter.
struct Policy {
    max: u32,
    /// Time to earn back one request (`window / max`).
    interval: Duration,
    limiter: Limiter,
    /// Requests limited by the limiter's overflow state ([`CappedStore`]).
    overflowed: Arc<AtomicU64>,
    /// The sf-string naming the policy.
    name: String,
    policy_header: HeaderValue,
    limit_header: HeaderValue,
}

impl Policy {
    fn new(name: &str, max: u32, window: Duration, max_keys: usize) -> Self {
        let max = max.max(1);
        let window = window.max(Duration::from_nanos(u64::from(max)));
        let interval = window / max;
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(std::num::NonZeroU32::new(max).unwrap_or(std::num::NonZeroU32::MIN));
        let name = sf_string(name);
        let overflowed = Arc::new(AtomicU64::new(0));
        let policy = format!("{name};q={max};w={}", ceil_secs(window).max(1));
        Self {
            max,
            interval,
            limiter: Limiter::new(
                quota,
                CappedStore::new(max_keys, Arc::clone(&overflowed)),
                DefaultClock::default(),
            ),
            overflowed,
            policy_header: HeaderValue::from_str(&policy)
                .unwrap_or(HeaderValue::from_static("\"default\"")),
            limit_header: HeaderValue::from(max),
            name,
        }
    }

    /// Headers for a response with `remaining` requests left and `reset` until the full burst:
    /// the sets `which` asks for.
    fn headers(&self, remaining: u32, reset: Duration, which: HeaderSets) -> LimitHeaders {
        let reset = ceil_secs(reset);
        let draft = which.draft.then(|| {
            // Each number formatted once, and the value cut from the thread's header buffer:
            // `format!` and an allocation per value cost a few hundred instructions.
            let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
            let (r, t) = (r.format(remaining).as_bytes(), t.format(reset).as_bytes());
            DraftHeaders {
                policy: self.policy_header.clone(),
                ratelimit: header_value_of(&[self.name.as_bytes(), b";r=", r, b";t=", t]),
            }
        });
        let legacy = which.legacy.then(|| LegacyHeaders {
            limit: self.limit_header.clone(),
            remaining: number_header(u64::from(remaining)),
            reset: number_header(reset),
        });
        LimitHeaders { draft, legacy }
    }
}

/// Which rate-limit header sets responses carry ([`RateLimitLayer::draft_headers`],
/// [`RateLimitLayer::legacy_headers`]).
#[derive(Debug, Clone, Copy)]
struct HeaderSets {
    draft: bool,
    legacy: bool,
}

/// The rate-limit fields of one response.
#[derive(Debug)]
struct LimitHeaders {
    draft: Option<DraftHeaders>,
    legacy: Option<LegacyHeaders>,
}

/// The IETF draft's fields.
#[derive(Debug)]
struct DraftHeaders {
    policy: HeaderValue,
    ratelimit: HeaderValue,
}

/// The `X-RateLimit-*` fields.
#[derive(Debug)]
struct LegacyHeaders {
    limit: HeaderValue,
    remaining: HeaderValue,
    reset: HeaderValue,
}

impl LimitHeaders {
    fn apply(self, headers: &mut HeaderMap) {
        // One growth of the map instead of one per insert.
        headers.reserve(
            2 * usize::from(self.draft.is_some()) + 3 * usize::from(self.legacy.is_some()),
        );
        if let Some(d) = self.draft {
            headers.insert(RATELIMIT_POLICY, d.policy);
            headers.insert(RATELIMIT, d.ratelimit);
        }
        if let Some(l) = self.legacy {
            headers.insert(X_RATELIMIT_LIMIT, l.limit);
            headers.insert(X_RATELIMIT_REMAINING, l.remaining);
            headers.insert(X_RATELIMIT_RESET, l.reset);
        }
    }
}

/// Everything but the limiters: cloned when a setter rebuilds the state.
#[derive(Clone)]
struct Settings {
    max: u32,
    window: Duration,
    key: KeySource,
    trusted_proxies: Vec<IpRange>,
    ipv6_prefix: u8,
    routes: Vec<(String, u32, Duration)>,
    skipped: HashSet<String, KeyHasher>,
    allow_keys: HashSet<RateLimitKey, KeyHasher>,
    allow_names: HashSet<String, KeyHasher>,
    allow: Option<AllowFn>,
    cleanup_interval: Duration,
    max_keys: usize,
    header_sets: HeaderSets,
}

struct State {
    settings: Settings,
    default: Policy,
    routes: HashMap<String, Policy, KeyHasher>,
    refused: AtomicU64,
    cleanup_started: AtomicBool,
    warned_no_peer: AtomicBool,
}

impl State {
    fn new(settings: Settings) -> Self {
        let routes = settings
            .routes
            .iter()
            .map(|(route, max, window)| {
                let policy = Policy::new(route, *max, *window, settings.max_keys);
                (route.clone(), policy)
            })
            .collect();
        Self {
            default: Policy::new("default", settings.max, settings.window, settings.max_keys),
            routes,
            settings,
            refused: AtomicU64::new(0),
            cleanup_started: AtomicBool::new(false),
            warned_no_peer: AtomicBool::new(false),
        }
    }

    fn policies(&self) -> impl Iterator<Item = &Policy> {
        std::iter::once(&self.default).chain(self.routes.values())
    }

    fn cleanup(&self) {
        for policy in self.policies() {
            policy.limiter.retain_recent();
            policy.limiter.shrink_to_fit();
        }
    }

    /// Starts the cleanup task once, if there is a runtime to run it on.
    fn ensure_cleanup_task(self: &Arc<Self>) {
        if self.cleanup_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.cleanup_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak: Weak<State> = Arc::downgrade(self);
        let period = self.settings.cleanup_interval;
        handle.spawn(async move {
            let start = tokio::time::Instant::now() + period;
            let mut tick = tokio::time::interval_at(start, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { break };
                state.cleanup();
            }
        });
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.settings
            .trusted_proxies
            .iter()
            .any(|range| range.contains(ip))
    }

    /// The client address: the peer, or through trusted proxies the right-most untrusted
    /// `X-Forwarded-For` entry.
    fn client_ip(&self, extensions: &http::Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
        let peer = peer.ip().to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        // Walk right to left; every entry reached was appended by a trusted hop.
        let mut client = peer;
        for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(text) = value.to_str() else {
                return Some(client);
            };
            for element in text.rsplit(',') {
                let Some(ip) = parse_forwarded(element) else {
                    return Some(client);
                };
                client = ip;
                if !self.is_trusted(ip) {
                    return Some(ip);
                }
            }
        }
        Some(client)
    }

    /// The client IP key; warns once when there is no `ConnectInfo`.
    fn ip_key(&self, req: &Request<impl Sized>) -> Option<RateLimitKey> {
        let Some(ip) = self.client_ip(req.extensions(), req.headers()) else {
            if !self.warned_no_peer.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "rate limit: no ConnectInfo<SocketAddr> on the request, so no client IP and \
                     no limit; serve with into_make_service_with_connect_info::<SocketAddr>()"
                );
            }
            return None;
        };
        Some(RateLimitKey::Ip(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(_) => mask(ip, self.settings.ipv6_prefix),
        }))
    }

    fn organization<B>(req: &Request<B>) -> Option<Arc<str>> {
        if let Some(org) = req.extensions().get::<Organization>() {
            return Some(Arc::clone(&org.0));
        }
        let valid = |id: &&str| vitals::monitor::is_valid_organization_id(id);
        if let Some(route) = req.extensions().get::<MatchedPath>() {
            let from_path = ORGANIZATION_PARAMS
                .iter()
                .find_map(|name| {
                    vitals::normalize::path_param(route.as_str(), req.uri().path(), name)
                })
                .filter(valid);
            if let Some(id) = from_path {
                return Some(Arc::from(id));
            }
        }
        req.headers()
            .get(ORGANIZATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(valid)
            .map(Arc::from)
    }

    /// The request's key (and the request back, for the custom source).
    fn key<B>(&self, req: Request<B>) -> (Request<B>, Option<RateLimitKey>) {
        let key = match &self.settings.key {
            KeySource::ClientIp => self.ip_key(&req),
            KeySource::Organization => match Self::organization(&req) {
                Some(id) => Some(RateLimitKey::Organization(id)),
                None => self.ip_key(&req),
            },
            KeySource::Custom(f) => {
                let (parts, body) = req.into_parts();
                let ip = self.client_ip(&parts.extensions, &parts.headers);
                let key = f(&parts, ip).map(|k| RateLimitKey::Custom(Arc::from(k)));
                return (Request::from_parts(parts, body), key);
            }
        };
        (req, key)
    }

    fn is_allowed(&self, key: &RateLimitKey) -> bool {
        let s = &self.settings;
        let listed = match key {
            RateLimitKey::Ip(_) => s.allow_keys.contains(key),
            RateLimitKey::Organization(id) | RateLimitKey::Custom(id) => {
                s.allow_names.contains(&**id)
            }
        };
        listed || s.allow.as_ref().is_some_and(|f| f(key))
    }
}

/// Applies [`RateLimit`] to a service; see the [module docs](self). Cheap to clone: clones
/// share the limiters and counters.
///
/// Setters start over with empty limiter state, so configure the layer fully before applying
/// or cloning it.
#[derive(Clone)]
#[must_use]
pub struct RateLimitLayer {
    state: Arc<State>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state.settings;
        f.debug_struct("RateLimitLayer")
            .field("max", &s.max)
            .field("window", &s.window)
            .field("key", &s.key)
            .field("trusted_proxies", &s.trusted_proxies)
            .field("ipv6_prefix", &s.ipv6_prefix)
            .field("routes", &s.routes)
            .field("skipped", &s.skipped)
            .field("cleanup_interval", &s.cleanup_interval)
            .field("max_keys", &s.max_keys)
            .finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// `max` requests per `window` for each key (burst `max`; see the
    /// [module docs](self#algorithm)). `max` is at least 1.
    pub fn per_window(max: u32, window: Duration) -> Self {
        Self::from_settings(Settings {
            max,
            window,
            key: KeySource::ClientIp,
            trusted_proxies: Vec::new(),
            ipv6_prefix: 64,
            routes: Vec::new(),
            skipped: DEFAULT_SKIPPED_ROUTES
                .iter()
                .map(|&r| r.to_owned())
                .collect(),
            allow_keys: HashSet::default(),
            allow_names: HashSet::default(),
            allow: None,
            cleanup_interval: Duration::from_secs(60),
            max_keys: DEFAULT_MAX_KEYS,
            header_sets: HeaderSets {
                draft: true,
                legacy: true,
            },
        })
    }

    fn from_settings(settings: Settings) -> Self {
        Self {
            state: Arc::new(State::new(settings)),
        }
    }

    fn with(self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.state.settings.clone();
        f(&mut settings);
        Self::from_settings(settings)
    }

    /// What requests are keyed by (default [`KeySource::ClientIp`]).
    pub fn key(self, key: KeySource) -> Self {
        self.with(|s| s.key = key)
    }

    /// Peers whose `X-Forwarded-For` is believed (default none: the header is ignored).
    /// Accepts addresses and [`IpRange`]s.
    pub fn trusted_proxies<I>(self, proxies: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<IpRange>,
    {
        let proxies = proxies.into_iter().map(Into::into).collect();
        self.with(|s| s.trusted_proxies = proxies)
    }

    /// How many leading bits of an IPv6 client address form its key (default 64, clamped to
    /// 1..=128).
    pub fn ipv6_prefix(self, bits: u8) -> Self {
        self.with(|s| s.ipv6_prefix = bits.clamp(1, 128))
    }

    /// Gives the route `template` (an axum route as registered, `/api/orgs/{orgId}/exports`)
    /// its own quota of `max` requests per `window`, with its own limiter.
    pub fn route_quota(self, template: &str, max: u32, window: Duration) -> Self {
        let template = template.to_owned();
        self.with(|s| {
            s.routes.retain(|(t, _, _)| *t != template);
            s.routes.push((template, max, window));
        })
    }

    /// Exempts the route `template` (in addition to the [defaults](DEFAULT_SKIPPED_ROUTES)).
    pub fn skip_route(self, template: &str) -> Self {
        let template = template.to_owned();
        self.with(|s| {
            s.skipped.insert(template);
        })
    }

    /// Replaces the exempt routes, defaults included.
    pub fn skip_routes<I>(self, templates: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let templates = templates.into_iter().map(Into::into).collect();
        self.with(|s| s.skipped = templates)
    }

    /// Keys never limited: tenant ids or custom keys by text, and IP addresses (an IPv6 entry
    /// exempts its whole network, as keys are per network).
    pub fn allow_keys<I>(self, keys: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        self.with(|s| {
            for key in keys {
                match key.parse::<IpAddr>() {
                    Ok(ip) => {
                        let ip = ip.to_canonical();
                        let ip = if ip.is_ipv6() {
                            mask(ip, s.ipv6_prefix)
                        } else {
                            ip
                        };
                        s.allow_keys.insert(RateLimitKey::Ip(ip));
                    }
                    Err(_) => {
                        s.allow_names.insert(key);
                    }
                }
            }
        })
    }

    /// Exempts the keys for which `f` answers `true` (called for every limited request).
    pub fn allow<F>(self, f: F) -> Self
    where
        F: Fn(&RateLimitKey) -> bool + Send + Sync + 'static,
    {
        let f: AllowFn = Arc::new(f);
        self.with(|s| s.allow = Some(f))
    }

    /// Whether responses carry the current IETF draft's `RateLimit-Policy` and `RateLimit`
    /// fields (default `true`). Like `@fastify/rate-limit`'s `addHeaders`, for services whose
    /// clients read only one set: each field costs about 800 instructions per response to
    /// make, insert and write (the three legacy ones measured 2,475 together).
    ///
    /// ```
    /// use std::time::Duration;
    /// use vitals_axum::RateLimitLayer;
    ///
    /// // Only the `X-RateLimit-*` fields existing clients read.
    /// let layer = RateLimitLayer::per_window(100, Duration::from_secs(60)).draft_headers(false);
    /// # let _ = layer;
    /// ```
    pub fn draft_headers(self, enabled: bool) -> Self {
        self.with(|s| s.header_sets.draft = enabled)
    }

    /// Whether responses carry the legacy `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
    /// `X-RateLimit-Reset` fields (default `true`); see [`RateLimitLayer::draft_headers`]. A
    /// refusal carries `Retry-After` whatever these say.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vitals_axum::RateLimitLayer;
    ///
    /// // Only the IETF draft's `RateLimit-Policy` and `RateLimit`.
    /// let layer = RateLimitLayer::per_window(100, Duration::from_secs(60)).legacy_headers(false);
    /// # let _ = layer;
    /// ```
    pub fn legacy_headers(self, enabled: bool) -> Self {
        self.with(|s| s.header_sets.legacy = enabled)
    }

    /// How often idle keys are dropped (default 60 s; at least 1 ms).
    pub fn cleanup_interval(self, interval: Duration) -> Self {
        self.with(|s| s.cleanup_interval = interval.max(Duration::from_millis(1)))
    }

    /// The most keys each quota keeps state for (default [`DEFAULT_MAX_KEYS`]; at least 1). A
    /// new key that finds its quota's table full shares one overflow state with every other
    /// such key until the cleanup makes room: bounded memory, at the price of new clients
    /// sharing a quota while the table is full. See the [module docs](self#memory).
    ///
    /// ```
    /// use std::time::Duration;
    /// use vitals_axum::RateLimitLayer;
    ///
    /// let layer = RateLimitLayer::per_window(100, Duration::from_secs(60)).max_keys(10_000);
    /// # let _ = layer;
    /// ```
    pub fn max_keys(self, keys: usize) -> Self {
        self.with(|s| s.max_keys = keys.max(1))
    }

    /// Drops the state of keys whose burst is full again, then shrinks the tables (the cleanup
    /// task does this every [cleanup interval](Self::cleanup_interval)). Visits every key,
    /// holding one table shard's lock at a time.
    pub fn cleanup(&self) {
        self.state.cleanup();
    }

    /// Keys with state, over all quotas (a key limited on two quotas counts twice).
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.state.policies().map(|p| p.limiter.len()).sum()
    }

    /// Requests refused since the layer was built.
    #[must_use]
    pub fn refused_total(&self) -> u64 {
        self.state.refused.load(Ordering::Relaxed)
    }

    /// Requests limited by a quota's shared overflow state because its table was full (see
    /// [`Self::max_keys`]).
    #[must_use]
    pub fn overflowed_total(&self) -> u64 {
        self.state
            .policies()
            .map(|p| p.overflowed.load(Ordering::Relaxed))
            .sum()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.state.ensure_cleanup_task();
        RateLimit {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// Limits requests per key; see the [module docs](self).
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    state: Arc<State>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with the limits (and state) of `layer`.
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        layer.layer(inner)
    }

    inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = &self.state;
        state.ensure_cleanup_task();
        let policy = {
            let route = match req.extensions().get::<MatchedPath>() {
                Some(matched) => matched.as_str(),
                None => req.uri().path(),
            };
            if state.settings.skipped.contains(route) {
                None
            } else {
                Some(state.routes.get(route).unwrap_or(&state.default))
            }
        };
        let Some(policy) = policy else {
            return ResponseFuture::passthrough(self.inner.call(req), None);
        };
        let (req, key) = state.key(req);
        let Some(key) = key.filter(|k| !state.is_allowed(k)) else {
            return ResponseFuture::passthrough(self.inner.call(req), None);
        };
        match policy.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(policy.max);
                let reset = policy.interval * (policy.max - remaining);
                let headers = policy.headers(remaining, reset, state.settings.header_sets);
                ResponseFuture::passthrough(self.inner.call(req), Some(headers))
            }
            Err(not_until) => {
                state.refused.fetch_add(1, Ordering::Relaxed);
                let wait = not_until.wait_time_from(policy.limiter.clock().now());
                let retry_after = ceil_secs(wait).max(1);
                tracing::debug!(%key, retry_after, "rate limit: request refused");
                let headers = policy.headers(
                    0,
                    wait + policy.interval * (policy.max - 1),
                    state.settings.header_sets,
                );
                let plural = if retry_after == 1 { "" } else { "s" };
                let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
                    .with_detail(format!(
                        "rate limit exceeded, retry in {retry_after} second{plural}"
                    ))
                    .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after))
                    .into_response();
                headers.apply(response.headers_mut());
                ResponseFuture {
                    kind: Kind::Refused {
                        response: Some(response),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RateLimit`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner {
            #[pin]
            future: F,
            headers: Option<LimitHeaders>,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<F> ResponseFuture<F> {
    fn passthrough(future: F, headers: Option<LimitHeaders>) -> Self {
        Self {
            kind: Kind::Inner { future, headers },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let refused = matches!(self.kind, Kind::Refused { .. });
        f.debug_struct("ResponseFuture")
            .field("refused", &refused)
            .finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, headers } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(headers) = headers.take() {
                    headers.apply(response.headers_mut());
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_headers_are_the_numbers() {
        for n in (0..1100u64).chain([9_999, 4_294_967_295]) {
            let mut buf = itoa::Buffer::new();
            let text = buf.format(n);
            assert_eq!(number_header(n).to_str().unwrap(), text);
        }
    }

    #[test]
    fn parses_forwarded_elements_with_ports() {
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(parse_forwarded(" 1.2.3.4 "), Some(v4));
        assert_eq!(parse_forwarded("1.2.3.4:5678"), Some(v4));
        assert_eq!(parse_forwarded("[::1]:80"), Some(v6));
        assert_eq!(parse_forwarded("[::1]"), Some(v6));
        assert_eq!(parse_forwarded("::1"), Some(v6));
        assert_eq!(parse_forwarded("::ffff:1.2.3.4"), Some(v4));
        assert_eq!(parse_forwarded("unknown"), None);
        assert_eq!(parse_forwarded(""), None);
    }

    #[test]
    fn ranges_and_masks() {
        let range: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(range.contains("10.200.1.2".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!range.contains("11.0.0.1".parse().unwrap()));
        assert!(!range.contains("::1".parse().unwrap()));
        let exact: IpRange = "192.0.2.1".parse().unwrap();
        assert!(exact.contains("192.0.2.1".parse().unwrap()));
        assert!(!exact.contains("192.0.2.2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nope".parse::<IpRange>().is_err());
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::7".parse().unwrap()));
        assert_eq!(
            mask("2001:db8:1:2:3:4:5:6".parse().unwrap(), 64),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            mask("1.2.3.4".parse().unwrap(), 0),
            "0.0.0.0".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn policy_headers_are_structured_fields() {
        const BOTH: HeaderSets = HeaderSets {
            draft: true,
            legacy: true,
        };
        let field = |h: LimitHeaders| h.draft.expect("draft fields asked for").ratelimit;
        let p = Policy::new("default", 100, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        assert_eq!(p.policy_header, "\"default\";q=100;w=60");
        let h = p.headers(42, Duration::from_millis(34_500), BOTH);
        let legacy = h.legacy.as_ref().expect("legacy fields asked for");
        assert_eq!(legacy.limit, "100");
        assert_eq!(legacy.remaining, "42");
        assert_eq!(legacy.reset, "35");
        assert_eq!(field(h), "\"default\";r=42;t=35");
        assert_eq!(
            field(p.headers(0, Duration::ZERO, BOTH)),
            "\"default\";r=0;t=0"
        );
        let h = p.headers(u32::MAX, Duration::from_secs(u64::MAX / 2), BOTH);
        assert_eq!(
            field(h),
            format!("\"default\";r={};t={}", u32::MAX, u64::MAX / 2).as_str()
        );
        // A long name (longer than any stack buffer would be) gives the same field.
        let long = "n".repeat(200);
        let p = Policy::new(&long, 100, Duration::from_secs(60), DEFAULT_MAX_KEYS);
        let h = p.headers(7, Duration::from_secs(3), BOTH);
        assert_eq!(field(h), format!("\"{long}\";r=7;t=3").as_str());
        // Each set only when asked for.
        let only =
            |draft, legacy| p.headers(7, Duration::from_secs(3), HeaderSets { draft, legacy });
        let h = only(false, true);
        assert!(h.draft.is_none() && h.legacy.is_some());
        let h = only(true, false);
        assert!(h.draft.is_some() && h.legacy.is_none());
        assert_eq!(sf_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        let tiny = Policy::new("default", 5, Duration::from_millis(10), DEFAULT_MAX_KEYS);
        assert_eq!(tiny.policy_header, "\"default\";q=5;w=1");
    }
}
