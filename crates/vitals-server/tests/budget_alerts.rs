//! A budget's page alert, end to end: the reference server with an availability budget
//! (`VITALS_BUDGETS`), its burn-rate windows scaled down 60 times
//! (`VITALS_BUDGET_WINDOW_SCALE=60`: the 1 h / 5 min page pair is judged over the last minute)
//! and history flushed every second. Injected 503s breach the budget; the page alert
//! `budgetPage:api-available` fires through the alert engine (listed as active by the dashboard
//! JSON, delivered to a webhook as `VitalsBudgetPage`), then resolves once the errors leave the
//! window; both transitions are in the store's alert history. Deadlines are generous; nothing
//! is timed.

#[allow(dead_code)]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::Value;
use support::Server;
use vitals_store::{Store, StoreConfig, Transition};

const ALERT: &str = "budgetPage:api-available";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const BUDGETS: &str = r#"
[[budget]]
name = "api-available"
route = "/api/**"
kind = "availability"
objective = 99.0
"#;

/// Webhook bodies received on loopback.
#[derive(Clone, Default)]
struct Hooks(Arc<Mutex<Vec<Value>>>);

impl Hooks {
    async fn start(&self) -> String {
        async fn receive(State(hooks): State<Hooks>, body: Bytes) -> &'static str {
            if let Ok(v) = serde_json::from_slice(&body) {
                hooks.0.lock().unwrap().push(v);
            }
            "ok"
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }

    fn has(&self, kind: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|b| b["type"] == kind && b["data"]["rule"] == "VitalsBudgetPage")
    }
}

/// The dashboard JSON's alerts named [`ALERT`]: (active, recently resolved).
async fn budget_alerts(server: &Server) -> (Vec<Value>, Vec<Value>) {
    let r = server.get("/metrics/dashboard").await;
    r.assert_ok_json();
    let pick = |key: &str| -> Vec<Value> {
        r.json["alerts"][key]
            .as_array()
            .unwrap_or_else(|| panic!("no alerts.{key}: {}", r.text))
            .iter()
            .filter(|a| a["type"] == ALERT)
            .cloned()
            .collect()
    };
    (pick("active"), pick("recentlyResolved"))
}

/// Polls `check` every 250 ms until it holds; panics naming `what` after `limit`.
async fn until<F, Fut>(what: &str, limit: Duration, server: &Server, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breached_budget_pages_through_the_alert_engine_and_resolves() {
    let dir = std::env::temp_dir().join(format!("vitals-budget-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("vitals.db");
    let budgets = dir.join("budgets.toml");
    std::fs::write(&budgets, BUDGETS).unwrap();
    let hooks = Hooks::default();
    let hook = hooks.start().await;
    let env = [
        ("DATABASE_URL", db.to_str().unwrap()),
        ("VITALS_BUDGETS", budgets.to_str().unwrap()),
        ("VITALS_BUDGET_WINDOW_SCALE", "60"),
        ("VITALS_HISTORY_FLUSH_SECS", "1"),
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_WEBHOOK_URL", hook.as_str()),
        ("VITALS_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ];
    let server = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());

    // Healthy traffic first: no alert.
    for _ in 0..20 {
        server
            .get("/api/orgs/acme/properties")
            .await
            .assert_ok_json();
    }
    // Injected errors: 40 of 60 requests are 503, 66% against the 1% allowed (burn rate 66).
    for _ in 0..40 {
        assert_eq!(server.get("/api/fail?status=503").await.status, 503);
    }
    until(
        "the page alert to fire",
        Duration::from_secs(60),
        &server,
        || async { !budget_alerts(&server).await.0.is_empty() },
    )
    .await;
    let (active, _) = budget_alerts(&server).await;
    assert_eq!(active[0]["severity"], "critical", "{active:?}");
    assert!(active[0]["value"].as_f64().unwrap() > 14.4, "{active:?}");
    let budgets = server.get("/health/performance/budgets").await;
    assert_eq!(
        budgets.json["budgets"][0]["status"], "page",
        "{}",
        budgets.text
    );
    until(
        "the fired webhook",
        Duration::from_secs(30),
        &server,
        || async { hooks.has("alert.fired") },
    )
    .await;

    // No more errors: once the minute of the errors leaves the (one-minute) windows, the
    // alert resolves.
    until(
        "the page alert to resolve",
        Duration::from_secs(150),
        &server,
        || async {
            let (active, resolved) = budget_alerts(&server).await;
            active.is_empty() && !resolved.is_empty()
        },
    )
    .await;
    until(
        "the resolved webhook",
        Duration::from_secs(30),
        &server,
        || async { hooks.has("alert.resolved") },
    )
    .await;

    // Both transitions are written with the minutes (one id from fire to resolve).
    let mut history = dir.join("vitals.db").into_os_string();
    history.push(".history.sqlite");
    let store = Store::open(&history, StoreConfig::default()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut written = Vec::new();
    for _ in 0..40 {
        written = store
            .alert_history(now - 3_600, now + 3_600)
            .unwrap()
            .into_iter()
            .filter(|t| t.rule == ALERT)
            .collect();
        if written.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let kinds: Vec<Transition> = written.iter().map(|t| t.transition).collect();
    assert_eq!(
        kinds,
        [Transition::Fired, Transition::Resolved],
        "{written:?}"
    );
    assert_eq!(written[0].id, written[1].id);
    assert_eq!(written[0].severity, "critical");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_budgets_file_or_scale_stops_the_start_naming_the_variable_and_line() {
    let dir = std::env::temp_dir().join(format!("vitals-budget-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("vitals.db");
    let yaml = dir.join("budgets.yaml");
    std::fs::write(
        &yaml,
        "budget:\n  - name: api\n    kind: latency\n    threshold: 300ms\n    objective: 99\n",
    )
    .unwrap();
    let good = dir.join("good.yml");
    std::fs::write(
        &good,
        "budget:\n  - name: api\n    kind: availability\n    objective: 99\n",
    )
    .unwrap();
    let start = |budgets: &std::path::Path, scale: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vitals-server"))
            .env("DATABASE_URL", &db)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("VITALS_BUDGETS", budgets)
            .env("VITALS_BUDGET_WINDOW_SCALE", scale)
            .output()
            .unwrap()
    };
    let out = start(&yaml, "1");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("VITALS_BUDGETS") && stderr.contains("budgets.yaml, line 4"),
        "{stderr}"
    );
    let out = start(&good, "0");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("VITALS_BUDGET_WINDOW_SCALE"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
