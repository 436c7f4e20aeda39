//! Operator access to the monitoring endpoints.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once};

use axum::extract::ConnectInfo;
use http::{HeaderValue, StatusCode, header, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{Problem, missing_connect_info};

/// Who may call operator endpoints.
///
/// Load-balancer endpoints (`/health/ping`, `/health`, `/metrics/health`, `/health/pressure`)
/// are public. Everything else (debug, performance data, per-organization data, reclaim,
/// Prometheus) is for operators:
///
/// - with a token configured ([`OperatorAuth::token`], the operator token), a request must carry `Authorization: Bearer <token>`; the token is
///   compared in constant time, as SHA-256 digests so that neither its bytes nor its length
///   show in the time a refusal takes. Otherwise: 401 problem+json with
///   `WWW-Authenticate: Bearer`.
///   The scheme is matched case-insensitively (RFC 9110 §11.1). A blank token is a
///   configuration error ([`OperatorAuth::try_token`]), never a silent loopback-only mode.
/// - with none, only loopback clients are admitted (by the socket's peer address, from axum's
///   `ConnectInfo<SocketAddr>`; proxy headers are not trusted; `::ffff:127.0.0.1` is loopback).
///   Otherwise: 403 problem+json. Because anything forwarding from the same host (a reverse
///   proxy, a mesh sidecar, a port forward) connects from loopback too, a request that carries
///   `Forwarded`, `X-Forwarded-For` or `X-Real-IP` is refused (it came through a proxy: set a
///   token), and so is one whose `Host` is a name other than `localhost` (or `*.localhost`)
///   and the names given to [`OperatorAuth::allow_host`]: a browser page that rebinds its own
///   DNS name to 127.0.0.1 sends that name, so it cannot read operator JSON. IP-literal hosts
///   pass (a rebinding needs a name).
///   A server started without `into_make_service_with_connect_info` cannot tell: such a
///   request is answered 500 problem+json naming that fix (a wiring error, not the client's),
///   and a warning is logged once.
///
/// # Example
///
/// ```
/// use vitals_axum::OperatorAuth;
///
/// let open_to_loopback = OperatorAuth::loopback_only();
/// let with_token = OperatorAuth::token("s3cret");
/// assert!(format!("{with_token:?}").contains("redacted"));
/// # let _ = open_to_loopback;
/// ```
#[derive(Clone, Default)]
pub struct OperatorAuth {
    /// SHA-256 of the token: compared with the digest of the one a request presents, so the
    /// comparison always covers 32 bytes whatever the lengths.
    token: Option<[u8; 32]>,
    /// Host names (lower case, no port) admitted besides the loopback names in loopback-only
    /// mode.
    hosts: Arc<[String]>,
}

/// A token setting that is empty or only whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operator token is empty or blank")]
pub struct BlankToken;

impl std::fmt::Debug for OperatorAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorAuth")
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl OperatorAuth {
    /// Only loopback clients (the default).
    #[must_use]
    pub fn loopback_only() -> Self {
        Self::default()
    }

    /// Clients that present `Authorization: Bearer <token>` (surrounding whitespace is
    /// trimmed).
    ///
    /// # Panics
    ///
    /// When the token is empty or blank; use [`OperatorAuth::try_token`] for a token read from
    /// configuration.
    #[must_use]
    pub fn token(token: &str) -> Self {
        Self::try_token(token).expect("OperatorAuth::token: the token is empty or blank")
    }

    /// Like [`OperatorAuth::token`], for a token read from configuration.
    ///
    /// # Errors
    ///
    /// [`BlankToken`] when the token is empty or only whitespace.
    ///
    /// ```
    /// use vitals_axum::OperatorAuth;
    ///
    /// assert!(OperatorAuth::try_token("  ").is_err());
    /// assert!(OperatorAuth::try_token("s3cret")?.has_token());
    /// # Ok::<(), vitals_axum::BlankToken>(())
    /// ```
    pub fn try_token(token: &str) -> Result<Self, BlankToken> {
        let token = token.trim();
        if token.is_empty() {
            return Err(BlankToken);
        }
        Ok(Self {
            token: Some(Sha256::digest(token.as_bytes()).into()),
            hosts: Arc::default(),
        })
    }

    /// Admits `host` (a name, without port, compared case-insensitively) in the `Host` header
    /// in loopback-only mode, besides `localhost` and IP literals: the name the server is
    /// configured to listen on.
    #[must_use]
    pub fn allow_host(mut self, host: &str) -> Self {
        let host = host_name(host).to_ascii_lowercase();
        if !host.is_empty() {
            let mut hosts = self.hosts.to_vec();
            hosts.push(host);
            self.hosts = hosts.into();
        }
        self
    }

    /// True when a token is configured.
    #[must_use]
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Admits or refuses a request.
    ///
    /// # Errors
    ///
    /// A 401 or 403 [`Problem`] when the request may not pass; a 500 when no token is
    /// configured and the request carries no `ConnectInfo<SocketAddr>` (see above).
    pub fn check(&self, parts: &Parts) -> Result<(), Box<Problem>> {
        match &self.token {
            Some(token) => {
                let given = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(bearer);
                match given {
                    Some(given)
                        if bool::from(Sha256::digest(given.as_bytes()).as_slice().ct_eq(token)) =>
                    {
                        Ok(())
                    }
                    Some(_) => Err(Box::new(unauthorized("the bearer token is not valid"))),
                    None => Err(Box::new(unauthorized(
                        "this endpoint needs `Authorization: Bearer <token>`",
                    ))),
                }
            }
            None => {
                let peer = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0);
                match peer {
                    Some(addr) if is_loopback(addr.ip()) => self.check_local(parts),
                    Some(_) => Err(Box::new(forbidden(
                        "operator endpoints answer loopback clients only unless an operator token is configured",
                    ))),
                    None => {
                        static WARNED: Once = Once::new();
                        WARNED.call_once(|| {
                            tracing::warn!(
                                "operator auth: no ConnectInfo<SocketAddr> on the request, so \
                                 loopback access cannot be verified; answering 500: serve with \
                                 into_make_service_with_connect_info::<SocketAddr>()"
                            );
                        });
                        Err(Box::new(missing_connect_info("the operator auth")))
                    }
                }
            }
        }
    }
}

