//! Health: the signals a caller measures, a health check report in the IETF draft format, and a
//! 0–100 health score that says why.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::signals::{ComponentType, DependencySignal, Signals};
use crate::thresholds::{AlertThresholds, Rule, Severity, classify};
use crate::units::{BYTES_PER_MIB, as_ms, rfc3339};

/// Status of a check or of the whole service, worst last (`pass < warn < fail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Healthy.
    Pass,
    /// Healthy, with concerns (a warning threshold is crossed).
    Warn,
    /// Unhealthy (a critical threshold is crossed, or a dependency failed).
    Fail,
}

impl HealthStatus {
    /// Whether the draft allows a 2xx answer: `pass` and `warn` yes, `fail` no.
    #[must_use]
    pub fn http_status_ok(self) -> bool {
        self != HealthStatus::Fail
    }

    /// The HTTP status to answer with: 200 for `pass` and `warn`, 503 for `fail`.
    #[must_use]
    pub fn http_status(self) -> u16 {
        if self.http_status_ok() { 200 } else { 503 }
    }

    /// `pass`, `warn` or `fail`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Pass => "pass",
            HealthStatus::Warn => "warn",
            HealthStatus::Fail => "fail",
        }
    }

    fn from_severity(severity: Option<Severity>) -> Self {
        match severity {
            None => HealthStatus::Pass,
            Some(Severity::Warning) => HealthStatus::Warn,
            Some(Severity::Critical) => HealthStatus::Fail,
        }
    }
}

/// A health check response (draft-inadarei-api-health-check-06), serialized camelCase.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// Worst status of the checks (`pass` with no checks).
    pub status: HealthStatus,
    /// Version of the service.
    pub version: String,
    /// Unique identifier of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Human-friendly description of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Notes about the service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What is wrong (the outputs of the checks that did not pass); absent on `pass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Checks keyed `component:measurement`, one result per node.
    pub checks: BTreeMap<String, Vec<CheckResult>>,
}

/// One check result (one node of one `component:measurement`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// Which sub-component was measured (`heap`, `rss`), when a key holds several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    /// Kind of component.
    pub component_type: ComponentType,
    /// The measured value.
    pub observed_value: f64,
    /// Unit of `observed_value`: `ms`, `percent`, `MiB`.
    pub observed_unit: String,
    /// Status of this check.
    pub status: HealthStatus,
    /// When it was measured (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    /// What is wrong; absent on `pass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Builds the health check report.
