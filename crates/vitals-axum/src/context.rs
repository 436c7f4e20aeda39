//! What the monitor knows about a request, and how application code reaches it.
//!
//! - [`RequestId`]: the correlation id. Taken from the request's `x-request-id` when it is
//!   1 to 64 bytes of `A-Z a-z 0-9 - _ . : + / = @`, otherwise generated: 16 lowercase hex
//!   digits of 64 random bits (see [`RequestId::generate`]).
//!   It is echoed on the response, recorded on the `request` tracing span (when one is made)
//!   and on log lines through [`RequestFields`](crate::RequestFields). Handlers, and any
//!   code they call on the same task, reach it with [`RequestId::current`] or as an axum
//!   extractor (`id: RequestId`): the layer makes the request's record current on the thread
//!   while it polls the request's future (a task-local in effect), which costs no allocation
//!   (an extension would cost one per request). Tasks the handler spawns do not inherit it;
//!   pass it along.
//! - [`Organization`]: the tenant. The monitor takes it, in this order, from an
//!   [`Organization`] in the *response* extensions (set by a handler or an auth layer once it
//!   knows the tenant), one set with [`Organization::set_current`] or found in the request's
//!   extensions, the route's `{orgId}` or `{organizationId}` path parameter, or the
//!   `x-organization-id` request header when the layer trusts it
//!   ([`MonitorLayer::trust_organization_header`](crate::MonitorLayer::trust_organization_header)).
//!   What the application sets is vouched for; a path parameter creates a tenant series only
//!   when the answer is not a client error (see [`vitals::TenantSource`]).
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get, response::IntoResponse};
//! use vitals_axum::{Organization, RequestId};
//!
//! async fn handler(id: RequestId) -> impl IntoResponse {
//!     // Tell the monitor which tenant this request served.
//!     (Organization::new("acme"), format!("request {}", id.as_str()))
//! }
//! let app: Router = Router::new().route("/whoami", get(handler));
//! ```

use axum::response::{IntoResponseParts, ResponseParts};
use http::HeaderValue;
use std::convert::Infallible;
use vitals::InlineStr;

/// The request header carrying the correlation id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The request header carrying the tenant.
pub const ORGANIZATION_HEADER: &str = "x-organization-id";
/// Route path parameters that name the tenant.
pub const ORGANIZATION_PARAMS: [&str; 2] = ["orgId", "organizationId"];

/// The correlation id of the current request (in the request extensions). Stored inline
/// (at most 64 bytes, validated ASCII), so it is `Copy` and costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(InlineStr);

impl RequestId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The id as a header value (cut from a per-thread buffer: no allocation of its own).
    #[must_use]
    pub fn to_header_value(&self) -> HeaderValue {
        // SAFETY: a `RequestId` is made only by `generate` (hex digits and '-') or by
        // `from_header` after `is_valid_request_id` (letters, digits and a few punctuation
        // marks), and its field is private: visible ASCII.
        #[allow(unsafe_code)]
        unsafe {
            crate::header_arena::header_value_unchecked(self.as_str().as_bytes())
        }
    }

    /// Takes a client-supplied id if it is acceptable.
    #[must_use]
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        is_valid_request_id(bytes)
            .then(|| InlineStr::from_ascii(bytes).map(Self))
            .flatten()
    }

    /// A new random id: 16 lowercase hex digits of 64 random bits (for example
    /// `3f9a0c2e7b41d865`), made without allocation.
    ///
    /// Not a UUID: a UUID's 36 characters cost about 160 instructions more per request to make,
    /// copy into the record and write on the response, and 64 bits keep ids unique enough to
    /// correlate (two alike in a billion requests with a chance of about 1 in 37). An incoming
    /// valid `x-request-id` (a proxy's UUID, say) is kept and echoed as it is.
    #[must_use]
    pub fn generate() -> Self {
        Self(InlineStr::from_ascii_array(hex_u64(fastrand::u64(..))).unwrap_or_default())
    }
}

