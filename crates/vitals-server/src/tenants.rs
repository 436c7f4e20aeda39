//! The tenants the server vouches for and how its monitor treats tenants.
//!
//! Known: the organizations in the database, read once at start (the API has no route that
//! creates one; the seed data and operators' migrations do), so the set is bounded by the
//! database and read without a lock. It keys the rate limit (`limits.rs`) and answers the
//! monitor's [`is_known_tenant`](vitals::MonitorConfig::is_known_tenant): a known
//! organization gets its series from its first request, a 404 on one of its properties
//! included, while a made-up id in the path (answered 404) mints nothing.
//!
//! Settings: `VITALS_TOP_TENANTS` (100: tenants `/metrics` names, the rest are `(other)`),
//! `VITALS_TENANT_HISTOGRAMS` (0: per-tenant counters only; 1: a latency histogram per named
//! tenant too), `VITALS_TENANT_IDLE_SECS` (86400: a tenant without a request this long loses
//! its series), `VITALS_TRUST_ORGANIZATION_HEADER` (0: `x-organization-id` is ignored; 1: a
//! gateway in front sets it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::settings;

/// The organizations the server knows.
pub(crate) type KnownOrgs = Arc<HashSet<String>>;

/// A `0`/`1` (or `false`/`true`) variable.
fn flag(name: &str) -> anyhow::Result<bool> {
    match settings::raw(name).as_deref() {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => anyhow::bail!("{name} must be 0, 1, true or false, got `{other}`"),
    }
}

/// The monitor's settings from the environment, vouching for `known`.
pub(crate) fn monitor_config(known: &KnownOrgs) -> anyhow::Result<vitals::MonitorConfig> {
    let known = Arc::clone(known);
    Ok(vitals::MonitorConfig::default()
        .top_tenants(settings::number(
            "VITALS_TOP_TENANTS",
            100,
            0,
            100_000,
            "a count",
        )?)
        .tenant_histograms(flag("VITALS_TENANT_HISTOGRAMS")?)
        .tenant_idle(Duration::from_secs(settings::number(
            "VITALS_TENANT_IDLE_SECS",
            86_400,
            1,
            365 * 86_400,
            "a number of seconds",
        )?))
        .is_known_tenant(move |id| known.contains(id)))
}

/// `VITALS_TRUST_ORGANIZATION_HEADER`.
pub(crate) fn trust_header() -> anyhow::Result<bool> {
    flag("VITALS_TRUST_ORGANIZATION_HEADER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_organizations_are_vouched_for() {
        let known: KnownOrgs = Arc::new(HashSet::from(["acme".to_owned()]));
        let config = monitor_config(&known).unwrap();
        let hook = config.known_tenants.as_ref().unwrap();
        assert!(hook.contains("acme") && !hook.contains("made-up"));
        assert_eq!(config.top_tenants, 100);
        assert!(!config.tenant_histograms);
    }
}