///
/// Checks, each present only when its signal is measured:
///
/// | key | componentId | unit | status from |
/// | --- | --- | --- | --- |
/// | `memory:utilization` | `heap`, `rss` | `percent` of the memory limit, or `MiB` when no limit is known | heap and RSS thresholds (absolute) |
/// | `runtime:utilization` | | `percent` busy | busy ratio thresholds |
/// | `runtime:schedulingDelay` | | `ms` (p99) | scheduling delay thresholds |
/// | `http:latencyP95` | | `ms` | latency thresholds, at most `warn` (clients can move it) |
/// | `http:errorRate` | | `percent` | error rate thresholds, judged only with at least [`AlertThresholds::error_rate_min_requests`] requests; at most `warn` (clients can move it) |
/// | `<dependency>:responseTime` | | `ms` | `fail` when the dependency is not ok |
///
/// [`Signals`] is a plain struct the caller fills on every evaluation from whatever it measures
/// (the monitor's windows, the allocator, the runtime probe, dependency pings). `None` means
/// *not measured*: nothing here invents a value for it, and every check, factor, alert or
/// recommendation that needs it is left out. Non-finite floats (`NaN`, infinities) count as not
/// measured too.
///
/// - [`health_report`] builds a [`HealthReport`] in the shape of
///   draft-inadarei-api-health-check-06 ("Health Check Response Format for HTTP APIs",
///   media type `application/health+json`): one [`CheckResult`] per measured signal, each judged
///   against the alert [`AlertThresholds`] (above warning: `warn`; above critical: `fail`; a
///   dependency that is not ok: `fail`). The report's status is the worst check's status.
/// - [`health_score`] weighs the same signals into a [`HealthScore`] with one [`Factor`] per
///   measured signal, so an operator can see what pulled the score down.
///
/// Both are stateless: they judge the values given, with no hysteresis. The
/// [`AlertEngine`](crate::AlertEngine) is the stateful view (an alert stays active
/// until its value drops clearly below the threshold), so a value just under a threshold can
/// show `pass` here while its alert is still active.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use vitals::AlertThresholds;
/// use vitals::{DependencySignal, HealthStatus, Signals, health_report, health_score};
///
/// let mut signals = Signals::new(SystemTime::now());
/// signals.p95 = Some(Duration::from_millis(40));
/// signals.error_rate = Some(0.0);
/// signals.requests_last_5m = 1200;
/// signals.dependencies.push(DependencySignal {
///     name: "database".into(),
///     ok: false,
///     response_time: Duration::from_millis(3),
/// });
///
/// let thresholds = AlertThresholds::default();
/// let report = health_report(&signals, &thresholds, "0.1.0", Some("orders-api"));
/// assert_eq!(report.status, HealthStatus::Fail);
/// assert!(!report.status.http_status_ok());
/// assert!(report.checks.contains_key("database:responseTime"));
///
/// let score = health_score(&signals, &thresholds);
/// assert_eq!(score.status, HealthStatus::Fail);
/// // latency 0.25, errors 0.25, dependencies 0.1, renormalised over 0.6: the dependency is 1/6.
/// assert_eq!(score.score, 83);
/// ```
#[must_use]
pub fn health_report(
    signals: &Signals,
    thresholds: &AlertThresholds,
    version: &str,
    service_id: Option<&str>,
) -> HealthReport {
    let mut checks: BTreeMap<String, Vec<CheckResult>> = BTreeMap::new();
    let at = signals.at;
    let limit = signals.memory_limit_bytes.filter(|&l| l > 0);

    let mut add = |key: &str, result: CheckResult| {
        checks.entry(key.to_owned()).or_default().push(result);
    };

    for (id, rule, bytes) in [
        ("heap", Rule::Memory, signals.heap_bytes),
        ("rss", Rule::Rss, signals.rss_bytes),
    ] {
        let Some(bytes) = bytes else { continue };
        let (observed_value, observed_unit) = match limit {
            Some(limit) => (percent_of(bytes, limit), "percent"),
            None => (bytes as f64 / BYTES_PER_MIB, "MiB"),
        };
        let (status, output) = judge(rule, signals, thresholds);
        add(
            "memory:utilization",
            CheckResult {
                component_id: Some(id.to_owned()),
                component_type: ComponentType::System,
                observed_value,
                observed_unit: observed_unit.to_owned(),
                status,
                time: at,
                output,
            },
        );
    }

    for (key, rule, component_type) in [
        ("runtime:utilization", Rule::Runtime, ComponentType::System),
        (
            "runtime:schedulingDelay",
            Rule::SchedulingDelay,
            ComponentType::System,
        ),
        ("http:latencyP95", Rule::Latency, ComponentType::Component),
        ("http:errorRate", Rule::ErrorRate, ComponentType::Component),
    ] {
        let Some(observed_value) = rule.value(signals) else {
            continue;
        };
        let (status, output) = judge(rule, signals, thresholds);
        // Any client can move the error rate and the latency (a burst of requests that fail or
        // wait): they warn, never fail, so strangers cannot take the instance out of a load
        // balancer that probes this report. Alerts still judge them in full.
        let (status, output) = if rule.client_movable() && status == HealthStatus::Fail {
            (
                HealthStatus::Warn,
                output.map(|o| format!("{o}; reported as warn: clients can move this signal")),
            )
        } else {
            (status, output)
        };
        add(
            key,
            CheckResult {
                component_id: None,
                component_type,
                observed_value,
                observed_unit: rule.unit().to_owned(),
                status,
                time: at,
                output,
            },
        );
    }

    for dep in &signals.dependencies {
        let (status, output) = if dep.ok {
            (HealthStatus::Pass, None)
        } else {
            (
                HealthStatus::Fail,
                Some(format!("{} check failed", dep.name)),
            )
        };
        add(
            &format!("{}:responseTime", dep.name),
            CheckResult {
                component_id: None,
                component_type: dep.component_type(),
                observed_value: as_ms(dep.response_time),
                observed_unit: "ms".to_owned(),
                status,
                time: at,
                output,
            },
        );
    }

    let status = checks
        .values()
        .flatten()
        .map(|c| c.status)
        .max()
        .unwrap_or(HealthStatus::Pass);
    let output = (status != HealthStatus::Pass).then(|| {
        checks
            .iter()
            .flat_map(|(key, results)| {
                results
                    .iter()
                    .filter_map(move |r| r.output.as_ref().map(|o| format!("{key}: {o}")))
            })
            .collect::<Vec<_>>()
            .join("; ")
    });

    HealthReport {
        status,
        version: version.to_owned(),
        service_id: service_id.map(str::to_owned),
        description: None,
        notes: Vec::new(),
        output,
        checks,
    }
}

