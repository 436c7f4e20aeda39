//! [`OtelConfig`]: the standard `OTEL_*` variables, read and checked once at start-up.

use std::fmt;
use std::time::Duration;

use crate::env::{ConfigError, Env, Protocol, check_url, debug_export, headers, invalid, protocol};

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
    /// Headers sent with every export (`OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else
    /// `OTEL_EXPORTER_OTLP_HEADERS`; `key=value,...`, percent-decoded).
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
    /// Which spans are exported (`VITALS_TRACE_LEVEL`, `tracing` filter directives as
    /// `RUST_LOG` takes them, default `info`). The trace layer filters on its own, so
    /// `RUST_LOG` quiets log lines without switching off trace export.
    pub trace_filter: String,
}

impl fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_export(
            &mut f.debug_struct("OtelConfig"),
            ("endpoint", &self.endpoint),
            self.protocol,
            &self.headers,
            &self.service_name,
            &self.resource_attributes,
        )
        .field("sampler", &self.sampler)
        .field("max_queue_size", &self.max_queue_size)
        .field("max_export_batch_size", &self.max_export_batch_size)
        .field("schedule_delay", &self.schedule_delay)
        .field("timeout", &self.timeout)
        .field("trace_filter", &self.trace_filter)
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
        let env = Env::new(var);
        if env.sdk_disabled() || !env.exporter_on("OTEL_TRACES_EXPORTER", true)? {
            return Ok(None);
        }
        let (endpoint_var, endpoint) = env.signal_or_base(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        );
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        let endpoint_is_traces = endpoint_var == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
        check_url(endpoint_var, &endpoint)?;
        let (protocol_var, protocol_value) = env.signal_or_base(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        );
        let protocol = protocol(protocol_var, protocol_value.as_deref())?;
        let (headers_var, headers_value) = env.signal_or_base(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        );
        let headers = headers(headers_var, headers_value.as_deref())?;
        let (service_name, resource_attributes) = env.resource(default_service)?;
        let (name, arg) = (
            env.get("OTEL_TRACES_SAMPLER"),
            env.get("OTEL_TRACES_SAMPLER_ARG"),
        );
        let sampler = sampler(name.as_deref(), arg.as_deref())?;
        let number = |name: &'static str, default: u64, max: u64| {
            env.bounded(name, default, max, "an integer")
        };
        let max_queue_size = number("OTEL_BSP_MAX_QUEUE_SIZE", 2048, MAX_QUEUE_SIZE as u64)?;
        let max_export_batch_size = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, max_queue_size)?;
        let schedule_delay = number("OTEL_BSP_SCHEDULE_DELAY", 5000, 3_600_000)?;
        let timeout = number("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000, 3_600_000)?;
        let trace_filter = trace_filter(env.get("VITALS_TRACE_LEVEL"))?;
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
            trace_filter,
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

/// The default of `VITALS_TRACE_LEVEL`: INFO spans of every target (vitals' request span is
/// made at INFO when an exporter is installed, and so are most applications' spans).
pub const DEFAULT_TRACE_FILTER: &str = "info";

/// `VITALS_TRACE_LEVEL` checked as `tracing` filter directives (`info`, `warn,shop=debug`).
fn trace_filter(value: Option<String>) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| DEFAULT_TRACE_FILTER.to_owned());
    // A bare word is a level (`tracing` would take `inof` as a target and export nothing).
    if let Some(word) = value.split(',').map(str::trim).find(|d| {
        !d.contains(['=', '[', ':'])
            && d.parse::<tracing_subscriber::filter::LevelFilter>()
                .is_err()
    }) {
        return Err(invalid(
            "VITALS_TRACE_LEVEL",
            format!(
                "`{word}` is not a level (off, error, warn, info, debug, trace); a target needs `target=level`"
            ),
        ));
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(&value)
        .map_err(|e| {
            invalid(
                "VITALS_TRACE_LEVEL",
                format!("expected a level or filter directives (`info`, `warn,shop=debug`): {e}"),
            )
        })?;
    Ok(value)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::{assert_refusals_hide_secrets, lookup};

    fn config(vars: &[(&str, &str)]) -> Result<Option<OtelConfig>, ConfigError> {
        OtelConfig::from_lookup("svc", lookup(vars))
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
        let c = assert_refusals_hide_secrets(
            config,
            EP,
            &[
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
                (
                    vec![EP, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")],
                    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                ),
                (
                    vec![EP, ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "secretvalue")],
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                ),
                (
                    vec![EP, ("VITALS_TRACE_LEVEL", "loud")],
                    "VITALS_TRACE_LEVEL",
                ),
                (
                    vec![EP, ("VITALS_TRACE_LEVEL", "info,shop=loud")],
                    "VITALS_TRACE_LEVEL",
                ),
            ],
        );
        assert_eq!(c.headers[0].1, "Bearer hunter2");
    }

    #[test]
    fn trace_level_defaults_to_info_and_takes_directives() {
        let c = config(&[EP]).unwrap().unwrap();
        assert_eq!(c.trace_filter, "info");
        let c = config(&[EP, ("VITALS_TRACE_LEVEL", "warn,shop=debug")])
            .unwrap()
            .unwrap();
        assert_eq!(c.trace_filter, "warn,shop=debug");
    }

    #[test]
    fn traces_headers_come_before_the_base_ones() {
        let c = config(&[
            EP,
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-base=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-traces=2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.headers, vec![("x-traces".to_owned(), "2".to_owned())]);
    }
}
