//! A quota (`max` per `window`), its keyed store, and the header values it sends.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use governor::Quota;
use http::HeaderValue;

use super::headers::{
    DraftHeaders, HeaderSets, LegacyHeaders, LimitHeaders, ceil_secs, number_header, sf_string,
};
use super::store::QuotaStore;
use crate::header_arena::header_value_of;

/// A quota and its store.
pub(super) struct Policy {
    pub(super) max: u32,
    /// Time to earn back one request (`window / max`).
    pub(super) interval: Duration,
    pub(super) store: QuotaStore,
    /// Requests limited by the store's overflow state (`CappedStore`).
    pub(super) overflowed: Arc<AtomicU64>,
    /// The sf-string naming the policy.
    name: String,
    /// The policy's name as given (part of its Redis keys).
    #[cfg(feature = "redis")]
    raw_name: String,
    #[cfg(feature = "redis")]
    quota: Quota,
    #[cfg(feature = "redis")]
    max_keys: usize,
    policy_header: HeaderValue,
    limit_header: HeaderValue,
}

impl Policy {
    pub(super) fn new(name: &str, max: u32, window: Duration, max_keys: usize) -> Self {
        let max = max.max(1);
        let window = window.max(Duration::from_nanos(u64::from(max)));
        let interval = window / max;
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(std::num::NonZeroU32::new(max).unwrap_or(std::num::NonZeroU32::MIN));
        #[cfg(feature = "redis")]
        let raw_name = name.to_owned();
        let name = sf_string(name);
        let overflowed = Arc::new(AtomicU64::new(0));
        let policy = format!("{name};q={max};w={}", ceil_secs(window).max(1));
        Self {
            max,
            interval,
            store: QuotaStore::memory(quota, max_keys, Arc::clone(&overflowed)),
            overflowed,
            policy_header: HeaderValue::from_str(&policy)
                .unwrap_or(HeaderValue::from_static("\"default\"")),
            limit_header: HeaderValue::from(max),
            name,
            #[cfg(feature = "redis")]
            raw_name,
            #[cfg(feature = "redis")]
            quota,
            #[cfg(feature = "redis")]
            max_keys,
        }
    }

    /// The same quota kept in `remote` (Redis), its local limiter deciding while Redis cannot.
    #[cfg(feature = "redis")]
    pub(super) fn with_remote(mut self, remote: Arc<super::redis::Remote>) -> Self {
        self.store = QuotaStore::redis(
            remote,
            &self.raw_name,
            self.quota,
            self.max_keys,
            Arc::clone(&self.overflowed),
        );
        self
    }

    /// Headers for a response with `remaining` requests left and `reset` until the full burst:
    /// the sets `which` asks for.
    pub(super) fn headers(
        &self,
        remaining: u32,
        reset: Duration,
        which: HeaderSets,
    ) -> LimitHeaders {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::store::DEFAULT_MAX_KEYS;

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
