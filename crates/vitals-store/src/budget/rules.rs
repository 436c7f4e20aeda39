//! Budgets as Prometheus recording and alerting rules, in the shape Sloth generates, over the
//! metric families vitals exposes: `http_server_requests_total` and
//! `http_server_request_duration_seconds` (labels `route`, `method`, `status` class).
//!
//! Per budget: `slo:sli_error:ratio_rate{5m,30m,1h,2h,6h,1d,3d}` and the period's rate (the
//! mean of the 5-minute ratios over the window, as Sloth does), `slo:objective:ratio`,
//! `slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio`,
//! `slo:period_burn_rate:ratio`, `slo:period_error_budget_remaining:ratio`, and two alerts:
//! `VitalsBudgetPage` (`(5m and 1h > 14.4 × budget) or (30m and 6h > 6 × budget)`) and
//! `VitalsBudgetTicket` (`(2h and 1d > 3 × budget) or (6h and 3d > 1 × budget)`). A latency
//! budget's errors are `_count - _bucket{le="threshold"}`.

use std::fmt::Write as _;

use super::{BURN_WINDOWS, Budget, BudgetError, BudgetKind, Status, WINDOW_PAIRS, check_name};
use super::{RoutePattern, window_label};

const REQUESTS: &str = "http_server_requests_total";
const DURATION: &str = "http_server_request_duration_seconds";

/// Escapes a PromQL string literal's content.
fn promql_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The RE2 regex (anchored by PromQL) matching what the glob matches: `*` within a segment,
/// `**` across segments (as a whole segment, also none), `?` one character.
pub(crate) fn glob_regex(glob: &str) -> String {
    let mut re = String::new();
    let bytes = glob.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if glob[i..].starts_with("**") {
            let after_slash = i + 2 < bytes.len() && bytes[i + 2] == b'/';
            if after_slash {
                re.push_str("(?:.*/)?");
                i += 3;
            } else {
                re.push_str(".*");
                i += 2;
            }
            continue;
        }
        let c = glob[i..].chars().next().unwrap_or_default();
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c if "\\.+()|{}^$[]".contains(c) => {
                re.push('\\');
                re.push(c);
            }
            c => re.push(c),
        }
        i += c.len_utf8();
    }
    re
}

fn route_matcher(route: &RoutePattern) -> Option<String> {
    if route.as_str() == "**" {
        return None;
    }
    Some(if route.is_literal() {
        format!("route=\"{}\"", promql_string(route.as_str()))
    } else {
        format!("route=~\"{}\"", promql_string(&glob_regex(route.as_str())))
    })
}

fn selector(matchers: &[String]) -> String {
    if matchers.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", matchers.join(","))
    }
}

/// The SLI error ratio over `window` (`5m`, ...), as a PromQL expression.
fn sli_error(budget: &Budget, window: &str) -> String {
    let mut base: Vec<String> = route_matcher(&budget.route).into_iter().collect();
    if let Some(m) = budget.method {
        base.push(format!("method=\"{}\"", m.as_str()));
    }
    match budget.kind {
        BudgetKind::Availability => {
            let mut errors = base.clone();
            errors.push("status=\"5xx\"".to_owned());
            format!(
                "(sum(rate({REQUESTS}{}[{window}])))\n/\n(sum(rate({REQUESTS}{}[{window}])))",
                selector(&errors),
                selector(&base)
            )
        }
        BudgetKind::Latency { threshold } => {
            let mut le = base.clone();
            le.push(format!("le=\"{}\"", le_value(threshold.as_secs_f64())));
            let count = format!("sum(rate({DURATION}_count{}[{window}]))", selector(&base));
            format!(
                "({count} - sum(rate({DURATION}_bucket{}[{window}])))\n/\n({count})",
                selector(&le)
            )
        }
    }
}

/// A bound as the exposition writes it in `le="..."` (`0.25`, `1.0`, `10.0`).
fn le_value(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{seconds:.1}")
    } else {
        format!("{seconds}")
    }
}

fn push_rule(out: &mut String, kind: &str, name: &str, expr: &str, labels: &[(&str, String)]) {
    let _ = writeln!(out, "      - {kind}: {name}");
    out.push_str("        expr: |\n");
    for line in expr.lines() {
        let _ = writeln!(out, "          {line}");
    }
    if !labels.is_empty() {
        out.push_str("        labels:\n");
        for (k, v) in labels {
            let _ = writeln!(out, "          {k}: '{}'", v.replace('\'', "''"));
        }
    }
}

