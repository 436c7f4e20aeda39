//! The settings of a rate limit and the state its layer and services share.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use super::headers::HeaderSets;
use super::key::{AllowFn, IpRange, KeySource, RateLimitKey};
use super::policy::Policy;
use super::store::KeyHasher;

/// Everything but the limiters: cloned when a setter rebuilds the state.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) max: u32,
    pub(super) window: Duration,
    pub(super) key: KeySource,
    pub(super) trusted_proxies: Vec<IpRange>,
    pub(super) ipv6_prefix: u8,
    pub(super) routes: Vec<(String, u32, Duration)>,
    pub(super) skipped: HashSet<String, KeyHasher>,
    pub(super) allow_keys: HashSet<RateLimitKey, KeyHasher>,
    pub(super) allow_names: HashSet<String, KeyHasher>,
    pub(super) allow: Option<AllowFn>,
    pub(super) cleanup_interval: Duration,
    pub(super) max_keys: usize,
    pub(super) header_sets: HeaderSets,
}

/// What a layer and all its services share.
pub(super) struct State {
    pub(super) settings: Settings,
    pub(super) default: Policy,
    pub(super) routes: HashMap<String, Policy, KeyHasher>,
    pub(super) refused: AtomicU64,
    pub(super) cleanup_started: AtomicBool,
    pub(super) warned_no_peer: AtomicBool,
}

impl State {
    pub(super) fn new(settings: Settings) -> Self {
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

    pub(super) fn policies(&self) -> impl Iterator<Item = &Policy> {
        std::iter::once(&self.default).chain(self.routes.values())
    }
}
