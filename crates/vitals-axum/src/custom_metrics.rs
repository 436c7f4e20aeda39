//! The application's own metrics (`metrics::counter!`, `gauge!`, `histogram!`) beside vitals'
//! own: the builder methods that make and install a [`vitals_metrics::Registry`], the settings
//! that keep its names clear of vitals' families and read the current request's tenant, and
//! the JSON that `/metrics/json` and the dashboard's "custom metrics" panel read.
//!
//! `/metrics` appends the registry's families after vitals' own (both formats), so an
//! application family can never repeat one of vitals' names: [`metrics_config`] reserves
//! [`RESERVED_PREFIXES`], and a registration under one of them is refused and counted.

use serde_json::{Map, Value, json};
use vitals::MetricFamily;
use vitals_metrics::{Config, FamilySnapshot, InstallError, MetricsSnapshot, Registry};

use crate::builder::VitalsBuilder;
use crate::shared::Shared;

/// Name prefixes of vitals' own families (`http_server_…`, `process_…`, `vitals_…`), which an
/// application metric may not use (see [`metrics_config`]).
pub const RESERVED_PREFIXES: [&str; 3] = ["http_server_", "process_", "vitals_"];

/// `config` with what vitals needs of a registry it serves: vitals' family names reserved
/// ([`RESERVED_PREFIXES`]) and the tenant hook reading the tenant of the request being handled
/// ([`RequestContext::organization`](crate::RequestContext::organization)) and labelling it as vitals' own `/metrics` does
/// ([`vitals::Monitor::tenant_label`]): its id while it is one of the tenants `/metrics` names
/// (trusted, and among the busiest `top_tenants`), else `(other)`. The hook only matters once
/// `config` sets a [`vitals_metrics::TenantScope`] other than `Off` (the default). A tenant
/// named with [`Organization::set_current`](crate::Organization::set_current) counts from
/// then on; one a handler puts in the response is not known yet while the handler runs.
///
/// Use it when building a registry yourself, for a fan-out with another recorder or a local
/// recorder in tests, and hand that registry to [`VitalsBuilder::metrics_registry`]:
///
/// ```
/// use vitals_axum::vitals_metrics::{Config, Registry, TenantScope};
///
/// let registry = Registry::new(vitals_axum::metrics_config(
///     Config::default().tenant_scope(TenantScope::Names(vec!["orders_created".into()])),
/// ));
/// metrics::with_local_recorder(&registry, || {
///     metrics::counter!("http_server_requests").increment(1); // vitals' name: refused
///     metrics::counter!("orders_created").increment(1); // no request: no tenant label
/// });
/// let text = registry.render_text();
/// assert!(text.contains("orders_created_total 1\n"));
/// assert!(!text.contains("http_server_requests_total"));
/// # let _ = vitals_axum::Vitals::builder().metrics_registry(registry);
/// ```
#[must_use]
pub fn metrics_config(config: Config) -> Config {
    config
        .reserve(RESERVED_PREFIXES)
        .tenant_label_hook(crate::monitor::current_tenant_label)
}

impl VitalsBuilder {
    /// Makes a registry with the default caps (see [`vitals_metrics::Config`]), installs it as
    /// the process's global `metrics` recorder and serves it (see
    /// [`metrics_registry`](Self::metrics_registry)). Tenant attribution stays off; turn it on
    /// with [`custom_metrics_with`](Self::custom_metrics_with).
    ///
    /// # Errors
    ///
    /// [`InstallError::AlreadySet`] when the process already has a global recorder. The way
    /// out: build the registry yourself (`Registry::new(vitals_axum::metrics_config(..))`),
    /// install it beside the other recorder with `metrics_util::layers::FanoutBuilder`, and
    /// pass it to [`metrics_registry`](Self::metrics_registry); in tests, use
    /// `metrics::with_local_recorder` instead of a global recorder.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let vitals = vitals_axum::Vitals::builder()
    ///     .custom_metrics()
    ///     .expect("the first recorder of this process")
    ///     .build();
    /// metrics::counter!("orders_created").increment(1); // now in /metrics
    /// let again = vitals_axum::Vitals::builder().custom_metrics();
    /// assert!(again.unwrap_err().to_string().contains("FanoutBuilder"));
    /// # drop(vitals);
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "custom-metrics")))]
    pub fn custom_metrics(self) -> Result<Self, InstallError> {
        self.custom_metrics_with(Config::default())
    }

    /// As [`custom_metrics`](Self::custom_metrics), with the caps and the tenant scope of
    /// `config` (passed through [`metrics_config`]).
    ///
    /// # Errors
    ///
    /// [`InstallError::AlreadySet`] when the process already has a global recorder (see
    /// [`custom_metrics`](Self::custom_metrics) for the way out).
    #[cfg_attr(docsrs, doc(cfg(feature = "custom-metrics")))]
    pub fn custom_metrics_with(self, config: Config) -> Result<Self, InstallError> {
        let registry = Registry::new(metrics_config(config));
        registry.install()?;
        Ok(self.metrics_registry(registry))
    }
}

