//! Operator access to the monitoring endpoints.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once};

use axum::extract::ConnectInfo;
use http::{HeaderValue, Method, StatusCode, header, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{Problem, missing_connect_info};

/// Who may call operator endpoints.
///
/// Load-balancer endpoints ([`Vitals::public_router`](crate::Vitals::public_router)) are
/// public. Everything else ([`Vitals::operator_router`](crate::Vitals::operator_router): debug,
/// performance data, per-organization data, reclaim, Prometheus) is for operators.
///
/// Whatever the mode, a request a browser sent on behalf of another site is refused with 403
/// (cross-site request forgery: a page the operator visits cannot change operator state or hit
/// the demo switches): one whose `Origin` is not the listener's own (the `Host` it was sent
/// to, or one given to [`OperatorAuth::allow_origin`]; `Origin: null` too), and one marked
/// `Sec-Fetch-Site: cross-site` or `same-site` unless it is a `GET`/`HEAD` page navigation (a
/// link to the dashboard from a notification still opens). Clients that are not browsers send
/// neither header and are not affected.
///
/// - with a token configured ([`OperatorAuth::token`], the operator token), a request must carry `Authorization: Bearer <token>`; the token is
///   compared in constant time, as SHA-256 digests so that neither its bytes nor its length
///   show in the time a refusal takes. Otherwise: 401 problem+json with
///   `WWW-Authenticate: Bearer`.
///   The scheme is matched case-insensitively (RFC 9110 §11.1). A blank token is a
///   configuration error ([`OperatorAuth::try_token`]), never a silent loopback-only mode.
/// - with none, only loopback clients are admitted (by the socket's peer address, from axum's
///   `ConnectInfo<SocketAddr>`: `127.0.0.1` or `::1` exactly, `::ffff:127.0.0.1` too, not the
///   rest of 127/8, which a mesh sidecar such as Istio's `127.0.0.6` uses; proxy headers are
///   not trusted). Otherwise: 403 problem+json. This mode is for a listener of the operator's
///   own (a loopback port no proxy forwards to): anything forwarding from the same host (a
///   reverse proxy, a port forward) connects from loopback too, and a transparent one cannot
///   be told apart. A request that carries a forwarding header (`Forwarded`,
///   `X-Forwarded-*`, `X-Real-IP`, `Via`, `True-Client-IP`, `CF-Connecting-IP` and the like)
///   is refused (it came through a proxy: set a token), and so is one whose `Host` is a name
///   other than `localhost` (or `*.localhost`)
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
    /// Origins (`scheme://host[:port]`, lower case) admitted besides the request's own.
    origins: Arc<[String]>,
}

/// The shortest operator token the reference server accepts (32 characters: 128 bits or more
/// from a random hex or base64 generator). [`OperatorAuth::try_token`] itself refuses only a
/// blank token, so that an application can choose its own rule.
pub const MIN_TOKEN_LEN: usize = 32;

/// A token setting that is empty or only whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operator token is empty or blank")]
pub struct BlankToken;

impl std::fmt::Debug for OperatorAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorAuth")
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .field("hosts", &self.hosts)
            .field("origins", &self.origins)
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
            origins: Arc::default(),
        })
    }

    /// Admits `origin` (`https://ops.example.com`, compared case-insensitively, a trailing `/`
    /// ignored) in the `Origin` of requests besides the listener's own: for a dashboard a
    /// proxy serves under another name than the `Host` it forwards.
    #[must_use]
    pub fn allow_origin(mut self, origin: &str) -> Self {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if !origin.is_empty() {
            let mut origins = self.origins.to_vec();
            origins.push(origin);
            self.origins = origins.into();
        }
        self
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
        self.check_site(parts)?;
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
    /// Refuses what a browser sent for another site (see the type's docs).
    fn check_site(&self, parts: &Parts) -> Result<(), Box<Problem>> {
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            if !self.origin_allowed(origin.as_bytes(), parts) {
                return Err(Box::new(forbidden(
                    "the request's `Origin` is not this listener's own: operator endpoints \
                     refuse requests a page of another site makes",
                )));
            }
            return Ok(());
        }
        let site = parts
            .headers
            .get("sec-fetch-site")
            .map(HeaderValue::as_bytes);
        if matches!(site, Some(b"cross-site" | b"same-site")) {
            let safe = parts.method == Method::GET || parts.method == Method::HEAD;
            let navigation = parts
                .headers
                .get("sec-fetch-mode")
                .is_some_and(|m| m.as_bytes() == b"navigate");
            if !(safe && navigation) {
                return Err(Box::new(forbidden(
                    "`Sec-Fetch-Site` says another site made this request: operator endpoints \
                     answer it only for a page navigation",
                )));
            }
        }
        Ok(())
    }

    /// `Origin` is the request's own (`scheme://` + its `Host`) or an allowed one.
    fn origin_allowed(&self, origin: &[u8], parts: &Parts) -> bool {
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/');
        if self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // `null`, or not an origin
        };
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => "80",
            "https" => "443",
            _ => return false,
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str));
        host.is_some_and(|host| same_authority(authority, host.trim(), default_port))
    }

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

