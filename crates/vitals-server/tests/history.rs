//! History across restarts, end to end: the reference server keeps its history beside its
//! database (`<db>.history.sqlite`); traffic, a graceful restart on the same database, and
//! `/metrics/history` (what the dashboard's 1 h / 24 h / 7 d views read) still has the points
//! from before, and the memory trend's snapshots reach back before the restart; `kill -9` while requests are being
//! recorded and flushed (every second, `VITALS_HISTORY_FLUSH_SECS=1`) leaves a store that
//! opens and reads, holding the requests of the flushes before the kill.

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::Server;
use vitals_store::{SeriesKey, Step, Store, StoreConfig};

const PROPERTIES: &str = "route:GET%20/api/orgs/%7BorgId%7D/properties";

/// A fresh directory for one test's database (removed on drop).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vitals-history-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("vitals.db")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn history_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".history.sqlite");
    PathBuf::from(name)
}

fn total(points: &Value) -> u64 {
    points["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no points: {points}"))
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum()
}

async fn traffic(server: &Server, n: usize) {
    for _ in 0..n {
        server
            .get("/api/orgs/acme/properties")
            .await
            .assert_ok_json();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_graceful_restart() {
    let dir = Dir::new("restart");
    let db = dir.db();
    let env = [("DATABASE_URL", db.to_str().unwrap())];
    let mut server = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());
    traffic(&server, 30).await;
    let fail = server.get("/api/fail?status=503").await;
    assert_eq!(fail.status, 503, "{}", fail.text);
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", server.output());
    assert!(history_file(&db).is_file(), "no history file beside {db:?}");

    let restarted_at = std::time::SystemTime::now();
    let server = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());
    let route = server
        .get(&format!("/metrics/history?series={PROPERTIES}&step=1m"))
        .await;
    route.assert_ok_json();
    assert_eq!(total(&route.json), 30, "{}", route.text);
    let p = &route.json["points"][0];
    assert!(
        p["p95"].as_f64().is_some() && p["mean"].as_f64().is_some(),
        "{p}"
    );

    let service = server.get("/metrics/history?series=service&step=1h").await;
    service.assert_ok_json();
    assert!(total(&service.json) >= 31, "{}", service.text);
    let errors: u64 = service.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["errors5xx"].as_u64().unwrap())
        .sum();
    assert!(errors >= 1, "{}", service.text);

    let system = server.get("/metrics/history?series=system").await;
    system.assert_ok_json();
    assert!(
        !system.json["points"].as_array().unwrap().is_empty(),
        "{}",
        system.text
    );
    let bad = server
        .get("/metrics/history?series=service&from=10&to=1")
        .await;
    bad.assert_problem(400);
    let health = server.get("/health").await;
    assert_eq!(health.json["status"], "pass", "{}", health.text);

    // The memory trend goes on from before the restart: the snapshots behind the growth rates
    // and the leak verdict include the store's system minutes from the first run.
    let memory = server.get("/metrics/memory").await;
    memory.assert_ok_json();
    let earliest = memory.json["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no memory history: {}", memory.text))
        .iter()
        .filter_map(|s| humantime::parse_rfc3339(s["timestamp"].as_str()?).ok())
        .min()
        .expect("memory samples");
    assert!(earliest < restarted_at, "{}", memory.text);
    let leak_points = memory.json["trend"]["leak"]["points"].as_u64().unwrap();
    assert!(leak_points >= 2, "seeded and live points: {}", memory.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_a_readable_store() {
    let dir = Dir::new("kill9");
    let db = dir.db();
    let env = [
        ("DATABASE_URL", db.to_str().unwrap()),
        ("VITALS_HISTORY_FLUSH_SECS", "1"),
    ];
    let mut server = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());
    traffic(&server, 40).await;
    // Wait for a flush that holds all 40 (the endpoint reads what is on disk).
    let mut flushed = 0;
    for _ in 0..100 {
        let r = server
            .get(&format!("/metrics/history?series={PROPERTIES}"))
            .await;
        if r.status == 200 {
            flushed = total(&r.json);
            if flushed >= 40 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(flushed, 40, "{}", server.output());
    // More requests while flushes go on, then SIGKILL in the middle of them.
    let url = server.url("/api/orgs/acme/properties");
    let client = server.client().clone();
    let load = tokio::spawn(async move {
        for _ in 0..2_000 {
            if client.get(&url).send().await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let status = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = server.wait_exit(Duration::from_secs(10)).await;
    let _ = load.await;

    // The store opens and reads; it holds at least the requests flushed before the kill.
    let store = Store::open(history_file(&db), StoreConfig::default()).expect("store opens");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let key = SeriesKey::route(vitals::Method::Get, "/api/orgs/{orgId}/properties");
    let points = store
        .query(&key, now - 3_600, now, Step::Minute)
        .expect("store reads");
    let count: u64 = points.iter().map(|p| p.count).sum();
    assert!(count >= 40, "{points:?}");
    let hours = store.query(&key, now - 7_200, now, Step::Hour).unwrap();
    assert_eq!(
        hours.iter().map(|p| p.count).sum::<u64>(),
        count,
        "hour tier = sum of minutes"
    );
    drop(store);

    // And the server starts on it again and answers from it.
    let server = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());
    let r = server
        .get(&format!("/metrics/history?series={PROPERTIES}"))
        .await;
    r.assert_ok_json();
    assert!(total(&r.json) >= count, "{}", r.text);
}