/// Status and output of one rule's check (stateless, no hysteresis).
fn judge(
    rule: Rule,
    signals: &Signals,
    thresholds: &AlertThresholds,
) -> (HealthStatus, Option<String>) {
    let Some(value) = rule.value(signals) else {
        return (HealthStatus::Pass, None);
    };
    if !rule.judged(signals, thresholds) {
        return (HealthStatus::Pass, None);
    }
    let severity = classify(value, rule.levels(thresholds));
    let status = HealthStatus::from_severity(severity);
    let output = severity.map(|s| {
        let threshold = match s {
            Severity::Warning => rule.levels(thresholds).0,
            Severity::Critical => rule.levels(thresholds).1,
        };
        format!(
            "{} (above the {} threshold of {})",
            rule.message(value, signals),
            s.as_str(),
            rule.format(threshold.unwrap_or(f64::NAN)),
        )
    });
    (status, output)
}

/// A 0–100 health score and the factors behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthScore {
    /// Weighted sum of the factors' scores, rounded (100 when nothing is measured).
    pub score: u8,
    /// Worst status of the factors, judged like [`health_report`] judges its checks.
    pub status: HealthStatus,
    /// One factor per measured signal, in a fixed order.
    pub factors: Vec<Factor>,
}

/// One input of the [`HealthScore`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Factor {
    /// `latency`, `errors`, `memory`, `runtime`, `schedulingDelay` or `dependencies`.
    pub name: String,
    /// Share of the score (the factors present sum to 1).
    pub weight: f64,
    /// This factor's score, 0..=100.
    pub score: f64,
    /// The value judged, in `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Unit of `value`.
    pub unit: String,
    /// Status of this factor.
    pub status: HealthStatus,
    /// What was judged against what.
    pub detail: String,
}

/// Base weights of the factors, before renormalising over the factors present.
///
/// | factor | weight |
/// | --- | --- |
/// | `latency` (p95) | 0.25 |
/// | `errors` (error rate) | 0.25 |
/// | `memory` (heap and RSS) | 0.20 |
/// | `runtime` (busy ratio) | 0.15 |
/// | `dependencies` | 0.10 |
/// | `schedulingDelay` (p99) | 0.05 |
pub const FACTOR_WEIGHTS: [(&str, f64); 6] = [
    ("latency", 0.25),
    ("errors", 0.25),
    ("memory", 0.20),
    ("runtime", 0.15),
    ("schedulingDelay", 0.05),
    ("dependencies", 0.10),
];

