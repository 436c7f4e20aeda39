//! Alerts that survive restarts, end to end: the real server binary fires a heap alert (a
//! heap warning level below its baseline heap), is killed with SIGKILL and started again on
//! the same files, twice: after the first restart the still-firing alert pages nobody again;
//! after the second (levels raised) it resolves under the same id. A real Alertmanager (Debian
//! `prometheus-alertmanager`) and a signed webhook receiver each see exactly one fire and one
//! resolve. Run with history on (the store's `active_alerts`) and off (the outbox's firing set).

#[allow(dead_code)]
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde_json::Value;
use support::Server;

const LIMIT: Duration = Duration::from_secs(40);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A loopback receiver recording (path, JSON body) of every request; answers 200.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn receive(State(rx): State<Receiver>, uri: Uri, body: Bytes) -> StatusCode {
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rx.hits.lock().unwrap().push((uri.path().to_owned(), json));
    StatusCode::OK
}

impl Receiver {
    async fn start() -> (Self, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rx = Self::default();
        let app = axum::Router::new().fallback(receive).with_state(rx.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (rx, addr)
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

async fn wait_for<T>(what: &str, mut find: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + LIMIT;
    loop {
        if let Some(found) = find() {
            return found;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The Alertmanager process; killed on drop.
struct Alertmanager(Child);

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_alertmanager(dir: &std::path::Path, port: u16, webhook: &str) -> Alertmanager {
    let binary = ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .expect("Alertmanager is missing: apt-get install -y prometheus-alertmanager");
    let config = format!(
        "route:\n  receiver: test\n  group_by: ['alertname']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: test\n    webhook_configs:\n      - url: '{webhook}'\n        send_resolved: true\n"
    );
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, config).unwrap();
    let am = Alertmanager(
        Command::new(binary)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting alertmanager"),
    );
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let end = Instant::now() + LIMIT;
    while !client
        .get(&ready)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < end, "alertmanager did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    am
}

/// Webhook deliveries of the heap alert of this `type` (`alert.fired`, `alert.resolved`).
fn hook(rx: &Receiver, kind: &str) -> Vec<Value> {
    rx.bodies("/hook")
        .into_iter()
        .filter(|b| b["type"] == kind && b["data"]["rule"] == "VitalsHeapHigh")
        .collect()
}

/// Alertmanager's notifications of the heap alert with this status.
fn am(rx: &Receiver, status: &str) -> Vec<Value> {
    rx.bodies("/am")
        .into_iter()
        .filter(|p| {
            p["status"] == status
                && p["alerts"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a["labels"]["alertname"] == "VitalsHeapHigh")
                })
        })
        .collect()
}

async fn a_firing_alert_across_restarts_resolves_once(history: &str) {
    let dir = std::env::temp_dir().join(format!(
        "vitals-alert-restart-{history}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("vitals.db").to_str().unwrap().to_owned();
    let (rx, rx_addr) = Receiver::start().await;
    let am_port = free_port();
    let _am = start_alertmanager(&dir, am_port, &format!("http://{rx_addr}/am")).await;
    let am_url = format!("http://127.0.0.1:{am_port}");
    let hook_url = format!("http://{rx_addr}/hook");
    let env = |warning: &'static str, critical: &'static str| {
        vec![
            ("DATABASE_URL", database.clone()),
            ("VITALS_HISTORY", history.to_owned()),
            ("VITALS_ALERTMANAGER_URL", am_url.clone()),
            ("VITALS_WEBHOOK_URL", hook_url.clone()),
            ("VITALS_WEBHOOK_SECRET", SECRET.to_owned()),
            ("VITALS_SAMPLE_INTERVAL_MS", "200".to_owned()),
            ("VITALS_INSTANCE", "restart-1".to_owned()),
            ("VITALS_HEAP_WARNING_MB", warning.to_owned()),
            ("VITALS_HEAP_CRITICAL_MB", critical.to_owned()),
        ]
    };
    let start = |vars: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_with(&pairs)
    };

    // 1. Any heap is above 1 MiB: the alert fires at the first sample.
    let server = start(env("1", "100000"));
    let fired = wait_for("the fired webhook", || hook(&rx, "alert.fired").pop()).await;
    let alert_id = fired["data"]["alert_id"].as_str().unwrap().to_owned();
    assert!(
        alert_id.starts_with("vitals-server/restart-1/memory/"),
        "{alert_id}"
    );
    let am_fired = wait_for("Alertmanager's firing notification", || {
        am(&rx, "firing").pop()
    })
    .await;
    let starts_at = am_fired["alerts"][0]["startsAt"].clone();
    // SIGKILL: no graceful shutdown, nothing flushed at exit.
    drop(server);

    // 2. Same files, still firing: restored, not paged again.
    let server = start(env("1", "100000"));
    let restored = if history == "1" {
        "history store"
    } else {
        "notification outbox"
    };
    wait_for("the restore log line", || {
        let out = server.output();
        (out.contains("active alerts restored") && out.contains(restored)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // 15 evaluations
    assert_eq!(
        hook(&rx, "alert.fired").len(),
        1,
        "no second fire after the restart"
    );
    assert!(hook(&rx, "alert.resolved").is_empty());
    drop(server);

    // 3. Levels raised: the restored alert resolves, under the same id and start.
    let server = start(env("100000", "200000"));
    let resolved = wait_for("the resolved webhook", || hook(&rx, "alert.resolved").pop()).await;
    assert_eq!(resolved["data"]["alert_id"], alert_id.as_str());
    let am_resolved = wait_for("Alertmanager's resolved notification", || {
        am(&rx, "resolved").pop()
    })
    .await;
    assert_eq!(
        am_resolved["alerts"][0]["startsAt"], starts_at,
        "the same alert instance"
    );
    assert_eq!(am_resolved["alerts"][0]["labels"]["instance"], "restart-1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook(&rx, "alert.fired").len(), 1);
    assert_eq!(hook(&rx, "alert.resolved").len(), 1);
    assert_eq!(am(&rx, "firing").len(), 1, "Alertmanager paged once");
    assert_eq!(am(&rx, "resolved").len(), 1, "and resolved once");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_history_a_firing_alert_across_restarts_resolves_once() {
    a_firing_alert_across_restarts_resolves_once("1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_history_the_outbox_carries_the_alert_across_restarts() {
    a_firing_alert_across_restarts_resolves_once("0").await;
}
