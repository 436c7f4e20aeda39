//! Operator access to the monitoring endpoints.
//!
//! Load-balancer endpoints (`/health/ping`, `/health`, `/metrics/health`, `/health/pressure`)
//! are public. Everything else (debug, performance data, per-organization data, reclaim,
//! Prometheus) is for operators:
//!
//! - with a token configured ([`OperatorAuth::token`], the operator token), a request must carry `Authorization: Bearer <token>`; the token is
//!   compared in constant time, as SHA-256 digests so that neither its bytes nor its length
//!   show in the time a refusal takes. Otherwise: 401 problem+json with
//!   `WWW-Authenticate: Bearer`.
//! - with none, only loopback clients are admitted (by the socket's peer address, from axum's
//!   `ConnectInfo<SocketAddr>`; proxy headers are not trusted). Otherwise: 403 problem+json.
//!   A server started without `into_make_service_with_connect_info` cannot tell: such a
//!   request is answered 500 problem+json naming that fix (a wiring error, not the client's),
//!   and a warning is logged once.
//!
//! # Example
//!
//! ```
//! use vitals_axum::OperatorAuth;
//!
//! let open_to_loopback = OperatorAuth::loopback_only();
//! let with_token = OperatorAuth::token("s3cret");
//! assert!(format!("{with_token:?}").contains("redacted"));
//! # let _ = open_to_loopback;
//! ```

use std::net::SocketAddr;
use std::sync::Once;

use axum::extract::ConnectInfo;
use http::{HeaderValue, StatusCode, header, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{Problem, missing_connect_info};

/// Who may call operator endpoints; see the [module docs](self).
#[derive(Clone, Default)]
pub struct OperatorAuth {
    /// SHA-256 of the token: compared with the digest of the one a request presents, so the
    /// comparison always covers 32 bytes whatever the lengths.
    token: Option<[u8; 32]>,
}

impl std::fmt::Debug for OperatorAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorAuth")
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

impl OperatorAuth {
    /// Only loopback clients (the default).
    #[must_use]
    pub fn loopback_only() -> Self {
        Self { token: None }
    }

    /// Clients that present `Authorization: Bearer <token>`. An empty token means loopback
    /// only.
    #[must_use]
    pub fn token(token: &str) -> Self {
        let token = token.trim();
        Self {
            token: (!token.is_empty()).then(|| Sha256::digest(token.as_bytes()).into()),
        }
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
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .map(str::trim);
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
                    Some(addr) if addr.ip().is_loopback() => Ok(()),
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
}
