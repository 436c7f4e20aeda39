//! The rate limit's key and store: who a request counts against, and where quotas are kept.
//!
//! Key: the organization the request names (its `{orgId}` path parameter, else the
//! `x-organization-id` header) **only if the server knows it** (it is in the database), else
//! the client IP (through `VITALS_TRUSTED_PROXIES`, IPv6 by /64). A made-up organization id
//! therefore counts against the client's address: nobody gets a fresh quota by rotating ids.
//!
//! Store: `VITALS_RATE_LIMIT_REDIS_URL` keeps the quotas in Redis, shared by every instance
//! pointed at it; `VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS` (default 50) bounds each answer, and
//! `VITALS_RATE_LIMIT_FAIL_CLOSED=1` refuses (429) rather than limiting locally while Redis is
//! down.

use std::net::IpAddr;
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

/// Keys by known organization, else by client IP (see the module docs).
pub(crate) fn key_source(known: KnownOrgs) -> KeySource {
    KeySource::custom(move |parts, ip| {
        let from_path = parts
            .extensions
            .get::<MatchedPath>()
            .and_then(|m| vitals::path_param(m.as_str(), parts.uri.path(), "orgId"));
        let from_header = || {
            parts
                .headers
                .get(ORGANIZATION_HEADER)
                .and_then(|v| v.to_str().ok())
        };
        if let Some(org) = from_path.or_else(from_header)
            && known.contains(org)
        {
            return Some(format!("org:{org}"));
        }
        ip.map(|ip| format!("ip:{}", network(ip)))
    })
}

/// IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64).
fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
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
    // The error names the variable, not the value (a URL can hold a password).
    let store = RedisStore::open(url.trim()).context("VITALS_RATE_LIMIT_REDIS_URL")?;
    let timeout: u64 = env_or("VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS", "50")
        .parse()
        .context("VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS must be milliseconds")?;
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
    fn proxies_parse_strictly_and_ipv6_keys_are_networks() {
        assert_eq!(trusted_proxies("").unwrap(), vec![]);
        assert_eq!(trusted_proxies(" 10.0.0.0/8 , ::1").unwrap().len(), 2);
        let err = trusted_proxies("10.0.0.0/8,nope").unwrap_err().to_string();
        assert!(err.contains("VITALS_TRUSTED_PROXIES"), "{err}");
        let ip: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(network(ip).to_string(), "2001:db8:1:2::");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network(mapped).to_string(), "192.0.2.7");
    }

    #[test]
    fn only_known_organizations_get_their_own_key() {
        let known = std::sync::Arc::new(std::collections::HashSet::from(["acme".to_owned()]));
        let KeySource::Custom(f) = key_source(known) else {
            panic!("a custom key");
        };
        let ip: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        let key = |org: &str| {
            let req = http::Request::get("/api/slow")
                .header(ORGANIZATION_HEADER, org)
                .body(())
                .unwrap();
            f(&req.into_parts().0, ip)
        };
        assert_eq!(key("acme").as_deref(), Some("org:acme"));
        // A made-up id counts against the client's address, whatever it is.
        assert_eq!(key("fresh-1").as_deref(), Some("ip:192.0.2.7"));
        assert_eq!(key("fresh-2").as_deref(), Some("ip:192.0.2.7"));
    }
}
