//! [`MetricsConfig`]: OTLP export of vitals' metric families, from the standard variables.
//! Opt-in (`OTEL_METRICS_EXPORTER=otlp`): `/metrics` stays the primary way to read vitals, and a
//! service set up to export traces does not start pushing metrics unasked.

use std::fmt;
use std::time::Duration;

use crate::env::{ConfigError, Env, Protocol, check_url, debug_export, headers, protocol};

/// Settings of the periodic OTLP metrics export. `Debug` shows header names only.
#[derive(Clone, PartialEq)]
pub struct MetricsConfig {
    /// Where to send: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/metrics` for HTTP), else
    /// `http://localhost:4318/v1/metrics` (`http://localhost:4317` for gRPC).
    pub url: String,
    /// `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`
    /// (default `http/protobuf`).
    pub protocol: Protocol,
    /// `OTEL_EXPORTER_OTLP_METRICS_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: Vec<(String, String)>,
    /// `service.name`, as for traces.
    pub service_name: String,
    /// Other resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// Time between two exports (`OTEL_METRIC_EXPORT_INTERVAL`, ms, default 60000).
    pub interval: Duration,
    /// Time limit of one export (`OTEL_METRIC_EXPORT_TIMEOUT`, ms, default 30000).
    pub timeout: Duration,
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_export(
            &mut f.debug_struct("MetricsConfig"),
            ("url", &self.url),
            self.protocol,
            &self.headers,
            &self.service_name,
            &self.resource_attributes,
        )
        .field("interval", &self.interval)
        .field("timeout", &self.timeout)
        .finish()
    }
}

impl MetricsConfig {
    /// Reads the process environment; see [`from_lookup`](Self::from_lookup).
    ///
    /// # Errors
    /// A variable that is set to an unusable value.
    pub fn from_env(default_service: &str) -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(default_service, |name| std::env::var(name).ok())
    }

    /// Reads the settings through `var`. `Ok(None)` unless `OTEL_METRICS_EXPORTER=otlp`
    /// (unset and `none` are off), or with `OTEL_SDK_DISABLED=true`.
    ///
    /// ```
    /// use vitals_otel::MetricsConfig;
    /// let vars = [("OTEL_METRICS_EXPORTER", "otlp"),
    ///             ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
    ///             ("OTEL_METRIC_EXPORT_INTERVAL", "10000")];
    /// let get = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
    /// let config = MetricsConfig::from_lookup("shop", get).unwrap().unwrap();
    /// assert_eq!(config.url, "http://127.0.0.1:4318/v1/metrics");
    /// assert_eq!(config.interval.as_secs(), 10);
    /// assert!(MetricsConfig::from_lookup("shop", |_| None).unwrap().is_none());
    /// ```
    ///
    /// # Errors
    /// A variable that is set to an unusable value, named in the error.
    pub fn from_lookup(
        default_service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let env = Env::new(var);
        if env.sdk_disabled() || !env.exporter_on("OTEL_METRICS_EXPORTER", false)? {
            return Ok(None);
        }
        let (protocol_var, protocol_value) = env.signal_or_base(
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        );
        let protocol = protocol(protocol_var, protocol_value.as_deref())?;
        let (url_var, url) = match env.signal_or_base(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ) {
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", Some(url)) => {
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", url)
            }
            (base_var, base) => {
                let base = base.unwrap_or_else(|| match protocol {
                    Protocol::Grpc => "http://localhost:4317".to_owned(),
                    Protocol::HttpProtobuf => "http://localhost:4318".to_owned(),
                });
                let url = match protocol {
                    Protocol::Grpc => base,
                    Protocol::HttpProtobuf => {
                        format!("{}/v1/metrics", base.trim_end_matches('/'))
                    }
                };
                (base_var, url)
            }
        };
        check_url(url_var, &url)?;
        let (headers_var, headers_value) = env.signal_or_base(
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        );
        let headers = headers(headers_var, headers_value.as_deref())?;
        let (service_name, resource_attributes) = env.resource(default_service)?;
        let millis = |name: &'static str, default: u64| {
            env.bounded(name, default, 86_400_000, "milliseconds")
                .map(Duration::from_millis)
        };
        Ok(Some(Self {
            url,
            protocol,
            headers,
            service_name,
            resource_attributes,
            interval: millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000)?,
            timeout: millis("OTEL_METRIC_EXPORT_TIMEOUT", 30_000)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::{assert_refusals_hide_secrets, lookup};

    fn config(vars: &[(&str, &str)]) -> Result<Option<MetricsConfig>, ConfigError> {
        MetricsConfig::from_lookup("svc", lookup(vars))
    }
    const ON: (&str, &str) = ("OTEL_METRICS_EXPORTER", "otlp");

    #[test]
    fn off_unless_asked() {
        let ep = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(config(&[ep]), Ok(None));
        assert_eq!(config(&[ep, ("OTEL_METRICS_EXPORTER", "none")]), Ok(None));
        assert_eq!(config(&[ep, ON, ("OTEL_SDK_DISABLED", "true")]), Ok(None));
    }

    #[test]
    fn signal_specific_variables_win() {
        let c = config(&[
            ON,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.url, "http://m:9/custom");
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.headers, vec![("b".to_owned(), "2".to_owned())]);
        let d = config(&[ON]).unwrap().unwrap();
        assert_eq!(d.url, "http://localhost:4318/v1/metrics");
        assert_eq!(d.interval, Duration::from_secs(60));
        let g = config(&[ON, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .unwrap()
            .unwrap();
        assert_eq!(g.url, "http://localhost:4317");
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_header_values() {
        assert_refusals_hide_secrets(
            config,
            ON,
            &[
                (
                    vec![("OTEL_METRICS_EXPORTER", "prometheus")],
                    "OTEL_METRICS_EXPORTER",
                ),
                (
                    vec![ON, ("OTEL_METRIC_EXPORT_INTERVAL", "0")],
                    "OTEL_METRIC_EXPORT_INTERVAL",
                ),
                (
                    vec![ON, ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "json")],
                    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                ),
                (
                    vec![
                        ON,
                        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4318"),
                    ],
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                ),
                (
                    vec![ON, ("OTEL_EXPORTER_OTLP_HEADERS", "secretvalue")],
                    "OTEL_EXPORTER_OTLP_HEADERS",
                ),
            ],
        );
    }
}