impl Shared {
    /// The registry's families, to append after vitals' own (none without a registry).
    pub(crate) fn custom_families(&self) -> Vec<MetricFamily> {
        self.custom
            .as_ref()
            .map(Registry::families)
            .unwrap_or_default()
    }

    /// The registry's snapshot as camelCase JSON with at most `series_limit` series per
    /// family; `null` without a registry.
    pub(crate) fn custom_json(&self, series_limit: usize) -> Value {
        self.custom
            .as_ref()
            .map_or(Value::Null, |r| snapshot_json(&r.snapshot(), series_limit))
    }
}

/// `snapshot` as camelCase JSON (label names stay as registered), keeping at most
/// `series_limit` series per family (the overflow series always) and saying how many were
/// left out.
fn snapshot_json(snapshot: &MetricsSnapshot, series_limit: usize) -> Value {
    let limits = &snapshot.limits;
    json!({
        "families": snapshot.families.iter().map(|f| family_json(f, series_limit)).collect::<Vec<_>>(),
        "series": snapshot.series,
        "overflowed": snapshot.overflowed,
        "refused": snapshot.refused,
        "refusedTotal": snapshot.refused.values().sum::<u64>(),
        "labelNames": snapshot.label_names,
        "limits": {
            "maxNames": limits.max_names,
            "maxLabelSets": limits.max_label_sets,
            "maxSeries": limits.max_series,
            "maxLabels": limits.max_labels,
            "maxLabelValueLen": limits.max_label_value_len,
            "maxTenants": limits.max_tenants,
        },
    })
}

fn family_json(family: &FamilySnapshot, series_limit: usize) -> Value {
    let (overflow, regular): (Vec<_>, Vec<_>) = family.series.iter().partition(|s| s.overflow);
    let kept: Vec<Value> = regular
        .iter()
        .take(series_limit)
        .chain(overflow.iter())
        .map(|s| {
            let labels: Map<String, Value> = s
                .labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            let histogram = s.histogram.as_ref().map(|h| {
                json!({
                    "count": h.count, "sum": h.sum,
                    "p50": h.p50, "p90": h.p90, "p95": h.p95, "p99": h.p99,
                    "fine": h.fine,
                    "buckets": h.buckets.iter().map(|b| json!({ "le": b.le, "count": b.count })).collect::<Vec<_>>(),
                })
            });
            json!({ "labels": labels, "overflow": s.overflow, "value": s.value, "histogram": histogram })
        })
        .collect();
    json!({
        "name": family.name,
        "type": family.kind,
        "help": family.help,
        "unit": family.unit,
        "tenant": family.tenant,
        "series": kept,
        "seriesOmitted": regular.len().saturating_sub(series_limit),
    })
}

#[cfg(test)]
mod tests {
    use super::RESERVED_PREFIXES;

    /// Every family vitals exposes, with a system sample and traffic from a tenant, starts
    /// with a reserved prefix, so no application family can repeat one.
    #[test]
    fn every_family_vitals_exposes_is_reserved() {
        let monitor = vitals::Monitor::default();
        monitor.record(&vitals::RequestSample {
            method: vitals::Method::Get,
            route: vitals::RouteKey::Template("/a/{orgId}"),
            status: 500,
            start: std::time::Instant::now(),
            duration: std::time::Duration::from_millis(3),
            organization: Some("acme"),
            ..vitals::RequestSample::default()
        });
        let mut text = String::new();
        let sampler =
            crate::sampler::Sampler::new(monitor.clone(), std::time::Duration::from_secs(5));
        let system = sampler.sample_now();
        vitals::render_metrics_with(
            &monitor,
            Some(&system),
            &[],
            vitals::MetricsFormat::Text,
            &mut text,
        );
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
            .collect();
        assert!(names.len() > 5, "{text}");
        for name in names {
            assert!(
                RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)),
                "`{name}` is not reserved"
            );
        }
    }
}
