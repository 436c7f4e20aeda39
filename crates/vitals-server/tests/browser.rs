//! The live dashboard in a real browser: Debian's Chromium, driven by playwright-core
//! (`tests/browser/dashboard.cjs`), against the real `vitals-server` binary. Plus content
//! negotiation of `/metrics/dashboard`, the page's assets and the bounded, operator-only stream,
//! over plain HTTP.
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`), `node` and `npm`; playwright-core is
//! installed on first use into `target/browser-node` (the npm registry must be reachable then).
//! `.ci/run` installs Chromium. Without them the browser tests fail and say what to install,
//! unless `VITALS_SKIP_BROWSER=1`. Screenshots go to `target/dashboard.png`,
//! `target/dashboard-phone.png` and `target/dashboard-dark.png`.

#[allow(dead_code)]
mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{PROBLEM_JSON, Server};

const CHROMIUM: &str = "/usr/bin/chromium";
/// playwright-core, pinned (1.65 needs Node.js 20 or later).
const PLAYWRIGHT: &str = "playwright-core@1.65.1";
/// What a browser sends when navigating (Chromium's).
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                              image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

/// `target/`, the parent of the integration tests' scratch directory.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf()
}

fn skip_browser() -> bool {
    std::env::var("VITALS_SKIP_BROWSER").is_ok_and(|v| v == "1")
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The major version of `node`, if it runs.
fn node_major() -> Option<u32> {
    let out = Command::new("node").arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout);
    version
        .trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The playwright-core package directory, installed into `target/browser-node` on first use.
/// Panics with what to install when Chromium, node or npm is missing.
fn playwright() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push("Chromium at /usr/bin/chromium (`apt-get install chromium`)");
    }
    match node_major() {
        Some(major) if major >= 20 => {}
        Some(_) => missing.push("Node.js 20 or later (playwright-core 1.65 needs it)"),
        None => missing.push("Node.js 20+ (`node`)"),
    }
    let prefix = target_dir().join("browser-node");
    let package = prefix.join("node_modules").join("playwright-core");
    let _guard = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    if !package.join("package.json").exists() && !runs("npm", "--version") {
        missing.push("npm (to install playwright-core)");
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}; .ci/run installs them. Set VITALS_SKIP_BROWSER=1 to skip it.",
        missing.join(", ")
    );
    if !package.join("package.json").exists() {
        std::fs::create_dir_all(&prefix).expect("creating target/browser-node");
        let out = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(PLAYWRIGHT)
            .output()
            .expect("running npm");
        assert!(
            out.status.success() && package.join("package.json").exists(),
            "`npm install {PLAYWRIGHT}` into {} failed ({}):\n{}{}",
            prefix.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    package
}

/// A fresh, empty directory under the tests' scratch directory.
fn fresh_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// `GET path` with no header but `Host`, over a plain socket; the response head.
async fn raw_get(server: &Server, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.url("").trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connecting");
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("writing the request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut response))
        .await
        .expect("an answer within 20 s")
        .expect("reading the answer");
    let text = String::from_utf8_lossy(&response).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// The node script's process: its stdout lines on a channel, its stderr collected.
struct Driver {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::sync::Arc<Mutex<String>>,
    profile: PathBuf,
}

impl Driver {
    fn start(server: &Server, scenario: &str, extra: &[(&str, &str)]) -> Self {
        let package = playwright();
        let profile = fresh_dir("chromium-profile");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.cjs");
        let mut command = Command::new("node");
        command
            .arg(script)
            .env("PLAYWRIGHT_CORE", &package)
            .env("CHROMIUM", CHROMIUM)
            .env("BASE_URL", server.url(""))
            .env("OUT_DIR", target_dir())
            .env("PROFILE_DIR", &profile)
            .env("SCENARIO", scenario)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("starting node");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = pipe.read_to_string(&mut buf);
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_str(&buf);
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            profile,
        }
    }

    fn report(&self, server: &Server) -> String {
        format!(
            "driver output:\n{}\ndriver stderr:\n{}\nserver output (tail):\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap_or_else(PoisonError::into_inner),
            tail(&server.output(), 40)
        )
    }

    /// The JSON after `tag` on the next line starting with it; panics on `FAIL`, on exit, or
    /// after `timeout`. Meanwhile calls `idle` (which may send traffic) between reads.
    async fn expect<F, Fut>(
        &mut self,
        server: &Server,
        tag: &str,
        timeout: Duration,
        mut idle: F,
    ) -> Value
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line.clone());
                if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                    return serde_json::from_str(rest).unwrap_or(Value::Null);
                }
                assert!(
                    !line.starts_with("FAIL"),
                    "the browser check failed: {line}\n{}",
                    self.report(server)
                );
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Drain what is left before giving up.
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(line) = self.lines.try_recv() {
                    self.seen.push(line);
                    continue;
                }
                panic!(
                    "the browser driver exited ({status}) before `{tag}`\n{}",
                    self.report(server)
                );
            }
            assert!(
                Instant::now() < deadline,
                "no `{tag}` from the browser within {timeout:?}\n{}",
                self.report(server)
            );
            idle().await;
        }
    }

    fn finish(mut self, server: &Server) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for node") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the browser driver did not exit\n{}", self.report(server));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        assert!(
            status.success(),
            "the browser driver failed ({status})\n{}",
            self.report(server)
        );
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Fires `n` requests at once at the API (tenant `acme`).
async fn burst(server: &Server, n: usize) {
    let url = server.url("/api/orgs/acme/properties");
    let requests = (0..n).map(|_| server.client().get(&url).send());
    for result in futures_join_all(requests).await {
        let _ = result;
    }
}

/// `join_all` without a futures dependency: spawn each on the runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("request task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_a_real_browser() {
    if skip_browser() {
        eprintln!("VITALS_SKIP_BROWSER=1: browser test skipped");
        return;
    }
    let budgets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/budgets.toml");
    let server = Server::start_with(&[
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_HISTORY_FLUSH_SECS", "1"),
        ("VITALS_BUDGETS", budgets.to_str().unwrap()),
    ]);
    let mut driver = Driver::start(&server, "live", &[("EXPECT_BUDGET", "api-available")]);

    let ready = driver
        .expect(&server, "READY", Duration::from_secs(90), || {
            tokio::time::sleep(Duration::from_millis(100))
        })
        .await;
    eprintln!("charts hold data: {ready}");

    // Traffic: about 60 requests a second until the page shows the rate move.
    let started = Instant::now();
    let rate = driver
        .expect(&server, "RATE", Duration::from_secs(40), || async {
            burst(&server, 6).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        })
        .await;
    eprintln!("request rate moved after {:?}: {rate}", started.elapsed());
    let baseline = rate["baseline"].as_f64().unwrap_or(0.0);
    let moved = rate["moved"].as_f64().expect("a request rate in the DOM");
    assert!(moved >= baseline + 5.0, "{rate}");

    // Keep some traffic going while the tables refresh.
    let result = driver
        .expect(&server, "RESULT", Duration::from_secs(120), || async {
            burst(&server, 2).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        })
        .await;
    eprintln!("browser result: {result}");
    assert_eq!(result["consoleErrors"], serde_json::json!([]), "{result}");
    driver.finish(&server);

    for name in ["dashboard.png", "dashboard-phone.png", "dashboard-dark.png"] {
        let path = target_dir().join(name);
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        assert!(len > 10_000, "{} is missing or empty", path.display());
        eprintln!("screenshot: {} ({len} bytes)", path.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_asks_for_the_token_and_shows_nothing_before() {
    if skip_browser() {
        eprintln!("VITALS_SKIP_BROWSER=1: browser test skipped");
        return;
    }
    let token = "browser-test-token-0123456789abcdef";
    let server = Server::start_with(&[
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_ADMIN_TOKEN", token),
    ]);
    let mut driver = Driver::start(&server, "login", &[("TOKEN", token)]);
    let result = driver
        .expect(&server, "RESULT", Duration::from_secs(90), || {
            tokio::time::sleep(Duration::from_millis(100))
        })
        .await;
    eprintln!("login result: {result}");
    driver.finish(&server);
}

/// The JSON keys the seed's dashboard has always had.
const CONTRACT: [&str; 7] = [
    "realTime",
    "performance",
    "health",
    "alerts",
    "recommendations",
    "slowestPaths",
    "trends",
];

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_negotiates_html_and_json() {
    let server = Server::start_with(&[("VITALS_SAMPLE_INTERVAL_MS", "200")]);

    // A browser gets the page.
    let html = server
        .get_with("/metrics/dashboard", &[("accept", BROWSER_ACCEPT)])
        .await;
    assert_eq!(html.status, 200, "{}", html.text);
    assert_eq!(html.content_type(), "text/html");
    assert_eq!(html.header("vary"), Some("Accept"));
    assert_eq!(html.header("cache-control"), Some("no-store"));
    assert!(
        html.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'none'")),
        "{:?}",
        html.headers
    );
    assert!(html.text.contains("<!doctype html>"), "{}", html.text);
    assert!(!html.text.contains("{{v}}"));
    // The shell holds no data and loads nothing from elsewhere.
    assert!(!html.text.contains("http://") && !html.text.contains("https://"));
    assert!(!html.text.contains("requestsPerSecond"));

    // curl's `*/*` and `application/json` get the JSON, with the same contract.
    for accept in ["*/*", "application/json"] {
        let answer = server
            .get_with("/metrics/dashboard", &[("accept", accept)])
            .await;
        answer.assert_ok_json();
        assert_eq!(answer.header("vary"), Some("Accept"), "{accept}");
        for key in CONTRACT {
            assert!(
                !answer.json[key].is_null(),
                "`{key}` missing for Accept {accept}: {}",
                answer.text
            );
        }
        assert_eq!(answer.json["trends"]["resolution"], "1m");
        assert!(answer.json["trends"]["points"].is_array());
        assert!(answer.json["protection"]["pressure"].is_object());
    }
    // No Accept at all (reqwest always sends one, so over a raw socket): JSON.
    let head = raw_get(&server, "/metrics/dashboard").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );

    // `?minutes=` is validated: 1..=1440.
    for ok in ["1", "60", "1440"] {
        server
            .get(&format!("/metrics/dashboard?minutes={ok}"))
            .await
            .assert_ok_json();
    }
    for bad in ["0", "1441", "x", "-1", ""] {
        let answer = server
            .get(&format!("/metrics/dashboard?minutes={bad}"))
            .await;
        answer.assert_problem(400);
        assert_eq!(answer.json["parameter"], "minutes", "{}", answer.text);
    }

    // Assets: embedded, typed, cacheable for long.
    for (name, media) in [
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("uplot.min.js", "text/javascript"),
        ("uplot.min.css", "text/css"),
        ("uplot.LICENSE.txt", "text/plain"),
    ] {
        let answer = server
            .get(&format!("/metrics/dashboard/assets/{name}"))
            .await;
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(answer.content_type(), media, "{name}");
        assert_eq!(
            answer.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{name}"
        );
    }
    let mut total = html.text.len();
    for name in ["app.js", "app.css", "uplot.min.js", "uplot.min.css"] {
        total += server
            .get(&format!("/metrics/dashboard/assets/{name}"))
            .await
            .text
            .len();
    }
    eprintln!("page weight: {total} bytes (HTML + JS + CSS + uPlot)");
    assert!(total < 200 * 1024, "page weight {total} bytes");
    server
        .get("/metrics/dashboard/assets/nope.js")
        .await
        .assert_problem(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mode_gates_page_stream_and_json() {
    let token = "negotiation-token-0123456789abcdefgh";
    let server = Server::start_with(&[
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_ADMIN_TOKEN", token),
    ]);
    // A browser without the token gets the login shell, with 401: no data.
    let html = server
        .get_with("/metrics/dashboard", &[("accept", BROWSER_ACCEPT)])
        .await;
    assert_eq!(html.status, 401);
    assert_eq!(html.content_type(), "text/html");
    assert!(html.header("www-authenticate").is_some());
    assert!(html.text.contains("id=\"login\""));
    // Everyone else gets the problem.
    server.get("/metrics/dashboard").await.assert_problem(401);
    server
        .get("/metrics/dashboard/stream")
        .await
        .assert_problem(401);
    server
        .get("/metrics/dashboard/organizations")
        .await
        .assert_problem(401);
    // A token in the query is not accepted anywhere.
    server
        .get(&format!("/metrics/dashboard/stream?token={token}"))
        .await
        .assert_problem(401);
    // Assets are public (static code, no data).
    assert_eq!(
        server.get("/metrics/dashboard/assets/app.js").await.status,
        200
    );
    // With the bearer token: the page and the JSON.
    let bearer = format!("Bearer {token}");
    let page = server
        .get_with(
            "/metrics/dashboard",
            &[("accept", BROWSER_ACCEPT), ("authorization", &bearer)],
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type(), "text/html");
    server
        .get_with("/metrics/dashboard", &[("authorization", &bearer)])
        .await
        .assert_ok_json();
    let orgs = server
        .get_with(
            "/metrics/dashboard/organizations?limit=5",
            &[("authorization", &bearer)],
        )
        .await;
    orgs.assert_ok_json();
    assert_eq!(orgs.json["limit"], 5);
    server
        .get_with(
            "/metrics/dashboard/organizations?limit=0",
            &[("authorization", &bearer)],
        )
        .await
        .assert_problem(400);
}

/// Reads SSE events from a streaming response until `n` `snapshot` events arrived.
async fn read_snapshots(response: &mut reqwest::Response, n: usize) -> (Option<Value>, Vec<Value>) {
    let mut buf = String::new();
    let mut history = None;
    let mut snapshots = Vec::new();
    while snapshots.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("reading the stream")
            .expect("the stream stays open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = match e {
                        "history" => "history",
                        "snapshot" => "snapshot",
                        _ => "other",
                    };
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let value: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            match event {
                "history" => history = Some(value),
                "snapshot" => snapshots.push(value),
                _ => {}
            }
        }
    }
    (history, snapshots)
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_sends_snapshots_and_is_bounded() {
    let server = Server::start_with(&[("VITALS_SAMPLE_INTERVAL_MS", "200")]);
    let client = reqwest::Client::new();
    let open = |history: bool| {
        let url = server.url(if history {
            "/metrics/dashboard/stream?history=1"
        } else {
            "/metrics/dashboard/stream"
        });
        client.get(url).header("accept", "text/event-stream").send()
    };

    let mut first = open(true).await.expect("opening the stream");
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    burst(&server, 20).await;
    let (history, snapshots) = read_snapshots(&mut first, 3).await;
    let history = history.expect("a history event first with ?history=1");
    assert!(history.is_array(), "{history}");
    let last = snapshots.last().unwrap();
    for key in [
        "t",
        "requestsPerSecond",
        "p50Ms",
        "p95Ms",
        "p99Ms",
        "errorRate",
        "status",
        "statusPerSecond",
        "rssBytes",
        "heapBytes",
        "cpuPercent",
        "busyRatio",
        "schedulingDelayP99Ms",
        "leak",
        "underPressure",
    ] {
        assert!(last.get(key).is_some(), "`{key}` missing: {last}");
    }
    assert!(last["requestsTotal"].as_u64().unwrap() >= 20, "{last}");
    assert!(last["leak"]["reason"].is_string(), "{last}");
    let ts: Vec<u64> = snapshots.iter().map(|s| s["t"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[1] > w[0]), "{ts:?}");

    // Sixteen at once (this one included); the seventeenth is refused with 503.
    let mut held = Vec::new();
    for _ in 1..16 {
        let r = open(false).await.expect("opening a stream");
        assert_eq!(r.status(), 200);
        held.push(r);
    }
    let refused = server.get("/metrics/dashboard/stream").await;
    refused.assert_problem(503);
    assert_eq!(refused.content_type(), PROBLEM_JSON);
    assert!(refused.header("retry-after").is_some());

    // Closing streams gives their places back (noticed at the next tick).
    drop(held);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = open(false).await.expect("opening a stream");
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "streams were not released");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
