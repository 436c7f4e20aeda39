//! Values that must never be shown: routing keys, webhook URLs with tokens, signing secrets.

use std::fmt;

use reqwest::Url;

/// A secret string. `Debug` prints `Secret(***)`; there is no `Display` and no `Serialize`,
/// so it cannot reach logs, errors or snapshots by accident.
///
/// ```
/// let s = vitals_notify::Secret::new("R0UT1NG");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "R0UT1NG");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A URL whose path or query may carry a token (Slack, generic webhooks). Shown as its scheme,
/// host and port only.
///
/// ```
/// let u = vitals_notify::SecretUrl::parse("https://hooks.slack.com/services/T0/B0/XyZ").unwrap();
/// assert_eq!(u.display_name(), "https://hooks.slack.com");
/// assert!(!format!("{u:?}").contains("XyZ"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Parses an absolute `http` or `https` URL. The error never contains the input.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
        match url.scheme() {
            "http" | "https" => {}
            _ => return Err("URL scheme must be http or https".to_owned()),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("URL has no host".to_owned());
        }
        Ok(Self(url))
    }

    /// Scheme, host and port (when not the default): safe to show.
    pub fn display_name(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{}://{host}:{port}", self.0.scheme()),
            None => format!("{}://{host}", self.0.scheme()),
        }
    }

    /// The full URL, for building a request.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The URL with `path` appended to its own path (`{base}/api/v2/alerts`).
    pub(crate) fn join_path(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({}/***)", self.display_name())
    }
}

/// Replaces every occurrence of each secret in `text` with `***` (for receiver replies that
/// might echo what they were sent).
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_display_hides_path_and_query() {
        let u = SecretUrl::parse("http://127.0.0.1:9093/hook/abc?token=zz").unwrap();
        assert_eq!(u.display_name(), "http://127.0.0.1:9093");
        let dbg = format!("{u:?}");
        assert!(!dbg.contains("abc") && !dbg.contains("zz"), "{dbg}");
    }

    #[test]
    fn bad_urls_rejected_without_echo() {
        for raw in [
            "not a url secret123",
            "ftp://host/secret123",
            "mailto:secret123@x",
        ] {
            let err = SecretUrl::parse(raw).unwrap_err();
            assert!(!err.contains("secret123"), "{err}");
        }
    }

    #[test]
    fn join_path_keeps_prefix() {
        let u = SecretUrl::parse("http://am:9093/prefix/").unwrap();
        assert_eq!(
            u.join_path("/api/v2/alerts").as_str(),
            "http://am:9093/prefix/api/v2/alerts"
        );
        let u = SecretUrl::parse("https://events.pagerduty.com").unwrap();
        assert_eq!(
            u.join_path("v2/enqueue").as_str(),
            "https://events.pagerduty.com/v2/enqueue"
        );
    }

    #[test]
    fn scrub_replaces_secrets() {
        assert_eq!(scrub("bad key R0UT1NG!", &["R0UT1NG"]), "bad key ***!");
    }
}
