//! OpenTelemetry trace export for vitals.
//!
//! [`init_from_env`] reads the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` `grpc` | `http/protobuf`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `_ARG`) and
//! returns `None` when traces are not configured. Otherwise its [`OtelGuard`] holds the
//! exporter: a `tracing` layer ([`OtelGuard::layer`]) turns spans into OpenTelemetry spans, the
//! monitor's request span becomes a server span carrying vitals' own trace id and span id (its
//! parent from the incoming `traceparent`), and spans wait for export in a bounded queue that
//! drops and counts ([`ExportStats`]) when the collector is down or slow.
//!
//! [`OtelReporter`] shows the export figures in vitals' `/metrics` and `/health/debug`
//! (`VitalsBuilder::reporter`), and [`MetricsExport`] (opt-in: `OTEL_METRICS_EXPORTER=otlp`)
//! pushes vitals' metric families over OTLP once an interval, for backends that take only OTLP.
//!
//! ```no_run
//! use tracing_subscriber::{EnvFilter, prelude::*};
//! let otel = vitals_otel::init_from_env("shop").expect("OTEL_* variables");
//! tracing_subscriber::registry()
//!     // Its own filter: VITALS_TRACE_LEVEL (default `info`).
//!     .with(otel.as_ref().map(|g| g.layer()))
//!     // RUST_LOG governs the log lines only.
//!     .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::from_default_env()))
//!     .init();
//! ```

mod config;
mod convert;
mod env;
mod export;
mod guard;
mod metrics_config;
mod metrics_export;
mod report;
mod runtime_thread;
mod span;

pub use config::{DEFAULT_TRACE_FILTER, MAX_QUEUE_SIZE, OtelConfig, ParentRoot, SamplerConfig};
pub use env::{ConfigError, Protocol, redact_url};
pub use export::ExportStats;
pub use guard::{InitError, OtelGuard, StatsHandle, init, init_from_env};
pub use metrics_config::MetricsConfig;
pub use metrics_export::{MetricExportStats, MetricsExport};
pub use report::OtelReporter;