/// Lowercase hex of `v`, most significant digit first. Written by hand because ids are made on
/// every request: the 16 nibbles are spread into 16 bytes and mapped to ASCII with arithmetic
/// on all bytes at once (SWAR), no per-digit loop or table.
pub(crate) fn hex_u64(v: u64) -> [u8; 16] {
    // 0x0000_0000_abcd_efgh (nibbles) -> 0x0a0b_0c0d_0e0f_0g0h.
    fn spread(x: u32) -> u64 {
        let x = u64::from(x);
        let x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        let x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f
    }
    fn ascii(n: u64) -> [u8; 8] {
        // Bytes 10..=15 get 39 more, so that they land on 'a'..='f' after '0' is added.
        let letters = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        (n + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
    }
    let mut out = [0; 16];
    out[..8].copy_from_slice(&ascii(spread((v >> 32) as u32)));
    out[8..].copy_from_slice(&ascii(spread(v as u32)));
    out
}

/// A W3C trace context (`traceparent`): the trace this request belongs to and the span the
/// service gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// Trace id (16 bytes, never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span (the incoming parent id), if the request carried a valid
    /// `traceparent`.
    pub parent_id: Option<[u8; 8]>,
    /// This service's span id for the request (8 bytes, never all zero).
    pub span_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

fn hex_decode<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None, // the spec requires lowercase
    };
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Lowercase hex of `bytes` into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (chunk, out) in bytes.chunks(8).zip(out.chunks_mut(16)) {
        let mut word = [0; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        out.copy_from_slice(&hex_u64(u64::from_be_bytes(word))[..2 * chunk.len()]);
    }
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    loop {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let r = fastrand::u64(..).to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        if out != [0; N] {
            return out;
        }
    }
}

impl TraceContext {
    /// Parses a `traceparent` header per W3C Trace Context: `version-traceid-parentid-flags`,
    /// lowercase hex, version not `ff`, ids not all zero; version `00` must have exactly four
    /// fields, later versions may append more (ignored). Returns the context with a fresh span id.
    #[must_use]
    pub fn from_traceparent(value: &[u8]) -> Option<Self> {
        if value.len() < 55 {
            return None;
        }
        let version = hex_decode::<1>(&value[0..2])?[0];
        if version == 0xff || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        if version == 0 && value.len() != 55 {
            return None;
        }
        if version != 0 && value.len() > 55 && value[55] != b'-' {
            return None;
        }
        let trace_id = hex_decode::<16>(&value[3..35])?;
        let parent_id = hex_decode::<8>(&value[36..52])?;
        let flags = hex_decode::<1>(&value[53..55])?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id: Some(parent_id),
            span_id: random_nonzero(),
            flags,
        })
    }

    /// A new trace (random ids), sampled.
    #[must_use]
    pub fn generate() -> Self {
        Self {
            trace_id: random_nonzero(),
            parent_id: None,
            span_id: random_nonzero(),
            flags: 1,
        }
    }

    /// The trace id as 32 lowercase hex characters.
    #[must_use]
    pub fn trace_id_hex(&self) -> String {
        let mut out = [0; 32];
        hex_into(&self.trace_id, &mut out);
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }

    /// The `traceparent` to send on: this trace, this service's span.
    #[must_use]
    pub fn to_header_value(&self) -> HeaderValue {
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        // Word by word rather than through `hex_into`: this runs on every request, and the
        // general loop costs 300 instructions more here.
        let (hi, lo) = self.trace_id.split_at(8);
        let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
        out[3..19].copy_from_slice(&hex_u64(word(hi)));
        out[19..35].copy_from_slice(&hex_u64(word(lo)));
        out[36..52].copy_from_slice(&hex_u64(u64::from_be_bytes(self.span_id)));
        out[53..].copy_from_slice(&hex_u64(u64::from(self.flags))[14..]);
        // SAFETY: `out` is the ASCII template above with hex digits written over its zeros.
        #[allow(unsafe_code)]
        unsafe {
            crate::header_arena::header_value_unchecked(&out)
        }
    }
}

