//! [`AlertHook`]: a part outside vitals-axum (diagnostics that capture evidence, say) told of
//! each evaluation's alert transitions in the sampling loop, before they are notified, and
//! answering with links to attach to each notification.

use std::fmt::Debug;

use vitals::AlertTransition;

/// One alert transition as an [`AlertHook`] sees it: the core's transition and the alert's id,
/// the same id its notifications carry (`service/instance/rule/firing-since-ms`).
#[derive(Debug, Clone, Copy)]
pub struct AlertEvent<'a> {
    /// What happened.
    pub transition: &'a AlertTransition,
    /// The alert instance's stable id (PagerDuty's `dedup_key`, Alertmanager's `alert_id`).
    pub alert_id: &'a str,
}

/// Told of every alert transition of the sampling loop (given to
/// [`VitalsBuilder::alert_hook`](crate::VitalsBuilder::alert_hook)). Called once per
/// evaluation that has transitions, never per request; it must not block (spawn the work).
///
/// ```
/// use vitals_axum::{AlertEvent, AlertHook};
///
/// #[derive(Debug)]
/// struct Evidence;
///
/// impl AlertHook for Evidence {
///     fn on_transitions(&self, events: &[AlertEvent<'_>]) -> Vec<Vec<String>> {
///         events
///             .iter()
///             .map(|e| vec![format!("https://evidence.example/{}", e.alert_id)])
///             .collect()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let _vitals = vitals_axum::Vitals::builder().alert_hook(Evidence).build();
/// # }
/// ```
pub trait AlertHook: Debug + Send + Sync + 'static {
    /// For each event (same order), the URLs to add to its notification's `artifact_urls`
    /// (empty for none; a shorter answer leaves the rest without).
    fn on_transitions(&self, events: &[AlertEvent<'_>]) -> Vec<Vec<String>>;
}

/// Runs every hook over `transitions` (ids from `alert_id`) and joins their answers per
/// transition; nothing is computed when there is no hook.
pub(crate) fn run(
    hooks: &[std::sync::Arc<dyn AlertHook>],
    transitions: &[AlertTransition],
    alert_id: impl Fn(&vitals::Alert) -> String,
) -> Vec<Vec<String>> {
    if hooks.is_empty() || transitions.is_empty() {
        return Vec::new();
    }
    let ids: Vec<String> = transitions.iter().map(|t| alert_id(&t.alert)).collect();
    let events: Vec<AlertEvent<'_>> = transitions
        .iter()
        .zip(&ids)
        .map(|(transition, id)| AlertEvent {
            transition,
            alert_id: id,
        })
        .collect();
    let mut joined = vec![Vec::new(); transitions.len()];
    for hook in hooks {
        for (slot, urls) in joined.iter_mut().zip(hook.on_transitions(&events)) {
            slot.extend(urls);
        }
    }
    joined
}
