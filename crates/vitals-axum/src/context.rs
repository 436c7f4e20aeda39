//! What the monitor knows about a request, and how application code reaches it.
//!
//! - [`RequestId`]: the correlation id. Taken from the request's `x-request-id` when it is
//!   1 to 64 bytes of `A-Z a-z 0-9 - _ . : + / = @`, otherwise generated (a random UUID v4).
//!   It is echoed on the response, inserted into the request's extensions for handlers, and
//!   recorded on the `request` tracing span.
//! - [`Organization`]: the tenant. The monitor takes it, in this order, from an
//!   [`Organization`] in the *response* extensions (set by a handler or an auth layer once it
//!   knows the tenant), from the route's `{orgId}` or `{organizationId}` path parameter, or
//!   from the `x-organization-id` request header.
//!
//! # Example
//!
//! ```
//! use axum::{Extension, Router, routing::get, response::IntoResponse};
//! use vitals_axum::{Organization, RequestId};
//!
//! async fn handler(Extension(id): Extension<RequestId>) -> impl IntoResponse {
//!     // Tell the monitor which tenant this request served.
//!     (Organization::new("acme"), format!("request {}", id.as_str()))
//! }
//! let app: Router = Router::new().route("/whoami", get(handler));
//! ```

use axum::response::{IntoResponseParts, ResponseParts};
use http::HeaderValue;
use std::convert::Infallible;

/// The request header carrying the correlation id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The request header carrying the tenant.
pub const ORGANIZATION_HEADER: &str = "x-organization-id";

/// The correlation id of the current request (in the request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    #[must_use]
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// Takes a client-supplied id if it is acceptable.
    #[must_use]
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        is_valid_request_id(value.as_bytes()).then(|| Self(value.clone()))
    }

    /// A new random id (UUID v4 text).
    #[must_use]
    pub fn generate() -> Self {
        let bits = fastrand::u128(..) & !(0xF000u128 << 64) & !(0xC000u128 << 48)
            | (0x4000u128 << 64)
            | (0x8000u128 << 48);
        let mut buf = [0u8; 36];
        let hex = b"0123456789abcdef";
        let mut nibble = 32;
        for (i, out) in buf.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                *out = b'-';
            } else {
                nibble -= 1;
                *out = hex[((bits >> (nibble * 4)) & 0xF) as usize];
            }
        }
        Self(HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("invalid")))
    }
}

/// True for an acceptable client-supplied correlation id.
#[must_use]
pub fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@')
        })
}

/// The tenant a request served. Put it in a response's extensions (it implements
/// [`IntoResponseParts`]) to tell the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization(pub std::sync::Arc<str>);

impl Organization {
    /// An organization id.
    #[must_use]
    pub fn new(id: &str) -> Self {
        Self(std::sync::Arc::from(id))
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl IntoResponseParts for Organization {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v4_and_valid() {
        let id = RequestId::generate();
        let s = id.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
        assert!(is_valid_request_id(s.as_bytes()));
        assert_ne!(RequestId::generate(), id);
    }

    #[test]
    fn rejects_unsafe_or_long_ids() {
        assert!(is_valid_request_id(b"abc-123_x.y:z"));
        assert!(!is_valid_request_id(b""));
        assert!(!is_valid_request_id(&[b'a'; 65]));
        assert!(!is_valid_request_id(b"a b"));
        assert!(!is_valid_request_id(b"<script>"));
        assert!(!is_valid_request_id(b"a\"b"));
    }
}
