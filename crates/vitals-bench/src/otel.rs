//! The OpenTelemetry variants: the monitor with trace context (as `Vitals::layer` sets it),
//! unconfigured (`monitor-trace`, the baseline) and with trace export configured through
//! `vitals-otel`, a `tracing` subscriber holding only its layer, and a sampler that keeps no
//! request (`otel-none`: what a sampled-out request costs), 1% of them (`otel-1pct`:
//! `parentbased_traceidratio` 0.01) or all (`otel-all`: what a sampled and exported request
//! costs, the export thread's encoding and sending included). Spans go over http/protobuf to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://127.0.0.1:4318`: run
//! `scripts/otlp-sink.py 4318` beside it); the queue holds 65,536 spans so none is dropped.

use std::sync::OnceLock;

use axum::Router;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// One of the OpenTelemetry variants.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Otel {
    /// The monitor with trace context, nothing configured.
    Unset,
    /// Export configured, every request sampled out.
    None,
    /// Export configured, 1% of requests sampled (by trace id).
    OnePercent,
    /// Export configured, every request sampled and exported.
    All,
}

impl Otel {
    pub(crate) fn parse(arg: &str) -> Option<Self> {
        match arg {
            "monitor-trace" => Some(Self::Unset),
            "otel-none" => Some(Self::None),
            "otel-1pct" => Some(Self::OnePercent),
            "otel-all" => Some(Self::All),
            _ => None,
        }
    }
}

/// Kept for the life of the process: dropping it would stop the export.
static GUARD: OnceLock<vitals_otel::OtelGuard> = OnceLock::new();

/// `router` under the monitor with trace context; export set up first unless `Unset`.
pub(crate) fn app(router: Router, otel: Otel) -> Router {
    let sampler = match otel {
        Otel::Unset => None,
        Otel::None => Some(("parentbased_always_off", "1")),
        Otel::OnePercent => Some(("parentbased_traceidratio", "0.01")),
        Otel::All => Some(("parentbased_always_on", "1")),
    };
    if let Some((sampler, arg)) = sampler {
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:4318".to_owned());
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER", sampler),
            ("OTEL_TRACES_SAMPLER_ARG", arg),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
        ];
        let config = vitals_otel::OtelConfig::from_lookup("bench-app", |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| unreachable!("the variables above are valid"));
        match vitals_otel::init(&config) {
            Ok(guard) => {
                tracing_subscriber::registry().with(guard.layer()).init();
                let _ = GUARD.set(guard);
            }
            Err(err) => eprintln!("bench-app: OpenTelemetry export not started: {err}"),
        }
    }
    router.layer(vitals_axum::MonitorLayer::new(vitals::Monitor::default()).trace_context(true))
}
