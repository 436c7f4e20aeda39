//! [`init`] / [`init_from_env`]: the tracer provider, its export thread and the `tracing` layer,
//! owned by an [`OtelGuard`] that flushes and stops the export when dropped.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::layer::Layer as _;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{OtelConfig, ParentRoot, SamplerConfig};
use crate::env::{ConfigError, Protocol};
use crate::export::{Batching, Counters, ExportStats, MakeExporter, QueueProcessor};
use crate::span::{HOOKS, VitalsIds};

/// Why trace export could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A variable holds an unusable value.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The exporter or its thread could not be made.
    #[error("OpenTelemetry export: {0}")]
    Export(String),
}

/// Running trace export. Dropping it exports what is queued and stops the export thread.
#[derive(Debug)]
pub struct OtelGuard {
    provider: SdkTracerProvider,
    tracer: Tracer,
    stats: StatsHandle,
    /// Which spans are exported (`OtelConfig::trace_filter`, checked).
    trace_filter: String,
    /// The settings as `/health/debug` shows them (no header values, no URL credentials).
    pub(crate) settings: serde_json::Value,
}

/// A cheap, cloneable reader of the export figures (for `/metrics` and `/health/debug`).
#[derive(Debug, Clone)]
pub struct StatsHandle(pub(crate) Arc<Counters>);

impl StatsHandle {
    /// The figures now.
    #[must_use]
    pub fn snapshot(&self) -> ExportStats {
        self.0.snapshot()
    }
}

/// Reads the standard variables ([`OtelConfig::from_env`]) and starts export; `Ok(None)` when
/// traces are not configured (then nothing is installed and requests pay nothing).
///
/// ```
/// // No OTEL_EXPORTER_OTLP_ENDPOINT in the doctest's environment:
/// assert!(vitals_otel::init_from_env("shop").unwrap().is_none());
/// ```
///
/// # Errors
/// A variable set to an unusable value (named), or an exporter that cannot be made.
pub fn init_from_env(default_service: &str) -> Result<Option<OtelGuard>, InitError> {
    match OtelConfig::from_env(default_service)? {
        Some(config) => init(&config).map(Some),
        None => Ok(None),
    }
}

fn sampler(config: SamplerConfig) -> Sampler {
    let root = |r: ParentRoot| match r {
        ParentRoot::AlwaysOn => Sampler::AlwaysOn,
        ParentRoot::AlwaysOff => Sampler::AlwaysOff,
        ParentRoot::Ratio(r) => Sampler::TraceIdRatioBased(r),
    };
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::Ratio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBased(r) => Sampler::ParentBased(Box::new(root(r))),
    }
}

fn make_exporter(config: &OtelConfig) -> MakeExporter {
    let url = config.traces_url();
    let timeout = config.timeout;
    let headers = config.headers.clone();
    match config.protocol {
        Protocol::HttpProtobuf => Box::new(move || {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(url)
                .with_timeout(timeout)
                .with_headers(headers.into_iter().collect::<HashMap<_, _>>())
                .build()
        }),
        Protocol::Grpc => Box::new(move || {
            let mut map = http::HeaderMap::new();
            for (k, v) in headers {
                let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes());
                if let (Ok(name), Ok(value)) = (name, http::HeaderValue::from_str(&v)) {
                    map.append(name, value);
                }
            }
            let metadata =
                opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map);
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(url)
                .with_timeout(timeout)
                .with_metadata(metadata)
                .build()
        }),
    }
}

