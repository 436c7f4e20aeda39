//! The rate limit's key and store: who a request counts against, and where quotas are kept.
//!
//! Key: the organization the request names (its `{orgId}` path parameter, else the
//! `x-organization-id` header, but the header only with `VITALS_TRUST_ORGANIZATION_HEADER=1`,
//! a gateway in front setting it) **only if the server knows it** (it is in the database),
//! else the client IP (through `VITALS_TRUSTED_PROXIES`; IPv6 by /64, by /48 for new networks
//! once the limiter's table is 7/8 full). A made-up organization id therefore counts against
//! the client's address: nobody gets a fresh quota by rotating ids, and an untrusted header
//! cannot spend a tenant's quota.
//!
//! Store: `VITALS_RATE_LIMIT_REDIS_URL` keeps the quotas in Redis, shared by every instance
//! pointed at it; `VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS` (default 50) bounds each answer, and
//! `VITALS_RATE_LIMIT_FAIL_CLOSED=1` refuses (429) rather than limiting locally while Redis is
//! down.

use std::time::Duration;

use anyhow::Context as _;
use axum::extract::MatchedPath;
use vitals_axum::{IpRange, KeySource, RateLimitLayer, RedisStore};

use crate::tenants::KnownOrgs;

/// The organization header the server reads (as the monitor does).
const ORGANIZATION_HEADER: &str = "x-organization-id";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Keys by known organization, else by client IP (see the module docs); the header counts
/// only with `VITALS_TRUST_ORGANIZATION_HEADER=1` (validated at start, so a bad value never
/// reaches here).
pub(crate) fn key_source(known: KnownOrgs) -> KeySource {
    key_source_with(known, crate::tenants::trust_header().unwrap_or(false))
}

fn key_source_with(known: KnownOrgs, trust_header: bool) -> KeySource {
    KeySource::custom_or_ip(move |parts, _ip| {
        let from_path = parts
            .extensions
            .get::<MatchedPath>()
            .and_then(|m| vitals::path_param(m.as_str(), parts.uri.path(), "orgId"));
        let from_header = || {
            parts
                .headers
                .get(ORGANIZATION_HEADER)
                .filter(|_| trust_header)
                .and_then(|v| v.to_str().ok())
        };
        let org = from_path.or_else(from_header)?;
        // Otherwise the layer's own client-IP key (IPv6 by prefix, coarser under pressure).
        known.contains(org).then(|| format!("org:{org}"))
    })
}

/// `VITALS_TRUSTED_PROXIES`: a comma list of addresses and CIDR ranges whose
/// `X-Forwarded-For` is believed (default none).
pub(crate) fn trusted_proxies(value: &str) -> anyhow::Result<Vec<IpRange>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<IpRange>().with_context(|| {
                format!("VITALS_TRUSTED_PROXIES: `{v}` is not an address or CIDR range")
            })
        })
        .collect()
}

/// The Redis store from the environment, when `VITALS_RATE_LIMIT_REDIS_URL` is set.
pub(crate) fn redis_store(layer: RateLimitLayer) -> anyhow::Result<RateLimitLayer> {
    let Some(url) = std::env::var("VITALS_RATE_LIMIT_REDIS_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(layer);
    };
    // 1 ms to 60 s: each request waits at most this for Redis.
    let timeout: u64 = crate::settings::number(
        "VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS",
        50,
        1,
        60_000,
        "a number of milliseconds",
    )?;
    // The error names the variable, not the value (a URL can hold a password).
    let store = RedisStore::open(url.trim()).context("VITALS_RATE_LIMIT_REDIS_URL")?;
    let fail_closed = match env_or("VITALS_RATE_LIMIT_FAIL_CLOSED", "0").as_str() {
        "0" | "false" => false,
        "1" | "true" => true,
        _ => anyhow::bail!("VITALS_RATE_LIMIT_FAIL_CLOSED must be 0, 1, true or false"),
    };
    Ok(layer.redis(
        store
            .timeout(Duration::from_millis(timeout))
            .fail_closed(fail_closed),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_strictly() {
        assert_eq!(trusted_proxies("").unwrap(), vec![]);
        assert_eq!(trusted_proxies(" 10.0.0.0/8 , ::1").unwrap().len(), 2);
        let err = trusted_proxies("10.0.0.0/8,nope").unwrap_err().to_string();
        assert!(err.contains("VITALS_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn only_known_organizations_get_their_own_key_and_the_header_only_when_trusted() {
        let known = std::sync::Arc::new(std::collections::HashSet::from(["acme".to_owned()]));
        let ip: Option<std::net::IpAddr> = Some("192.0.2.7".parse().unwrap());
        for trusted in [true, false] {
            let KeySource::CustomOrIp(f) = key_source_with(known.clone(), trusted) else {
                panic!("a custom key with the IP fallback");
            };
            let key = |org: &str| {
                let req = http::Request::get("/api/slow")
                    .header(ORGANIZATION_HEADER, org)
                    .body(())
                    .unwrap();
                f(&req.into_parts().0, ip)
            };
            // Untrusted, the header names nobody: the client's address (`None`) keys it.
            let acme = trusted.then(|| "org:acme".to_owned());
            assert_eq!(key("acme"), acme);
            // A made-up id counts against the client's address, whatever it is.
            assert_eq!(key("fresh-1"), None);
            assert_eq!(key("fresh-2"), None);
        }
    }
}
