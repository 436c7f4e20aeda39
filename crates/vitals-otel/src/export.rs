//! [`QueueProcessor`]: spans wait in a bounded queue and one thread exports them in batches;
//! a full queue or a failed export drops spans and counts them ([`ExportStats`]). Written here
//! rather than the SDK's batch processor because that one keeps its drop count private, and
//! because its thread has no Tokio runtime for the gRPC and async HTTP clients (this one does).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::runtime_thread;

/// What the exporter has done so far: a plain snapshot for `/metrics` and `/health/debug`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans the collector accepted.
    pub exported_spans: u64,
    /// Spans lost: the queue was full, or their export failed.
    pub dropped_spans: u64,
    /// Of those, dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Exports that failed (collector down, slow or refusing).
    pub failed_exports: u64,
    /// Queue capacity in spans (the bound on what waits).
    pub queue_capacity: u64,
    /// Spans waiting in the queue now (at most `queue_capacity`).
    pub queue_depth: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    exported: AtomicU64,
    dropped_full: AtomicU64,
    dropped_failed: AtomicU64,
    failed_exports: AtomicU64,
    capacity: AtomicU64,
    /// Spans sent into the queue and not yet taken by the export thread.
    queued: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ExportStats {
        let full = self.dropped_full.load(Relaxed);
        ExportStats {
            exported_spans: self.exported.load(Relaxed),
            dropped_spans: full + self.dropped_failed.load(Relaxed),
            dropped_queue_full: full,
            failed_exports: self.failed_exports.load(Relaxed),
            queue_capacity: self.capacity.load(Relaxed),
            queue_depth: self.queued.load(Relaxed),
        }
    }
}

enum Message {
    Span(Box<SpanData>),
    Flush(SyncSender<()>),
    Shutdown(SyncSender<()>),
}

/// Batch settings of the export thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub(crate) queue: usize,
    pub(crate) batch: usize,
    pub(crate) delay: Duration,
    pub(crate) timeout: Duration,
}

/// A span processor with a bounded queue and an export thread.
#[derive(Debug)]
pub(crate) struct QueueProcessor {
    queue: SyncSender<Message>,
    counters: Arc<Counters>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// What makes the exporter, run on the export thread inside its runtime (the gRPC channel
/// needs one to be made).
pub(crate) type MakeExporter = Box<
    dyn FnOnce() -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError>
        + Send,
>;

impl QueueProcessor {
    /// Starts the export thread; fails when the exporter cannot be made.
    pub(crate) fn start(
        make: MakeExporter,
        resource: Resource,
        batching: Batching,
        counters: Arc<Counters>,
    ) -> Result<Self, String> {
        counters.capacity.store(batching.queue as u64, Relaxed);
        // Bounded: at most `queue` spans wait (a boxed span each); the request path only
        // ever tries to send.
        let (tx, rx) = std::sync::mpsc::sync_channel(batching.queue);
        let worker_counters = Arc::clone(&counters);
        let worker = runtime_thread::spawn(
            "vitals-otel-export",
            "export",
            move || make().map_err(|e| format!("OTLP exporter: {e}")),
            move |runtime, mut exporter| {
                exporter.set_resource(&resource);
                run(runtime, &exporter, &rx, batching, &worker_counters);
                let _ = exporter.shutdown();
            },
        )?;
        Ok(Self {
            queue: tx,
            counters,
            worker: Mutex::new(Some(worker)),
        })
    }

    fn control(&self, make: fn(SyncSender<()>) -> Message, timeout: Duration) -> OTelSdkResult {
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        self.queue
            .send(make(ack_tx))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        ack_rx
            .recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

/// The export loop: gathers up to `batch` spans or waits `delay`, exports, counts.
fn run(
    runtime: &tokio::runtime::Runtime,
    exporter: &opentelemetry_otlp::SpanExporter,
    rx: &Receiver<Message>,
    batching: Batching,
    counters: &Counters,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(batching.batch);
    let mut deadline = Instant::now() + batching.delay;
    let export = |batch: &mut Vec<SpanData>| {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let spans = std::mem::take(batch);
        let result = runtime.block_on(async {
            tokio::time::timeout(batching.timeout, exporter.export(spans)).await
        });
        if matches!(result, Ok(Ok(()))) {
            counters.exported.fetch_add(n, Relaxed);
        } else {
            counters.dropped_failed.fetch_add(n, Relaxed);
            counters.failed_exports.fetch_add(1, Relaxed);
        }
    };
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Message::Span(span)) => {
                counters.queued.fetch_sub(1, Relaxed);
                batch.push(*span);
                if batch.len() >= batching.batch {
                    export(&mut batch);
                    deadline = Instant::now() + batching.delay;
                }
            }
            Ok(Message::Flush(ack)) => {
                // What was queued before the flush request is in the batch by now.
                export(&mut batch);
                let _ = ack.send(());
            }
            Ok(Message::Shutdown(ack)) => {
                export(&mut batch);
                let _ = ack.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                export(&mut batch);
                deadline = Instant::now() + batching.delay;
            }
            Err(RecvTimeoutError::Disconnected) => {
                export(&mut batch);
                return;
            }
        }
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Never blocks the request: a full queue (collector slow or down) drops the span.
        // Counted before the send, so the export thread never takes the depth below zero.
        self.counters.queued.fetch_add(1, Relaxed);
        match self.queue.try_send(Message::Span(Box::new(span))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.queued.fetch_sub(1, Relaxed);
                self.counters.dropped_full.fetch_add(1, Relaxed);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.control(Message::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        let Some(worker) = worker else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let result = self.control(Message::Shutdown, timeout);
        if result.is_ok() {
            let _ = worker.join();
        }
        result
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // The export thread got the same resource when it started.
    }
}
