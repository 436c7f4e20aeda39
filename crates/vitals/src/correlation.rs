//! The framework-free rules by which every integration names a request: its correlation id
//! (taken from `x-request-id` when acceptable, else a UUID v4), its W3C trace context
//! (`traceparent`) and its tenant (a route parameter, or a header only when trusted). Adapters
//! (axum, tonic, actix-web) read their framework's headers and hand the bytes here, so the
//! rules and their limits are the same whatever the framework.
//!
//! ```
//! use vitals::{TraceParent, is_valid_request_id, new_request_id};
//!
//! assert!(is_valid_request_id(b"lb:7/a+b=@x_y.z"));
//! assert_eq!(new_request_id().as_str().len(), 36);
//! let t = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_eq!(&t.encode()[..35], b"00-4bf92f3577b34da6a3ce929d0e0e4736");
//! ```

use crate::monitor::{TenantSource, is_valid_organization_id};
use crate::ring::InlineStr;

/// The request header carrying the correlation id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The request header carrying the tenant (read only when the integration trusts it).
pub const ORGANIZATION_HEADER: &str = "x-organization-id";
/// Route path parameters that name the tenant.
pub const ORGANIZATION_PARAMS: [&str; 2] = ["orgId", "organizationId"];
/// The W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// True for an acceptable client-supplied correlation id: 1 to 64 bytes of ASCII letters,
/// digits and `-_.:+/=@` (nothing a log line or a header could be broken with).
///
/// ```
/// assert!(vitals::is_valid_request_id(b"0f5e3a5c-8c1e-4b8e-9c2d-1a2b3c4d5e6f"));
/// assert!(!vitals::is_valid_request_id(b"has space"));
/// assert!(!vitals::is_valid_request_id(&[b'a'; 65]));
/// ```
#[must_use]
pub fn is_valid_request_id(id: &[u8]) -> bool {
    // One table load per byte rather than a chain of range tests: this runs on every request
    // that comes with an id (behind most proxies).
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

/// The request's correlation id: the client's `value` when [`is_valid_request_id`] accepts it,
/// else a new one ([`new_request_id`]). The flag says whether it was the client's.
#[must_use]
pub fn request_id_from(value: Option<&[u8]>) -> (InlineStr, bool) {
    match value
        .filter(|v| is_valid_request_id(v))
        .and_then(InlineStr::from_ascii)
    {
        Some(id) => (id, true),
        None => (new_request_id(), false),
    }
}

/// A new random correlation id: UUID v4 text (RFC 9562), 36 bytes, no allocation.
#[must_use]
pub fn new_request_id() -> InlineStr {
    // 122 random bits; version 4 and variant 10 set as RFC 9562 asks.
    let bits = fastrand::u128(..);
    let hi = (bits >> 64) as u64 & !(0xF << 12) | (0x4 << 12);
    let lo = bits as u64 & !(0x3 << 62) | (0x2 << 62);
    let (hi, lo) = (hex_u64(hi), hex_u64(lo));
    let mut buf = [b'-'; 36];
    buf[..8].copy_from_slice(&hi[..8]);
    buf[9..13].copy_from_slice(&hi[8..12]);
    buf[14..18].copy_from_slice(&hi[12..]);
    buf[19..23].copy_from_slice(&lo[..4]);
    buf[24..].copy_from_slice(&lo[4..]);
    InlineStr::from_ascii_array(buf).unwrap_or_default()
}

/// Lowercase hex of `v`, most significant digit first, without a per-digit loop: the nibbles
/// are spread into bytes and mapped to ASCII with arithmetic on all of them at once (ids are
/// made on every request).
fn hex_u64(v: u64) -> [u8; 16] {
    fn spread(x: u32) -> u64 {
        let x = u64::from(x);
        let x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        let x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f
    }
    fn ascii(n: u64) -> [u8; 8] {
        // Nibbles 10..=15 get 39 more, so that they land on 'a'..='f' after '0' is added.
        let letters = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        (n + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
    }
    let mut out = [0; 16];
    out[..8].copy_from_slice(&ascii(spread((v >> 32) as u32)));
    out[8..].copy_from_slice(&ascii(spread(v as u32)));
    out
}

/// A W3C trace context: the trace a request belongs to, the caller's span and the span this
/// service gives the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// Trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The caller's span, when the request carried a valid `traceparent`.
    pub parent_id: Option<[u8; 8]>,
    /// This service's span id for the request (never all zero).
    pub span_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value per W3C Trace Context: `version-traceid-parentid-flags`,
    /// lowercase hex, version not `ff`, ids not all zero; version `00` has exactly four fields,
    /// later versions may append more (ignored). The result has a fresh span id.
    #[must_use]
    pub fn parse(value: &[u8]) -> Option<Self> {
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

    /// The request's trace: the incoming one when `value` is a valid `traceparent`, else a new
    /// sampled trace.
    #[must_use]
    pub fn from_header(value: Option<&[u8]>) -> Self {
        value.and_then(Self::parse).unwrap_or_else(Self::generate)
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
        let hex = self.encode();
        String::from_utf8_lossy(&hex[3..35]).into_owned()
    }

    /// The `traceparent` to send on: this trace, this service's span (55 ASCII bytes).
    #[must_use]
    pub fn encode(&self) -> [u8; 55] {
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let (hi, lo) = self.trace_id.split_at(8);
        let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
        out[3..19].copy_from_slice(&hex_u64(word(hi)));
        out[19..35].copy_from_slice(&hex_u64(word(lo)));
        out[36..52].copy_from_slice(&hex_u64(u64::from_be_bytes(self.span_id)));
        out[53..].copy_from_slice(&hex_u64(u64::from(self.flags))[14..]);
        out
    }
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

/// The request's tenant and how far it is trusted, from what the framework found: what the
/// application vouched for (an auth layer's value), the route's `{orgId}`/`{organizationId}`
/// parameter (observed: it creates a series only for an answer that is not a client error),
/// and the [`ORGANIZATION_HEADER`] value, read only when `trust_header` (a gateway sets it).
/// Invalid ids ([`is_valid_organization_id`]) are ignored; the first valid source wins in
/// that order.
///
/// ```
/// use vitals::{TenantSource, resolve_tenant};
///
/// let (id, source) = resolve_tenant(None, Some("acme"), Some(b"evil"), false);
/// assert_eq!((id.as_str(), source), ("acme", TenantSource::Observed));
/// let (id, source) = resolve_tenant(None, None, Some(b"acme"), false);
/// assert_eq!((id.as_str(), source), ("", TenantSource::Observed));
/// let (id, source) = resolve_tenant(None, None, Some(b"acme"), true);
/// assert_eq!((id.as_str(), source), ("acme", TenantSource::Vouched));
/// ```
#[must_use]
pub fn resolve_tenant(
    vouched: Option<&str>,
    path_param: Option<&str>,
    header: Option<&[u8]>,
    trust_header: bool,
) -> (InlineStr, TenantSource) {
    if let Some(id) = vouched.filter(|id| is_valid_organization_id(id)) {
        return (InlineStr::new(id), TenantSource::Vouched);
    }
    if let Some(id) = path_param.filter(|id| is_valid_organization_id(id)) {
        return (InlineStr::new(id), TenantSource::Observed);
    }
    if let Some(id) = header
        .filter(|_| trust_header)
        .and_then(|h| std::str::from_utf8(h).ok())
        .filter(|id| is_valid_organization_id(id))
    {
        return (InlineStr::new(id), TenantSource::Vouched);
    }
    (InlineStr::default(), TenantSource::Observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_admits_exactly_the_documented_bytes() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@');
            assert_eq!(is_valid_request_id(&[b]), expected, "byte {b}");
        }
        assert!(is_valid_request_id(&[b'a'; 64]));
        assert!(!is_valid_request_id(&[b'a'; 65]));
        assert!(!is_valid_request_id(b""));
    }

    #[test]
    fn request_ids_are_taken_or_generated() {
        let (id, own) = request_id_from(Some(b"abc-1"));
        assert_eq!((id.as_str(), own), ("abc-1", true));
        let (id, own) = request_id_from(Some(b"<script>"));
        assert!(!own);
        assert_eq!(id.as_str().len(), 36);
        let s = id.as_str();
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
        assert!(is_valid_request_id(s.as_bytes()));
        assert_ne!(new_request_id(), new_request_id());
    }

    #[test]
    fn hex_matches_format() {
        let mut rng = fastrand::Rng::with_seed(7);
        for v in [0, 1, 9, 10, 15, 16, u64::MAX]
            .into_iter()
            .chain(std::iter::repeat_with(|| rng.u64(..)).take(5_000))
        {
            assert_eq!(
                std::str::from_utf8(&hex_u64(v)).unwrap(),
                format!("{v:016x}")
            );
        }
    }

    #[test]
    fn traceparent_round_trips_and_rejects_bad_values() {
        let t = TraceParent::generate();
        let encoded = t.encode();
        let back = TraceParent::parse(&encoded).unwrap();
        assert_eq!(back.trace_id, t.trace_id);
        assert_eq!(back.parent_id, Some(t.span_id));
        assert_eq!(back.flags, 1);
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"garbage",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
        assert!(
            TraceParent::parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
        assert!(TraceParent::from_header(Some(b"bad")).parent_id.is_none());
    }

    #[test]
    fn tenant_sources_in_order() {
        let r = resolve_tenant(Some("auth"), Some("path"), Some(b"hdr"), true);
        assert_eq!((r.0.as_str(), r.1), ("auth", TenantSource::Vouched));
        let r = resolve_tenant(Some("bad id"), Some("path"), None, false);
        assert_eq!((r.0.as_str(), r.1), ("path", TenantSource::Observed));
        let r = resolve_tenant(None, Some("bad id"), Some(b"hdr"), true);
        assert_eq!((r.0.as_str(), r.1), ("hdr", TenantSource::Vouched));
        let r = resolve_tenant(None, None, Some(&[0xff]), true);
        assert_eq!(r.0.as_str(), "");
    }
}