/// Computes the health score; see [`health_report`].
///
/// Each factor scores 0..=100 from its value and its rule's thresholds (in the rule's unit):
/// 100 up to the warning threshold; 75 at warning falling linearly to 25 at critical (or to
/// 25 at twice the warning threshold when there is no critical one); 25 at critical falling
/// linearly to 0 at twice the critical threshold. Dependencies score the percentage of
/// dependencies that are ok. Memory scores the worse of heap and RSS.
///
/// A factor is left out when its signal is not measured, when its rule is switched off
/// (no thresholds), or (errors) when fewer than [`AlertThresholds::error_rate_min_requests`]
/// requests back the error rate. The [base weights](FACTOR_WEIGHTS) of the factors left are
/// renormalised to sum to 1, and the score is the weighted sum of their scores.
#[must_use]
pub fn health_score(signals: &Signals, thresholds: &AlertThresholds) -> HealthScore {
    let mut factors: Vec<Factor> = Vec::new();

    let rule_factor = |name: &str, rule: Rule| -> Option<Factor> {
        let value = rule.value(signals)?;
        let levels = rule.levels(thresholds);
        if levels == (None, None) || !rule.judged(signals, thresholds) {
            return None;
        }
        let severity = classify(value, levels);
        Some(Factor {
            name: name.to_owned(),
            weight: 0.0,
            score: level_score(value, levels),
            value: Some(value),
            unit: rule.unit().to_owned(),
            status: HealthStatus::from_severity(severity),
            detail: describe(rule, value, levels, signals),
        })
    };

    for (name, _) in FACTOR_WEIGHTS {
        let factor = match name {
            "latency" => rule_factor(name, Rule::Latency),
            "errors" => rule_factor(name, Rule::ErrorRate),
            "memory" => {
                let heap = rule_factor(name, Rule::Memory);
                let rss = rule_factor(name, Rule::Rss);
                let mut worse = match (heap, rss) {
                    (Some(h), Some(r)) => Some(if r.score < h.score { r } else { h }),
                    (h, r) => h.or(r),
                };
                if let (Some(f), Some(limit)) = (
                    worse.as_mut(),
                    signals.memory_limit_bytes.filter(|&l| l > 0),
                ) {
                    let mut parts = Vec::new();
                    if let Some(h) = signals.heap_bytes {
                        parts.push(format!("heap {:.0}%", percent_of(h, limit)));
                    }
                    if let Some(r) = signals.rss_bytes {
                        parts.push(format!("RSS {:.0}%", percent_of(r, limit)));
                    }
                    f.detail = format!(
                        "{}; {} of the {:.0} MiB limit",
                        f.detail,
                        parts.join(", "),
                        limit as f64 / BYTES_PER_MIB
                    );
                }
                worse
            }
            "runtime" => rule_factor(name, Rule::Runtime),
            "schedulingDelay" => rule_factor(name, Rule::SchedulingDelay),
            _ => dependencies_factor(&signals.dependencies),
        };
        factors.extend(factor);
    }

    let base = |name: &str| {
        FACTOR_WEIGHTS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, w)| *w)
    };
    let total: f64 = factors.iter().map(|f| base(&f.name)).sum();
    for f in &mut factors {
        f.weight = base(&f.name) / total;
    }
    let score = if factors.is_empty() {
        100.0
    } else {
        factors.iter().map(|f| f.weight * f.score).sum::<f64>()
    };
    let status = factors
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(HealthStatus::Pass);
    HealthScore {
        score: score.round().clamp(0.0, 100.0) as u8,
        status,
        factors,
    }
}

fn dependencies_factor(deps: &[DependencySignal]) -> Option<Factor> {
    if deps.is_empty() {
        return None;
    }
    let ok = deps.iter().filter(|d| d.ok).count();
    let failing: Vec<&str> = deps
        .iter()
        .filter(|d| !d.ok)
        .map(|d| d.name.as_str())
        .collect();
    let score = 100.0 * ok as f64 / deps.len() as f64;
    let mut detail = format!("{ok} of {} dependencies ok", deps.len());
    if !failing.is_empty() {
        detail.push_str("; failing: ");
        detail.push_str(&failing.join(", "));
    }
    Some(Factor {
        name: "dependencies".to_owned(),
        weight: 0.0,
        score,
        value: Some(score),
        unit: "percent".to_owned(),
        status: if failing.is_empty() {
            HealthStatus::Pass
        } else {
            HealthStatus::Fail
        },
        detail,
    })
}

/// Score of a value against (warning, critical); see [`health_score`].
fn level_score(value: f64, (warning, critical): (Option<f64>, Option<f64>)) -> f64 {
    fn lerp(value: f64, from: f64, to: f64, high: f64, low: f64) -> f64 {
        if to <= from {
            return low;
        }
        let t = ((value - from) / (to - from)).clamp(0.0, 1.0);
        high + (low - high) * t
    }
    match (warning, critical) {
        (_, Some(c)) if value > c => lerp(value, c, 2.0 * c, 25.0, 0.0),
        (Some(w), Some(c)) if value > w => lerp(value, w, c, 75.0, 25.0),
        (Some(w), None) if value > w => lerp(value, w, 2.0 * w, 75.0, 25.0),
        _ => 100.0,
    }
}

