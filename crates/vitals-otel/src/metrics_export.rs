//! [`MetricsExport`]: vitals' metric families pushed over OTLP once an interval, for backends
//! that only take OTLP. One thread with its own Tokio runtime builds the families (the same
//! snapshot `/metrics` renders), converts them and sends one request; nothing runs on the
//! request path. A failed export is counted and the next interval sends the figures again
//! (they are cumulative), so nothing queues up while the collector is down.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message as _;
use vitals::MetricFamily;

use crate::convert::{Origin, request};
use crate::env::{Protocol, redact_url};
use crate::guard::InitError;
use crate::metrics_config::MetricsConfig;
use crate::runtime_thread;

/// What the metrics export has done so far (a plain snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricExportStats {
    /// Exports the collector accepted.
    pub exports: u64,
    /// Exports that failed (collector down, slow or refusing); the next one resends.
    pub failed_exports: u64,
    /// Data points the collector accepted, over all exports.
    pub exported_points: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MetricCounters {
    exports: AtomicU64,
    failed: AtomicU64,
    points: AtomicU64,
}

impl MetricCounters {
    pub(crate) fn snapshot(&self) -> MetricExportStats {
        MetricExportStats {
            exports: self.exports.load(Relaxed),
            failed_exports: self.failed.load(Relaxed),
            exported_points: self.points.load(Relaxed),
        }
    }
}

/// Where the families come from (set once, after the export starts).
type Source = Box<dyn Fn() -> Vec<MetricFamily> + Send + Sync>;

#[derive(Default)]
struct Shared {
    source: OnceLock<Source>,
    counters: Arc<MetricCounters>,
}

/// Running metrics export: give it its families with [`source`](Self::source). Dropping it
/// sends the figures a last time and stops the thread.
pub struct MetricsExport {
    shared: Arc<Shared>,
    stop: SyncSender<()>,
    worker: Mutex<Option<JoinHandle<()>>>,
    pub(crate) settings: serde_json::Value,
}

impl std::fmt::Debug for MetricsExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsExport")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The client of one protocol, made on the export thread.
enum Client {
    Http {
        client: reqwest::Client,
        url: String,
        headers: http::HeaderMap,
    },
    Grpc {
        client: MetricsServiceClient<tonic::transport::Channel>,
        metadata: tonic::metadata::MetadataMap,
    },
}

fn header_map(headers: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes());
        if let (Ok(name), Ok(value)) = (name, http::HeaderValue::from_str(v)) {
            map.append(name, value);
        }
    }
    map
}

impl Client {
    /// Needs the runtime entered (the gRPC channel is made in it; it connects on first use).
    fn new(config: &MetricsConfig) -> Result<Self, String> {
        let headers = header_map(&config.headers);
        match config.protocol {
            Protocol::HttpProtobuf => Ok(Self::Http {
                client: reqwest::Client::builder()
                    .timeout(config.timeout)
                    .build()
                    .map_err(|e| format!("OTLP metrics client: {e}"))?,
                url: config.url.clone(),
                headers,
            }),
            Protocol::Grpc => {
                let endpoint = tonic::transport::Endpoint::from_shared(config.url.clone())
                    .map_err(|_| "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: not a URI".to_owned())?
                    .timeout(config.timeout);
                Ok(Self::Grpc {
                    client: MetricsServiceClient::new(endpoint.connect_lazy()),
                    metadata: tonic::metadata::MetadataMap::from_headers(headers),
                })
            }
        }
    }

    async fn send(&mut self, message: ExportMetricsServiceRequest) -> bool {
        match self {
            Self::Http {
                client,
                url,
                headers,
            } => client
                .post(url.as_str())
                .headers(headers.clone())
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(message.encode_to_vec())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            Self::Grpc { client, metadata } => {
                let mut request = tonic::Request::new(message);
                *request.metadata_mut() = metadata.clone();
                client.export(request).await.is_ok()
            }
        }
    }
}

