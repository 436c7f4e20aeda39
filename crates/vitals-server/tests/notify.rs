//! Alerts that reach people, end to end: the real server binary drives a heap alert (the demo
//! leak route past a low `VITALS_HEAP_WARNING_MB`), delivers it through a real Alertmanager
//! (Debian `prometheus-alertmanager`) to a receiver served here, and to a signed generic
//! webhook that fails on command, across a restart of the server mid-outage.

#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use support::Server;

const LIMIT: Duration = Duration::from_secs(40);

/// One request a receiver saw, and whether it was accepted.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
    accepted: bool,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Answer 500 to this many more requests.
    fail_next: AtomicUsize,
    /// Answer 503 to everything while set.
    outage: AtomicBool,
    hits: Mutex<Vec<Hit>>,
}

/// A loopback HTTP receiver that fails on command.
#[derive(Debug, Clone)]
struct Receiver {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let fail = inner.outage.load(Ordering::SeqCst)
        || inner
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    inner.hits.lock().unwrap().push(Hit {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        accepted: !fail,
    });
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }
}

/// Polls `find` every 50 ms until it returns something; panics with `what` after `LIMIT`.
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

/// Starts Alertmanager on `port` with a config whose only receiver is `webhook` (short
/// group_wait and group_interval), and waits until it is ready.
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
            .arg(format!("--storage.path={}", dir.join("data").display()))
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

