//! Path normalization: fold raw request paths into bounded route templates.

/// Maximum number of segments copied to the template; further segments are
/// folded into a single trailing `{...}`.
pub const MAX_SEGMENTS: usize = 12;

/// Maximum length in bytes of a template produced by [`normalize_path`].
pub const MAX_TEMPLATE_LEN: usize = 256;

/// Segments longer than this many bytes become `{token}`.
pub const MAX_SEGMENT_LEN: usize = 64;

const ID: &str = "{id}";
const UUID: &str = "{uuid}";
const HEX: &str = "{hex}";
const TOKEN: &str = "{token}";
const EMAIL: &str = "{email}";
const SEGMENT: &str = "{segment}";
const ELLIPSIS: &str = "/{...}";

// Byte classes, one bit each, looked up in `CLASS`.
const C_DIGIT: u16 = 1 << 0; // 0-9
const C_HEX: u16 = 1 << 1; // 0-9 a-f A-F
const C_B64: u16 = 1 << 2; // A-Z a-z 0-9 + = _ -
const C_WORD: u16 = 1 << 3; // A-Z a-z 0-9 _ -
const C_GRAPH: u16 = 1 << 4; // printable ASCII except space: 0x21..=0x7e
const C_UUID: u16 = 1 << 5; // hex digit or -
const C_AT: u16 = 1 << 6; // @
const C_SEP: u16 = 1 << 7; // _ or -
const C_DASH: u16 = 1 << 8; // -
const C_DELIM: u16 = 1 << 9; // / ? # (ends a segment)

