//! What the OTLP end-to-end tests share.

use std::time::{Duration, Instant};

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};

/// The spans the collector receives until `done` holds for all that arrived (at most 10 s):
/// spans of other requests (the start-up query of known organizations, say) may come first.
pub(crate) async fn spans_until(
    collector: &mut FakeCollectorServer,
    done: impl Fn(&[ExportedSpan]) -> bool,
) -> Vec<ExportedSpan> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut spans = Vec::new();
    while !done(&spans) && Instant::now() < deadline {
        spans.extend(
            collector
                .exported_spans(1, Duration::from_millis(500))
                .await,
        );
    }
    spans
}
