//! The standard `OTEL_*` variables as both the trace and the metrics settings read them:
//! trimmed lookups, the exporter switch, the signal-specific variables that win over the base
//! ones, headers, resource attributes and bounded integers, each error naming its variable.

use std::fmt;

/// The wire protocol of the OTLP exporter (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `grpc` (default port 4317).
    Grpc,
    /// `http/protobuf` (default port 4318, path `/v1/traces`).
    HttpProtobuf,
}

/// A setting that cannot be used: the variable is named, its value only when it is no secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable holds a value outside its documented set or range.
    #[error("{variable}: {reason}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// What is wrong (never the value of a header variable).
        reason: String,
    },
}

pub(crate) fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        reason: reason.into(),
    }
}

/// The variables as read through a lookup function: values trimmed, empty ones unset.
pub(crate) struct Env<F> {
    var: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub(crate) fn new(var: F) -> Self {
        Self { var }
    }

    /// The trimmed value of `name`; `None` when unset or blank.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.var)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `OTEL_SDK_DISABLED=true` (any case): nothing is exported.
    pub(crate) fn sdk_disabled(&self) -> bool {
        self.get("OTEL_SDK_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Whether the exporter variable `name` (`otlp` or `none`) turns the export on; `unset`
    /// when it is not set.
    pub(crate) fn exporter_on(&self, name: &'static str, unset: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(unset),
            Some("none") => Ok(false),
            Some("otlp") => Ok(true),
            Some(_) => Err(invalid(name, "expected `otlp` or `none`")),
        }
    }

    /// The signal-specific variable when set, else the base one, with the name of the one read.
    pub(crate) fn signal_or_base(
        &self,
        signal: &'static str,
        base: &'static str,
    ) -> (&'static str, Option<String>) {
        match self.get(signal) {
            Some(v) => (signal, Some(v)),
            None => (base, self.get(base)),
        }
    }

    /// `service.name` (`OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else `default_service`) and the other resource attributes.
    pub(crate) fn resource(
        &self,
        default_service: &str,
    ) -> Result<(String, Vec<(String, String)>), ConfigError> {
        let mut attributes = match self.get("OTEL_RESOURCE_ATTRIBUTES") {
            Some(r) => parse_pairs(&r)
                .ok_or_else(|| invalid("OTEL_RESOURCE_ATTRIBUTES", "expected key=value,..."))?,
            None => Vec::new(),
        };
        let from_resource = attributes
            .iter()
            .position(|(k, _)| k == "service.name")
            .map(|i| attributes.remove(i).1);
        let service_name = self
            .get("OTEL_SERVICE_NAME")
            .or(from_resource)
            .unwrap_or_else(|| default_service.to_owned());
        Ok((service_name, attributes))
    }

    /// The integer in `name`, in `1..=max` (`what` says what it counts in the error); `default`
    /// when unset.
    pub(crate) fn bounded(
        &self,
        name: &'static str,
        default: u64,
        max: u64,
        what: &str,
    ) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| invalid(name, format!("expected {what} in 1..={max}"))),
        }
    }
}

/// The protocol named by `value` of `variable` (`http/protobuf` when unset).
pub(crate) fn protocol(
    variable: &'static str,
    value: Option<&str>,
) -> Result<Protocol, ConfigError> {
    match value {
        None | Some("http/protobuf") => Ok(Protocol::HttpProtobuf),
        Some("grpc") => Ok(Protocol::Grpc),
        Some(_) => Err(invalid(variable, "expected `grpc` or `http/protobuf`")),
    }
}

/// `url` of `variable` when it is an http:// or https:// URL.
pub(crate) fn check_url(variable: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(variable, "expected an http:// or https:// URL"))
    }
}

/// The headers in `value` of `variable` (`key=value,...`), each a valid HTTP header.
pub(crate) fn headers(
    variable: &'static str,
    value: Option<&str>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let headers = match value {
        Some(h) => parse_pairs(h).ok_or_else(|| invalid(variable, "expected key=value,..."))?,
        None => Vec::new(),
    };
    for (name, value) in &headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
        {
            return Err(invalid(
                variable,
                format!("`{name}` is not a valid header name, or its value is not"),
            ));
        }
    }
    Ok(headers)
}

/// The export fields both settings show in `Debug`: the URL redacted, header names only
/// (their values are credentials).
pub(crate) fn debug_export<'s, 'a, 'b: 'a>(
    d: &'s mut fmt::DebugStruct<'a, 'b>,
    url: (&str, &str),
    protocol: Protocol,
    headers: &[(String, String)],
    service_name: &str,
    resource_attributes: &[(String, String)],
) -> &'s mut fmt::DebugStruct<'a, 'b> {
    let header_names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    d.field(url.0, &redact_url(url.1))
        .field("protocol", &protocol)
        .field("header_names", &header_names)
        .field("service_name", &service_name)
        .field("resource_attributes", &resource_attributes)
}

/// `url` without what may be a credential: user information and the query are replaced by
/// `***` (for `Debug` and `/health/debug`).
///
/// ```
/// assert_eq!(
///     vitals_otel::redact_url("https://user:pw@collector:4318/v1/traces?key=k"),
///     "https://***@collector:4318/v1/traces?***"
/// );
/// assert_eq!(vitals_otel::redact_url("http://127.0.0.1:4317"), "http://127.0.0.1:4317");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, _)) => (r, "?***"),
        None => (rest, ""),
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let sep = if scheme.is_empty() { "" } else { "://" };
    format!("{scheme}{sep}{host}{path}{query}")
}

/// `key=value,key=value` with percent-encoded values (W3C Baggage octets, as the OTLP
/// exporter specification says); `None` when a member has no `=` or an empty key.
fn parse_pairs(s: &str) -> Option<Vec<(String, String)>> {
    s.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|member| {
            let (k, v) = member.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Helpers of the settings' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::ConfigError;

    /// A lookup over `vars`.
    pub(crate) fn lookup<'a>(
        vars: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<String> + 'a {
        |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// Each case's error starts with its variable and never shows `secretvalue`; the settings
    /// from `on` plus a bearer token in `OTEL_EXPORTER_OTLP_HEADERS` never show the token in
    /// `Debug`. Returns those settings.
    pub(crate) fn assert_refusals_hide_secrets<T: std::fmt::Debug>(
        config: impl Fn(&[(&str, &str)]) -> Result<Option<T>, ConfigError>,
        on: (&str, &str),
        cases: &[(Vec<(&str, &str)>, &str)],
    ) -> T {
        for (vars, variable) in cases {
            let err = config(vars).unwrap_err().to_string();
            assert!(err.starts_with(variable), "{err}");
            assert!(!err.contains("secretvalue"), "{err}");
        }
        let c = config(&[
            on,
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20hunter2",
            ),
        ])
        .unwrap()
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        c
    }
}
