//! Helpers shared by the scenario tests.

#![allow(dead_code, unreachable_pub)]

use vitals::AtomicHistogram;
use vitals::Method;
use vitals_store::budget::ConfigError;
use vitals_store::{Buckets, MinuteBatch, Point, SeriesKey};

/// A start minute in 2023 (unix minutes).
pub const T0: i64 = 28_333_320; // 2023-11-14T22:00:00Z, an hour boundary

/// A point of `n` requests at `ms` each, `errors_5xx` of them 5xx.
pub fn point(series: SeriesKey, values_ms: &[u64], errors_5xx: u64) -> Point {
    let h = AtomicHistogram::new();
    let mut sum = 0;
    let mut max = 0;
    for &ms in values_ms {
        h.record(ms * 1_000_000);
        sum += ms * 1_000;
        max = max.max(ms * 1_000);
    }
    Point {
        series,
        count: values_ms.len() as u64,
        errors_5xx,
        errors: errors_5xx,
        sum_us: sum,
        max_us: max,
        buckets: Buckets::from(&h.snapshot()),
    }
}

/// A route key.
pub fn route(template: &str) -> SeriesKey {
    SeriesKey::route(Method::Get, template)
}

/// A batch of points.
pub fn batch(minute: i64, points: Vec<Point>) -> MinuteBatch {
    MinuteBatch {
        minute,
        points,
        ..MinuteBatch::default()
    }
}

/// Two good budgets in TOML: a latency one on a POST route, an availability one on a glob.
pub const GOOD_BUDGETS_TOML: &str = r#"
[[budget]]
name = "checkout-latency"
route = "/api/orgs/{orgId}/checkout"
method = "POST"
kind = "latency"
threshold = "250ms"
objective = 99.0

[[budget]]
name = "api"
route = "/api/**"
kind = "availability"
objective = 99.9
window = "28d"
"#;

/// `err` of the budgets file `source` names `line` in its field and its message, and says `words`.
pub fn assert_refused(err: &ConfigError, source: &str, line: usize, words: &str, text: &str) {
    assert_eq!(err.line, Some(line), "{text}\n{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{source}, line {line}: ")),
        "{msg}"
    );
    assert!(msg.contains(words), "{msg}");
}
