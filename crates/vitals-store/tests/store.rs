//! The store on a real SQLite file: tiers, additivity, pruning, queries, restarts and the
//! failures `Store::open` must name.

mod common;

use std::time::Duration;

use common::{T0, batch, point, route};
use vitals_store::{
    AlertTransition, HistoryError, HistoryRequest, MinuteBatch, OpenError, QueryError, Retention,
    SeriesKey, Step, Store, StoreConfig, SystemPoint, Transition,
};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("h.db"), StoreConfig::default()).unwrap()
}

#[test]
fn hours_and_days_merge_minute_buckets_and_percentiles_stay_within_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = route("/items/{id}");
    let mut all = Vec::new();
    for m in 0..120 {
        // Each minute a different latency band: averaging minute percentiles would be wrong.
        let values: Vec<u64> = (1..=50).map(|i| i * (m as u64 % 7 + 1)).collect();
        all.extend_from_slice(&values);
        store
            .write_minute(&batch(
                T0 + m,
                vec![point(key.clone(), &values, m as u64 % 2)],
            ))
            .unwrap();
    }
    let minutes = store
        .query(&key, T0 * 60, (T0 + 119) * 60, Step::Minute)
        .unwrap();
    assert_eq!(minutes.len(), 120);
    let hours = store
        .query(&key, T0 * 60, (T0 + 119) * 60, Step::Hour)
        .unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].t, T0 * 60);
    assert_eq!(hours[0].count, 3_000);
    assert_eq!(hours[0].errors_5xx, 30);
    let day = store.query(&key, T0 * 60, T0 * 60, Step::Day).unwrap();
    assert_eq!(day[0].count, 6_000);

    all.sort_unstable();
    let exact = |q: f64| all[((q * all.len() as f64).ceil() as usize).max(1) - 1] as f64;
    for (q, got) in [(0.5, day[0].p50), (0.95, day[0].p95), (0.99, day[0].p99)] {
        let (e, g) = (exact(q), got.unwrap());
        assert!(
            (g - e).abs() <= 0.01 * e,
            "q{q}: exact {e} ms, stored {g} ms"
        );
    }
    assert_eq!(day[0].max, Some(350.0));
    let mean = all.iter().sum::<u64>() as f64 / all.len() as f64;
    assert!((day[0].mean.unwrap() - mean).abs() < 1e-6);
}

#[test]
fn a_minute_written_twice_adds_up_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = SeriesKey::Tenant("acme".into());
    {
        let store = open(&dir);
        // A partial minute flushed at shutdown ...
        store
            .write_minute(&batch(T0, vec![point(key.clone(), &[5, 5], 0)]))
            .unwrap();
    }
    // ... and the rest of it after the restart.
    let store = open(&dir);
    store
        .write_minute(&batch(T0, vec![point(key.clone(), &[9], 1)]))
        .unwrap();
    let h = store
        .query(&key, T0 * 60, T0 * 60 + 59, Step::Minute)
        .unwrap();
    assert_eq!((h[0].count, h[0].errors_5xx, h[0].max), (3, 1, Some(9.0)));
    assert_eq!(store.list_series().unwrap(), vec![key]);
}

#[test]
fn query_validation_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write_minute(&batch(T0, vec![point(SeriesKey::Service, &[1], 0)]))
        .unwrap();
    let q = |from, to, step| store.query(&SeriesKey::Service, from, to, step);
    assert!(matches!(
        q(10, 5, Step::Minute),
        Err(HistoryError::Query(QueryError::FromAfterTo { .. }))
    ));
    assert!(matches!(
        q(0, 10_000 * 60, Step::Minute),
        Err(HistoryError::Query(QueryError::TooManyPoints {
            steps: 10_001,
            max: 10_000
        }))
    ));
    assert!(q(0, 9_999 * 60, Step::Minute).is_ok());
    assert!(matches!(
        store.query(&route("/nope"), 0, 60, Step::Minute),
        Err(HistoryError::Query(QueryError::UnknownSeries(s))) if s == "route:GET /nope"
    ));
    for (series, from, to, step) in [
        ("bogus", "0", "1", "1m"),
        ("service", "yesterday", "1", "1m"),
        ("service", "0", "1", "5m"),
        ("service", "2", "1", "1m"),
    ] {
        assert!(
            HistoryRequest::parse(series, from, to, step).is_err(),
            "{series} {from} {to} {step}"
        );
    }
    let r = HistoryRequest::parse(
        "service",
        &(T0 * 60).to_string(),
        &(T0 * 60).to_string(),
        "1m",
    )
    .unwrap();
    match store.history(&r).unwrap() {
        vitals_store::History::Requests(points) => assert_eq!(points[0].count, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn system_and_alert_history_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for m in 0..3 {
        let system = SystemPoint {
            rss_bytes: Some(100 + m as u64 * 10),
            heap_bytes: None,
            cpu_percent: Some(50.0),
            busy_ratio: Some(0.5),
            scheduling_delay_ms: Some(m as f64),
        };
        let alerts = vec![AlertTransition {
            id: format!("memory-{m}"),
            rule: "memory".into(),
            severity: "warning".into(),
            transition: Transition::Fired,
            at_ms: (T0 + m) * 60_000 + 5,
        }];
        let b = MinuteBatch {
            minute: T0 + m,
            points: vec![],
            system: Some(system),
            alerts,
        };
        store.write_minute(&b).unwrap();
    }
    let minutes = store
        .system_history(T0 * 60, (T0 + 2) * 60, Step::Minute)
        .unwrap();
    assert_eq!(minutes.len(), 3);
    assert_eq!(minutes[2].rss_bytes.unwrap().mean, 120.0);
    assert!(minutes[0].heap_bytes.is_none());
    let hour = store.system_history(T0 * 60, T0 * 60, Step::Hour).unwrap();
    let rss = hour[0].rss_bytes.unwrap();
    assert_eq!((rss.mean, rss.max), (110.0, 120.0));
    assert_eq!(hour[0].scheduling_delay_ms.unwrap().max, 2.0);
    let alerts = store.alert_history(T0 * 60, (T0 + 1) * 60).unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["memory-0", "memory-1"]
    );
}

