//! End-to-end tests of the Prometheus exposition of the real `vitals-server` binary.
//!
//! - the text format (0.0.4) passes `promtool check metrics` and carries exact counts;
//! - OpenMetrics 1.0 is served when asked for;
//! - a real Prometheus server scrapes it and answers PromQL over what it scraped, the
//!   server's own metrics included (an application counter, and `histogram_quantile` over an
//!   application histogram);
//! - the files in `deploy/` work: the Prometheus config and alert rules pass `promtool` (the
//!   rules' unit tests included), the rules load and evaluate in the real server, and every
//!   query of the Grafana dashboard runs there and names metrics the server exposes.
//!
//! `promtool` and `prometheus` come from Debian's `prometheus` package
//! (`apt-get install -y prometheus`). When they are missing the tests fail, unless
//! `VITALS_SKIP_PROMTOOL=1`, which skips the parts that need them.

#[allow(dead_code)]
mod support;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::Server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PROPERTIES_ROUTE: &str = "/api/orgs/{orgId}/properties";
const SKIP_ENV: &str = "VITALS_SKIP_PROMTOOL";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";
/// How long Prometheus may take to become ready, to report the target up, or to answer.
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(30);

/// True when the Prometheus tools may be skipped.
fn skip_tools() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The message for a missing Prometheus tool.
fn missing_tool(tool: &str, error: &std::io::Error) -> String {
    format!(
        "`{tool}` could not be run ({error}); install Debian's `prometheus` package \
         (`apt-get install -y prometheus`), or set {SKIP_ENV}=1 to skip this check"
    )
}

/// Sends the traffic whose counts the tests assert: 5 listed properties, a missing property
/// of a known organization (a 404 that counts for it: the server vouches for its
/// organizations), 2 deliberate 500s and 1 unknown path.
async fn known_traffic(server: &Server) {
    for _ in 0..5 {
        let list = server.get("/api/orgs/acme/properties").await;
        list.assert_ok_json();
    }
    server
        .get("/api/orgs/acme/properties/999999")
        .await
        .assert_problem(404);
    for _ in 0..2 {
        server.get("/api/fail?status=500").await.assert_problem(500);
    }
    server.get("/definitely/not/here").await.assert_problem(404);
}