impl MetricsExport {
    /// Reads [`MetricsConfig::from_env`] and starts; `Ok(None)` when metrics export is not
    /// asked for (`OTEL_METRICS_EXPORTER=otlp`).
    ///
    /// ```
    /// // No OTEL_METRICS_EXPORTER in the doctest's environment:
    /// assert!(vitals_otel::MetricsExport::from_env("shop").unwrap().is_none());
    /// ```
    ///
    /// # Errors
    /// A variable set to an unusable value (named), or a client that cannot be made.
    pub fn from_env(default_service: &str) -> Result<Option<Self>, InitError> {
        match MetricsConfig::from_env(default_service)? {
            Some(config) => Self::start(&config).map(Some),
            None => Ok(None),
        }
    }

    /// Starts the export thread with `config`; it exports nothing until given a
    /// [`source`](Self::source).
    ///
    /// # Errors
    /// The client or the thread could not be made.
    pub fn start(config: &MetricsConfig) -> Result<Self, InitError> {
        let shared = Arc::new(Shared::default());
        let mut resource = vec![("service.name".to_owned(), config.service_name.clone())];
        resource.extend(config.resource_attributes.iter().cloned());
        let origin = Origin {
            resource,
            start: SystemTime::now(),
        };
        let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(1);
        let thread_shared = Arc::clone(&shared);
        let thread_config = config.clone();
        let client_config = config.clone();
        let worker = runtime_thread::spawn(
            "vitals-otel-metrics",
            "metrics export",
            move || Client::new(&client_config),
            move |runtime, mut client| {
                let mut export = || {
                    let Some(source) = thread_shared.source.get() else {
                        return;
                    };
                    let (message, points) = request(&source(), &origin, SystemTime::now());
                    let sent = runtime.block_on(async {
                        tokio::time::timeout(thread_config.timeout, client.send(message)).await
                    });
                    let counters = &thread_shared.counters;
                    if matches!(sent, Ok(true)) {
                        counters.exports.fetch_add(1, Relaxed);
                        counters.points.fetch_add(points, Relaxed);
                    } else {
                        counters.failed.fetch_add(1, Relaxed);
                    }
                };
                loop {
                    match stopped.recv_timeout(thread_config.interval) {
                        Err(RecvTimeoutError::Timeout) => export(),
                        // Stopped: the figures a last time, then out.
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                            export();
                            return;
                        }
                    }
                }
            },
        )
        .map_err(InitError::Export)?;
        let header_names: Vec<&str> = config.headers.iter().map(|(k, _)| k.as_str()).collect();
        let settings = serde_json::json!({
            "url": redact_url(&config.url),
            "protocol": match config.protocol {
                Protocol::Grpc => "grpc",
                Protocol::HttpProtobuf => "http/protobuf",
            },
            "headerNames": header_names,
            "serviceName": config.service_name,
            "intervalMs": u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
            "timeoutMs": u64::try_from(config.timeout.as_millis()).unwrap_or(u64::MAX),
        });
        Ok(Self {
            shared,
            stop,
            worker: Mutex::new(Some(worker)),
            settings,
        })
    }

    /// Where the families come from: typically `move || vitals.metric_families()`, so OTLP
    /// gets what `/metrics` shows. Set once; false (and `source` dropped) when one was set.
    pub fn source(&self, source: impl Fn() -> Vec<MetricFamily> + Send + Sync + 'static) -> bool {
        self.shared.source.set(Box::new(source)).is_ok()
    }

    /// The export figures now.
    #[must_use]
    pub fn stats(&self) -> MetricExportStats {
        self.shared.counters.snapshot()
    }

    /// A reader of the figures (for the reporter).
    pub(crate) fn counters(&self) -> Arc<MetricCounters> {
        Arc::clone(&self.shared.counters)
    }

    /// Stops the thread after a last export, waiting at most `timeout` for it.
    fn stop(&self, timeout: Duration) {
        let _ = self.stop.try_send(());
        let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take()) else {
            return;
        };
        let deadline = std::time::Instant::now() + timeout;
        while !worker.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if worker.is_finished() {
            let _ = worker.join();
        }
    }
}

impl Drop for MetricsExport {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}