#[test]
fn retention_drops_old_points_per_tier_and_forgets_empty_series() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        minutes: Duration::from_secs(2 * 3_600),
        hours: Duration::from_secs(5 * 3_600),
        days: Duration::from_secs(2 * 86_400),
    };
    let store = Store::open(
        dir.path().join("h.db"),
        StoreConfig::default().retention(retention),
    )
    .unwrap();
    store
        .write_minute(&batch(T0, vec![point(route("/old"), &[1], 0)]))
        .unwrap();
    for h in 1..=6 {
        store
            .write_minute(&batch(T0 + h * 60, vec![point(route("/new"), &[1], 0)]))
            .unwrap();
    }
    let now = T0 + 6 * 60;
    let minutes = store
        .query(&route("/new"), T0 * 60, now * 60, Step::Minute)
        .unwrap();
    // Minute points of the last 2 hours only.
    assert_eq!(
        minutes.iter().map(|p| p.t / 60).collect::<Vec<_>>(),
        [now - 60, now]
    );
    let hours = store
        .query(&route("/new"), T0 * 60, now * 60, Step::Hour)
        .unwrap();
    assert_eq!(hours.len(), 5); // hours 2..=6
    // "/old" had one point at hour 0: its minute and hour points are gone, its day point is
    // within the two days kept (yesterday, today), so the series stays listed.
    assert!(
        store
            .query(&route("/old"), T0 * 60, now * 60, Step::Hour)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .query(&route("/old"), T0 * 60, now * 60, Step::Day)
            .unwrap()[0]
            .count,
        1
    );
    // A day later its day has left the two days kept: only "/new" remains.
    store
        .write_minute(&batch(now + 1_440, vec![point(route("/new"), &[1], 0)]))
        .unwrap();
    assert_eq!(store.list_series().unwrap(), vec![route("/new")]);
}

#[test]
fn the_size_bound_prunes_oldest_minutes_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let store = Store::open(&path, StoreConfig::default().max_bytes(1 << 20)).unwrap();
    let values: Vec<u64> = (1..=200).collect();
    let mut over = false;
    let mut pruned = 0;
    for m in 0..240 {
        let points = (0..40)
            .map(|r| point(route(&format!("/r{r}")), &values, 0))
            .collect();
        let report = store.write_minute(&batch(T0 + m, points)).unwrap();
        pruned += report.pruned_rows;
        over |= report.over_size;
    }
    assert!(pruned > 0, "nothing pruned");
    assert!(!over);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 1 << 20, "file is {size} bytes");
    let key = route("/r0");
    let minutes = store
        .query(&key, T0 * 60, (T0 + 239) * 60, Step::Minute)
        .unwrap();
    // The oldest minutes went, the newest stayed, and the hour tier still has every hour.
    assert_eq!(minutes.last().unwrap().t, (T0 + 239) * 60);
    assert!(minutes.first().unwrap().t > T0 * 60);
    let hours = store
        .query(&key, T0 * 60, (T0 + 239) * 60, Step::Hour)
        .unwrap();
    assert_eq!(hours.iter().map(|h| h.count).sum::<u64>(), 240 * 200);
}

#[test]
fn a_corrupt_file_is_a_clear_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    std::fs::write(
        &path,
        b"this is not an sqlite database, just some text. ".repeat(100),
    )
    .unwrap();
    let err = Store::open(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("h.db") && msg.contains("corrupt"), "{msg}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(Store::open(&path, StoreConfig::default()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Store::open(&path, StoreConfig::default()).unwrap_err();
    assert!(
        matches!(err, OpenError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
}

const READ_ONLY_CHILD: &str = "VITALS_STORE_READ_ONLY_CHILD";

/// A read-only file: `open` says so. Root ignores file modes, so as root the open runs in a
/// child process of this test binary under the `nobody` user.
#[test]
fn a_read_only_file_is_a_clear_open_error() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Ok(path) = std::env::var(READ_ONLY_CHILD) {
        let err = Store::open(&path, StoreConfig::default()).unwrap_err();
        assert!(matches!(err, OpenError::ReadOnly { .. }), "{err:?}");
        println!("child saw: {err}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(Store::open(&path, StoreConfig::default()).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        let err = Store::open(&path, StoreConfig::default()).unwrap_err();
        assert!(matches!(err, OpenError::ReadOnly { .. }), "{err:?}");
        return;
    }
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_read_only_file_is_a_clear_open_error",
            "--nocapture",
        ])
        .env(READ_ONLY_CHILD, &path)
        .uid(65_534)
        .gid(65_534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("child saw: history store") && stdout.contains("read-only"),
        "{stdout}"
    );
}
