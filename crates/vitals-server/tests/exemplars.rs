//! From a latency panel to a trace: a real Prometheus with exemplar storage scrapes the
//! server's OpenMetrics exposition, and its `query_exemplars` API, asked the query of the
//! dashboard's exemplar panel, returns the trace id that the OTLP receiver also got for the same
//! request.

#[allow(dead_code)]
mod support;

mod otel_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_opentelemetry_collector::FakeCollectorServer;
use otel_support::spans_until;
use support::Server;

const TRACE: &str = "6bf92f3577b34da6a3ce929d0e0e4738";
const PARENT: &str = "20f067aa0ba902b9";

/// `s` with every byte but the URL-unreserved ones percent-encoded (a query parameter).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(target: &str) -> Prometheus {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("vitals-exemplars-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: vitals\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--enable-feature=exemplar-storage")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("prometheus (Debian package `prometheus`)");
    Prometheus { child, port, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_exemplars_name_traces_the_receiver_got() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let endpoint = collector.endpoint();
    let server = Server::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]);
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let answer = server
        .get_with(
            "/api/orgs/acme/properties",
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    assert_eq!(answer.status, 200);
    let spans = spans_until(&mut collector, |spans| {
        spans.iter().any(|s| s.trace_id == TRACE)
    })
    .await;
    assert!(spans.iter().any(|s| s.trace_id == TRACE), "{spans:#?}");

    let prometheus = start_prometheus(server.url("").trim_start_matches("http://"));
    let client = reqwest::Client::new();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 600;
    // The query of the dashboard's exemplar panel, with its variables set as Grafana would:
    // what Grafana asks `query_exemplars` for to draw the dots.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../deploy/grafana/vitals-dashboard.json"),
        )
        .expect("reading the dashboard"),
    )
    .expect("the dashboard is JSON");
    let panel_query = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .find(|t| t["exemplar"] == true)
        .expect("a dashboard query with exemplars")["expr"]
        .as_str()
        .unwrap()
        .replace("$__rate_interval", "1m")
        .replace("$job", ".*")
        .replace("$instance", ".*");
    let mut last = String::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let end = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query_exemplars?query={}&start={start}&end={end}",
            prometheus.port,
            percent_encode(&panel_query)
        );
        let Ok(res) = client.get(&url).send().await else {
            continue;
        };
        last = res.text().await.unwrap_or_default();
        if last.contains(TRACE) {
            return;
        }
    }
    let log = std::fs::read_to_string(prometheus.dir.join("prometheus.log")).unwrap_or_default();
    panic!("no exemplar with trace {TRACE}; last answer: {last}\nprometheus log:\n{log}");
}
