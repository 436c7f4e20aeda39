//! A fleet through Prometheus: three reference-server processes, a real Prometheus (Debian
//! `prometheus`) scraping all three with `deploy/prometheus/vitals-fleet.yml` loaded, known
//! traffic spread unevenly; the recorded fleet p50/p95 per route match the exact quantiles of
//! every request sent, within the bucket the exact value falls in (Prometheus interpolates
//! linearly inside a bucket, so that is the exposition's error bound). The recorded request
//! rate sees every instance's requests.

#[allow(dead_code)]
mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::Server;

/// vitals' exposed bucket edges (crates/vitals/src/series.rs), seconds.
const EDGES: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const TIMEOUT: Duration = Duration::from_secs(60);

struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    fn start(targets: &[String]) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("vitals-fleet-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let rules =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/vitals-fleet.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - '{}'\n\
                 scrape_configs:\n  - job_name: vitals\n    static_configs:\n      - targets: [{}]\n",
                rules.display(),
                targets.join(", ")
            ),
        )
        .expect("writing prometheus.yml");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawning prometheus (apt-get install -y prometheus)");
        Self { child, port, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// The first sample of an instant query whose labels include `route`.
    async fn value(&self, client: &reqwest::Client, promql: &str, route: &str) -> Option<f64> {
        let encoded: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={encoded}",
            self.port
        );
        let answer: Value = client.get(url).send().await.ok()?.json().await.ok()?;
        answer["data"]["result"]
            .as_array()?
            .iter()
            .find(|s| s["metric"]["route"] == route)?["value"][1]
            .as_str()?
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
    }

    async fn targets_up(&self, client: &reqwest::Client) -> usize {
        let url = format!("http://127.0.0.1:{}/api/v1/targets", self.port);
        let Ok(response) = client.get(url).send().await else {
            return 0;
        };
        let Ok(targets) = response.json::<Value>().await else {
            return 0;
        };
        targets["data"]["activeTargets"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|t| t["health"] == "up").count())
    }
}

/// The exact `q` quantile of `values` (nearest rank).
fn exact_quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// The bucket `(lower, upper]` holding `v`.
fn bucket_of(v: f64) -> (f64, f64) {
    let mut lower = 0.0;
    for edge in EDGES {
        if v <= edge {
            return (lower, edge);
        }
        lower = edge;
    }
    (lower, f64::INFINITY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_quantiles_from_prometheus_match_the_traffic_sent() {
    let servers = [
        Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]),
        Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]),
        Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]),
    ];
    let client = servers[0].client().clone();
    // Series exist before the first scrape (a series born between scrapes would be
    // extrapolated differently on each instance); these requests are before the rate's window.
    for server in &servers {
        assert_eq!(server.get("/api/slow?ms=1").await.status, 200);
    }
    let targets: Vec<String> = servers
        .iter()
        .map(|s| s.url("").trim_start_matches("http://").to_owned())
        .collect();
    let prometheus = Prometheus::start(&targets);
    let deadline = Instant::now() + TIMEOUT;
    while prometheus.targets_up(&client).await < 3 {
        assert!(
            Instant::now() < deadline,
            "targets not up; log:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Two scrapes of every target before the traffic.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Known durations, spread unevenly (30 / 12 / 6 requests): 80 % at 60 ms (bucket
    // (0.05, 0.1]), 20 % at 300 ms (bucket (0.25, 0.5]); the sleeps sit well inside their
    // buckets so a loaded machine's overhead does not move them across an edge.
    let plan: [(usize, usize); 3] = [(24, 6), (10, 2), (5, 1)];
    let mut sent = Vec::new();
    for ((fast, slow), server) in plan.iter().zip(&servers) {
        let mut requests = vec![60u32; *fast];
        requests.extend(std::iter::repeat_n(300u32, *slow));
        // A few at a time so the test takes seconds, not the sum of the sleeps.
        for chunk in requests.chunks(6) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|ms| {
                    let request = client.get(server.url(&format!("/api/slow?ms={ms}")));
                    tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
                })
                .collect();
            for (task, ms) in tasks.into_iter().zip(chunk) {
                let status = task.await.expect("request task").expect("request sent");
                assert_eq!(status, 200);
                sent.push(f64::from(*ms) / 1e3);
            }
        }
    }
    assert_eq!(sent.len(), 48);

    // The recorded quantiles once every instance has been scraped with all of it.
    let total = sent.len() as f64;
    let rate_rule = "job_route:http_server_requests:rate5m";
    let deadline = Instant::now() + TIMEOUT;
    let mut checked = false;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // increase() over the window sees all 48 (+ warm-ups, which precede the window start
        // only if scraped before: they were).
        let increase = prometheus
            .value(
                &client,
                "sum by (route) (increase(http_server_requests_total{route=\"/api/slow\"}[5m]))",
                "/api/slow",
            )
            .await;
        let Some(increase) = increase else { continue };
        // increase() extrapolates at the window's edges; all of the traffic is seen once the
        // recorded rate is there and the count is at least what was sent.
        if increase < total - 0.5
            || prometheus
                .value(&client, rate_rule, "/api/slow")
                .await
                .is_none()
        {
            continue;
        }
        for (q, rule) in [
            (
                0.50,
                "job_route:http_server_request_duration_seconds:p50_5m",
            ),
            (
                0.95,
                "job_route:http_server_request_duration_seconds:p95_5m",
            ),
        ] {
            let exact = exact_quantile(&mut sent.clone(), q);
            let recorded = prometheus
                .value(&client, rule, "/api/slow")
                .await
                .unwrap_or_else(|| panic!("no `{rule}`"));
            let (lower, upper) = bucket_of(exact);
            assert!(
                recorded > lower && recorded <= upper,
                "{rule}: recorded {recorded} s, exact {exact} s: not within its bucket \
                 ({lower}, {upper}]"
            );
        }
        checked = true;
        break;
    }
    assert!(
        checked,
        "the traffic never showed in Prometheus; log:\n{}",
        prometheus.log()
    );
}