/// Starts export with `config`, installs vitals-axum's request span hooks (so that request
/// spans become server spans with vitals' trace ids) and the W3C trace-context propagator.
///
/// # Errors
/// The exporter or its thread could not be made.
pub fn init(config: &OtelConfig) -> Result<OtelGuard, InitError> {
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attributes(
            config
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .build();
    let counters = Arc::new(Counters::default());
    let processor = QueueProcessor::start(
        make_exporter(config),
        resource.clone(),
        Batching {
            queue: config.max_queue_size,
            batch: config.max_export_batch_size,
            delay: config.schedule_delay,
            timeout: config.timeout,
        },
        Arc::clone(&counters),
    )
    .map_err(InitError::Export)?;
    let provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(config.sampler))
        .with_id_generator(VitalsIds::default())
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("vitals");
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    vitals_axum::install_request_span_hooks(HOOKS);
    Ok(OtelGuard {
        provider,
        tracer,
        stats: StatsHandle(counters),
        trace_filter: config.trace_filter.clone(),
        settings: settings_json(config),
    })
}

/// What `/health/debug` shows of `config`: header names only, the endpoint without credentials.
fn settings_json(config: &OtelConfig) -> serde_json::Value {
    let sampler = match config.sampler {
        SamplerConfig::AlwaysOn => "always_on".to_owned(),
        SamplerConfig::AlwaysOff => "always_off".to_owned(),
        SamplerConfig::Ratio(r) => format!("traceidratio {r}"),
        SamplerConfig::ParentBased(ParentRoot::AlwaysOn) => "parentbased_always_on".to_owned(),
        SamplerConfig::ParentBased(ParentRoot::AlwaysOff) => "parentbased_always_off".to_owned(),
        SamplerConfig::ParentBased(ParentRoot::Ratio(r)) => {
            format!("parentbased_traceidratio {r}")
        }
    };
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    serde_json::json!({
        "url": crate::env::redact_url(&config.traces_url()),
        "protocol": match config.protocol {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        },
        "headerNames": config.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        "serviceName": config.service_name,
        "sampler": sampler,
        "maxQueueSize": config.max_queue_size,
        "maxExportBatchSize": config.max_export_batch_size,
        "scheduleDelayMs": ms(config.schedule_delay),
        "timeoutMs": ms(config.timeout),
        "traceLevel": config.trace_filter,
    })
}

impl OtelGuard {
    /// The `tracing` layer that turns spans into OpenTelemetry spans, with its own filter
    /// (`VITALS_TRACE_LEVEL`, default `info`). Give the log output its own filter too
    /// (`fmt::layer().with_filter(EnvFilter::from_default_env())`) rather than a global one:
    /// then `RUST_LOG=error` quiets the log lines and the spans are still exported. Spans
    /// neither filter wants are not made at all (vitals' request span included).
    ///
    /// ```no_run
    /// use tracing_subscriber::{EnvFilter, prelude::*};
    /// let otel = vitals_otel::init_from_env("shop").expect("OTEL_* variables");
    /// tracing_subscriber::registry()
    ///     .with(otel.as_ref().map(|g| g.layer()))
    ///     .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::from_default_env()))
    ///     .init();
    /// ```
    #[must_use]
    pub fn layer<S>(
        &self,
    ) -> Filtered<tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>, EnvFilter, S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        // Checked when the settings were read; `info` is the fallback that cannot fail.
        let filter = EnvFilter::builder()
            .parse(&self.trace_filter)
            .unwrap_or_else(|_| EnvFilter::new(crate::config::DEFAULT_TRACE_FILTER));
        self.unfiltered_layer().with_filter(filter)
    }

    /// The trace layer without a filter of its own, for a subscriber that filters globally
    /// (then spans it should see must pass that filter at INFO or finer).
    #[must_use]
    pub fn unfiltered_layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            .with_location(false)
            .with_threads(false)
            .with_target(false)
    }

    /// The export figures now.
    #[must_use]
    pub fn stats(&self) -> ExportStats {
        self.stats.snapshot()
    }

    /// A reader of the figures that outlives borrows of the guard.
    #[must_use]
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Exports every ended span now (waits for the export).
    ///
    /// # Errors
    /// The export thread is gone or did not answer in 30 s.
    pub fn flush(&self) -> Result<(), InitError> {
        self.provider
            .force_flush()
            .map_err(|e| InitError::Export(e.to_string()))
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}