fn describe(
    rule: Rule,
    value: f64,
    levels: (Option<f64>, Option<f64>),
    signals: &Signals,
) -> String {
    let mut s = format!("{} {}", rule.measure(), rule.format(value));
    if rule == Rule::ErrorRate {
        s.push_str(&format!(" of {} requests", signals.requests_last_5m));
    }
    let mut bounds = Vec::new();
    if let Some(w) = levels.0 {
        bounds.push(format!("warning above {}", rule.format(w)));
    }
    if let Some(c) = levels.1 {
        bounds.push(format!("critical above {}", rule.format(c)));
    }
    s.push_str(&format!(" ({})", bounds.join(", ")));
    s
}

fn percent_of(part: u64, whole: u64) -> f64 {
    part as f64 / whole as f64 * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const MIB: u64 = 1024 * 1024;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_705_314_600) // 2024-01-15T10:30:00Z
    }

    fn healthy() -> Signals {
        Signals {
            heap_bytes: Some(100 * MIB),
            rss_bytes: Some(200 * MIB),
            memory_limit_bytes: Some(1024 * MIB),
            p95: Some(Duration::from_millis(40)),
            error_rate: Some(0.001),
            requests_last_5m: 5000,
            busy_ratio: Some(0.2),
            scheduling_delay_p99: Some(Duration::from_millis(2)),
            memory_growth_mb_per_min: Some(0.5),
            fragmentation: Some(0.1),
            dependencies: vec![DependencySignal {
                name: "database".into(),
                ok: true,
                response_time: Duration::from_micros(1500),
            }],
            ..Signals::new(at())
        }
    }

    #[test]
    fn all_healthy_is_pass_and_100() {
        let t = AlertThresholds::default();
        let s = healthy();
        let report = health_report(&s, &t, "1.2.3", Some("svc"));
        assert_eq!(report.status, HealthStatus::Pass);
        assert!(report.output.is_none());
        assert!(
            report
                .checks
                .values()
                .flatten()
                .all(|c| c.status == HealthStatus::Pass)
        );
        assert!(report.checks.values().flatten().all(|c| c.output.is_none()));
        let keys: Vec<&str> = report.checks.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "database:responseTime",
                "http:errorRate",
                "http:latencyP95",
                "memory:utilization",
                "runtime:schedulingDelay",
                "runtime:utilization",
            ]
        );
        assert_eq!(report.checks["memory:utilization"].len(), 2);

        let score = health_score(&s, &t);
        assert_eq!(score.score, 100);
        assert_eq!(score.status, HealthStatus::Pass);
        assert_eq!(score.factors.len(), 6);
        let sum: f64 = score.factors.iter().map(|f| f.weight).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(score.factors.iter().all(|f| f.score == 100.0));
    }

    #[test]
    fn failing_dependency_fails_and_drops_score_by_its_weight() {
        let t = AlertThresholds::default();
        let mut s = healthy();
        s.dependencies[0].ok = false;
        let report = health_report(&s, &t, "1", None);
        assert_eq!(report.status, HealthStatus::Fail);
        assert!(!report.status.http_status_ok());
        assert_eq!(report.status.http_status(), 503);
        let db = &report.checks["database:responseTime"][0];
        assert_eq!(db.status, HealthStatus::Fail);
        assert_eq!(db.component_type, ComponentType::Datastore);
        assert_eq!(db.output.as_deref(), Some("database check failed"));
        assert_eq!(
            report.output.as_deref(),
            Some("database:responseTime: database check failed")
        );

        let score = health_score(&s, &t);
        assert_eq!(score.status, HealthStatus::Fail);
        assert_eq!(score.score, 90); // dependencies weigh 0.10 with all six factors present
        let dep = score
            .factors
            .iter()
            .find(|f| f.name == "dependencies")
            .unwrap();
        assert_eq!(dep.score, 0.0);
        assert!(dep.detail.contains("failing: database"), "{}", dep.detail);
    }

    #[test]
    fn missing_signals_are_excluded_from_checks_and_weights() {
        let t = AlertThresholds::default();
        let mut s = Signals::new(at());
        s.p95 = Some(Duration::from_millis(3000)); // above critical 2 s
        s.busy_ratio = Some(0.1);
        let report = health_report(&s, &t, "1", None);
        let keys: Vec<&str> = report.checks.keys().map(String::as_str).collect();
        assert_eq!(keys, ["http:latencyP95", "runtime:utilization"]);
        // Latency past critical warns (clients can move it); the score still counts it.
        assert_eq!(report.status, HealthStatus::Warn);

        let score = health_score(&s, &t);
        let names: Vec<&str> = score.factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["latency", "runtime"]);
        // latency 0.25 and runtime 0.15, renormalised over 0.4.
        assert!((score.factors[0].weight - 0.625).abs() < 1e-9);
        assert!((score.factors[1].weight - 0.375).abs() < 1e-9);
        // latency: 25 at 2 s down to 0 at 4 s, so 12.5 at 3 s.
        assert!((score.factors[0].score - 12.5).abs() < 1e-9);
        assert_eq!(score.score, (0.625f64 * 12.5 + 0.375 * 100.0).round() as u8);
        assert_eq!(score.status, HealthStatus::Fail);

        let empty = health_score(&Signals::new(at()), &t);
        assert_eq!((empty.score, empty.status), (100, HealthStatus::Pass));
        assert!(empty.factors.is_empty());
        let empty = health_report(&Signals::new(at()), &t, "1", None);
        assert_eq!(empty.status, HealthStatus::Pass);
        assert!(empty.checks.is_empty());
    }

    #[test]
    fn non_finite_values_count_as_not_measured() {
        let t = AlertThresholds::default();
        let mut s = Signals::new(at());
        s.busy_ratio = Some(f64::NAN);
        s.error_rate = Some(f64::INFINITY);
        s.requests_last_5m = 100;
        assert!(health_report(&s, &t, "1", None).checks.is_empty());
        assert!(health_score(&s, &t).factors.is_empty());
    }

    #[test]
    fn warning_and_critical_map_to_warn_and_fail() {
        let t = AlertThresholds::default();
        let mut s = Signals::new(at());
        s.heap_bytes = Some(650 * MIB);
        let report = health_report(&s, &t, "1", None);
        assert_eq!(report.status, HealthStatus::Warn);
        assert!(report.status.http_status_ok());
        let heap = &report.checks["memory:utilization"][0];
        assert_eq!(heap.component_id.as_deref(), Some("heap"));
        assert_eq!(heap.observed_unit, "MiB"); // no limit known
        assert_eq!(heap.observed_value, 650.0);
        assert_eq!(
            heap.output.as_deref(),
            Some("High memory usage: 650 MiB (above the warning threshold of 512 MiB)")
        );

        s.heap_bytes = Some(1100 * MIB);
        s.memory_limit_bytes = Some(2048 * MIB);
        let report = health_report(&s, &t, "1", None);
        assert_eq!(report.status, HealthStatus::Fail);
        let heap = &report.checks["memory:utilization"][0];
        assert_eq!(heap.observed_unit, "percent");
        assert!((heap.observed_value - 1100.0 / 2048.0 * 100.0).abs() < 1e-9);
        assert_eq!(heap.status, HealthStatus::Fail);

        let score = health_score(&s, &t);
        assert_eq!(score.status, HealthStatus::Fail);
        assert!(score.factors[0].detail.contains("of the 2048 MiB limit"));
    }

    #[test]
    fn error_rate_needs_volume() {
        let t = AlertThresholds::default();
        let mut s = Signals::new(at());
        s.error_rate = Some(0.5);
        s.requests_last_5m = 2;
        let report = health_report(&s, &t, "1", None);
        assert_eq!(
            report.checks["http:errorRate"][0].status,
            HealthStatus::Pass
        );
        assert!(health_score(&s, &t).factors.is_empty());
        s.requests_last_5m = 20;
        let report = health_report(&s, &t, "1", None);
        // Past critical, but any client can push it there: warn, never fail.
        assert_eq!(
            report.checks["http:errorRate"][0].status,
            HealthStatus::Warn
        );
        assert_eq!(report.status, HealthStatus::Warn);
        assert!(
            report.checks["http:errorRate"][0]
                .output
                .as_deref()
                .unwrap()
                .contains("clients can move")
        );
        s.p95 = Some(Duration::from_secs(30));
        assert_eq!(health_report(&s, &t, "1", None).status, HealthStatus::Warn);
        assert_eq!(report.checks["http:errorRate"][0].observed_value, 50.0);
    }

    #[test]
    fn switched_off_rule_passes_and_leaves_the_score() {
        let t = AlertThresholds::default().latency_p95(crate::thresholds::Level::OFF);
        let mut s = Signals::new(at());
        s.p95 = Some(Duration::from_secs(30));
        let report = health_report(&s, &t, "1", None);
        assert_eq!(report.status, HealthStatus::Pass);
        assert!(health_score(&s, &t).factors.is_empty());
    }

    #[test]
    fn level_score_is_piecewise_linear() {
        let l = (Some(10.0), Some(20.0));
        assert_eq!(level_score(5.0, l), 100.0);
        assert_eq!(level_score(10.0, l), 100.0);
        assert_eq!(level_score(15.0, l), 50.0);
        assert_eq!(level_score(20.0, l), 25.0);
        assert_eq!(level_score(30.0, l), 12.5);
        assert_eq!(level_score(99.0, l), 0.0);
        assert_eq!(level_score(15.0, (Some(10.0), None)), 50.0);
        assert_eq!(level_score(25.0, (None, Some(20.0))), 18.75);
    }

    #[test]
    fn json_shape() {
        let t = AlertThresholds::default();
        let mut s = healthy();
        s.heap_bytes = Some(650 * MIB);
        let report = health_report(&s, &t, "1.2.3", Some("orders"));
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["status"], "warn");
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["serviceId"], "orders");
        assert!(v.get("description").is_none());
        assert!(v.get("notes").is_none());
        assert!(
            v["output"]
                .as_str()
                .unwrap()
                .starts_with("memory:utilization: ")
        );
        let heap = &v["checks"]["memory:utilization"][0];
        assert_eq!(heap["componentId"], "heap");
        assert_eq!(heap["componentType"], "system");
        assert_eq!(heap["observedUnit"], "percent");
        assert!(heap["observedValue"].is_f64());
        assert_eq!(heap["status"], "warn");
        assert_eq!(heap["time"], "2024-01-15T10:30:00.000Z");
        assert!(heap["output"].is_string());
        let db = &v["checks"]["database:responseTime"][0];
        assert_eq!(db["componentType"], "datastore");
        assert_eq!(db["observedValue"], 1.5);
        assert_eq!(db["observedUnit"], "ms");
        assert_eq!(db["status"], "pass");
        assert!(db.get("output").is_none());
        assert!(db.get("componentId").is_none());
        assert_eq!(v["checks"]["http:latencyP95"][0]["observedUnit"], "ms");
        assert_eq!(v["checks"]["http:errorRate"][0]["observedUnit"], "percent");
        assert_eq!(
            v["checks"]["http:errorRate"][0]["componentType"],
            "component"
        );

        let pass = serde_json::to_value(health_report(&healthy(), &t, "1", None)).unwrap();
        assert_eq!(pass["status"], "pass");
        assert!(pass.get("output").is_none());
        assert!(pass.get("serviceId").is_none());

        let score = serde_json::to_value(health_score(&s, &t)).unwrap();
        assert_eq!(score["status"], "warn");
        assert!(score["score"].is_u64());
        let f = &score["factors"][0];
        for key in [
            "name", "weight", "score", "value", "unit", "status", "detail",
        ] {
            assert!(f.get(key).is_some(), "{key} in {f}");
        }
    }

    #[test]
    fn dependency_component_type_guess() {
        let d = |name: &str| DependencySignal {
            name: name.into(),
            ok: true,
            response_time: Duration::ZERO,
        };
        assert_eq!(d("database").component_type(), ComponentType::Datastore);
        assert_eq!(d("Redis").component_type(), ComponentType::Datastore);
        assert_eq!(d("payments-api").component_type(), ComponentType::Component);
    }
}
