//! The settings of a rate limit and the state its layer and services share.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath};
use http::{HeaderMap, Request};

use super::headers::HeaderSets;
use super::key::{
    AllowFn, IpRange, KeySource, RateLimitKey, X_FORWARDED_FOR, mask, parse_forwarded,
};
use super::policy::Policy;
use super::store::KeyHasher;
use crate::context::{ORGANIZATION_HEADER, ORGANIZATION_PARAMS, Organization};

/// Everything but the limiters: cloned when a setter rebuilds the state.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) max: u32,
    pub(super) window: Duration,
    pub(super) key: KeySource,
    pub(super) trusted_proxies: Vec<IpRange>,
    pub(super) ipv6_prefix: u8,
    /// Whether `x-organization-id` may name the tenant (a gateway in front sets it).
    pub(super) trust_organization_header: bool,
    pub(super) routes: Vec<(String, u32, Duration)>,
    pub(super) skipped: HashSet<String, KeyHasher>,
    pub(super) allow_keys: HashSet<RateLimitKey, KeyHasher>,
    pub(super) allow_names: HashSet<String, KeyHasher>,
    pub(super) allow: Option<AllowFn>,
    pub(super) cleanup_interval: Duration,
    pub(super) max_keys: usize,
    pub(super) header_sets: HeaderSets,
    /// Where quotas are kept when not in memory only.
    #[cfg(feature = "redis")]
    pub(super) redis: Option<super::redis::RedisStore>,
}

/// What a layer and all its services share.
pub(super) struct State {
    pub(super) settings: Settings,
    pub(super) default: Arc<Policy>,
    pub(super) routes: HashMap<String, Arc<Policy>, KeyHasher>,
    /// The Redis store all quotas share, if any.
    #[cfg(feature = "redis")]
    pub(super) remote: Option<Arc<super::redis::Remote>>,
    pub(super) refused: AtomicU64,
    pub(super) cleanup_started: AtomicBool,
    pub(super) warned_no_peer: AtomicBool,
}

impl State {
    pub(super) fn new(settings: Settings) -> Self {
        #[cfg(feature = "redis")]
        let remote = (settings.redis.clone()).map(|r| Arc::new(super::redis::Remote::new(r)));
        let policy = |name: &str, max: u32, window: Duration| {
            let policy = Policy::new(name, max, window, settings.max_keys);
            #[cfg(feature = "redis")]
            let policy = match &remote {
                Some(remote) => policy.with_remote(Arc::clone(remote)),
                None => policy,
            };
            Arc::new(policy)
        };
        let routes = settings
            .routes
            .iter()
            .map(|(route, max, window)| (route.clone(), policy(route, *max, *window)))
            .collect();
        Self {
            default: policy("default", settings.max, settings.window),
            routes,
            #[cfg(feature = "redis")]
            remote,
            settings,
            refused: AtomicU64::new(0),
            cleanup_started: AtomicBool::new(false),
            warned_no_peer: AtomicBool::new(false),
        }
    }

    pub(super) fn policies(&self) -> impl Iterator<Item = &Policy> {
        std::iter::once(&*self.default).chain(self.routes.values().map(|p| &**p))
    }
}

/// The key of a request (see `key`).
impl State {
    pub(super) fn is_trusted(&self, ip: IpAddr) -> bool {
        self.settings
            .trusted_proxies
            .iter()
            .any(|range| range.contains(ip))
    }

    /// The client address: the peer, or through trusted proxies the right-most untrusted
    /// `X-Forwarded-For` entry.
    pub(super) fn client_ip(
        &self,
        extensions: &http::Extensions,
        headers: &HeaderMap,
    ) -> Option<IpAddr> {
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

    /// The client IP key; `None` when there is no `ConnectInfo`.
    pub(super) fn ip_key(&self, req: &Request<impl Sized>) -> Option<RateLimitKey> {
        let ip = self.client_ip(req.extensions(), req.headers())?;
        Some(self.ip_key_of(ip))
    }

    /// The key of a client address: IPv4 as is, IPv6 masked to the prefix.
    pub(super) fn ip_key_of(&self, ip: IpAddr) -> RateLimitKey {
        RateLimitKey::Ip(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(_) => mask(ip, self.settings.ipv6_prefix),
        })
    }

    pub(super) fn organization<B>(&self, req: &Request<B>) -> Option<Arc<str>> {
        if let Some(org) = req.extensions().get::<Organization>() {
            return Some(Arc::clone(&org.0));
        }
        let valid = |id: &&str| vitals::is_valid_organization_id(id);
        if let Some(route) = req.extensions().get::<MatchedPath>() {
            let from_path = ORGANIZATION_PARAMS
                .iter()
                .find_map(|name| vitals::path_param(route.as_str(), req.uri().path(), name))
                .filter(valid);
            if let Some(id) = from_path {
                return Some(Arc::from(id));
            }
        }
        if !self.settings.trust_organization_header {
            return None;
        }
        req.headers()
            .get(ORGANIZATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(valid)
            .map(Arc::from)
    }

    /// The request's key (and the request back, for the custom source).
    pub(super) fn key<B>(&self, req: Request<B>) -> (Request<B>, Option<RateLimitKey>) {
        let key = match &self.settings.key {
            KeySource::ClientIp => self.ip_key(&req),
            KeySource::Organization => match self.organization(&req) {
                Some(id) => Some(RateLimitKey::Organization(id)),
                None => self.ip_key(&req),
            },
            KeySource::Custom(f) => {
                let (parts, body) = req.into_parts();
                let ip = self.client_ip(&parts.extensions, &parts.headers);
                let key = f(&parts, ip).map(|k| RateLimitKey::Custom(Arc::from(k)));
                return (Request::from_parts(parts, body), key);
            }
            KeySource::CustomOrIp(f) => {
                let (parts, body) = req.into_parts();
                let ip = self.client_ip(&parts.extensions, &parts.headers);
                let key = match f(&parts, ip) {
                    Some(k) => Some(RateLimitKey::Custom(Arc::from(k))),
                    None => ip.map(|ip| self.ip_key_of(ip)),
                };
                return (Request::from_parts(parts, body), key);
            }
        };
        (req, key)
    }

    /// Whether a request left without a key lacks the peer address its key needed (any
    /// source but a custom closure, which is given `None` for the address and decides).
    pub(super) fn misses_peer<B>(&self, req: &Request<B>) -> bool {
        !matches!(self.settings.key, KeySource::Custom(_))
            && req.extensions().get::<ConnectInfo<SocketAddr>>().is_none()
    }

    pub(super) fn is_allowed(&self, key: &RateLimitKey) -> bool {
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

/// The cleanup of idle keys (see `store`).
impl State {
    pub(super) fn cleanup(&self) {
        for policy in self.policies() {
            policy.store.cleanup();
        }
    }

    /// Starts the cleanup task once, if there is a runtime to run it on.
    pub(super) fn ensure_cleanup_task(self: &Arc<Self>) {
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
}