/// What application code can know about the request it is serving: set by [`MonitorLayer`]
/// while it polls the handler (in effect a task-local: any code the handler calls on the same
/// task sees it; tasks the handler spawns do not inherit it).
///
/// [`MonitorLayer`]: crate::MonitorLayer
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Correlation id.
    pub request_id: Option<RequestId>,
    /// W3C trace context, when trace propagation is on.
    pub trace: Option<TraceContext>,
    /// Tenant, when known from the application, the path or a trusted header: read it with
    /// [`organization`](Self::organization).
    pub(crate) organization: Option<InlineStr>,
    /// Route template.
    pub route: Option<axum::extract::MatchedPath>,
    /// When the request arrived.
    pub start: std::time::Instant,
}

impl RequestContext {
    /// The tenant, when known from the application, the path or a trusted header.
    #[must_use]
    pub fn organization(&self) -> Option<&str> {
        self.organization.as_ref().map(InlineStr::as_str)
    }
}

/// True for an acceptable client-supplied correlation id: 1 to 64 bytes of ASCII letters,
/// digits and `-_.:+/=@`.
///
/// ```
/// use vitals_axum::is_valid_request_id;
///
/// assert!(is_valid_request_id(b"0f5e3a5c-8c1e-4b8e-9c2d-1a2b3c4d5e6f"));
/// assert!(is_valid_request_id(b"lb:7/a+b=@x_y.z"));
/// assert!(!is_valid_request_id(b""));
/// assert!(!is_valid_request_id(b"has space"));
/// assert!(!is_valid_request_id(&[b'a'; 65]));
/// ```
#[must_use]
pub fn is_valid_request_id(id: &[u8]) -> bool {
    // One table load per byte: the chain of range and character tests was ~10 instructions a
    // byte, 360 for a UUID, on every request that comes with an id (behind most proxies).
    (1..=64).contains(&id.len()) && id.iter().all(|&b| REQUEST_ID_BYTES[usize::from(b)])
}

/// The bytes [`is_valid_request_id`] admits.
static REQUEST_ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@');
        b += 1;
    }
    table
};

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
    fn request_id_table_admits_exactly_the_documented_bytes() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@');
            assert_eq!(is_valid_request_id(&[b]), expected, "byte {b}");
            assert_eq!(is_valid_request_id(&[b'a', b, b'z']), expected, "byte {b}");
        }
        assert!(is_valid_request_id(&[b'a'; 64]));
        assert!(!is_valid_request_id(&[b'a'; 65]));
    }

    #[test]
    fn generated_ids_are_16_lowercase_hex_digits_and_valid() {
        let id = RequestId::generate();
        assert!(is_valid_request_id(id.as_str().as_bytes()));
        assert_ne!(RequestId::generate(), id);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = RequestId::generate();
            let s = id.as_str();
            assert_eq!(s.len(), 16, "{s}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{s}"
            );
            assert!(seen.insert(s.to_owned()), "{s} twice");
        }
    }

    #[test]
    fn hex_matches_format() {
        let mut rng = fastrand::Rng::with_seed(7);
        for v in [0, 1, 9, 10, 15, 16, u64::MAX, 0x0123_4567_89ab_cdef]
            .into_iter()
            .chain(std::iter::repeat_with(|| rng.u64(..)).take(10_000))
        {
            assert_eq!(
                std::str::from_utf8(&hex_u64(v)).unwrap(),
                format!("{v:016x}")
            );
        }
    }

    #[test]
    fn traceparent_round_trips() {
        let t = TraceContext::generate();
        let v = t.to_header_value();
        let s = v.to_str().unwrap();
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(s, format!("00-{}-{}-01", hex(&t.trace_id), hex(&t.span_id)));
        assert_eq!(t.trace_id_hex(), hex(&t.trace_id));
        let back = TraceContext::from_traceparent(s.as_bytes()).unwrap();
        assert_eq!(back.trace_id, t.trace_id);
        assert_eq!(back.parent_id, Some(t.span_id));
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