/// The server's own metrics at work: 2 properties created in `globex` (each runs the
/// `create_property` query) besides the 5 `list_properties` queries of [`known_traffic`].
async fn business_traffic(server: &Server) {
    for name in ["Harbour View", "Mill Lofts"] {
        let created = server
            .post_json(
                "/api/orgs/globex/properties",
                &format!(r#"{{"name":"{name}","address":"2 Test Street","units":3}}"#),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
}

/// The application histogram's bucket bounds and cumulative counts in a text exposition, for
/// the series with exactly `labels` (besides `le`).
fn buckets(body: &str, name: &str, labels: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{{labels},le=\"");
    body.lines()
        .filter_map(|l| {
            let (le, count) = l.strip_prefix(&prefix)?.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect()
}

/// Asserts the server's own metrics in a text exposition after [`known_traffic`] and
/// [`business_traffic`].
#[track_caller]
fn assert_business_metrics(body: &str) {
    assert_line(body, r#"properties_created_total{organization="globex"} 2"#);
    assert_line(body, "# TYPE db_query_duration_seconds histogram");
    assert_line(
        body,
        r#"db_query_duration_seconds_count{query="list_properties"} 5"#,
    );
    assert_line(
        body,
        r#"db_query_duration_seconds_count{query="create_property"} 2"#,
    );
    assert_line(body, "# TYPE db_pool_waiters gauge");
    assert_sample(body, "db_pool_waiters");
}

/// A raw HTTP/1.1 answer.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("chunk size is text");
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// `GET path` over a plain TCP connection with no `Accept` header at all (reqwest always sends
/// one).
async fn raw_get(server: &Server, path: &str) -> RawAnswer {
    let base = server.url("");
    let addr = base.strip_prefix("http://").expect("http URL");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting to the server");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("writing the request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("the answer within 20 s")
        .expect("reading the answer");
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the response head");
    let head = std::str::from_utf8(&raw[..head_end]).expect("the head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line `{status_line}`"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        assert_eq!(body.len(), len, "body length differs from Content-Length");
    }
    RawAnswer {
        status,
        headers,
        body: String::from_utf8(body).expect("the body is UTF-8"),
    }
}

/// Asserts `body` has exactly the line `line`.
#[track_caller]
fn assert_line(body: &str, line: &str) {
    assert!(
        body.lines().any(|l| l == line),
        "missing exposition line `{line}`; body:\n{body}"
    );
}

/// Asserts `body` has a sample of `name` (no labels) with a finite value.
#[track_caller]
fn assert_sample(body: &str, name: &str) {
    let value = body.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse::<f64>().ok()).flatten()
    });
    assert!(
        value.is_some_and(f64::is_finite),
        "no numeric `{name}` sample; body:\n{body}"
    );
}

/// Runs `promtool check metrics` on `body`: exit 0 and no output at all.
fn promtool_check(body: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if skip_tools() => {
            eprintln!("skipping promtool ({SKIP_ENV}=1): {error}");
            return;
        }
        Err(error) => panic!("{}", missing_tool("promtool", &error)),
    };
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(body.as_bytes())
            .expect("writing to promtool");
    }
    let output = child.wait_with_output().expect("waiting for promtool");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.is_empty() && stderr.is_empty(),
        "promtool check metrics: {}\nstdout:\n{stdout}\nstderr:\n{stderr}\nbody:\n{body}",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_exposition_passes_promtool_with_exact_counts() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    known_traffic(&server).await;
    business_traffic(&server).await;

    let metrics = raw_get(&server, "/metrics").await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content-type `{content_type}`"
    );
    let body = &metrics.body;

    // The whole exposition, the server's own metrics included.
    promtool_check(body);
    assert_business_metrics(body);

    let route = format!(r#"route="{PROPERTIES_ROUTE}",method="GET",status="2xx""#);
    assert_line(body, &format!("http_server_requests_total{{{route}}} 5"));
    assert_line(
        body,
        &format!("http_server_request_duration_seconds_count{{{route}}} 5"),
    );
    assert_line(
        body,
        &format!(r#"http_server_request_duration_seconds_bucket{{{route},le="+Inf"}} 5"#),
    );
    assert!(
        !body.contains(&format!("http_server_errors_total{{{route}}}")),
        "no errors on the properties route; body:\n{body}"
    );
    assert_line(
        body,
        r#"http_server_requests_total{route="/api/fail",method="GET",status="5xx"} 2"#,
    );
    assert_line(
        body,
        r#"http_server_errors_total{route="/api/fail",method="GET",status="5xx"} 2"#,
    );
    assert_line(
        body,
        r#"http_server_requests_total{route="(unmatched)",method="GET",status="4xx"} 1"#,
    );
    assert_line(
        body,
        r#"http_server_errors_total{route="(unmatched)",method="GET",status="4xx"} 1"#,
    );
    assert!(
        !body.contains("/definitely/not/here"),
        "a raw path became a label; body:\n{body}"
    );
    assert_line(
        body,
        r#"vitals_organization_requests_total{organization="acme"} 6"#,
    );
    assert_line(
        body,
        r#"vitals_organization_errors_total{organization="acme"} 1"#,
    );
    assert_sample(body, "process_resident_memory_bytes");
    assert_sample(body, "vitals_heap_allocated_bytes");

    // reqwest's default `Accept: */*` gets the text format too.
    let star = server.get("/metrics").await;
    assert_eq!(star.status, 200, "{}", star.text);
    let content_type = star.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content-type `{content_type}` for Accept: */*"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openmetrics_when_asked() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    known_traffic(&server).await;
    business_traffic(&server).await;

    let metrics = server
        .get_with("/metrics", &[("accept", OPENMETRICS)])
        .await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(OPENMETRICS),
        "content-type `{content_type}`"
    );
    let body = &metrics.text;
    assert!(body.ends_with("# EOF\n"), "no final `# EOF`; body:\n{body}");
    assert_eq!(
        body.matches("# EOF").count(),
        1,
        "`# EOF` more than once; body:\n{body}"
    );
    assert_line(body, "# UNIT http_server_request_duration_seconds seconds");
    assert_line(body, "# UNIT db_query_duration_seconds seconds");
    assert_line(body, r#"properties_created_total{organization="globex"} 2"#);
    assert_line(
        body,
        r#"db_query_duration_seconds_count{query="list_properties"} 5"#,
    );
    assert_line(
        body,
        &format!(
            r#"http_server_requests_total{{route="{PROPERTIES_ROUTE}",method="GET",status="2xx"}} 5"#
        ),
    );
}

/// A temporary directory, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running Prometheus server; killed on drop (before its directory is removed).
#[derive(Debug)]
struct Prometheus {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second; `None` when it is missing and
    /// skipping is allowed.
    fn start(target: &str) -> Option<Self> {
        let dir = TempDir::new("vitals-prometheus-e2e");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - '{}'\n\
                 scrape_configs:\n  - job_name: vitals\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: ['{target}']\n",
                deploy_dir().join("prometheus/vitals-alerts.yml").display()
            ),
        )
        .expect("writing prometheus.yml");
        let data = dir.path().join("data");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let port = free_port();
        let spawned = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn();
        match spawned {
            Ok(child) => Some(Self { child, port, dir }),
            Err(error) if skip_tools() => {
                eprintln!("skipping the Prometheus scrape ({SKIP_ENV}=1): {error}");
                None
            }
            Err(error) => panic!("{}", missing_tool("prometheus", &error)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Panics with Prometheus' log when it has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("polling prometheus") {
            panic!("prometheus exited ({status}); log:\n{}", self.log());
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository's `deploy/` directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

#[test]
fn deploy_config_and_alert_rules_pass_promtool() {
    let dir = deploy_dir().join("prometheus");
    for args in [
        &["check", "config", "prometheus.yml"][..],
        &["test", "rules", "vitals-alerts.test.yml"],
        &["check", "rules", "vitals-budgets.yml"],
        &["check", "rules", "vitals-fleet.yml"],
        &["test", "rules", "vitals-fleet.test.yml"],
    ] {
        let output = match Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
        {
            Ok(output) => output,
            Err(error) if skip_tools() => {
                eprintln!("skipping promtool ({SKIP_ENV}=1): {error}");
                return;
            }
            Err(error) => panic!("{}", missing_tool("promtool", &error)),
        };
        assert!(
            output.status.success(),
            "promtool {}: {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `deploy/prometheus/vitals-budgets.yml` is what `vitals-server budgets rules` writes from
/// `deploy/budgets.toml` (regenerate it with that command after editing the budgets).
#[test]
fn deploy_budget_rules_are_generated_from_the_budgets_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_vitals-server"))
        .args(["budgets", "rules"])
        .arg(deploy_dir().join("budgets.toml"))
        .output()
        .expect("running vitals-server budgets rules");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed =
        std::fs::read_to_string(deploy_dir().join("prometheus/vitals-budgets.yml")).unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        committed,
        "deploy/prometheus/vitals-budgets.yml is stale: run `vitals-server budgets rules \
         deploy/budgets.toml deploy/prometheus/vitals-budgets.yml`"
    );
}

/// The metric names in `text` (PromQL, or a rules file): every word that starts with one of
/// the prefixes vitals' families use.
fn metric_names(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| {
            ["http_server_", "vitals_", "process_"]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .collect()
}

/// Whether a text exposition has the metric `name`: a sample line of exactly that name, or the
/// `# TYPE` line of its family (a counter or histogram family with no sample yet).
fn exposes(exposition: &str, name: &str) -> bool {
    let family = ["_bucket", "_total", "_count", "_sum"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    exposition.lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            || line
                .strip_prefix("# TYPE ")
                .and_then(|rest| rest.strip_prefix(family))
                .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// GET `url` and its JSON body, or `None` when unreachable or not 200 JSON.
async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// `/api/v1/query?query=promql` on Prometheus.
async fn query(client: &reqwest::Client, prometheus: &Prometheus, promql: &str) -> Option<Value> {
    let encoded: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    get_json(
        client,
        &prometheus.url(&format!("/api/v1/query?query={encoded}")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn real_prometheus_scrapes_and_queries() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_DEMO", "1")]);
    known_traffic(&server).await;
    business_traffic(&server).await;
    let target = server
        .url("")
        .strip_prefix("http://")
        .expect("http URL")
        .to_owned();
    let Some(mut prometheus) = Prometheus::start(&target) else {
        return;
    };
    let client = server.client().clone();

    // Ready.
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    loop {
        prometheus.assert_running();
        let ready = client
            .get(prometheus.url("/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready within {PROMETHEUS_TIMEOUT:?}; log:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The target is scraped without error.
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    loop {
        prometheus.assert_running();
        let targets = get_json(&client, &prometheus.url("/api/v1/targets")).await;
        let up = targets.as_ref().and_then(|t| {
            t["data"]["activeTargets"]
                .as_array()?
                .iter()
                .find(|a| a["labels"]["job"] == "vitals")
                .cloned()
        });
        if let Some(up) = &up
            && up["health"] == "up"
            && up["lastError"] == ""
        {
            assert_eq!(
                up["scrapeUrl"],
                format!("http://{target}/metrics"),
                "{up:#}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the vitals target was not up without error within {PROMETHEUS_TIMEOUT:?}; \
             last target: {up:#?}; server output:\n{}\nprometheus log:\n{}",
            server.output(),
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What it scraped answers PromQL: the 5 property requests.
    let count_query =
        format!(r#"http_server_request_duration_seconds_count{{route="{PROPERTIES_ROUTE}"}}"#);
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    let sample = loop {
        prometheus.assert_running();
        let answer = query(&client, &prometheus, &count_query).await;
        let sample = answer.as_ref().and_then(|a| {
            a["data"]["result"]
                .as_array()?
                .iter()
                .find(|s| {
                    s["value"][1]
                        .as_str()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| v >= 5.0)
                })
                .cloned()
        });
        if let Some(sample) = sample {
            break sample;
        }
        assert!(
            Instant::now() < deadline,
            "no `{count_query}` sample >= 5 within {PROMETHEUS_TIMEOUT:?}; last answer: \
             {answer:#?}; prometheus log:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(sample["value"][1], "5", "{sample:#}");
    let labels = &sample["metric"];
    assert_eq!(labels["job"], "vitals", "{sample:#}");
    assert_eq!(labels["method"], "GET", "{sample:#}");
    assert_eq!(labels["status"], "2xx", "{sample:#}");

    // A quantile over the histogram is a valid query (its value may still be NaN).
    let quantile = "histogram_quantile(0.95, sum by (le) \
                    (rate(http_server_request_duration_seconds_bucket[1m])))";
    let answer = query(&client, &prometheus, quantile)
        .await
        .unwrap_or_else(|| panic!("no 200 JSON answer to `{quantile}`"));
    assert_eq!(answer["status"], "success", "{answer:#}");
    assert_eq!(answer["data"]["resultType"], "vector", "{answer:#}");

    // The server's own metrics: an application counter, and a quantile over an application
    // histogram that falls in the bucket the exposition says holds the median.
    let created = r#"properties_created_total{organization="globex"}"#;
    let answer = query(&client, &prometheus, created)
        .await
        .unwrap_or_else(|| panic!("no 200 JSON answer to `{created}`"));
    assert_eq!(answer["data"]["result"][0]["value"][1], "2", "{answer:#}");
    assert_eq!(
        answer["data"]["result"][0]["metric"]["job"], "vitals",
        "{answer:#}"
    );
    let exposition = server.get("/metrics").await.text;
    let list = buckets(
        &exposition,
        "db_query_duration_seconds",
        r#"query="list_properties""#,
    );
    assert_eq!(
        list.len(),
        12,
        "11 bounds and +Inf; exposition:\n{exposition}"
    );
    let median_bucket = list
        .iter()
        .position(|&(_, n)| n >= 2.5)
        .expect("5 queries counted");
    let (low, high) = (
        median_bucket.checked_sub(1).map_or(0.0, |i| list[i].0),
        list[median_bucket].0,
    );
    let median = "histogram_quantile(0.5, sum by (le) \
                  (db_query_duration_seconds_bucket{query=\"list_properties\"}))";
    let answer = query(&client, &prometheus, median)
        .await
        .unwrap_or_else(|| panic!("no 200 JSON answer to `{median}`"));
    assert_eq!(answer["status"], "success", "{answer:#}");
    let value: f64 = answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value for `{median}`: {answer:#}"));
    assert!(
        value.is_finite() && low <= value && value <= high,
        "median {value} outside its bucket ({low}, {high}]: {answer:#}"
    );

    // deploy/prometheus/vitals-alerts.yml loaded, and every rule evaluates without error.
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    loop {
        prometheus.assert_running();
        let rules = get_json(&client, &prometheus.url("/api/v1/rules")).await;
        let group = rules.as_ref().and_then(|r| {
            r["data"]["groups"]
                .as_array()?
                .iter()
                .find(|g| g["name"] == "vitals")
                .cloned()
        });
        let evaluated = group.as_ref().and_then(|g| {
            let rules = g["rules"].as_array()?;
            Some((
                rules.len(),
                rules.iter().filter(|r| r["health"] == "ok").count(),
            ))
        });
        if let Some((total, ok)) = evaluated
            && total == 8
            && ok == total
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the vitals alert rules did not all evaluate ok within {PROMETHEUS_TIMEOUT:?}: \
             {group:#?}; prometheus log:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every query of deploy/grafana/vitals-dashboard.json runs, with the dashboard's variables
    // set as Grafana would, over metrics the server exposes.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/vitals-dashboard.json"))
            .expect("reading the dashboard"),
    )
    .expect("the dashboard is JSON");
    let exposition = server.get("/metrics").await.text;
    // A rule or query on a misspelt metric would still evaluate (to nothing): every name the
    // rules and the dashboard use must be exposed.
    let rules = std::fs::read_to_string(deploy_dir().join("prometheus/vitals-alerts.yml"))
        .expect("reading the alert rules");
    let rule_names = metric_names(&rules);
    assert!(rule_names.len() >= 8, "{rule_names:?}");
    for name in rule_names {
        assert!(
            exposes(&exposition, name),
            "the alert rules use `{name}`, which /metrics does not expose"
        );
    }
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            for name in metric_names(expr) {
                assert!(
                    exposes(&exposition, name),
                    "the dashboard queries `{name}`, which /metrics does not expose"
                );
            }
            let promql = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", ".*")
                .replace("$instance", ".*");
            let answer = query(&client, &prometheus, &promql)
                .await
                .unwrap_or_else(|| panic!("no 200 JSON answer to `{promql}`"));
            assert_eq!(answer["status"], "success", "`{promql}`: {answer:#}");
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries} dashboard queries");
}
