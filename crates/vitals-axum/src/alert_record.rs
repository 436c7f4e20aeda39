//! The names an alert instance's notifications carry, apart from the state that restores
//! alerts (`alert_state`), so the notification mapping can use them without a cycle.

/// The names its notifications gave an alert instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) instance: String,
    pub(crate) service: String,
}