/// Headers a forwarding proxy, CDN or mesh adds.
const FORWARDING_HEADERS: [&str; 16] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-client-cert",
    "x-original-forwarded-for",
    "x-real-ip",
    "via",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-envoy-external-address",
    "x-envoy-original-path",
];

/// `127.0.0.1` or `::1`, with IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) seen as the IPv4
/// they carry; not the rest of 127/8 (a sidecar's `127.0.0.6` forwards strangers).
fn is_loopback(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == std::net::Ipv6Addr::LOCALHOST,
    }
}

/// `a` and `b` (`host[:port]`) name the same host and port, the port defaulting to
/// `default_port`; hosts compared case-insensitively.
fn same_authority(a: &str, b: &str, default_port: &str) -> bool {
    fn split<'a>(authority: &'a str, default_port: &'a str) -> (&'a str, &'a str) {
        let name = host_name(authority);
        let rest = authority.trim().trim_start_matches('[');
        let after = rest.get(name.len()..).unwrap_or("");
        let after = after.trim_start_matches(']');
        let port = after.strip_prefix(':').filter(|p| !p.is_empty());
        (name, port.unwrap_or(default_port))
    }
    let (an, ap) = split(a, default_port);
    let (bn, bp) = split(b, default_port);
    !an.is_empty() && an.eq_ignore_ascii_case(bn) && ap == bp
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
        // The rest of 127/8 is not an operator (a sidecar's 127.0.0.6 forwards strangers).
        for other in ["[::ffff:127.9.8.7]:5", "127.0.0.6:5", "127.0.0.2:5"] {
            assert_eq!(
                auth.check(&parts(None, Some(other))).unwrap_err().status(),
                403,
                "{other}"
            );
        }
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
        for name in FORWARDING_HEADERS {
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

    fn post(headers: &[(&str, &str)]) -> Parts {
        let (mut parts, ()) = Request::post("/metrics/notifications/test")
            .body(())
            .unwrap()
            .into_parts();
        parts
            .extensions
            .insert(ConnectInfo::<SocketAddr>("127.0.0.1:5".parse().unwrap()));
        with_headers(parts, headers)
    }

    #[test]
    fn foreign_origins_are_refused_in_every_mode() {
        for auth in [
            OperatorAuth::loopback_only(),
            OperatorAuth::token("s3cret").allow_origin("https://ops.example.com/"),
        ] {
            let bearer = ("authorization", "Bearer s3cret");
            for (origin, host) in [
                ("http://evil.example", "127.0.0.1:4601"),
                ("null", "127.0.0.1:4601"),
                ("http://127.0.0.1:4600", "127.0.0.1:4601"),
                ("https://127.0.0.1:4601", "127.0.0.1:4601:443"),
                ("http://localhost:4601.evil", "localhost:4601"),
            ] {
                let refused = auth
                    .check(&post(&[("origin", origin), ("host", host), bearer]))
                    .unwrap_err();
                assert_eq!(refused.status(), 403, "{origin} → {host}");
                assert!(refused.detail().unwrap().contains("Origin"), "{refused:?}");
            }
            for (origin, host) in [
                ("http://127.0.0.1:4601", "127.0.0.1:4601"),
                ("HTTP://LOCALHOST:4601", "localhost:4601"),
                ("http://[::1]:4601", "[::1]:4601"),
                ("http://localhost", "localhost:80"),
                ("https://localhost", "localhost"),
            ] {
                assert!(
                    auth.check(&post(&[("origin", origin), ("host", host), bearer]))
                        .is_ok(),
                    "{origin} → {host}"
                );
            }
        }
        let listed = OperatorAuth::token("s3cret").allow_origin("https://ops.example.com/");
        assert!(
            listed
                .check(&post(&[
                    ("origin", "https://OPS.example.com"),
                    ("host", "10.0.0.5:4601"),
                    ("authorization", "Bearer s3cret"),
                ]))
                .is_ok()
        );
    }

    #[test]
    fn cross_site_fetches_pass_only_as_navigations() {
        let auth = OperatorAuth::loopback_only();
        let get = |headers: &[(&str, &str)]| {
            auth.check(&with_headers(parts(None, Some("127.0.0.1:5")), headers))
        };
        // `<img src>` or a no-cors fetch from another site: refused.
        for site in ["cross-site", "same-site"] {
            let refused =
                get(&[("sec-fetch-site", site), ("sec-fetch-mode", "no-cors")]).unwrap_err();
            assert_eq!(refused.status(), 403);
            assert!(refused.detail().unwrap().contains("Sec-Fetch-Site"));
            assert_eq!(
                auth.check(&post(&[
                    ("sec-fetch-site", site),
                    ("sec-fetch-mode", "navigate")
                ]))
                .unwrap_err()
                .status(),
                403
            );
        }
        // A link to the dashboard from a chat message; the page's own fetches; curl.
        assert!(
            get(&[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate")
            ])
            .is_ok()
        );
        assert!(
            get(&[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "cors")
            ])
            .is_ok()
        );
        assert!(get(&[("sec-fetch-site", "none")]).is_ok());
        assert!(get(&[]).is_ok());
        assert!(auth.check(&post(&[])).is_ok());
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
            let _ = same_authority(&text, "127.0.0.1:4601", "80");
        }
    }
}
