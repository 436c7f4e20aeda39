//! [`OtelReporter`]: the export figures and settings in vitals' `/metrics` and `/health/debug`
//! (through `vitals_axum::Reporter`), so a collector that drops spans shows where operators look.

use std::sync::Arc;

use vitals::MetricFamily;

use crate::export::ExportStats;
use crate::guard::{OtelGuard, StatsHandle};
use crate::metrics_export::{MetricCounters, MetricExportStats, MetricsExport};

/// Reports trace export and metrics export, whichever run, to vitals: give it to
/// `VitalsBuilder::reporter`. Settings appear without header values or URL credentials.
///
/// ```
/// let families = vitals_otel::OtelReporter::new(None, None);
/// assert!(vitals_axum::Reporter::metric_families(&families).is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct OtelReporter {
    traces: Option<(serde_json::Value, StatsHandle)>,
    metrics: Option<(serde_json::Value, Arc<MetricCounters>)>,
}

impl OtelReporter {
    /// Reports on `traces` and `metrics` (either may be off).
    #[must_use]
    pub fn new(traces: Option<&OtelGuard>, metrics: Option<&MetricsExport>) -> Self {
        Self {
            traces: traces.map(|g| (g.settings.clone(), g.stats_handle())),
            metrics: metrics.map(|m| (m.settings.clone(), m.counters())),
        }
    }
}

fn counter(name: &str, help: &str, value: u64) -> MetricFamily {
    let mut f = MetricFamily::counter(name, help);
    f.push(vec![], value as f64);
    f
}

fn gauge(name: &str, help: &str, value: u64) -> MetricFamily {
    let mut f = MetricFamily::gauge(name, help);
    f.push(vec![], value as f64);
    f
}

/// The span export's families.
#[must_use]
pub(crate) fn span_families(s: &ExportStats) -> Vec<MetricFamily> {
    let mut dropped = MetricFamily::counter(
        "vitals_otel_spans_dropped",
        "Spans dropped, by reason: the export queue was full, or their export failed.",
    );
    dropped
        .push(
            vec![("reason", "queue_full".to_owned())],
            s.dropped_queue_full as f64,
        )
        .push(
            vec![("reason", "export_failed".to_owned())],
            (s.dropped_spans - s.dropped_queue_full) as f64,
        );
    vec![
        counter(
            "vitals_otel_spans_exported",
            "Spans the OTLP collector accepted.",
            s.exported_spans,
        ),
        dropped,
        counter(
            "vitals_otel_span_export_failures",
            "OTLP span exports that failed (collector down, slow or refusing).",
            s.failed_exports,
        ),
        gauge(
            "vitals_otel_span_queue_depth",
            "Spans waiting in the export queue.",
            s.queue_depth,
        ),
        gauge(
            "vitals_otel_span_queue_capacity",
            "Spans the export queue holds at most (more are dropped).",
            s.queue_capacity,
        ),
    ]
}

/// The metrics export's families.
fn metric_families(s: &MetricExportStats) -> Vec<MetricFamily> {
    vec![
        counter(
            "vitals_otel_metric_exports",
            "OTLP metrics exports the collector accepted.",
            s.exports,
        ),
        counter(
            "vitals_otel_metric_export_failures",
            "OTLP metrics exports that failed (the next interval sends the figures again).",
            s.failed_exports,
        ),
        counter(
            "vitals_otel_metric_points_exported",
            "Data points the OTLP collector accepted.",
            s.exported_points,
        ),
    ]
}

impl vitals_axum::Reporter for OtelReporter {
    fn name(&self) -> &str {
        "opentelemetry"
    }

    fn metric_families(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        if let Some((_, stats)) = &self.traces {
            out.extend(span_families(&stats.snapshot()));
        }
        if let Some((_, counters)) = &self.metrics {
            out.extend(metric_families(&counters.snapshot()));
        }
        out
    }

    fn debug_json(&self) -> serde_json::Value {
        let traces = self.traces.as_ref().map(|(settings, stats)| {
            let s = stats.snapshot();
            serde_json::json!({
                "settings": settings,
                "exportedSpans": s.exported_spans,
                "droppedSpans": s.dropped_spans,
                "droppedQueueFull": s.dropped_queue_full,
                "failedExports": s.failed_exports,
                "queueDepth": s.queue_depth,
                "queueCapacity": s.queue_capacity,
            })
        });
        let metrics = self.metrics.as_ref().map(|(settings, counters)| {
            let s = counters.snapshot();
            serde_json::json!({
                "settings": settings,
                "exports": s.exports,
                "failedExports": s.failed_exports,
                "exportedPoints": s.exported_points,
            })
        });
        serde_json::json!({ "traces": traces, "metrics": metrics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_figures_become_families_with_reasons() {
        let stats = ExportStats {
            exported_spans: 10,
            dropped_spans: 5,
            dropped_queue_full: 2,
            failed_exports: 1,
            queue_capacity: 64,
            queue_depth: 3,
        };
        let mut text = String::new();
        vitals::render_metrics_with(
            &vitals::Monitor::default(),
            None,
            &span_families(&stats),
            vitals::MetricsFormat::Text,
            &mut text,
        );
        for line in [
            "# TYPE vitals_otel_spans_exported_total counter\n",
            "vitals_otel_spans_exported_total 10\n",
            "vitals_otel_spans_dropped_total{reason=\"queue_full\"} 2\n",
            "vitals_otel_spans_dropped_total{reason=\"export_failed\"} 3\n",
            "vitals_otel_span_export_failures_total 1\n",
            "# TYPE vitals_otel_span_queue_depth gauge\n",
            "vitals_otel_span_queue_depth 3\n",
            "vitals_otel_span_queue_capacity 64\n",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
