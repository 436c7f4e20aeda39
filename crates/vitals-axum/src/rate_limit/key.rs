//! Client keys: what a request is limited under, how the client address is found (the peer,
//! or through trusted proxies the right-most untrusted `X-Forwarded-For` entry), CIDR ranges,
//! and the tenant.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

pub(super) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The key a request is limited under (and what [`RateLimitLayer::allow`](crate::RateLimitLayer::allow) is asked about).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitKey {
    /// A client address: an IPv4 address, or an IPv6 network (the address masked to
    /// [`RateLimitLayer::ipv6_prefix`](crate::RateLimitLayer::ipv6_prefix) bits).
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

pub(super) type AllowFn = Arc<dyn Fn(&RateLimitKey) -> bool + Send + Sync>;

/// What a request is keyed by; see [keys](crate::RateLimitLayer#keys).
#[derive(Clone, Default)]
pub enum KeySource {
    /// The client IP (the default).
    #[default]
    ClientIp,
    /// The tenant, falling back to the client IP.
    Organization,
    /// A closure; build it with [`KeySource::custom`].
    Custom(KeyFn),
    /// A closure whose `None` falls back to the client IP key (IPv6 by prefix, coarser under
    /// pressure as for [`ClientIp`](Self::ClientIp)); build it with
    /// [`KeySource::custom_or_ip`].
    CustomOrIp(KeyFn),
}

impl KeySource {
    /// Keys by `f(request head, client IP)`; `None` leaves the request unlimited.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&http::request::Parts, Option<IpAddr>) -> Option<String> + Send + Sync + 'static,
    {
        KeySource::Custom(Arc::new(f))
    }

    /// Keys by `f(request head, client IP)` when it returns a key (a tenant the application
    /// vouches for, say), else by the client IP as [`KeySource::ClientIp`] does.
    ///
    /// ```
    /// use vitals_axum::KeySource;
    /// let source = KeySource::custom_or_ip(|parts, _ip| {
    ///     parts.headers.get("x-api-key").map(|_| "key".to_owned())
    /// });
    /// assert_eq!(format!("{source:?}"), "CustomOrIp(..)");
    /// ```
    pub fn custom_or_ip<F>(f: F) -> Self
    where
        F: Fn(&http::request::Parts, Option<IpAddr>) -> Option<String> + Send + Sync + 'static,
    {
        KeySource::CustomOrIp(Arc::new(f))
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::ClientIp => f.write_str("ClientIp"),
            KeySource::Organization => f.write_str("Organization"),
            KeySource::Custom(_) => f.write_str("Custom(..)"),
            KeySource::CustomOrIp(_) => f.write_str("CustomOrIp(..)"),
        }
    }
}

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `192.0.2.1`), for
/// [`RateLimitLayer::trusted_proxies`](crate::RateLimitLayer::trusted_proxies).
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
pub(super) fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
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
pub(super) fn parse_forwarded(value: &str) -> Option<IpAddr> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
