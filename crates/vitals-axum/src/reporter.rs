//! [`Reporter`]: a part that lives outside vitals-axum (a trace exporter, say) reporting its own
//! state through vitals' endpoints, so operators read it where they read the rest.

use std::fmt::Debug;

use vitals::MetricFamily;

/// State of a part outside vitals-axum, given to [`VitalsBuilder::reporter`]: its families are
/// appended to `/metrics` (both formats) and `/metrics/json`, its JSON is shown under
/// `reporters.<name>` in `/health/debug`. Both are read when someone asks, never per request.
///
/// [`VitalsBuilder::reporter`]: crate::VitalsBuilder::reporter
///
/// ```
/// use vitals::MetricFamily;
///
/// #[derive(Debug)]
/// struct Queue;
///
/// impl vitals_axum::Reporter for Queue {
///     fn name(&self) -> &str {
///         "queue"
///     }
///     fn metric_families(&self) -> Vec<MetricFamily> {
///         let mut depth = MetricFamily::gauge("queue_depth", "Items waiting.");
///         depth.push(vec![], 3.0);
///         vec![depth]
///     }
///     fn debug_json(&self) -> serde_json::Value {
///         serde_json::json!({ "depth": 3 })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let vitals = vitals_axum::Vitals::builder().reporter(Queue).build();
/// assert!(vitals.metric_families().iter().any(|f| f.name == "queue_depth"));
/// # }
/// ```
pub trait Reporter: Debug + Send + Sync + 'static {
    /// The key of its section in `/health/debug` (`reporters.<name>`).
    fn name(&self) -> &str;

    /// Families appended to `/metrics`; names must not clash with vitals' own or another
    /// reporter's.
    fn metric_families(&self) -> Vec<MetricFamily>;

    /// Its section of `/health/debug`. Operators read it, so it must carry no secret (no
    /// credential, header value or token).
    fn debug_json(&self) -> serde_json::Value;
}
