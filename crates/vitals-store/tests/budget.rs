//! Budgets: TOML files good and bad, evaluation from a real store, and the Prometheus rules
//! checked and unit-tested by a real `promtool` on the same synthetic traffic.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{GOOD_BUDGETS_TOML, T0, assert_refused, batch, point, route};
use vitals_store::budget::{
    Budget, BudgetKind, Status, evaluate, evaluate_scaled, parse_budgets, prometheus_rules,
};
use vitals_store::{Store, StoreConfig};

#[test]
fn a_good_file_parses() {
    let budgets = parse_budgets("budgets.toml", GOOD_BUDGETS_TOML).unwrap();
    assert_eq!(budgets.len(), 2);
    assert_eq!(
        budgets[0].kind,
        BudgetKind::Latency {
            threshold: Duration::from_millis(250)
        }
    );
    assert_eq!(budgets[0].method, Some(vitals::Method::Post));
    assert!((budgets[0].objective - 0.99).abs() < 1e-12);
    assert_eq!(budgets[0].window, Duration::from_secs(30 * 86_400));
    assert_eq!(budgets[1].window, Duration::from_secs(28 * 86_400));
    assert!(budgets[1].method.is_none());
    assert!(parse_budgets("empty.toml", "").unwrap().is_empty());
}

#[test]
fn bad_files_name_the_line() {
    let head = "[[budget]]\nname = \"a\"\n";
    for (body, line, words) in [
        (
            "kind = \"latency\"\nthreshold = \"300ms\"\nobjective = 99\n",
            4,
            "not an edge",
        ),
        (
            "kind = \"latency\"\nthreshold = \"fast\"\nobjective = 99\n",
            4,
            "threshold",
        ),
        ("kind = \"availability\"\nobjective = 100\n", 4, "objective"),
        (
            "kind = \"availability\"\nobjective = 99\nwindow = \"1h\"\n",
            5,
            "window",
        ),
        (
            "kind = \"availability\"\nmethod = \"FETCH\"\nobjective = 99\n",
            4,
            "method",
        ),
        (
            "kind = \"availability\"\nroute = \"/a[b\"\nobjective = 99\n",
            4,
            "route",
        ),
        (
            "kind = \"availability\"\nthreshold = \"1s\"\nobjective = 99\n",
            4,
            "no threshold",
        ),
        ("kind = \"speed\"\nobjective = 99\n", 3, "speed"),
        (
            "kind = \"availability\"\nobjective = 99\ncolour = 1\n",
            5,
            "colour",
        ),
        ("kind = \"availability\"\nobjective = \n", 4, ""),
        (
            "kind = \"availability\"\nobjective = 99\n[[budget]]\nname = \"a\"\nkind = \"availability\"\nobjective = 9\n",
            6,
            "twice",
        ),
    ] {
        let text = format!("{head}{body}");
        let err = parse_budgets("budgets.toml", &text).unwrap_err();
        assert_refused(&err, "budgets.toml", line, words, &text);
    }
    let err = parse_budgets(
        "b.toml",
        "[[budget]]\nkind = \"latency\"\nname = \"x\"\nobjective = 99\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs a threshold"), "{err}");
    assert_eq!(err.line, Some(1));
}

/// 1,000 requests a minute on `GET /api/x` for 90 minutes, 50 of them 5xx in each of the first
/// 60: the traffic both the in-process evaluation and promtool see.
fn synthetic(store: &Store) {
    for m in 0..90 {
        let errors = if m < 60 { 50 } else { 0 };
        let p = point(route("/api/x"), &[10; 1_000], errors);
        store.write_minute(&batch(T0 + m, vec![p])).unwrap();
    }
}

fn availability() -> Budget {
    Budget::availability("api", "/api/**")
        .unwrap()
        .objective(0.999)
        .unwrap()
}

#[test]
fn injected_errors_page_then_fall_back_to_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
    synthetic(&store);
    let other = Budget::availability("web", "/web/*").unwrap();
    let at = |minute| evaluate(&store, &[availability(), other.clone()], minute).unwrap();

    let s = &at(T0 + 60)[0];
    assert_eq!(s.series, 1);
    assert_eq!(s.status, Status::Page);
    assert_eq!((s.total, s.good), (60_000, 57_000));
    assert!(
        (s.burn_rates[0].rate - 50.0).abs() < 1e-9,
        "{:?}",
        s.burn_rates[0]
    );
    assert!((s.error_budget_remaining - (1.0 - 50.0)).abs() < 1e-9);

    let s = &at(T0 + 90)[0];
    assert_eq!(s.status, Status::Ticket, "{s:?}");
    assert_eq!(s.burn_rates[0].window, "5m");
    assert_eq!(s.burn_rates[0].rate, 0.0);

    // A budget over routes without traffic is fine and says so.
    let quiet = &at(T0 + 90)[1];
    assert_eq!(
        (quiet.series, quiet.total, quiet.status),
        (0, 0, Status::Ok)
    );
    assert_eq!((quiet.sli, quiet.error_budget_remaining), (None, 1.0));
}