/// Recording and alerting rules for `budgets` of `service` (a Prometheus rule file, YAML).
///
/// ```
/// use vitals_store::budget::{Budget, prometheus_rules};
///
/// let b = Budget::availability("api", "/api/**").unwrap();
/// let yaml = prometheus_rules("shop", &[b]).unwrap();
/// assert!(yaml.contains("record: slo:sli_error:ratio_rate5m"));
/// assert!(yaml.contains(r#"http_server_requests_total{route=~"/api/.*",status="5xx"}[5m]"#));
/// ```
pub fn prometheus_rules(service: &str, budgets: &[Budget]) -> Result<String, BudgetError> {
    check_name(service)?;
    let mut out = format!(
        "# Generated by vitals-store from the budgets of service {service}; do not edit.\ngroups:\n"
    );
    for b in budgets {
        let id = format!("{service}-{}", b.name);
        let ids = |extra: Option<&str>| {
            let mut l = vec![
                ("sloth_id", id.clone()),
                ("sloth_service", service.to_owned()),
                ("sloth_slo", b.name.clone()),
            ];
            if let Some(w) = extra {
                l.push(("sloth_window", w.to_owned()));
            }
            l
        };
        let sel = format!(
            "{{sloth_id=\"{id}\", sloth_service=\"{service}\", sloth_slo=\"{}\"}}",
            b.name
        );
        let period = window_label(i64::try_from(b.window.as_secs() / 60).unwrap_or(43_200));

        let _ = writeln!(out, "  - name: vitals-slo-sli-recordings-{id}\n    rules:");
        for &w in &BURN_WINDOWS {
            let w = window_label(w);
            let name = format!("slo:sli_error:ratio_rate{w}");
            push_rule(&mut out, "record", &name, &sli_error(b, &w), &ids(Some(&w)));
        }
        let period_expr = format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (sloth_window)\n\
             count_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])"
        );
        let name = format!("slo:sli_error:ratio_rate{period}");
        push_rule(&mut out, "record", &name, &period_expr, &ids(Some(&period)));

        let _ = writeln!(out, "  - name: vitals-slo-meta-recordings-{id}\n    rules:");
        let on = "/ on(sloth_id, sloth_slo, sloth_service) group_left";
        let meta = [
            ("slo:objective:ratio", format!("vector({})", b.objective)),
            (
                "slo:error_budget:ratio",
                format!("vector(1-{})", b.objective),
            ),
            (
                "slo:time_period:days",
                format!("vector({})", b.window.as_secs() / 86_400),
            ),
            (
                "slo:current_burn_rate:ratio",
                format!("slo:sli_error:ratio_rate5m{sel}\n{on}\nslo:error_budget:ratio{sel}"),
            ),
            (
                "slo:period_burn_rate:ratio",
                format!("slo:sli_error:ratio_rate{period}{sel}\n{on}\nslo:error_budget:ratio{sel}"),
            ),
            (
                "slo:period_error_budget_remaining:ratio",
                format!("1 - slo:period_burn_rate:ratio{sel}"),
            ),
        ];
        for (name, expr) in &meta {
            push_rule(&mut out, "record", name, expr, &ids(None));
        }

        let _ = writeln!(out, "  - name: vitals-slo-alerts-{id}\n    rules:");
        let budget = format!("(1 - {})", b.objective);
        for (status, alert) in [
            (Status::Page, "VitalsBudgetPage"),
            (Status::Ticket, "VitalsBudgetTicket"),
        ] {
            let severity = if status == Status::Page {
                "page"
            } else {
                "ticket"
            };
            let pairs: Vec<String> = WINDOW_PAIRS
                .iter()
                .filter(|p| p.status == status)
                .map(|p| {
                    let part = |m: i64| {
                        format!(
                            "    max(slo:sli_error:ratio_rate{}{sel} > ({} * {budget})) without (sloth_window)",
                            window_label(m),
                            p.factor
                        )
                    };
                    format!("(\n{}\n    and\n{}\n)", part(p.short_minutes), part(p.long_minutes))
                })
                .collect();
            push_rule(
                &mut out,
                "alert",
                alert,
                &pairs.join("\nor\n"),
                // The ids again as static labels: one alert name per file, told apart by them.
                &[
                    ("severity", severity.to_owned()),
                    ("sloth_severity", severity.to_owned()),
                    ("sloth_id", id.clone()),
                    ("sloth_slo", b.name.clone()),
                ],
            );
            let _ = writeln!(
                out,
                "        annotations:\n          summary: '{} budget {} of {service} is burning its error budget too fast'\n          title: '(vitals budget) {}'",
                severity, b.name, b.name
            );
        }
    }
    Ok(out)
}
