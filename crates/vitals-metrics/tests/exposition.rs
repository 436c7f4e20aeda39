//! What the registry renders: valid for `promtool`, histograms whose quantiles match the values
//! recorded, help text and units from `describe_*`, names sanitised or refused.

use std::io::Write;
use std::process::{Command, Stdio};

use vitals_metrics::{Config, Registry};

/// A registry holding one of everything, written through the `metrics` macros.
fn populated() -> Registry {
    let registry = Registry::new(Config::default().max_label_sets(3));
    metrics::with_local_recorder(&registry, || {
        metrics::describe_counter!("properties_created_total", "Properties created.");
        metrics::describe_histogram!(
            "db_query_duration_seconds",
            metrics::Unit::Seconds,
            "Database query durations."
        );
        metrics::describe_gauge!(
            "db_pool_waiters",
            metrics::Unit::Count,
            "Waiting for a connection."
        );
        for org in ["acme", "globex", "initech", "umbrella", "hooli"] {
            metrics::counter!("properties_created_total", "organization" => org).increment(2);
        }
        metrics::counter!("weird.name-with spaces", "label.with-dash" => "quote \" back \\ nl \n")
            .increment(1);
        for ms in 1..=200 {
            metrics::histogram!("db_query_duration_seconds", "query" => "insert_property")
                .record(f64::from(ms) / 1000.0);
        }
        metrics::gauge!("db_pool_waiters").set(3.0);
        metrics::counter!("__reserved").increment(1); // refused
        metrics::histogram!("bad_histogram", "le" => "1").record(1.0); // refused
    });
    registry
}

fn promtool_check(text: &str) -> (bool, String) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!("promtool not runnable ({e}); install it with `apt-get install -y prometheus`")
    });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

#[test]
fn promtool_accepts_the_text_format() {
    let text = populated().render_text();
    let (ok, report) = promtool_check(&text);
    assert!(
        ok,
        "promtool check metrics failed:\n{report}\n--- input ---\n{text}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool lint findings:\n{report}\n{text}"
    );
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    // The check above can fail: the same tool on a duplicated family does.
    let text = populated().render_text();
    let doubled = format!("{text}{text}");
    assert!(!promtool_check(&doubled).0);
}

#[test]
fn help_units_and_names_are_rendered() {
    let registry = populated();
    let text = registry.render_text();
    assert!(text.contains("# HELP properties_created_total Properties created.\n"));
    assert!(text.contains("# TYPE properties_created_total counter\n"));
    assert!(text.contains("properties_created_total{organization=\"acme\"} 2\n"));
    assert!(
        text.contains("properties_created_total{overflow=\"true\"} 4\n"),
        "{text}"
    );
    assert!(text.contains(
        "weird_name_with_spaces_total{label_with_dash=\"quote \\\" back \\\\ nl \\n\"} 1\n"
    ));
    assert!(text.contains("vitals_custom_metrics_refused_total{reason=\"invalid_name\"} 1\n"));
    assert!(text.contains("vitals_custom_metrics_refused_total{reason=\"invalid_label\"} 1\n"));
    assert!(text.contains("vitals_custom_metrics_overflowed_total 2\n"));
    assert!(!text.contains("bad_histogram"));

    let om = registry.render_openmetrics();
    assert!(
        om.contains("# UNIT db_query_duration_seconds seconds\n"),
        "{om}"
    );
    assert!(!om.contains("# UNIT db_pool_waiters"), "count is no unit");
    assert!(om.ends_with("# EOF\n"));

    let snapshot = registry.snapshot();
    let waiters = snapshot
        .families
        .iter()
        .find(|f| f.name == "db_pool_waiters")
        .unwrap();
    assert_eq!((waiters.kind, waiters.unit), ("gauge", Some("count")));
    assert_eq!(waiters.series[0].value, Some(3.0));
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["refused"]["invalid_name"], 1);
    assert_eq!(json["limits"]["max_label_sets"], 3);
}

#[test]
fn a_second_kind_under_the_same_name_is_refused() {
    let registry = Registry::default();
    metrics::with_local_recorder(&registry, || {
        metrics::counter!("jobs").increment(1);
        metrics::gauge!("jobs").set(5.0);
        metrics::counter!("vitals_shed").increment(1); // reserved prefix
    });
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.refused["kind_conflict"], 1);
    assert_eq!(snapshot.refused["reserved_name"], 1);
    assert!(registry.render_text().contains("jobs_total 1\n"));
}

#[test]
fn a_prefix_is_applied_only_when_configured() {
    let registry = Registry::new(Config::default().prefix("shop_"));
    metrics::with_local_recorder(&registry, || metrics::gauge!("carts").set(1.0));
    assert!(registry.render_text().contains("shop_carts 1\n"));
}

/// Prometheus' `histogram_quantile`: linear interpolation inside the bucket holding the rank.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> (f64, f64, f64) {
    let count = buckets.last().unwrap().1;
    let rank = q * count;
    let mut lower = (0.0, 0.0);
    for &(le, cum) in buckets {
        if cum >= rank {
            let estimate = lower.0 + (le - lower.0) * (rank - lower.1) / (cum - lower.1);
            return (estimate, lower.0, le);
        }
        lower = (le, cum);
    }
    unreachable!("the +Inf bucket holds every rank")
}

#[test]
fn a_quantile_read_from_the_rendered_buckets_is_within_the_bucket_of_the_true_one() {
    let registry = Registry::default();
    // Deterministic spread of durations from 1 ms to about 4 s, skewed towards fast.
    let mut values: Vec<f64> = (0..50_000u64)
        .map(|i| {
            let u = ((i * 2_654_435_761) % 1_000_003) as f64 / 1_000_003.0;
            0.001 * (8.3 * u * u).exp()
        })
        .collect();
    metrics::with_local_recorder(&registry, || {
        let h = metrics::histogram!("job_duration_seconds");
        for &v in &values {
            h.record(v);
        }
    });
    values.sort_by(f64::total_cmp);
    let text = registry.render_text();
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("job_duration_seconds_bucket{le=\""))
        .map(|rest| {
            let (le, count) = rest.split_once("\"} ").unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, count.parse().unwrap())
        })
        .collect();
    assert_eq!(buckets.len(), 12, "{text}");
    let summary = registry.snapshot().families[0].series[0]
        .histogram
        .clone()
        .unwrap();
    for q in [0.5, 0.9, 0.95, 0.99] {
        let truth = values[(q * values.len() as f64).ceil() as usize - 1];
        let (estimate, lower, upper) = histogram_quantile(q, &buckets);
        assert!(
            lower <= truth && truth <= upper,
            "q{q}: true {truth} outside the bucket ({lower}, {upper}] of the estimate {estimate}"
        );
        assert!(
            (estimate - truth).abs() <= upper - lower,
            "q{q}: {estimate} vs {truth}"
        );
        // The JSON percentiles use vitals' fine buckets: within 1% of the true value.
        let fine = match q {
            0.5 => summary.p50,
            0.9 => summary.p90,
            0.95 => summary.p95,
            _ => summary.p99,
        }
        .unwrap();
        assert!(
            (fine - truth).abs() <= 0.01 * truth + 1e-9,
            "q{q}: fine {fine} vs {truth}"
        );
    }
    assert!(summary.fine);
    assert_eq!(summary.count, 50_000);
}