#[test]
fn scaled_windows_page_within_a_minute_and_the_pairs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
    synthetic(&store); // 5% errors in minutes 0..60, none in 60..90
    let b = [availability()];
    // Scale 60: 5m, 30m and 1h are one minute, 6h six, 3d 72.
    let s = &evaluate_scaled(&store, &b, T0 + 1, 60).unwrap()[0];
    let minutes: Vec<i64> = s.burn_rates.iter().map(|r| r.minutes).collect();
    assert_eq!(minutes, [1, 1, 1, 2, 6, 24, 72]);
    assert_eq!(
        (s.burn_rates[2].window.as_str(), s.burn_rates[2].total),
        ("1h", 1_000)
    );
    assert_eq!(s.status, Status::Page);
    assert!(s.burning(Status::Page) && s.burning(Status::Ticket));
    // Both page pairs burn at 50; relative to its factor the 6 h / 30 m pair (6) is hotter.
    let (pair, rate) = s.hottest_pair(Status::Page).unwrap();
    assert_eq!((pair.long_minutes, pair.factor), (360, 6.0));
    assert!((rate - 50.0).abs() < 1e-9, "{rate}");
    // One clean minute later the one-minute short windows are clean, so no pair pages; the
    // 2 h (two minutes) and 1 d (24 minutes) windows still hold errors: a ticket.
    let s = &evaluate_scaled(&store, &b, T0 + 61, 60).unwrap()[0];
    assert!(!s.burning(Status::Page), "{s:?}");
    assert_eq!(s.status, Status::Ticket);
    // Unscaled, the same minute still pages (the 1-hour window is full of errors).
    let s = &evaluate(&store, &b, T0 + 61).unwrap()[0];
    assert!(s.burning(Status::Page));
    assert!(
        s.burn_rates
            .iter()
            .zip([5, 30, 60, 120, 360, 1_440, 4_320])
            .all(|(r, m)| r.minutes == m)
    );
}

#[test]
fn latency_budgets_count_requests_over_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
    let mut values = vec![100u64; 985];
    values.extend([240, 250, 260, 300, 900].repeat(3)); // 6 at or under 250 ms, 9 over
    store
        .write_minute(&batch(T0, vec![point(route("/slow"), &values, 0)]))
        .unwrap();
    let b = Budget::latency("slow", "/slow", Duration::from_millis(250))
        .unwrap()
        .objective(0.99)
        .unwrap();
    let s = &evaluate(&store, &[b], T0 + 1).unwrap()[0];
    assert_eq!((s.total, s.good), (1_000, 991));
    assert!((s.sli.unwrap() - 0.991).abs() < 1e-12);
    assert_eq!(s.status, Status::Ok); // 0.9% bad against 1% allowed
}

fn promtool() -> Option<&'static str> {
    if std::env::var_os("VITALS_SKIP_PROMTOOL").is_some() {
        eprintln!("VITALS_SKIP_PROMTOOL set: promtool checks skipped");
        return None;
    }
    let found = Command::new("promtool").arg("--version").output().is_ok();
    assert!(
        found,
        "promtool not found: apt-get install prometheus (or set VITALS_SKIP_PROMTOOL)"
    );
    Some("promtool")
}

const PROMTOOL_TEST: &str = r#"
rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_server_requests_total{route="/api/x",method="GET",status="2xx"}'
        values: '0+950x60 57950+1000x30'
      - series: 'http_server_requests_total{route="/api/x",method="GET",status="5xx"}'
        values: '0+50x60 3000+0x30'
      - series: 'http_server_requests_total{route="/web/y",method="GET",status="5xx"}'
        values: '0+500x90'
    alert_rule_test:
      - eval_time: 60m
        alertname: VitalsBudgetPage
        exp_alerts:
          - exp_labels: {severity: page, sloth_severity: page, sloth_id: shop-api, sloth_service: shop, sloth_slo: api}
            exp_annotations:
              summary: 'page budget api of shop is burning its error budget too fast'
              title: '(vitals budget) api'
      - eval_time: 90m
        alertname: VitalsBudgetPage
        exp_alerts: []
      - eval_time: 90m
        alertname: VitalsBudgetTicket
        exp_alerts:
          - exp_labels: {severity: ticket, sloth_severity: ticket, sloth_id: shop-api, sloth_service: shop, sloth_slo: api}
            exp_annotations:
              summary: 'ticket budget api of shop is burning its error budget too fast'
              title: '(vitals budget) api'
"#;

#[test]
fn promtool_accepts_the_rules_and_agrees_with_the_store() {
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut budgets = parse_budgets("budgets.toml", GOOD_BUDGETS_TOML).unwrap();
    budgets.push(availability().method(vitals::Method::Get));
    budgets[2].name = "api".into();
    budgets.remove(1);
    let rules = prometheus_rules("shop", &budgets).unwrap();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    std::fs::write(dir.path().join("test.yml"), PROMTOOL_TEST).unwrap();

    let check = Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg("rules.yml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{out}\n{rules}");
    assert!(out.contains("SUCCESS"), "{out}");

    let test = Command::new(promtool)
        .arg("test")
        .arg("rules")
        .arg("test.yml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out =
        String::from_utf8_lossy(&test.stdout).into_owned() + &String::from_utf8_lossy(&test.stderr);
    assert!(test.status.success(), "{out}\n{rules}");

    // The same traffic in process: page at minute 60, ticket at 90.
    let store = Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap();
    synthetic(&store);
    let api = &budgets[1..];
    assert_eq!(
        evaluate(&store, api, T0 + 60).unwrap()[0].status,
        Status::Page
    );
    assert_eq!(
        evaluate(&store, api, T0 + 90).unwrap()[0].status,
        Status::Ticket
    );
}

#[test]
fn glob_routes_become_anchored_regexes() {
    let b = Budget::availability("g", "/api/*/items/**").unwrap();
    let rules = prometheus_rules("svc", &[b]).unwrap();
    assert!(rules.contains(r#"route=~"/api/[^/]*/items/.*""#), "{rules}");
    let lit = Budget::latency("l", "/a.b/{id}", Duration::from_secs(1)).unwrap();
    let rules = prometheus_rules("svc", &[lit]).unwrap();
    assert!(rules.contains(r#"route="/a.b/{id}""#), "{rules}");
    assert!(rules.contains(r#"le="1.0""#), "{rules}");
    assert!(prometheus_rules("bad service", &[]).is_err());
}