/// Alertmanager webhook payloads for `alertname` with `status`.
fn am_payload(rx: &Receiver, alertname: &str, status: &str) -> Option<Value> {
    rx.hits().into_iter().map(|h| h.json()).find(|p| {
        p["status"] == status
            && p["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == alertname))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heap_alert_fires_and_resolves_through_a_real_alertmanager() {
    let dir = tempfile_dir("am");
    let rx = Receiver::start().await;
    let am_port = free_port();
    let _am = start_alertmanager(&dir, am_port, &rx.url("/am")).await;
    let am_url = format!("http://127.0.0.1:{am_port}");
    let server = Server::start_with(&[
        ("VITALS_ALERTMANAGER_URL", &am_url),
        ("VITALS_HEAP_WARNING_MB", "64"),
        ("VITALS_DEMO", "1"),
        ("VITALS_HEAP_CRITICAL_MB", "2048"),
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_INSTANCE", "e2e-1"),
        (
            "VITALS_DASHBOARD_URL",
            "http://vitals.example/metrics/dashboard",
        ),
    ]);

    let held = server
        .send(server.client().post(server.url("/api/demo/leak?mb=128")))
        .await;
    assert_eq!(held.status, 200, "{}", held.text);
    let firing = wait_for("the firing alert through Alertmanager", || {
        am_payload(&rx, "VitalsHeapHigh", "firing")
    })
    .await;
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["rule"], "memory");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["service"], "vitals-server");
    assert_eq!(alert["labels"]["instance"], "e2e-1");
    assert_eq!(
        alert["generatorURL"],
        "http://vitals.example/metrics/dashboard"
    );
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("High memory usage: "),
        "{alert}"
    );

    let channel = format!("alertmanager:{am_url}");
    let snapshot = server.get("/metrics/notifications").await;
    assert_eq!(snapshot.status, 200, "{}", snapshot.text);
    assert_eq!(snapshot.json["configured"], true);
    let c = &snapshot.json["channels"][0];
    assert_eq!(c["name"], channel.as_str());
    assert!(c["sent"].as_u64().unwrap() >= 1, "{c}");
    assert!(c["lastSuccess"].is_string(), "{c}");
    let dashboard = server
        .get_with("/metrics/dashboard", &[("accept", "application/json")])
        .await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.text);
    let panel = &dashboard.json["protection"]["notifications"][0];
    assert_eq!(panel["name"], channel.as_str(), "{panel}");
    assert!(panel["lastSuccess"].is_string(), "{panel}");
    assert!(
        panel["queue"].as_str().unwrap().ends_with(" of 1000"),
        "{panel}"
    );
    let metrics = server.get("/metrics").await.text;
    for series in [
        format!(r#"vitals_notifications_total{{channel="{channel}",outcome="sent"}}"#),
        format!(r#"vitals_notifications_total{{channel="{channel}",outcome="dropped"}} 0"#),
        format!(r#"vitals_notifications_queue_depth{{channel="{channel}"}}"#),
    ] {
        assert!(metrics.contains(&series), "{series} missing from /metrics");
    }

    let freed = server
        .send(server.client().post(server.url("/api/demo/leak/free")))
        .await;
    assert_eq!(freed.status, 200, "{}", freed.text);
    let resolved = wait_for("the resolved alert through Alertmanager", || {
        am_payload(&rx, "VitalsHeapHigh", "resolved")
    })
    .await;
    assert_eq!(
        resolved["alerts"][0]["startsAt"], alert["startsAt"],
        "the same alert instance resolves"
    );

    let test = server
        .send(
            server
                .client()
                .post(server.url("/metrics/notifications/test")),
        )
        .await;
    assert_eq!(test.status, 202, "{}", test.text);
    assert_eq!(test.json["queued"], 1);
    wait_for("the test notification", || {
        am_payload(&rx, "VitalsTestNotification", "firing")
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn without_a_channel_the_test_endpoint_answers_409_problem_json() {
    let server = Server::start();
    let answer = server
        .send(
            server
                .client()
                .post(server.url("/metrics/notifications/test")),
        )
        .await;
    answer.assert_problem(409);
    let snapshot = server.get("/metrics/notifications").await;
    assert_eq!(snapshot.status, 200);
    assert_eq!(snapshot.json["configured"], false);
    assert_eq!(snapshot.json["channels"], serde_json::json!([]));
    assert!(
        !server
            .get("/metrics")
            .await
            .text
            .contains("vitals_notifications")
    );
}

#[test]
fn a_malformed_channel_setting_stops_the_start_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_vitals-server"))
        .env("DATABASE_URL", ":memory:")
        .env("PORT", "0")
        .env("VITALS_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .env("VITALS_WEBHOOK_SECRET", "whsec_!!not-base64-s3cr3t")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("VITALS_WEBHOOK_SECRET"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

fn tempfile_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vitals-notify-e2e-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Verifies a delivered webhook with the PyPI `standardwebhooks` package (not our code).
fn standardwebhooks_verify(secret: &str, hit: &Hit) {
    const SCRIPT: &str = "import json, sys\n\
try:\n    from standardwebhooks.webhooks import Webhook\n\
except ImportError:\n    sys.exit('MISSING: pip install standardwebhooks')\n\
d = json.load(sys.stdin)\nWebhook(d['secret']).verify(d['body'], d['headers'])\nprint('verified')\n";
    let input =
        serde_json::json!({"secret": secret, "body": hit.body, "headers": hit.headers}).to_string();
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (and pip install standardwebhooks) verifies webhook signatures");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "verified",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "tok-4f1d8e2a9c-operator-token-0123456789";
const SLACK_TOKEN: &str = "T0001/B0001/slacks3cr3tXyZ";
const PD_KEY: &str = "pdkey-R0ut1ngK3y77";

/// Whether `hit` is a webhook of the heap alert with this `type`.
fn is_heap(hit: &Hit, kind: &str) -> bool {
    let body = hit.json();
    body["type"] == kind && body["data"]["rule"] == "VitalsHeapHigh"
}

/// Transitions of one webhook-id that the receiver accepted / refused.
fn by_id<'a>(hits: &'a [Hit], id: &str) -> Vec<&'a Hit> {
    hits.iter()
        .filter(|h| h.headers.get("webhook-id").map(String::as_str) == Some(id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_transitions_survive_500s_and_a_restart_mid_outage_without_leaking_secrets() {
    let dir = tempfile_dir("hook");
    let database = dir.join("vitals.db");
    let database = database.to_str().unwrap().to_owned();
    let rx = Receiver::start().await;
    let hook = rx.url(&format!("/hook?token={TOKEN}"));
    let dead = format!("http://127.0.0.1:{}", free_port());
    let slack = format!("{dead}/services/{SLACK_TOKEN}");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("VITALS_WEBHOOK_URL", hook.as_str()),
        ("VITALS_WEBHOOK_SECRET", WEBHOOK_SECRET),
        // Dead channels (connection refused) holding secrets of their own.
        ("VITALS_SLACK_WEBHOOK_URL", slack.as_str()),
        ("VITALS_PAGERDUTY_ROUTING_KEY", PD_KEY),
        ("VITALS_PAGERDUTY_URL", dead.as_str()),
        ("VITALS_NOTIFY_BACKOFF_MAX_MS", "400"),
        ("VITALS_HEAP_WARNING_MB", "64"),
        ("VITALS_DEMO", "1"),
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("RUST_LOG", "debug"),
    ];
    let mut server = Server::start_with(&env);

    // Fire while the receiver answers 500 to the first two attempts.
    rx.inner.fail_next.store(2, Ordering::SeqCst);
    let held = server
        .send(server.client().post(server.url("/api/demo/leak?mb=128")))
        .await;
    assert_eq!(held.status, 200, "{}", held.text);
    let fired = wait_for("the fired transition, accepted", || {
        rx.hits()
            .into_iter()
            .find(|h| h.accepted && is_heap(h, "alert.fired"))
    })
    .await;
    assert_eq!(fired.path, "/hook");
    let id = fired.headers["webhook-id"].clone();
    let hits = rx.hits();
    let attempts = by_id(&hits, &id);
    assert_eq!(
        attempts.iter().map(|h| h.accepted).collect::<Vec<_>>(),
        [false, false, true],
        "two refused attempts, then the accepted one, all with webhook-id {id}"
    );
    assert_eq!(
        hits.iter().filter(|h| is_heap(h, "alert.fired")).count(),
        3,
        "no other fired envelope of the heap alert (a loaded machine may fire other rules)"
    );
    standardwebhooks_verify(WEBHOOK_SECRET, &fired);
    let data = fired.json()["data"].clone();
    assert_eq!(data["rule"], "VitalsHeapHigh");
    assert_eq!(data["labels"]["rule"], "memory");
    assert_eq!(data["thresholds"]["memory_mib"], 64.0);
    assert!(
        data["values"]["memory_mib"].as_f64().unwrap() > 64.0,
        "{data}"
    );
    let alert_id = data["alert_id"].as_str().unwrap().to_owned();

    // Outage: every request fails; the resolve is pending when the server stops.
    rx.inner.outage.store(true, Ordering::SeqCst);
    let freed = server
        .send(server.client().post(server.url("/api/demo/leak/free")))
        .await;
    assert_eq!(freed.status, 200, "{}", freed.text);
    let refused = wait_for("a refused attempt of the resolve", || {
        rx.hits()
            .into_iter()
            .find(|h| !h.accepted && is_heap(h, "alert.resolved"))
    })
    .await;
    let resolve_id = refused.headers["webhook-id"].clone();

    // Secrets appear nowhere an operator or a log reader looks.
    let debug = server.get("/health/debug").await;
    assert_eq!(debug.status, 200, "{}", debug.text);
    let notifications = server.get("/metrics/notifications").await;
    let metrics = server.get("/metrics").await;
    let dashboard = server
        .get_with("/metrics/dashboard", &[("accept", "application/json")])
        .await;
    let pd = notifications.json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pagerduty")
        .cloned()
        .expect("the pagerduty channel");
    assert!(pd["lastError"].is_string(), "the dead channel failed: {pd}");
    let secret_part = WEBHOOK_SECRET.trim_start_matches("whsec_");
    for (what, text) in [
        ("/health/debug", debug.text.as_str()),
        ("/metrics/notifications", notifications.text.as_str()),
        ("/metrics", metrics.text.as_str()),
        ("/metrics/dashboard", dashboard.text.as_str()),
        ("the logs", server.output().as_str()),
    ] {
        for secret in [TOKEN, SLACK_TOKEN, "slacks3cr3t", PD_KEY, secret_part] {
            assert!(!text.contains(secret), "{what} shows a secret ({secret})");
        }
    }

    server.terminate();
    server.wait_exit(Duration::from_secs(20)).await;
    let before_restart = rx.hits().len();
    rx.inner.outage.store(false, Ordering::SeqCst);

    // Same database: the pending resolve is delivered after the restart, same webhook-id.
    let restarted = Server::start_with(&env);
    let resolved = wait_for("the resolve after the restart", || {
        rx.hits()
            .into_iter()
            .skip(before_restart)
            .find(|h| h.accepted && is_heap(h, "alert.resolved"))
    })
    .await;
    assert_eq!(resolved.headers["webhook-id"], resolve_id);
    assert_eq!(resolved.json()["data"]["alert_id"], alert_id.as_str());
    assert!(resolved.json()["data"]["ends_at"].is_string());
    standardwebhooks_verify(WEBHOOK_SECRET, &resolved);
    assert!(
        !restarted.output().contains(TOKEN) && !restarted.output().contains(PD_KEY),
        "the restarted server's logs show a secret"
    );
    drop(restarted);
    let _ = std::fs::remove_dir_all(dir);
}
