//! End to end through a real Alertmanager (Debian `prometheus-alertmanager`): our channel pushes
//! to its API, its routing delivers to a webhook receiver served here.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Receiver, refused_port, wait_for};
use vitals_notify::{ChannelKind, Config, DeliveryOptions, Notification, Severity, Transition};

const LIMIT: Duration = Duration::from_secs(30);

/// The Alertmanager process; killed on drop.
struct Alertmanager(Child);

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary() -> &'static str {
    for name in ["prometheus-alertmanager", "alertmanager"] {
        if Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return name;
        }
    }
    panic!("Alertmanager is missing: apt-get install -y prometheus-alertmanager");
}

fn start_alertmanager(dir: &std::path::Path, port: u16, receiver_url: &str) -> Alertmanager {
    let config = format!(
        "route:\n  receiver: test\n  group_by: ['alertname']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: test\n    webhook_configs:\n      - url: '{receiver_url}'\n        send_resolved: true\n"
    );
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(binary())
        .arg(format!("--config.file={}", path.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    Alertmanager(child)
}

#[tokio::test]
async fn alerts_fire_and_resolve_through_a_real_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let port = refused_port();
    let _am = start_alertmanager(dir.path(), port, &receiver.url("/am-webhook"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_for_ready(&client, &base).await;

    let options = DeliveryOptions {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..DeliveryOptions::defaults(ChannelKind::Alertmanager)
    };
    let notifier = Config::new()
        .alertmanager(&base)
        .options(ChannelKind::Alertmanager, options)
        .start()
        .unwrap();

    let mut n = Notification::new(
        "heap-1",
        "VitalsHeapHigh",
        Severity::Critical,
        Transition::Fired,
    );
    n.summary = "heap above threshold".into();
    n.description = "held allocations keep the heap above 800 MB".into();
    n.instance = "host-1:8080".into();
    n.service = "checkout".into();
    n.labels.insert("team".into(), "core".into());
    n.dashboard_url = Some("http://host-1:8080/metrics/dashboard".into());
    assert_eq!(notifier.notify(std::slice::from_ref(&n)), 1);

    let firing = wait_status(&receiver, "firing").await;
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "VitalsHeapHigh");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["service"], "checkout");
    assert_eq!(alert["labels"]["instance"], "host-1:8080");
    assert_eq!(alert["labels"]["team"], "core");
    assert_eq!(alert["annotations"]["summary"], "heap above threshold");
    assert_eq!(
        alert["generatorURL"],
        "http://host-1:8080/metrics/dashboard"
    );

    n.transition = Transition::Resolved;
    n.ends_at = Some(std::time::SystemTime::now());
    assert_eq!(notifier.notify(&[n]), 1);
    let resolved = wait_status(&receiver, "resolved").await;
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_eq!(
        resolved["alerts"][0]["labels"]["alertname"],
        "VitalsHeapHigh"
    );
    let c = &notifier.snapshot().channels[0];
    assert_eq!((c.sent, c.dead_lettered), (2, 0));
}

async fn wait_for_ready(client: &reqwest::Client, base: &str) {
    let end = tokio::time::Instant::now() + LIMIT;
    loop {
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < end,
            "alertmanager did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first webhook body from Alertmanager with this `status`.
async fn wait_status(receiver: &Receiver, status: &str) -> serde_json::Value {
    let find = || {
        receiver
            .accepted()
            .iter()
            .map(|h| h.json())
            .find(|v| v["status"] == status)
    };
    wait_for(
        &format!("an Alertmanager notification with status {status}"),
        LIMIT,
        || find().is_some(),
    )
    .await;
    find().unwrap()
}
