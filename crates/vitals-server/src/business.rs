//! The reference server's own metrics, beside vitals' in `/metrics`, `/metrics/json` and the
//! dashboard: `properties_created_total{organization}` (counted in `api`), and the database's
//! `db_query_duration_seconds{query}` and `db_pool_waiters` (see `db`).
//!
//! The organization label comes only from the registry's tenant attribution: the organization
//! of the request being handled (its `{orgId}`), the first 100 under their own value and later
//! ones as `(other)`, so a stranger naming organizations cannot grow the series.

use anyhow::Context as _;
use vitals_axum::vitals_metrics::{Config, Registry, TenantScope};

/// Properties created, labelled by organization through tenant attribution.
pub(crate) const PROPERTIES_CREATED: &str = "properties_created";

/// Makes vitals' registry, installs it as the global `metrics` recorder and describes the
/// server's metrics. Call it before opening the database, whose handles it registers.
pub(crate) fn install() -> anyhow::Result<Registry> {
    let registry = Registry::new(vitals_axum::metrics_config(
        Config::default()
            .tenant_scope(TenantScope::Names(vec![PROPERTIES_CREATED.into()]))
            .tenant_label("organization"),
    ));
    registry
        .install()
        .context("installing vitals' `metrics` recorder")?;
    metrics::describe_counter!(
        PROPERTIES_CREATED,
        "Properties created, by organization (the first 100 organizations by name, later ones \
         as `(other)`)."
    );
    Ok(registry)
}