impl OperatorAuth {
    /// Loopback-only mode, peer on loopback: refuse what came through a proxy or under a
    /// foreign host name.
    fn check_local(&self, parts: &Parts) -> Result<(), Box<Problem>> {
        if let Some(name) = FORWARDING_HEADERS
            .iter()
            .find(|name| parts.headers.contains_key(**name))
        {
            return Err(Box::new(forbidden(&format!(
                "the request carries `{name}`, so it came through a proxy; operator endpoints \
                 behind a proxy need an operator token"
            ))));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .map(HeaderValue::as_bytes)
            .or_else(|| parts.uri.host().map(str::as_bytes));
        match host {
            Some(host) if !host_allowed(host, &self.hosts) => Err(Box::new(forbidden(
                "the `Host` header names neither a loopback name nor the configured host",
            ))),
            _ => Ok(()),
        }
    }
}

/// Headers a forwarding proxy adds.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Loopback, with IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) seen as the IPv4 they carry.
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The credentials of `Authorization: Bearer <token>`, the scheme in any case.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// `host[:port]` or `[v6]:port` without the port and brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        // More than one colon: a bare IPv6 literal.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// True when a `Host` value names loopback, any IP literal, or one of `allowed`.
pub(crate) fn host_allowed(host: &[u8], allowed: &[String]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let name = host_name(host).trim_end_matches('.');
    if name.parse::<IpAddr>().is_ok() {
        return true;
    }
    name.eq_ignore_ascii_case("localhost")
        || name
            .len()
            .checked_sub(".localhost".len())
            .is_some_and(|at| {
                name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(".localhost")
            })
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED)
        .with_detail(detail)
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"vitals\""),
        )
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(auth: Option<&str>, peer: Option<&str>) -> Parts {
        let mut req = Request::builder().uri("/health/debug");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        if let Some(p) = peer {
            parts
                .extensions
                .insert(ConnectInfo::<SocketAddr>(p.parse().unwrap()));
        }
        parts
    }

    #[test]
    fn token_mode_requires_exact_bearer() {
        let auth = OperatorAuth::token("s3cret");
        assert!(auth.check(&parts(Some("Bearer s3cret"), None)).is_ok());
        assert_eq!(
            auth.check(&parts(Some("Bearer nope"), None))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            auth.check(&parts(Some("Bearer s3cret2"), None))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            auth.check(&parts(None, Some("127.0.0.1:5")))
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn loopback_mode_checks_peer_address() {
        let auth = OperatorAuth::loopback_only();
        assert!(auth.check(&parts(None, Some("127.0.0.1:5"))).is_ok());
        assert!(auth.check(&parts(None, Some("[::1]:5"))).is_ok());
        assert_eq!(
            auth.check(&parts(None, Some("10.1.2.3:5")))
                .unwrap_err()
                .status(),
            403
        );
        let unknown = auth.check(&parts(None, None)).unwrap_err();
        assert_eq!(unknown.status(), 500);
        assert!(
            unknown
                .detail()
                .is_some_and(|d| d.contains("into_make_service_with_connect_info::<SocketAddr>()")),
            "{unknown:?}"
        );
    }

    fn with_headers(mut parts: Parts, headers: &[(&str, &str)]) -> Parts {
        for (name, value) in headers {
            parts.headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        parts
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let auth = OperatorAuth::token("s3cret");
        for header in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER s3cret",
            "bEaReR  s3cret ",
        ] {
            assert!(auth.check(&parts(Some(header), None)).is_ok(), "{header}");
        }
        for header in ["Basic s3cret", "Bearers3cret", "s3cret", "Bearer"] {
            assert_eq!(
                auth.check(&parts(Some(header), None)).unwrap_err().status(),
                401,
                "{header}"
            );
        }
    }

    #[test]
    fn blank_tokens_are_refused() {
        for blank in ["", " ", "\t\n"] {
            assert_eq!(OperatorAuth::try_token(blank).unwrap_err(), BlankToken);
        }
        assert!(std::panic::catch_unwind(|| OperatorAuth::token(" ")).is_err());
        assert!(OperatorAuth::try_token(" s3cret ").unwrap().has_token());
    }

    #[test]
    fn mapped_ipv4_loopback_is_loopback() {
        let auth = OperatorAuth::loopback_only();
        assert!(
            auth.check(&parts(None, Some("[::ffff:127.0.0.1]:5")))
                .is_ok()
        );
        assert!(
            auth.check(&parts(None, Some("[::ffff:127.9.8.7]:5")))
                .is_ok()
        );
        assert_eq!(
            auth.check(&parts(None, Some("[::ffff:10.0.0.1]:5")))
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn loopback_mode_refuses_forwarded_requests() {
        let auth = OperatorAuth::loopback_only();
        for name in ["Forwarded", "X-Forwarded-For", "X-Real-IP"] {
            let p = with_headers(parts(None, Some("127.0.0.1:5")), &[(name, "for=1.2.3.4")]);
            let refused = auth.check(&p).unwrap_err();
            assert_eq!(refused.status(), 403, "{name}");
            assert!(refused.detail().unwrap().contains("proxy"), "{refused:?}");
        }
        // With a token, a proxy in front is fine.
        let auth = OperatorAuth::token("s3cret");
        let p = with_headers(
            parts(Some("Bearer s3cret"), Some("127.0.0.1:5")),
            &[("x-forwarded-for", "1.2.3.4")],
        );
        assert!(auth.check(&p).is_ok());
    }

    #[test]
    fn loopback_mode_checks_the_host_header() {
        let auth = OperatorAuth::loopback_only().allow_host("vitals.internal");
        let check = |host: &str| {
            auth.check(&with_headers(
                parts(None, Some("127.0.0.1:5")),
                &[("host", host)],
            ))
        };
        for ok in [
            "localhost",
            "LOCALHOST:4600",
            "localhost.",
            "app.localhost:80",
            "127.0.0.1:4600",
            "[::1]:4600",
            "10.0.0.5",
            "vitals.internal:4600",
            "Vitals.Internal",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4600",
            "localhost.evil.example",
            "vitals.internal.evil",
            "xlocalhost",
        ] {
            let refused = check(bad).unwrap_err();
            assert_eq!(refused.status(), 403, "{bad}");
            assert!(refused.detail().unwrap().contains("Host"), "{refused:?}");
        }
        // The token mode does not look at Host.
        let auth = OperatorAuth::token("s3cret");
        let p = with_headers(
            parts(Some("Bearer s3cret"), None),
            &[("host", "evil.example")],
        );
        assert!(auth.check(&p).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// `Host` and `Authorization` over arbitrary bytes: no panic, and what a bearer
        /// credential is can only be shorter than the header.
        #[test]
        fn host_and_bearer_parsers_take_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = host_allowed(&bytes, &["vitals.test".to_owned()]);
            let text = String::from_utf8_lossy(&bytes);
            if let Some(token) = bearer(&text) {
                proptest::prop_assert!(token.len() < text.len());
            }
            let _ = host_name(&text);
        }
    }
}
