//! `Accept` header q-values (RFC 9110 §12.5.1): which media ranges a client lists, and the
//! quality it gives one media type.
//!
//! Both exposition negotiation and HTML-or-JSON pages ask the same question, "how much does
//! this client want `type/subtype`?", so the parsing lives here once. Parsing never fails:
//! a range without `/` is skipped, and a `q` that does not parse or lies outside `0..=1`
//! counts as `0` (not acceptable).
//!
//! ```
//! use vitals::accept_quality;
//!
//! let accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
//! let html = accept_quality(accept, "text/html").unwrap();
//! assert_eq!((html.q, html.exact), (1.0, true));
//! let json = accept_quality(accept, "application/json").unwrap();
//! assert_eq!((json.q, json.exact), (0.8, false)); // from `*/*`
//! assert!(accept_quality("image/png", "text/html").is_none());
//! ```

/// One media range of an `Accept` header: `type/subtype;param=value;q=0.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaRange<'a> {
    /// The type (`text`, or `*`), trimmed, as written.
    pub type_: &'a str,
    /// The subtype (`html`, or `*`), trimmed, as written.
    pub subtype: &'a str,
    /// The range's quality, `0.0..=1.0` (1 without a `q` parameter; 0 when `q` is invalid).
    pub q: f32,
    /// The parameters after the media type, unparsed (`;version=1.0.0;q=0.5`).
    params: &'a str,
}

impl<'a> MediaRange<'a> {
    /// The value of parameter `name` (case-insensitive), trimmed and unquoted; the last one
    /// when it is repeated.
    ///
    /// ```
    /// let range = vitals::media_ranges("application/openmetrics-text; version=\"1.0.0\"")
    ///     .next()
    ///     .unwrap();
    /// assert_eq!(range.param("Version"), Some("1.0.0"));
    /// assert_eq!(range.param("charset"), None);
    /// ```
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .split(';')
            .rev()
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().trim_matches('"'))
    }

    /// How specifically this range names `media` (`type/subtype`, case-insensitive):
    /// 3 for the exact type, 2 for `type/*`, 1 for `*/*`; `None` when it does not match.
    ///
    /// ```
    /// let range = vitals::media_ranges("text/*").next().unwrap();
    /// assert_eq!(range.specificity("text/plain"), Some(2));
    /// assert_eq!(range.specificity("application/json"), None);
    /// ```
    #[must_use]
    pub fn specificity(&self, media: &str) -> Option<u8> {
        let (ty, subtype) = media.split_once('/')?;
        match (self.type_, self.subtype) {
            ("*", "*") => Some(1),
            (t, "*") if t.eq_ignore_ascii_case(ty) => Some(2),
            (t, s) if t.eq_ignore_ascii_case(ty) && s.eq_ignore_ascii_case(subtype) => Some(3),
            _ => None,
        }
    }
}

/// The media ranges of an `Accept` header value, in order; entries without a `/` are skipped.
/// Several header lines can be joined with `,` first.
///
/// ```
/// let ranges: Vec<_> = vitals::media_ranges("text/plain;q=0.5, junk, */*;q=bogus").collect();
/// assert_eq!(ranges.len(), 2);
/// assert_eq!((ranges[0].subtype, ranges[0].q), ("plain", 0.5));
/// assert_eq!((ranges[1].type_, ranges[1].q), ("*", 0.0));
/// ```
pub fn media_ranges(accept: &str) -> impl Iterator<Item = MediaRange<'_>> {
    accept.split(',').filter_map(|entry| {
        let (media, params) = entry.split_once(';').unwrap_or((entry, ""));
        let (type_, subtype) = media.trim().split_once('/')?;
        let mut range = MediaRange {
            type_: type_.trim(),
            subtype: subtype.trim(),
            q: 1.0,
            params,
        };
        if let Some(q) = range.param("q") {
            range.q = q
                .parse::<f32>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))
                .unwrap_or(0.0);
        }
        Some(range)
    })
}

/// The quality an `Accept` header gives one media type; see [`accept_quality`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcceptQuality {
    /// The q-value that applies, `0.0..=1.0` (0: not acceptable).
    pub q: f32,
    /// The range it comes from names the media type exactly (not `type/*` or `*/*`).
    pub exact: bool,
}

/// The quality `accept` gives `media` (`type/subtype`): the `q` of the most specific range
/// that matches it (the exact type, else `type/*`, else `*/*`; among equally specific ranges
/// the highest `q`), or `None` when no range matches.
///
/// ```
/// use vitals::accept_quality;
///
/// let q = |accept, media| accept_quality(accept, media).map(|a| a.q);
/// assert_eq!(q("text/*;q=0.3, text/plain;q=0.7", "text/plain"), Some(0.7));
/// assert_eq!(q("text/*;q=0.3, */*", "text/csv"), Some(0.3));
/// assert_eq!(q("application/json", "text/html"), None);
/// ```
#[must_use]
pub fn accept_quality(accept: &str, media: &str) -> Option<AcceptQuality> {
    let mut best: Option<(u8, f32)> = None;
    for range in media_ranges(accept) {
        let Some(specificity) = range.specificity(media) else {
            continue;
        };
        best = match best {
            Some((s, q)) if s > specificity => Some((s, q)),
            Some((s, q)) if s == specificity => Some((s, q.max(range.q))),
            _ => Some((specificity, range.q)),
        };
    }
    best.map(|(specificity, q)| AcceptQuality {
        q,
        exact: specificity == 3,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn specificity_and_ties() {
        let a = accept_quality("*/*;q=0.1, text/*;q=0.2, text/html;q=0.6", "text/html").unwrap();
        assert_eq!((a.q, a.exact), (0.6, true));
        let a = accept_quality("text/html;q=0.2, TEXT/HTML;q=0.4", "text/html").unwrap();
        assert_eq!(a.q, 0.4);
        assert_eq!(accept_quality("text/html;q=0", "text/html").unwrap().q, 0.0);
        assert_eq!(
            accept_quality("text/html;q=1.5", "text/html").unwrap().q,
            0.0
        );
        assert_eq!(
            accept_quality("text/html;q=NaN", "text/html").unwrap().q,
            0.0
        );
        assert_eq!(accept_quality("", "text/html"), None);
        assert_eq!(accept_quality("text/html", "not-a-media-type"), None);
    }

    #[test]
    fn params_are_trimmed_unquoted_and_the_last_wins() {
        let r = media_ranges(" application/x ; v = \"2\" ;v=3 ; q = 0.5 ")
            .next()
            .unwrap();
        assert_eq!((r.type_, r.subtype, r.q), ("application", "x", 0.5));
        assert_eq!(r.param("V"), Some("3"));
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic_and_q_stays_in_range(
            accept in ".{0,200}",
            media in "[a-z*]{0,8}/[a-z*+.-]{0,12}",
        ) {
            for range in media_ranges(&accept) {
                prop_assert!((0.0..=1.0).contains(&range.q));
                let _ = range.param("q");
                let _ = range.specificity(&media);
            }
            if let Some(a) = accept_quality(&accept, &media) {
                prop_assert!((0.0..=1.0).contains(&a.q));
            }
        }
    }
}
