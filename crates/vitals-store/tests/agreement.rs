//! In-process evaluation and the generated Prometheus rules agree on the same synthetic
//! traffic: four hours of one route, minute by minute, written to a real store and given to a
//! real `promtool` as the counters vitals exposes. At three instants, every burn-rate window's
//! error ratio of each budget (availability and latency) computed in process is checked
//! against `slo:sli_error:ratio_rate<window>`, and each budget's page and ticket verdicts
//! against the firing of `VitalsBudgetPage` / `VitalsBudgetTicket`. The ratios agree exactly
//! with Debian's Prometheus 2.42 (a range `[w]` includes the sample `w` ago, so it sees the
//! same `w` minutes as the store); the check allows 3%, because Prometheus 3's left-open
//! ranges see `w - 1` minutes of increase at a one-minute scrape interval.

mod common;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use common::{T0, batch, point, route};
use vitals_store::budget::{Budget, BudgetStatus, Status, evaluate, prometheus_rules};
use vitals_store::{Store, StoreConfig};

const MINUTES: i64 = 240;
/// Where the checks are made: the end of phase A, an hour into B, an hour after B.
const CHECKS: [i64; 3] = [90, 150, 240];

/// One minute of traffic: (requests, 5xx, slower than 250 ms).
fn minute(m: i64) -> (u64, u64, u64) {
    let n = 1_000 + 200 * (m % 3) as u64;
    match m {
        // A: 2% 5xx, 0.5% slow.
        0..90 => (n, n / 50, n / 200),
        // B: 20% 5xx, 5% slow.
        90..180 => (n, n / 5, n / 20),
        // C: clean.
        _ => (n, 0, 0),
    }
}

fn budgets() -> Vec<Budget> {
    vec![
        Budget::availability("avail", "/api/**")
            .unwrap()
            .objective(0.99)
            .unwrap(),
        Budget::latency("fast", "/api/x", Duration::from_millis(250))
            .unwrap()
            .method(vitals::Method::Get)
            .objective(0.99)
            .unwrap(),
    ]
}

/// The cumulative counter sampled at each minute boundary 0..=MINUTES.
fn counter(f: impl Fn((u64, u64, u64)) -> u64) -> String {
    let mut total = 0;
    let mut out = String::from("0");
    for m in 0..MINUTES {
        total += f(minute(m));
        let _ = write!(out, " {total}");
    }
    out
}

fn alert_entry(out: &mut String, at: i64, alert: &str, firing: &[&BudgetStatus]) {
    let sev = if alert == "VitalsBudgetPage" {
        "page"
    } else {
        "ticket"
    };
    let _ = writeln!(out, "      - eval_time: {at}m\n        alertname: {alert}");
    if firing.is_empty() {
        out.push_str("        exp_alerts: []\n");
        return;
    }
    out.push_str("        exp_alerts:\n");
    for s in firing {
        let n = &s.name;
        let _ = writeln!(
            out,
            "          - exp_labels: {{severity: {sev}, sloth_severity: {sev}, sloth_id: shop-{n}, \
             sloth_service: shop, sloth_slo: {n}}}\n            exp_annotations:\n              \
             summary: '{sev} budget {n} of shop is burning its error budget too fast'\n              \
             title: '(vitals budget) {n}'"
        );
    }
}

#[test]
fn in_process_burn_rates_and_alerts_agree_with_the_prometheus_rules() {
    if std::env::var_os("VITALS_SKIP_PROMTOOL").is_some() {
        eprintln!("VITALS_SKIP_PROMTOOL set: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
    for m in 0..MINUTES {
        let (n, errors, slow) = minute(m);
        let mut values = vec![100u64; (n - slow) as usize];
        values.extend(std::iter::repeat_n(900, slow as usize));
        let p = point(route("/api/x"), &values, errors);
        store.write_minute(&batch(T0 + m, vec![p])).unwrap();
    }
    let budgets = budgets();
    let series = "{route=\"/api/x\",method=\"GET\"";
    let mut test = format!(
        "rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    \
         input_series:\n\
         \x20     - series: 'http_server_requests_total{series},status=\"2xx\"}}'\n        values: '{}'\n\
         \x20     - series: 'http_server_requests_total{series},status=\"5xx\"}}'\n        values: '{}'\n\
         \x20     - series: 'http_server_request_duration_seconds_count{series}}}'\n        values: '{}'\n\
         \x20     - series: 'http_server_request_duration_seconds_bucket{series},le=\"0.25\"}}'\n        values: '{}'\n",
        counter(|(n, e, _)| n - e),
        counter(|(_, e, _)| e),
        counter(|(n, _, _)| n),
        counter(|(n, _, s)| n - s),
    );
    let mut exprs = String::from("    promql_expr_test:\n");
    let mut alerts = String::from("    alert_rule_test:\n");
    let mut verdicts = Vec::new();
    for at in CHECKS {
        let statuses = evaluate(&store, &budgets, T0 + at).unwrap();
        for s in &statuses {
            for b in &s.burn_rates {
                let ratio = b.bad as f64 / b.total as f64;
                let tolerance = 0.03 * ratio + 1e-9;
                let _ = writeln!(
                    exprs,
                    "      - expr: count(abs(slo:sli_error:ratio_rate{w}{{sloth_slo=\"{n}\"}} - {ratio}) <= {tolerance})\n        \
                     eval_time: {at}m\n        exp_samples:\n          - labels: '{{}}'\n            value: 1",
                    w = b.window,
                    n = s.name,
                );
            }
            verdicts.push((
                at,
                s.name.clone(),
                s.burning(Status::Page),
                s.burning(Status::Ticket),
            ));
        }
        let page: Vec<&BudgetStatus> = statuses
            .iter()
            .filter(|s| s.burning(Status::Page))
            .collect();
        let ticket: Vec<&BudgetStatus> = statuses
            .iter()
            .filter(|s| s.burning(Status::Ticket))
            .collect();
        alert_entry(&mut alerts, at, "VitalsBudgetPage", &page);
        alert_entry(&mut alerts, at, "VitalsBudgetTicket", &ticket);
    }
    // The traffic was made to give every kind of verdict (so agreement is not all "ok").
    let expected = [
        (90, "avail", false, true),
        (90, "fast", false, false),
        (150, "avail", true, true),
        (150, "fast", false, true),
        (240, "avail", false, true),
        (240, "fast", false, true),
    ];
    let got: Vec<(i64, &str, bool, bool)> = verdicts
        .iter()
        .map(|(at, n, p, t)| (*at, n.as_str(), *p, *t))
        .collect();
    assert_eq!(got, expected);
    test.push_str(&exprs);
    test.push_str(&alerts);

    let rules = prometheus_rules("shop", &budgets).unwrap();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    std::fs::write(dir.path().join("test.yml"), &test).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "test.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool (apt-get install prometheus, or set VITALS_SKIP_PROMTOOL)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{test}");
    assert!(text.contains("SUCCESS"), "{text}");
}
