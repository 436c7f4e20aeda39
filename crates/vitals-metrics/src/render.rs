//! The store as the core's exposition model ([`MetricFamily`]) and as a [`MetricsSnapshot`].
//!
//! Output size is bounded by the caps: at most `max_names` families (plus two of the
//! registry's own), each with at most `max_label_sets + 1` series, and at most
//! `max_series + max_names` series in all. A counter or gauge series is one line, a histogram
//! series 14 (11 bounds, `+Inf`, `_sum`, `_count`), a family adds at most 3 metadata lines.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use vitals::PROMETHEUS_BUCKETS;
use vitals::{HistogramValue, MetricFamily, MetricKind, MetricLabels};

use crate::cell::{Cell, HistogramRead, Kind};
use crate::config::OVERFLOW_LABEL;
use crate::names::Refusal;
use crate::registry::{Description, FamilyEntry, Store};
use crate::snapshot::{
    BucketCount, FamilySnapshot, HistogramSummary, MetricsSnapshot, SeriesSnapshot,
};

/// Name of the registry's own counter of refused registrations (label `reason`).
pub const REFUSED_FAMILY: &str = "vitals_custom_metrics_refused";
/// Name of the registry's own counter of registrations sent to an overflow series.
pub const OVERFLOWED_FAMILY: &str = "vitals_custom_metrics_overflowed";

/// Help text of a metric without `describe_*` text (Prometheus lints a missing help).
const UNDESCRIBED: &str = "Application metric (no description).";

fn metric_kind(kind: Kind) -> MetricKind {
    match kind {
        Kind::Counter => MetricKind::Counter,
        Kind::Gauge => MetricKind::Gauge,
        Kind::Histogram => MetricKind::Histogram,
    }
}

/// The unit to expose: OpenMetrics requires the name to end with `_<unit>`; `count` is no unit.
fn exposed_unit(name: &str, description: Option<&Description>) -> Option<&'static str> {
    let unit = description?.unit?.as_str();
    let matches = name
        .strip_suffix(unit)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('_'));
    (unit != "count" && matches).then_some(unit)
}

/// Families sorted by name, each with its series sorted by labels.
fn sorted_families(store: &Store) -> Vec<std::sync::Arc<FamilyEntry>> {
    let mut families: Vec<_> = store.families.pin().values().cloned().collect();
    families.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    families
}

fn sorted_series(family: &FamilyEntry) -> Vec<(MetricLabels, Cell)> {
    let mut series: Vec<_> = family
        .series
        .pin()
        .iter()
        .map(|(labels, cell)| (labels.clone(), cell.clone()))
        .collect();
    series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    series
}

fn histogram_value(read: &HistogramRead) -> HistogramValue {
    HistogramValue {
        buckets: PROMETHEUS_BUCKETS
            .iter()
            .copied()
            .zip(read.cumulative.iter().copied())
            .collect(),
        sum: read.sum,
        count: read.count,
    }
}

/// Every application metric as exposition families, then the registry's own two counters.
pub(crate) fn families(store: &Store) -> Vec<MetricFamily> {
    let descriptions = store.descriptions.pin();
    let mut out = Vec::new();
    for entry in sorted_families(store) {
        let description = descriptions.get(&entry.name);
        let help = description
            .filter(|d| !d.help.is_empty())
            .map_or_else(|| UNDESCRIBED.to_owned(), |d| d.help.clone());
        let mut family = MetricFamily::new(entry.name.clone(), help, metric_kind(entry.kind));
        family.unit = exposed_unit(&entry.name, description);
        for (labels, cell) in sorted_series(&entry) {
            match cell {
                Cell::Counter(c) => {
                    family.push(labels, c.get() as f64);
                }
                Cell::Gauge(g) => {
                    family.push(labels, g.get());
                }
                Cell::Histogram(h) => {
                    family.push_histogram(labels, histogram_value(&h.read()));
                }
            }
        }
        out.push(family);
    }
    let mut refused = MetricFamily::counter(
        REFUSED_FAMILY,
        "Application metric registrations refused (invalid or reserved name, caps), by reason.",
    );
    for reason in Refusal::ALL {
        let n = store.refused[reason.index()].load(Relaxed);
        refused.push(vec![("reason", reason.as_str().to_owned())], n as f64);
    }
    out.push(refused);
    let mut overflowed = MetricFamily::counter(
        OVERFLOWED_FAMILY,
        "Application metric registrations sent to an overflow series by a label-set cap.",
    );
    overflowed.push(vec![], store.overflowed.load(Relaxed) as f64);
    out.push(overflowed);
    out
}

