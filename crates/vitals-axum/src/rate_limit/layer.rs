//! [`RateLimitLayer`]: the rate limit's settings and counters, applied to a service.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tower::Layer;

use super::headers::HeaderSets;
use super::key::{AllowFn, IpRange, KeySource, RateLimitKey, mask};
use super::service::RateLimitService;
use super::state::{Settings, State};
use super::store::DEFAULT_MAX_KEYS;

/// Routes exempt by default: the health endpoints load balancers probe.
pub const DEFAULT_SKIPPED_ROUTES: [&str; 4] = [
    "/health",
    "/health/ping",
    "/health/pressure",
    "/metrics/health",
];

/// Per-client request quotas answered with 429 (applies [`RateLimitService`]). Cheap to
/// clone: clones share the limiters and counters.
///
/// Setters start over with empty limiter state, so configure the layer fully before applying
/// or cloning it.
///
/// # Algorithm
///
/// Each key (a client IP, a tenant, or your own key) gets `max` requests per `window`, enforced
/// with GCRA (the generic cell rate algorithm, via [`governor`]) rather than fastify's fixed
/// window. The burst equals `max`, so a fresh key can send `max` requests at once; after that,
/// GCRA *spreads* the quota: one more request is admitted every `window / max`, and the full
/// burst is back once the key has been idle for `window`. There is no window edge at which a
/// client can send `2 × max` in a moment, as with fixed windows.
///
/// # Keys
///
/// [`KeySource`] picks the key:
///
/// - [`KeySource::ClientIp`] (the default): the socket peer, from axum's
///   [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension (serve with
///   `into_make_service_with_connect_info::<SocketAddr>()`). `X-Forwarded-For` is used **only**
///   when the peer is one of the [trusted proxies](RateLimitLayer::trusted_proxies); the client
///   is then the right-most address in it that is not itself a trusted proxy (the left part of
///   the header is whatever the client sent, so taking the first value, as some extractors do,
///   lets anyone pick their own key). Values with ports (`1.2.3.4:5678`, `[::1]:80`) are
///   accepted. An `X-Forwarded-For` from an untrusted peer is ignored, so it cannot be used to
///   dodge the limit. IPv4-mapped IPv6 addresses count as IPv4, and IPv6 clients are keyed by
///   their /64 (as fastify does, [configurable](RateLimitLayer::ipv6_prefix)): a single host
///   usually holds a whole /64 and could otherwise rotate through 2⁶⁴ keys.
/// - [`KeySource::Organization`]: the tenant, from an [`Organization`](crate::Organization) in the request extensions
///   (set by an authentication layer in front of this one), else the route's `{orgId}` or
///   `{organizationId}` path parameter, else, only with
///   [`trust_organization_header`](RateLimitLayer::trust_organization_header), the
///   `x-organization-id` header (otherwise anyone could spend a tenant's quota by naming it);
///   ids must pass [`vitals::is_valid_organization_id`]. Requests without a tenant are keyed by
///   client IP. A path segment is chosen by the client: unless an authentication layer vouches
///   for the tenant, a client can spread its requests over many tenant ids.
/// - [`KeySource::custom`]: your closure, given the request head and the client IP resolved as
///   above.
///
/// A request for which a custom closure answers `None` is not limited. A request without
/// `ConnectInfo` (the server was not started with `into_make_service_with_connect_info`) cannot be
/// keyed by address: it is answered 500 problem+json naming that fix, and a warning is logged once,
/// since passing it unlimited would switch the limit off without a word.
///
/// # Routes
///
/// Routes are identified by axum's [`MatchedPath`](axum::extract::MatchedPath) (the template, such as
/// `/api/orgs/{orgId}/properties`), so apply the layer with `Router::layer`; without a matched
/// path (the layer outside the router, or an unmatched request) the raw path is compared, which
/// only matches templates without parameters.
///
/// - [`RateLimitLayer::route_quota`] gives a route its own quota and its own limiter (a key's
///   requests to that route do not count against the default quota).
/// - [`RateLimitLayer::skip_route`] exempts a route. `/health`, `/health/ping`,
///   `/health/pressure` and `/metrics/health` are exempt by default: load balancers and
///   orchestrators probe them from a few addresses and must never be refused. If you nest the
///   vitals router under a prefix, skip the prefixed templates too.
/// - [`RateLimitLayer::allow`] and [`RateLimitLayer::allow_keys`] exempt keys.
///
/// # Headers and refusals
///
/// Every limited response, admitted or refused, carries the current IETF draft's fields
/// (`RateLimit-Policy: "default";q=100;w=60` and `RateLimit: "default";r=42;t=35`) and the
/// legacy `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; either set
/// can be switched off ([`RateLimitLayer::draft_headers`], [`RateLimitLayer::legacy_headers`]).
/// Remaining is the burst the key has left after this request; reset is the number of seconds
/// until the full burst is back. A route quota's policy is named after its template instead
/// of `"default"`. Window and reset are whole seconds, rounded up.
///
/// A refused request gets `429 Too Many Requests` as an RFC 9457 [`Problem`](crate::Problem)
/// (`application/problem+json`) with `Retry-After` (whole seconds until the next request would
/// be admitted, at least 1), without calling the inner service. The layer never changes the
/// inner service's error type. Refusals are counted ([`RateLimitLayer::refused_total`]).
///
/// # Memory
///
/// Keyed state lives in a [`DashMap`](governor::state::keyed::DashMapStateStore) per quota.
/// Each key costs a 32-byte entry (the key and governor's 8-byte GCRA state) plus hash-table
/// slack, so 40 to 75 bytes; a tenant or custom key adds an allocation of 16 bytes plus the
/// id's length (100,000 IP keys: 4 to 8 MB). State is dropped on a timer: every
/// [cleanup interval](RateLimitLayer::cleanup_interval) (60 s by default) governor's
/// `retain_recent` drops keys idle long enough that their burst is full again
/// (`window + window / max` after their last request), then the table is shrunk.
///
/// Between cleanups the table is capped: at most [`max_keys`](RateLimitLayer::max_keys) keys
/// per quota ([`DEFAULT_MAX_KEYS`], 100,000: 4 to 8 MB, plus the ids of tenant or custom keys).
/// A new key that finds the table full is limited by one state that all such keys share (as
/// the monitor folds tenants beyond its cap into one overflow series) until the cleanup makes
/// room; such requests are counted ([`RateLimitLayer::overflowed_total`]). So a client rotating
/// through a million addresses or tenant ids cannot grow the table past the cap; what it costs
/// is that new clients share one quota while the table is full. (`@fastify/rate-limit` caps
/// its store too, at 5,000 keys by default, evicting the least recently used key, which resets
/// that client's count; sharing an overflow state keeps every admitted key's count exact.)
/// The timer task starts when the layer is applied (or on the first request) inside a tokio
/// runtime and stops once the layer and all its services are dropped; without a runtime, call
/// [`RateLimitLayer::cleanup`] yourself.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use vitals_axum::{IpRange, KeySource, RateLimitLayer};
///
/// let limits = RateLimitLayer::per_window(100, Duration::from_secs(60))
///     .key(KeySource::Organization)
///     .trusted_proxies(["10.0.0.0/8".parse::<IpRange>().unwrap()])
///     .route_quota("/api/orgs/{orgId}/exports", 5, Duration::from_secs(60))
///     .allow_keys(["internal-batch"]);
/// let app: Router = Router::new()
///     .route("/api/orgs/{orgId}/properties", get(|| async { "[]" }))
///     .route("/api/orgs/{orgId}/exports", get(|| async { "started" }))
///     .layer(limits.clone());
/// assert_eq!(limits.tracked_keys(), 0);
/// assert_eq!(limits.refused_total(), 0);
/// ```
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
    /// [type docs](RateLimitLayer#algorithm)). `max` is at least 1.
    pub fn per_window(max: u32, window: Duration) -> Self {
        Self::from_settings(Settings {
            max,
            window,
            key: KeySource::ClientIp,
            trusted_proxies: Vec::new(),
            ipv6_prefix: 64,
            trust_organization_header: false,
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
            #[cfg(feature = "redis")]
            redis: None,
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

    /// Whether [`KeySource::Organization`] may read the tenant from the `x-organization-id`
    /// header (default `false`: a client could name any tenant and spend its quota). Set it
    /// when a gateway in front sets the header and strips the client's, as
    /// [`MonitorLayer::trust_organization_header`](crate::MonitorLayer::trust_organization_header).
    ///
    /// ```
    /// use vitals_axum::{KeySource, RateLimitLayer};
    /// let layer = RateLimitLayer::per_window(600, std::time::Duration::from_secs(60))
    ///     .key(KeySource::Organization)
    ///     .trust_organization_header(true);
    /// # drop(layer);
    /// ```
    pub fn trust_organization_header(self, trusted: bool) -> Self {
        self.with(|s| s.trust_organization_header = trusted)
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
    /// sharing a quota while the table is full. See the [type docs](RateLimitLayer#memory).
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

    /// Keeps the quotas in Redis, shared by every instance configured with the same store
    /// (cargo feature `redis`): same GCRA, headers and 429 as in memory, one round trip per
    /// limited request. While Redis fails or is slow the local limiter decides (or the request
    /// is refused, [fail-closed](super::RedisStore::fail_closed)); see [`RedisStore`](super::RedisStore)
    /// and [`Self::store_status`].
    #[cfg(feature = "redis")]
    pub fn redis(self, store: super::RedisStore) -> Self {
        self.with(|s| s.redis = Some(store))
    }

    /// The Redis store's state (`None` without one): whether requests are decided locally
    /// because Redis failed, and how many were.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn store_status(&self) -> Option<super::RateLimitStoreStatus> {
        self.state.remote.as_ref().map(|r| r.status())
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
        self.state.policies().map(|p| p.store.len()).sum()
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
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.state.ensure_cleanup_task();
        RateLimitService {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

impl<S> RateLimitService<S> {
    /// Wraps `inner` with the limits (and state) of `layer`.
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        layer.layer(inner)
    }
}
