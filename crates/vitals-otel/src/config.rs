//! [`OtelConfig`]: the standard `OTEL_*` variables, read and checked once at start-up.

use std::fmt;
use std::time::Duration;

/// The wire protocol of the OTLP exporter (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `grpc` (default port 4317).
    Grpc,
    /// `http/protobuf` (default port 4318, path `/v1/traces`).
    HttpProtobuf,
}

/// Which traces are kept (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio`: this fraction of traces, by trace id.
    Ratio(f64),
    /// `parentbased_always_on` (the default), `parentbased_always_off`,
    /// `parentbased_traceidratio`: the caller's decision when it sent one, else the inner rule.
    ParentBased(ParentRoot),
}

/// The rule a parent-based sampler applies to traces that start here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentRoot {
    /// Keep them all.
    AlwaysOn,
    /// Keep none.
    AlwaysOff,
    /// Keep this fraction, by trace id.
    Ratio(f64),
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

/// Trace export settings. `Debug` shows header names only: their values are credentials.
#[derive(Clone, PartialEq)]
pub struct OtelConfig {
    /// Base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); the traces one
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as is) wins when set.
    pub endpoint: String,
    /// Whether `endpoint` is signal-specific (no `/v1/traces` to add for HTTP).
    pub endpoint_is_traces: bool,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`, `key=value,...`,
    /// percent-decoded).
    pub headers: Vec<(String, String)>,
    /// `service.name` (`OTEL_SERVICE_NAME`, else `service.name` in the resource attributes,
    /// else the given default).
    pub service_name: String,
    /// Other resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// Sampling rule.
    pub sampler: SamplerConfig,
    /// Spans waiting for export at most (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048); more are
    /// dropped and counted.
    pub max_queue_size: usize,
    /// Spans per export at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub max_export_batch_size: usize,
    /// Longest wait before a partial batch is sent (`OTEL_BSP_SCHEDULE_DELAY`, ms, default 5000).
    pub schedule_delay: Duration,
    /// Time limit of one export (`OTEL_EXPORTER_OTLP_TIMEOUT`, ms, default 10000).
    pub timeout: Duration,
}

impl fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtelConfig")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("header_names", &header_names)
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("sampler", &self.sampler)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_export_batch_size", &self.max_export_batch_size)
            .field("schedule_delay", &self.schedule_delay)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Upper bound of `OTEL_BSP_MAX_QUEUE_SIZE`: the queue's memory is bounded by this many spans.
pub const MAX_QUEUE_SIZE: usize = 1 << 16;

impl OtelConfig {
    /// Reads the process environment; see [`from_lookup`](Self::from_lookup).
    ///
    /// # Errors
    /// A variable that is set to an unusable value.
    pub fn from_env(default_service: &str) -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(default_service, |name| std::env::var(name).ok())
    }

    /// Reads the settings through `var`. `Ok(None)` when traces are not configured: no
    /// endpoint variable, `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`.
    ///
    /// ```
    /// use vitals_otel::{OtelConfig, Protocol};
    /// let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
    ///             ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")];
    /// let get = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
    /// let config = OtelConfig::from_lookup("shop", get).unwrap().unwrap();
    /// assert_eq!(config.protocol, Protocol::HttpProtobuf);
    /// assert_eq!(config.service_name, "shop");
    /// assert!(OtelConfig::from_lookup("shop", |_| None).unwrap().is_none());
    /// ```
    ///
    /// # Errors
    /// A variable that is set to an unusable value, named in the error.
    pub fn from_lookup(
        default_service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        if let Some(exporter) = get("OTEL_TRACES_EXPORTER") {
            match exporter.as_str() {
                "none" => return Ok(None),
                "otlp" => {}
                _ => return Err(invalid("OTEL_TRACES_EXPORTER", "expected `otlp` or `none`")),
            }
        }
        let (endpoint, endpoint_is_traces) = match get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(e) => (e, true),
            None => match get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(e) => (e, false),
                None => return Ok(None),
            },
        };
        let endpoint_var = if endpoint_is_traces {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        } else {
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(invalid(endpoint_var, "expected an http:// or https:// URL"));
        }
        let protocol = match get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some(_) => {
                return Err(invalid(
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    "expected `grpc` or `http/protobuf`",
                ));
            }
        };
        let headers = headers(
            "OTEL_EXPORTER_OTLP_HEADERS",
            get("OTEL_EXPORTER_OTLP_HEADERS").as_deref(),
        )?;
        let (service_name, resource_attributes) = resource(&get, default_service)?;
        let (name, arg) = (get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"));
        let sampler = sampler(name.as_deref(), arg.as_deref())?;
        let number = |name: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| invalid(name, format!("expected an integer in 1..={max}"))),
            }
        };
        let max_queue_size = number("OTEL_BSP_MAX_QUEUE_SIZE", 2048, MAX_QUEUE_SIZE as u64)?;
        let max_export_batch_size = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, max_queue_size)?;
        let schedule_delay = number("OTEL_BSP_SCHEDULE_DELAY", 5000, 3_600_000)?;
        let timeout = number("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000, 3_600_000)?;
        Ok(Some(Self {
            endpoint,
            endpoint_is_traces,
            protocol,
            headers,
            service_name,
            resource_attributes,
            sampler,
            max_queue_size: usize::try_from(max_queue_size).unwrap_or(MAX_QUEUE_SIZE),
            max_export_batch_size: usize::try_from(max_export_batch_size).unwrap_or(512),
            schedule_delay: Duration::from_millis(schedule_delay),
            timeout: Duration::from_millis(timeout),
        }))
    }

    /// The URL spans are sent to: the endpoint, plus `/v1/traces` for a base HTTP endpoint.
    #[must_use]
    pub fn traces_url(&self) -> String {
        match self.protocol {
            Protocol::HttpProtobuf if !self.endpoint_is_traces => {
                format!("{}/v1/traces", self.endpoint.trim_end_matches('/'))
            }
            _ => self.endpoint.clone(),
        }
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

/// `service.name` (`OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else
/// `default_service`) and the other resource attributes.
pub(crate) fn resource(
    get: &dyn Fn(&str) -> Option<String>,
    default_service: &str,
) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let mut attributes = match get("OTEL_RESOURCE_ATTRIBUTES") {
        Some(r) => parse_pairs(&r)
            .ok_or_else(|| invalid("OTEL_RESOURCE_ATTRIBUTES", "expected key=value,..."))?,
        None => Vec::new(),
    };
    let from_resource = attributes
        .iter()
        .position(|(k, _)| k == "service.name")
        .map(|i| attributes.remove(i).1);
    let service_name = get("OTEL_SERVICE_NAME")
        .or(from_resource)
        .unwrap_or_else(|| default_service.to_owned());
    Ok((service_name, attributes))
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

fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<SamplerConfig, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        match arg {
            None => Ok(1.0),
            Some(a) => a
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| invalid("OTEL_TRACES_SAMPLER_ARG", "expected a ratio in 0..=1")),
        }
    };
    Ok(match name {
        None | Some("parentbased_always_on") => SamplerConfig::ParentBased(ParentRoot::AlwaysOn),
        Some("always_on") => SamplerConfig::AlwaysOn,
        Some("always_off") => SamplerConfig::AlwaysOff,
        Some("traceidratio") => SamplerConfig::Ratio(ratio()?),
        Some("parentbased_always_off") => SamplerConfig::ParentBased(ParentRoot::AlwaysOff),
        Some("parentbased_traceidratio") => SamplerConfig::ParentBased(ParentRoot::Ratio(ratio()?)),
        Some(_) => {
            return Err(invalid(
                "OTEL_TRACES_SAMPLER",
                "expected always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio",
            ));
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<OtelConfig>, ConfigError> {
        OtelConfig::from_lookup("svc", |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        })
    }
    const EP: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");

    #[test]
    fn unconfigured_or_disabled_is_none() {
        assert_eq!(config(&[]), Ok(None));
        assert_eq!(config(&[EP, ("OTEL_SDK_DISABLED", "true")]), Ok(None));
        assert_eq!(config(&[EP, ("OTEL_TRACES_EXPORTER", "none")]), Ok(None));
    }

    #[test]
    fn reads_every_variable() {
        let c = config(&[
            EP,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s%3Dcret, x-team = core",
            ),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,service.name=fromres",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.headers[0], ("api-key".to_owned(), "s=cret".to_owned()));
        assert_eq!(c.headers[1], ("x-team".to_owned(), "core".to_owned()));
        assert_eq!(c.service_name, "fromres");
        assert_eq!(c.resource_attributes.len(), 1);
        assert_eq!(
            c.sampler,
            SamplerConfig::ParentBased(ParentRoot::Ratio(0.01))
        );
        assert_eq!(c.traces_url(), "http://127.0.0.1:4317");
        let named = config(&[EP, ("OTEL_SERVICE_NAME", "named")])
            .unwrap()
            .unwrap();
        assert_eq!(named.service_name, "named");
        assert_eq!(named.protocol, Protocol::HttpProtobuf);
        assert_eq!(named.traces_url(), "http://127.0.0.1:4317/v1/traces");
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_header_values() {
        for (vars, variable) in [
            (
                vec![EP, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![EP, ("OTEL_TRACES_SAMPLER", "sometimes")],
                "OTEL_TRACES_SAMPLER",
            ),
            (
                vec![
                    EP,
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "2"),
                ],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                vec![EP, ("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
                "OTEL_BSP_MAX_QUEUE_SIZE",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4317")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![EP, ("OTEL_EXPORTER_OTLP_HEADERS", "secretvalue")],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
        ] {
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.starts_with(variable), "{err}");
            assert!(!err.contains("secretvalue"), "{err}");
        }
        let c = config(&[
            EP,
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20hunter2",
            ),
        ])
        .unwrap()
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.headers[0].1, "Bearer hunter2");
    }
}