/// The `q` quantile interpolated linearly within the exposed bucket that holds its rank, as
/// Prometheus' `histogram_quantile` does (the first bucket starts at 0; past the last bound,
/// the last bound).
pub(crate) fn bucket_quantile(q: f64, cumulative: &[u64], count: u64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * count as f64;
    let mut lower = (0.0, 0u64);
    for (&bound, &cum) in PROMETHEUS_BUCKETS.iter().zip(cumulative) {
        if cum as f64 >= rank {
            let in_bucket = (cum - lower.1) as f64;
            if in_bucket == 0.0 {
                return Some(bound);
            }
            return Some(lower.0 + (bound - lower.0) * (rank - lower.1 as f64) / in_bucket);
        }
        lower = (bound, cum);
    }
    Some(lower.0)
}

fn summary(read: &HistogramRead) -> HistogramSummary {
    // A fine bucket is 32-bit: with fewer than 2^32 values in all, none can have wrapped.
    let fine = read.count <= u64::from(u32::MAX);
    let quantile = |q: f64| {
        if fine {
            read.fine.quantile(q).map(|ns| ns as f64 / 1e9)
        } else {
            bucket_quantile(q, &read.cumulative, read.count)
        }
    };
    HistogramSummary {
        count: read.count,
        sum: read.sum,
        p50: quantile(0.5),
        p90: quantile(0.9),
        p95: quantile(0.95),
        p99: quantile(0.99),
        fine,
        buckets: PROMETHEUS_BUCKETS
            .iter()
            .zip(read.cumulative)
            .map(|(&le, count)| BucketCount { le, count })
            .collect(),
    }
}

/// Every application metric as plain structs.
pub(crate) fn snapshot(store: &Store) -> MetricsSnapshot {
    let descriptions = store.descriptions.pin();
    let families = sorted_families(store)
        .into_iter()
        .map(|entry| {
            let description = descriptions.get(&entry.name);
            FamilySnapshot {
                name: entry.name.clone(),
                kind: metric_kind(entry.kind).as_str(),
                help: description.map_or_else(String::new, |d| d.help.clone()),
                unit: description.and_then(|d| d.unit).map(|u| u.as_str()),
                tenant: entry.tenant,
                series: sorted_series(&entry)
                    .into_iter()
                    .map(|(labels, cell)| {
                        let overflow = labels.len() == 1 && labels[0].0 == OVERFLOW_LABEL;
                        let (value, histogram) = match cell {
                            Cell::Counter(c) => (Some(c.get() as f64), None),
                            Cell::Gauge(g) => (Some(g.get()), None),
                            Cell::Histogram(h) => (None, Some(summary(&h.read()))),
                        };
                        SeriesSnapshot {
                            labels: labels.into_iter().collect(),
                            overflow,
                            value,
                            histogram,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    MetricsSnapshot {
        families,
        series: store.series_count(),
        refused: Refusal::ALL
            .iter()
            .map(|r| (r.as_str(), store.refused[r.index()].load(Relaxed)))
            .collect::<BTreeMap<_, _>>(),
        label_names: crate::intern::interned(),
        overflowed: store.overflowed.load(Relaxed),
        limits: store.config.limits(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantile_interpolates_like_prometheus() {
        // 10 values at most 0.005, 10 more at most 0.01.
        let mut cumulative = [20u64; 11];
        cumulative[0] = 10;
        assert_eq!(bucket_quantile(0.25, &cumulative, 20), Some(0.0025));
        assert_eq!(bucket_quantile(0.75, &cumulative, 20), Some(0.0075));
        assert_eq!(bucket_quantile(0.5, &[0; 11], 0), None);
        assert_eq!(bucket_quantile(0.99, &[0; 11], 5), Some(10.0));
    }
}