const fn build_class_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= C_DIGIT;
        }
        if b.is_ascii_hexdigit() {
            c |= C_HEX | C_UUID;
        }
        if b.is_ascii_alphanumeric() {
            c |= C_B64 | C_WORD;
        }
        if b == b'_' || b == b'-' {
            c |= C_B64 | C_WORD | C_SEP;
        }
        if b == b'-' {
            c |= C_UUID | C_DASH;
        }
        if b == b'+' || b == b'=' {
            c |= C_B64;
        }
        if b.is_ascii_graphic() {
            c |= C_GRAPH;
        }
        if b == b'@' {
            c |= C_AT;
        }
        if b == b'/' || b == b'?' || b == b'#' {
            c |= C_DELIM;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CLASS: [u16; 256] = build_class_table();

/// Normalizes a raw request path into a bounded route template.
///
/// The exact rules are below. The result is at
/// most [`MAX_TEMPLATE_LEN`] bytes long and idempotent:
/// `normalize_path(&normalize_path(p)) == normalize_path(p)`.
///
/// ```
/// use vitals::normalize_path;
///
/// assert_eq!(normalize_path("/users/42/avatar.png"), "/users/{id}/avatar.png");
/// assert_eq!(normalize_path("/commits/4b825dc642cb6eb9a060e54bf8d69288fbee4904"), "/commits/{hex}");
/// ```
///
/// Per-route metrics are keyed by the route template (`/users/{id}`). When the
/// web framework does not tell us which route matched (for example axum
/// without `MatchedPath`, or a 404), [`normalize_path`] derives a template
/// from the raw request path, so that `/users/123/orders/9f8e…` and
/// `/users/456/orders/…` land in the same series.
///
/// ```
/// use vitals::{normalize_path, path_param};
///
/// assert_eq!(
///     normalize_path("/users/123/orders/9f8e7d6c-5b4a-3c2d-1e0f-a1b2c3d4e5f6?page=2"),
///     "/users/{id}/orders/{uuid}",
/// );
/// assert_eq!(normalize_path("//api/v1/keys/ord_8fj3kd93kd/"), "/api/v1/keys/{token}");
/// assert_eq!(normalize_path(""), "/");
///
/// assert_eq!(
///     path_param("/api/orgs/{orgId}/properties", "/api/orgs/acme/properties?x=1", "orgId"),
///     Some("acme"),
/// );
/// ```
///
/// # Rules
///
/// The path is cut at the first `?` or `#` (query and fragment are dropped),
/// then split on `/`. Empty segments are skipped, so repeated slashes collapse
/// and a trailing slash is dropped; a path without segments becomes `/`. A
/// path that does not start with `/` is treated as if it did. Each segment is
/// judged as-is (percent-encoding is *not* decoded: `%31%32` stays `%31%32`,
/// `a%40b` is not an email) by the first matching rule:
///
/// | # | segment                                                              | output      |
/// |---|----------------------------------------------------------------------|-------------|
/// | 1 | longer than 64 bytes (whatever its content)                          | `{token}`   |
/// | 2 | contains a byte outside `!`..=`~` (control, space, DEL, non-ASCII)   | `{segment}` |
/// | 3 | all ASCII digits                                                     | `{id}`      |
/// | 4 | UUID: 8-4-4-4-12 hex digits with dashes, or exactly 32 hex digits (any case) | `{uuid}` |
/// | 5 | at least 8 bytes, all hex digits, at least one decimal digit         | `{hex}`     |
/// | 6 | contains `@`                                                         | `{email}`   |
/// | 7 | at least 20 bytes of `A-Za-z0-9+=_-`, at least one decimal digit     | `{token}`   |
/// | 8 | *prefixed id*: only `A-Za-z0-9_-`; split at the **last** `_` or `-`, the part before it is non-empty and the part after it is at least 8 ASCII alphanumerics with at least one decimal digit (`ord_8fj3kd93kd`, `cus_NffrFeUfNV2Hib`, `order-12345678`) | `{token}` |
/// | 9 | anything else                                                        | kept verbatim |
///
/// Rule 5 requires a decimal digit so that real words made of the letters
/// `a`-`f` (`deadbeef`, `facade`, `added`, `decade`) stay literal. Rule 7 also
/// requires a digit for the same reason; a consequence is that long
/// kebab/snake-case literals containing a digit (`get_user_preferences_v2`)
/// fold to `{token}`, while digit-free ones stay.
///
/// Bounds: at most [`MAX_SEGMENTS`] (12) segments are kept; if more follow,
/// they are replaced by one final `{...}` segment. The output is at most
/// [`MAX_TEMPLATE_LEN`] (256) bytes: when the next segment would pass the
/// limit it becomes `{...}` and normalization stops (if `/{...}` itself does
/// not fit, kept segments are dropped from the end until it does). Hence the
/// output has at most 13 segments and 256 bytes, is printable ASCII, starts
/// with `/`, contains no `?`, `#` or `//`, and normalizing it again returns it
/// unchanged (placeholders like `{id}` are kept verbatim by rule 9).
///
/// # Why hand-written
///
/// No existing crate does *bounded* template folding (caps on segments and
/// bytes, placeholders for ids/UUIDs/tokens), and a regex-based classifier
/// would make several passes per segment on the hot path of every request.
/// This is a single pass over each segment using a 256-entry byte-class
/// table; the only allocation is the growth of the output buffer
/// ([`normalize_path_into`] lets callers reuse one).
pub fn normalize_path(path: &str) -> String {
    // Every kept segment of L >= 1 input bytes yields at most 1 + max(L, 9)
    // output bytes, so this capacity avoids any regrowth.
    let mut out = String::with_capacity(path.len().saturating_mul(10).clamp(8, MAX_TEMPLATE_LEN));
    normalize_path_into(path, &mut out);
    out
}

/// Like [`normalize_path`], but writes into `out` (which is cleared first) so
/// that a buffer can be reused across requests.
///
/// ```
/// use vitals::normalize_path_into;
///
/// let mut buf = String::new();
/// normalize_path_into("/a/1", &mut buf);
/// assert_eq!(buf, "/a/{id}");
/// normalize_path_into("/b/", &mut buf);
/// assert_eq!(buf, "/b");
/// ```
pub fn normalize_path_into(path: &str, out: &mut String) {
    out.clear();
    let bytes = path.as_bytes();
    let mut i = 0;
    let mut kept = 0;
    loop {
        while i < bytes.len() && bytes[i] == b'/' {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'?' || bytes[i] == b'#' {
            break;
        }
        if kept == MAX_SEGMENTS {
            push_ellipsis(out);
            break;
        }
        let (end, segment) = next_segment(path, i);
        i = end;
        if out.len() + 1 + segment.len() > MAX_TEMPLATE_LEN {
            push_ellipsis(out);
            break;
        }
        out.push('/');
        out.push_str(segment);
        kept += 1;
    }
    if out.is_empty() {
        out.push('/');
    }
}

/// Appends the `/{...}` marker, first dropping kept segments from the end
/// until it fits in [`MAX_TEMPLATE_LEN`].
fn push_ellipsis(out: &mut String) {
    while out.len() + ELLIPSIS.len() > MAX_TEMPLATE_LEN {
        let cut = out.rfind('/').unwrap_or(0);
        out.truncate(cut);
    }
    out.push_str(ELLIPSIS);
}

/// Scans the segment starting at `start` (a non-delimiter byte) in one pass and
/// returns its end offset and its template text (a placeholder or the segment
/// itself).
fn next_segment(path: &str, start: usize) -> (usize, &str) {
    let bytes = path.as_bytes();
    let rest = &bytes[start..];
    // Classify at most MAX_SEGMENT_LEN + 1 bytes: one more means rule 1.
    let window = &rest[..rest.len().min(MAX_SEGMENT_LEN + 1)];
    let mut all = u16::MAX; // classes shared by every byte
    let mut any = 0u16; // classes of at least one byte
    let mut dashes = 0usize;
    let mut tail_len = 0usize; // length of the run after the last `_`/`-`
    let mut tail_digit = false;
    let mut len = window.len();
    for (j, &b) in window.iter().enumerate() {
        let c = CLASS[usize::from(b)];
        if c & C_DELIM != 0 {
            len = j;
            break;
        }
        all &= c;
        any |= c;
        dashes += usize::from(c & C_DASH != 0);
        let sep = c & C_SEP != 0;
        tail_len = if sep { 0 } else { tail_len + 1 };
        tail_digit = !sep && (tail_digit || c & C_DIGIT != 0);
    }
    if len > MAX_SEGMENT_LEN {
        // Rule 1: over-long segment. Only its end matters now.
        let end = rest
            .iter()
            .position(|&b| CLASS[usize::from(b)] & C_DELIM != 0)
            .map_or(bytes.len(), |p| start + p);
        return (end, TOKEN);
    }
    let i = start + len;
    // `start` follows a `/` (or is 0) and `i` is at an ASCII delimiter or the
    // end, so both are char boundaries.
    let segment = &path[start..i];
    let seg = segment.as_bytes();
    let len = seg.len();
    let has_digit = any & C_DIGIT != 0;

    let placeholder = if all & C_GRAPH == 0 {
        Some(SEGMENT)
    } else if all & C_DIGIT != 0 {
        Some(ID)
    } else if (len == 32 && all & C_HEX != 0)
        || (len == 36
            && all & C_UUID != 0
            && dashes == 4
            && seg[8] == b'-'
            && seg[13] == b'-'
            && seg[18] == b'-'
            && seg[23] == b'-')
    {
        Some(UUID)
    } else if len >= 8 && all & C_HEX != 0 && has_digit {
        Some(HEX)
    } else if any & C_AT != 0 {
        Some(EMAIL)
    } else if (len >= 20 && all & C_B64 != 0 && has_digit)
        || (all & C_WORD != 0 && tail_len >= 8 && tail_len + 2 <= len && tail_digit)
    {
        // Rule 7 (long opaque token) or rule 8 (prefixed id): with only word
        // bytes, `tail_len + 2 <= len` means a separator with a non-empty
        // prefix before it.
        Some(TOKEN)
    } else {
        None
    };
    (i, placeholder.unwrap_or(segment))
}

/// Returns the segment of `path` at the position of the `{name}` (or `:name`)
/// parameter of the route `template`.
///
/// Segments are compared by position only (literal segments are not checked
/// against the path). The query string and fragment of `path` are ignored, and
/// a leading `/` is optional on both sides. Returns `None` if the template has
/// no such parameter, if a wildcard (`{*rest}` or `*rest`) precedes it, if the
/// path has too few segments, or if the segment is empty. If the parameter is
/// itself the wildcard `{*name}` (or `*name`), the rest of the path from that
/// position is returned (`None` if empty). The segment is returned raw (not
/// percent-decoded); nothing is allocated.
///
/// ```
/// use vitals::path_param;
///
/// let t = "/api/orgs/{orgId}/properties";
/// assert_eq!(path_param(t, "/api/orgs/acme/properties?x=1", "orgId"), Some("acme"));
/// assert_eq!(path_param("/users/:id", "/users/7", "id"), Some("7"));
/// assert_eq!(path_param(t, "/api/orgs", "orgId"), None);
/// assert_eq!(path_param(t, "/api/orgs//properties", "orgId"), None);
/// assert_eq!(path_param("/files/{*path}", "/files/a/b.txt", "path"), Some("a/b.txt"));
/// ```
pub fn path_param<'a>(template: &str, path: &'a str, name: &str) -> Option<&'a str> {
    // Most templates have no parameter at all: one memchr-speed scan answers them.
    if name.is_empty() || !template.bytes().any(|b| matches!(b, b'{' | b':' | b'*')) {
        return None;
    }
    let name = name.as_bytes();
    let template = strip_leading_slash(template).as_bytes();
    let mut position = None;
    for (k, seg) in template.split(|&b| b == b'/').enumerate() {
        let wildcard = seg
            .strip_prefix(b"{*")
            .and_then(|s| s.strip_suffix(b"}"))
            .or_else(|| seg.strip_prefix(b"*"));
        if let Some(wildcard) = wildcard {
            if wildcard == name {
                position = Some((k, true));
                break;
            }
            return None;
        }
        let param = seg
            .strip_prefix(b"{")
            .and_then(|s| s.strip_suffix(b"}"))
            .or_else(|| seg.strip_prefix(b":"));
        if param == Some(name) {
            position = Some((k, false));
            break;
        }
    }
    let (k, is_wildcard) = position?;

    // Find segment `k` of the path (a wildcard extends to the query).
    let path = strip_leading_slash(path);
    let bytes = path.as_bytes();
    let (mut index, mut start, mut end) = (0, 0, bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'?' | b'#' => {
                end = i;
                break;
            }
            b'/' if index == k && !is_wildcard => {
                end = i;
                break;
            }
            b'/' if index < k => {
                index += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    // `start` follows a `/` and `end` is at an ASCII byte or the end: both
    // are char boundaries.
    let value = &path[start..end];
    (index == k && !value.is_empty()).then_some(value)
}

fn strip_leading_slash(s: &str) -> &str {
    s.strip_prefix('/').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(path: &str) -> String {
        normalize_path(path)
    }

    #[test]
    fn root_empty_query_fragment() {
        assert_eq!(n(""), "/");
        assert_eq!(n("/"), "/");
        assert_eq!(n("///"), "/");
        assert_eq!(n("?x=1"), "/");
        assert_eq!(n("/?x=1/2"), "/");
        assert_eq!(n("#frag"), "/");
        assert_eq!(n("/a/1?x=/2"), "/a/{id}");
        assert_eq!(n("/a/b#x/1"), "/a/b");
        assert_eq!(n("/a/b?x#y"), "/a/b");
        assert_eq!(n("/a/b#x?y"), "/a/b");
    }

    #[test]
    fn slashes() {
        assert_eq!(n("/users/"), "/users");
        assert_eq!(n("users"), "/users");
        assert_eq!(n("users/1"), "/users/{id}");
        assert_eq!(n("//users///1//"), "/users/{id}");
        assert_eq!(n("/users//?q"), "/users");
    }

    #[test]
    fn numeric_ids() {
        assert_eq!(n("/users/123/orders/0"), "/users/{id}/orders/{id}");
        assert_eq!(n("/2024/01/31"), "/{id}/{id}/{id}");
        assert_eq!(n("/v1/users"), "/v1/users");
        assert_eq!(n("/-1"), "/-1");
        assert_eq!(n("/1.5"), "/1.5");
    }

    #[test]
    fn uuids() {
        assert_eq!(n("/o/9f8e7d6c-5b4a-3c2d-1e0f-a1b2c3d4e5f6"), "/o/{uuid}");
        assert_eq!(n("/o/9F8E7D6C-5B4A-3C2D-1E0F-A1B2C3D4E5F6"), "/o/{uuid}");
        assert_eq!(
            n("/o/9f8E7d6C-5b4a-3C2d-1e0f-a1B2c3d4e5f6/x"),
            "/o/{uuid}/x"
        );
        assert_eq!(n("/o/9f8e7d6c5b4a3c2d1e0fa1b2c3d4e5f6"), "/o/{uuid}");
        // Dashes in the wrong places: not a UUID (still a long token).
        assert_eq!(n("/o/9f8e7d6c5-b4a-3c2d-1e0f-a1b2c3d4e5f6"), "/o/{token}");
        assert_eq!(n("/o/9f8e7d6c-5b4a-3c2d-1e0f-a1b2c3d4e5f-"), "/o/{token}");
        // Non-hex letter: not a UUID.
        assert_eq!(n("/o/9f8e7d6c-5b4a-3c2d-1e0f-a1b2c3d4e5g6"), "/o/{token}");
        // 31 / 33 hex digits are hex blobs.
        assert_eq!(n("/o/9f8e7d6c5b4a3c2d1e0fa1b2c3d4e5f"), "/o/{hex}");
        assert_eq!(n("/o/9f8e7d6c5b4a3c2d1e0fa1b2c3d4e5f6a"), "/o/{hex}");
    }

    #[test]
    fn hex_blobs() {
        assert_eq!(n("/c/4b825dc642cb6eb9a060e54bf8d69288fbee4904"), "/c/{hex}");
        assert_eq!(n("/c/deadbeef1"), "/c/{hex}");
        assert_eq!(n("/c/0A1B2C3D"), "/c/{hex}");
        assert_eq!(
            n("/sha/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "/sha/{hex}"
        );
        // Words made of a-f letters only stay.
        assert_eq!(
            n("/deadbeef/facade/added/decade/cafebabe"),
            "/deadbeef/facade/added/decade/cafebabe"
        );
        // Too short.
        assert_eq!(n("/c/abc1234"), "/c/abc1234");
    }

    #[test]
    fn long_tokens() {
        assert_eq!(n("/t/eyJhbGciOiJIUzI1NiJ9"), "/t/{token}");
        assert_eq!(n("/t/dXNlcjpwYXNzd29yZDEyMw=="), "/t/{token}");
        assert_eq!(n("/t/01H2XCEJQTF2NBREXX3VQJHP41"), "/t/{token}");
        assert_eq!(n("/t/abc+def=ghi_jkl-mno1"), "/t/{token}");
        // Under 20 bytes, no separator: kept.
        assert_eq!(n("/t/eyJhbGciOiJIUzI1N"), "/t/eyJhbGciOiJIUzI1N");
        // No digit: kept.
        assert_eq!(n("/t/internationalization"), "/t/internationalization");
        assert_eq!(n("/t/get_user_preferences"), "/t/get_user_preferences");
        // A `.` is not a base64 character (JWT-like but short).
        assert_eq!(n("/t/aaaaaaaaaa1.bbbbbbbbbb"), "/t/aaaaaaaaaa1.bbbbbbbbbb");
        // More than 64 bytes: always a token, whatever the content.
        let long = "a".repeat(65);
        assert_eq!(n(&format!("/t/{long}/x")), "/t/{token}/x");
        assert_eq!(
            n(&format!("/t/{}", "a".repeat(64))),
            format!("/t/{}", "a".repeat(64))
        );
        assert_eq!(n(&format!("/t/{}", "é".repeat(40))), "/t/{token}");
        assert_eq!(n(&format!("/t/{}?q", "a.b".repeat(100))), "/t/{token}");
        assert_eq!(n(&"x".repeat(1 << 20)), "/{token}");
    }

    #[test]
    fn prefixed_ids() {
        assert_eq!(n("/orders/ord_8fj3kd93kd"), "/orders/{token}");
        assert_eq!(n("/c/cus_NffrFeUfNV2Hib"), "/c/{token}");
        assert_eq!(n("/o/order-12345678"), "/o/{token}");
        assert_eq!(n("/o/a-b_ord-8fj3kd93"), "/o/{token}");
        // Tail without a digit, too short, or no prefix: kept.
        assert_eq!(n("/o/ord_abcdefgh"), "/o/ord_abcdefgh");
        assert_eq!(n("/o/ord_8fj3kd9"), "/o/ord_8fj3kd9");
        assert_eq!(n("/o/_8fj3kd93kd"), "/o/_8fj3kd93kd");
        assert_eq!(n("/o/8fj3kd93kd"), "/o/8fj3kd93kd");
        // Only the part after the last separator counts.
        assert_eq!(n("/o/ord_8fj3kd93kd_x"), "/o/ord_8fj3kd93kd_x");
        assert_eq!(n("/o/sha256-checksum"), "/o/sha256-checksum");
        assert_eq!(n("/o/my-page-v2"), "/o/my-page-v2");
        assert_eq!(n("/o/ord.8fj3kd93kd"), "/o/ord.8fj3kd93kd");
    }

    #[test]
    fn emails() {
        assert_eq!(
            n("/users/john.doe@example.com/prefs"),
            "/users/{email}/prefs"
        );
        assert_eq!(n("/users/a@b"), "/users/{email}");
        // Not decoded.
        assert_eq!(n("/users/john%40example.com"), "/users/john%40example.com");
    }

    #[test]
    fn percent_encoded_segments_are_judged_as_is() {
        assert_eq!(n("/files/hello%20world"), "/files/hello%20world");
        assert_eq!(n("/files/%31%32%33"), "/files/%31%32%33");
        assert_eq!(n("/files/%E2%82%AC"), "/files/%E2%82%AC");
        assert_eq!(n("/files/a%2Fb"), "/files/a%2Fb");
    }

    #[test]
    fn non_printable_segments() {
        assert_eq!(n("/caf\u{e9}/menu"), "/{segment}/menu");
        assert_eq!(n("/a\tb"), "/{segment}");
        assert_eq!(n("/a b"), "/{segment}");
        assert_eq!(n("/a\u{7f}"), "/{segment}");
        assert_eq!(n("/\u{0}"), "/{segment}");
        assert_eq!(n("/x/\u{1F600}1"), "/x/{segment}");
    }

    #[test]
    fn placeholders_are_fixed_points() {
        let t = "/{id}/{uuid}/{hex}/{token}/{email}/{segment}/{...}/{orgId}/:id";
        assert_eq!(n(t), t);
    }

    #[test]
    fn segment_cap() {
        let twelve = "/a".repeat(12);
        assert_eq!(n(&twelve), twelve);
        assert_eq!(n(&format!("{twelve}/")), twelve);
        assert_eq!(n(&format!("{twelve}/b")), format!("{twelve}/{{...}}"));
        assert_eq!(n(&format!("{twelve}/1/2/3/4")), format!("{twelve}/{{...}}"));
        assert_eq!(n(&format!("{twelve}//?x=/b")), twelve);
        assert_eq!(
            n(&"/1".repeat(10_000)),
            format!("{}/{{...}}", "/{id}".repeat(12))
        );
    }

    #[test]
    fn length_cap() {
        let w = "w".repeat(60);
        // 4 * 61 = 244 bytes fit; the fifth segment would pass 256.
        let four = format!("/{w}").repeat(4);
        assert_eq!(n(&format!("{four}/{w}")), format!("{four}/{{...}}"));
        // 244 + 7 = 251 bytes fit, but then `/{...}` would not: back off.
        let out = n(&format!("{four}/abcdef/{w}"));
        assert_eq!(out, format!("{four}/{{...}}"));
        // Exactly 256 bytes is fine.
        let exact = format!("{four}/{}", "z".repeat(11));
        assert_eq!(exact.len(), 256);
        assert_eq!(n(&exact), exact);
        assert_eq!(n(&format!("{exact}/")), exact);
    }

    #[test]
    fn into_reuses_buffer() {
        let mut buf = String::from("garbage");
        normalize_path_into("/users/1", &mut buf);
        assert_eq!(buf, "/users/{id}");
        normalize_path_into("", &mut buf);
        assert_eq!(buf, "/");
    }

    #[test]
    fn path_param_basics() {
        let t = "/api/orgs/{orgId}/properties";
        assert_eq!(
            path_param(t, "/api/orgs/acme/properties?x=1", "orgId"),
            Some("acme")
        );
        assert_eq!(
            path_param(t, "/api/orgs/acme/properties#f", "orgId"),
            Some("acme")
        );
        assert_eq!(path_param(t, "/api/orgs/acme", "orgId"), Some("acme"));
        assert_eq!(path_param(t, "api/orgs/acme", "orgId"), Some("acme"));
        assert_eq!(
            path_param("api/orgs/{orgId}", "/api/orgs/acme", "orgId"),
            Some("acme")
        );
        assert_eq!(path_param(t, "/api/orgs/a%20b", "orgId"), Some("a%20b"));
        assert_eq!(path_param("/users/:id/x", "/users/7/x", "id"), Some("7"));
        assert_eq!(path_param("/{a}/{b}", "/1/2", "b"), Some("2"));
    }

    #[test]
    fn path_param_none() {
        let t = "/api/orgs/{orgId}/properties";
        assert_eq!(path_param(t, "/api/orgs", "orgId"), None);
        assert_eq!(path_param(t, "/api/orgs/", "orgId"), None);
        assert_eq!(path_param(t, "/api/orgs/?x=acme", "orgId"), None);
        assert_eq!(path_param(t, "/api/orgs//properties", "orgId"), None);
        assert_eq!(path_param(t, "/api/orgs/acme", "org"), None);
        assert_eq!(path_param(t, "/api/orgs/acme", ""), None);
        assert_eq!(path_param("/{}", "/x", ""), None);
        assert_eq!(path_param("/api/{{orgId}}", "/api/acme", "orgId"), None);
        assert_eq!(path_param("/api/orgId", "/api/acme", "orgId"), None);
    }

    #[test]
    fn path_param_wildcards() {
        assert_eq!(path_param("/f/{*rest}/{id}", "/f/a/b", "id"), None);
        assert_eq!(path_param("/f/*rest/:id", "/f/a/b", "id"), None);
        assert_eq!(path_param("/f/{id}/{*rest}", "/f/a/b/c", "id"), Some("a"));
        assert_eq!(
            path_param("/f/{id}/{*rest}", "/f/a/b/c?q", "rest"),
            Some("b/c")
        );
        assert_eq!(path_param("/f/*rest", "/f/b/c", "rest"), Some("b/c"));
        assert_eq!(path_param("/f/{*rest}", "/f/", "rest"), None);
        assert_eq!(path_param("/f/{*rest}", "/f", "rest"), None);
    }

    // ---- property tests -------------------------------------------------

    fn config() -> ProptestConfig {
        // Failing inputs are printed by proptest (and by the assertion
        // messages below); don't write regression files into the crate.
        ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Arbitrary strings: unicode, path-like, huge, many segments.
    fn any_path() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            ".{0,3000}",
            "[/a-zA-Z0-9?#%@._~{}+=:-]{0,600}",
            "[/a-f0-9-]{0,400}",
            prop::collection::vec("[a-zA-Z0-9_@.%-]{0,90}", 0..80).prop_map(|v| v.join("/")),
            prop::collection::vec("[/1é ]{0,5}", 0..500).prop_map(|v| v.concat()),
        ]
    }

    fn check_template(t: &str) -> Result<(), TestCaseError> {
        prop_assert!(t.starts_with('/'), "no leading slash: {t:?}");
        prop_assert!(
            !t.contains('?') && !t.contains('#'),
            "query or fragment: {t:?}"
        );
        prop_assert!(!t.contains("//"), "empty segment: {t:?}");
        prop_assert!(t == "/" || !t.ends_with('/'), "trailing slash: {t:?}");
        prop_assert!(t.len() <= MAX_TEMPLATE_LEN, "too long ({}): {t:?}", t.len());
        let segments = t.split('/').skip(1).filter(|s| !s.is_empty()).count();
        prop_assert!(segments <= MAX_SEGMENTS + 1, "{segments} segments: {t:?}");
        prop_assert!(
            t.bytes().all(|b| b.is_ascii_graphic()),
            "non-printable output: {t:?}"
        );
        Ok(())
    }

    /// A path segment in a generated path: a literal word, or an id of some
    /// kind with two independent random values and the expected placeholder.
    #[derive(Debug, Clone)]
    enum Seg {
        Literal(String),
        Id {
            a: String,
            b: String,
            placeholder: &'static str,
        },
    }

    fn id_pair<S>(strategy: S, placeholder: &'static str) -> impl Strategy<Value = Seg>
    where
        S: Strategy<Value = String> + Clone,
    {
        (strategy.clone(), strategy).prop_map(move |(a, b)| Seg::Id { a, b, placeholder })
    }

    fn hex_blob() -> impl Strategy<Value = String> {
        // 8..=30 bytes (never 32), at least one digit and one letter.
        (
            "[0-9a-fA-F]{3,14}",
            "[0-9]",
            "[a-fA-F]",
            "[0-9a-fA-F]{3,14}",
        )
            .prop_map(|(a, d, l, b)| format!("{a}{d}{l}{b}"))
    }

    fn opaque_token() -> impl Strategy<Value = String> {
        // 20..=62 base64url bytes with a digit and a non-hex letter.
        (
            "[A-Za-z0-9+=_-]{9,30}",
            "[0-9]",
            "[g-zG-Z]",
            "[A-Za-z0-9+=_-]{9,30}",
        )
            .prop_map(|(a, d, l, b)| format!("{a}{d}{l}{b}"))
    }

    fn prefixed_id() -> impl Strategy<Value = String> {
        (
            "[a-z]{1,6}",
            "[_-]",
            "[a-zA-Z0-9]{3,8}",
            "[0-9]",
            "[a-zA-Z0-9]{4,8}",
        )
            .prop_map(|(p, s, a, d, b)| format!("{p}{s}{a}{d}{b}"))
    }

    fn uuid() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            "[0-9a-fA-F]{32}",
        ]
    }

    fn seg() -> impl Strategy<Value = Seg> {
        prop_oneof![
            3 => "[a-z]{1,10}".prop_map(Seg::Literal),
            1 => id_pair("[0-9]{1,20}".boxed(), ID),
            1 => id_pair(uuid().boxed(), UUID),
            1 => id_pair(hex_blob().boxed(), HEX),
            1 => id_pair(opaque_token().boxed(), TOKEN),
            1 => id_pair(prefixed_id().boxed(), TOKEN),
            1 => id_pair("[a-z0-9._+]{1,20}@[a-z]{1,10}\\.[a-z]{2,4}".boxed(), EMAIL),
            1 => id_pair("[!-~&&[^/?#]]{65,200}".boxed(), TOKEN),
            1 => id_pair("[a-z]{1,5}[é\u{0}\t ][a-z]{0,5}".boxed(), SEGMENT),
        ]
    }

    fn build(segs: &[Seg], pick_b: bool) -> String {
        let mut path = String::new();
        for s in segs {
            path.push('/');
            path.push_str(match s {
                Seg::Literal(w) => w,
                Seg::Id { a, b, .. } => {
                    if pick_b {
                        b
                    } else {
                        a
                    }
                }
            });
        }
        path
    }

    fn expected(segs: &[Seg]) -> String {
        let mut t = String::new();
        for (i, s) in segs.iter().enumerate() {
            if i == MAX_SEGMENTS {
                t.push_str(ELLIPSIS);
                break;
            }
            t.push('/');
            t.push_str(match s {
                Seg::Literal(w) => w,
                Seg::Id { placeholder, .. } => placeholder,
            });
        }
        if t.is_empty() {
            t.push('/');
        }
        t
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn prop_idempotent(path in any_path()) {
            let once = normalize_path(&path);
            let twice = normalize_path(&once);
            prop_assert_eq!(&twice, &once, "input: {:?}", path);
        }

        #[test]
        fn prop_bounded_valid_template(path in any_path()) {
            let t = normalize_path(&path);
            check_template(&t)?;
            let mut buf = String::from("junk");
            normalize_path_into(&path, &mut buf);
            prop_assert_eq!(buf, t);
        }

        #[test]
        fn prop_ids_do_not_leak(
            segs in prop::collection::vec(seg(), 0..16),
            query in "(\\?[a-z0-9=&/]{0,12})?",
            trailing in any::<bool>(),
        ) {
            let suffix = format!("{}{query}", if trailing { "/" } else { "" });
            let a = format!("{}{suffix}", build(&segs, false));
            let b = format!("{}{suffix}", build(&segs, true));
            let want = expected(&segs);
            prop_assert_eq!(normalize_path(&a), want.clone(), "path a: {:?}", a);
            prop_assert_eq!(normalize_path(&b), want, "path b: {:?}", b);
        }

        #[test]
        fn prop_path_param_round_trip(
            (k, template_segs, path_segs) in (1usize..10).prop_flat_map(|len| (
                0..len,
                prop::collection::vec(prop_oneof!["[a-z]{1,8}", "\\{q[a-z]{0,3}\\}", ":q[a-z]{0,3}"], len),
                prop::collection::vec("[A-Za-z0-9._~%@-]{1,12}", len),
            )),
            colon in any::<bool>(),
            wildcard_last in any::<bool>(),
            query in "([?#][a-z0-9=&/?#]{0,12})?",
            trailing in any::<bool>(),
        ) {
            let mut template_segs = template_segs;
            template_segs[k] = if colon { ":p".to_owned() } else { "{p}".to_owned() };
            let last = template_segs.len() - 1;
            if wildcard_last && last > k {
                template_segs[last] = "{*rest}".to_owned();
            }
            let template = format!("/{}", template_segs.join("/"));
            let path = format!("/{}{}{query}", path_segs.join("/"), if trailing { "/" } else { "" });
            prop_assert_eq!(
                path_param(&template, &path, "p"),
                Some(path_segs[k].as_str()),
                "template: {:?}, path: {:?}", template, path
            );
        }

        #[test]
        fn prop_path_param_never_panics(template in any_path(), path in any_path(), name in ".{0,8}") {
            if let Some(v) = path_param(&template, &path, &name) {
                prop_assert!(!v.is_empty());
                prop_assert!(!v.contains('?') && !v.contains('#'));
            }
        }
    }
}
