//! Test support: spawns the real `vitals-server` binary on a free port with its own temporary
//! SQLite file, and small helpers to drive it over HTTP.

use std::io::{BufRead as _, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use serde_json::Value;

/// How long the server may take to log its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The media type of every error document.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A running `vitals-server` child process; killed (and its database removed) on drop.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    addr: SocketAddr,
    /// The operator listener (`VITALS_OPERATOR_ADDR`, a free port here).
    operator_addr: SocketAddr,
    db_path: PathBuf,
    output: Arc<Mutex<String>>,
    client: reqwest::Client,
}

/// Removes ANSI escape sequences (`ESC [ ... letter`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Copies each line of `stream` into `output` and sends it on `lines`.
fn pump(
    stream: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    lines: mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let line = strip_ansi(&line);
            {
                let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
                out.push_str(&line);
                out.push('\n');
            }
            // The receiver is gone once the server has started; that is fine.
            let _ = lines.send(line);
        }
    });
}

/// A unique database path under the system temp directory.
fn temp_db_path() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "vitals-server-e2e-{}-{}-{nanos}.db",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    ))
}

/// The address in a `listening on http://ADDR` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    addr_after(line, "listening on http://")
}

/// The address in an `operator plane on http://ADDR` log line.
fn operator_addr(line: &str) -> Option<SocketAddr> {
    addr_after(line, "operator plane on http://")
}

/// Where an operator reaches `path`: the public listener for the public endpoints (the API,
/// the probes, `/health`, `/metrics/health`, `/health/pressure`), the operator listener for
/// everything else (issue 25: no operator data on the public listener without a token).
pub(crate) fn is_public_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let demo = path.starts_with("/api/demo") || path == "/api/slow" || path == "/api/fail";
    (path.starts_with("/api/") && !demo)
        || matches!(
            path,
            "/health/ping"
                | "/health"
                | "/health/live"
                | "/health/ready"
                | "/health/startup"
                | "/metrics/health"
                | "/health/pressure"
        )
}

fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let addr = rest.split(|c: char| c.is_whitespace() || c == '/').next()?;
    addr.parse().ok()
}

impl Server {
    /// Starts a server with the default environment (no admin token).
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra environment variables.
    pub(crate) fn start_with(env: &[(&str, &str)]) -> Self {
        Self::launch(env, None)
    }

    /// Starts a server in `dir` with no `DATABASE_URL`, so it uses its default database
    /// location (`./data/vitals.db`, relative to `dir`).
    pub(crate) fn start_in(dir: &std::path::Path) -> Self {
        Self::launch(&[], Some(dir))
    }

    fn launch(env: &[(&str, &str)], dir: Option<&std::path::Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vitals-server"));
        let db_path = match dir {
            Some(dir) => {
                command.current_dir(dir).env_remove("DATABASE_URL");
                dir.join("data").join("vitals.db")
            }
            None => {
                let path = temp_db_path();
                command.env("DATABASE_URL", &path);
                path
            }
        };
        command
            .env_remove("VITALS_ADMIN_TOKEN")
            .env_remove("VITALS_DEMO")
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("VITALS_OPERATOR_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawning vitals-server");

        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        pump(
            child.stdout.take().expect("piped stdout"),
            Arc::clone(&output),
            tx.clone(),
        );
        pump(
            child.stderr.take().expect("piped stderr"),
            Arc::clone(&output),
            tx,
        );

        // A fixed PORT: the server is up when it accepts (for tests whose RUST_LOG hides the
        // `listening on` line).
        let fixed: Option<std::net::SocketAddr> = env
            .iter()
            .find(|(k, v)| *k == "PORT" && *v != "0")
            .and_then(|(_, v)| format!("127.0.0.1:{v}").parse().ok());
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut operator: Option<std::net::SocketAddr> = env
            .iter()
            .find(|(k, v)| *k == "VITALS_OPERATOR_ADDR" && !v.ends_with(":0"))
            .and_then(|(_, v)| v.parse().ok());
        let addr = loop {
            if let Some(addr) = fixed {
                if std::net::TcpStream::connect(addr).is_ok() {
                    break addr;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    if let Some(addr) = operator_addr(&line) {
                        operator = Some(addr);
                    } else if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Both streams closed: the process is gone; give it a moment to be reaped.
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let status = child.wait().ok();
                let _ = remove_db(&db_path);
                let output = output
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                panic!(
                    "vitals-server did not log `listening on http://ADDR` within {STARTUP_TIMEOUT:?} \
                     (exit status: {status:?}); output:\n{output}"
                );
            }
        };

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("building the HTTP client");
        Self {
            child,
            addr,
            // Logged before the public line.
            operator_addr: operator.expect("the `operator plane on` line before `listening on`"),
            db_path,
            output,
            client,
        }
    }

    /// Where an operator reaches `path` (see [`is_public_path`]): the public listener's
    /// `http://ADDR` + `path` for public paths, the operator listener's for the rest.
    pub(crate) fn url(&self, path: &str) -> String {
        if is_public_path(path) {
            self.public_url(path)
        } else {
            self.operator_url(path)
        }
    }

    /// The public listener's `http://ADDR` + `path`, whatever the path.
    pub(crate) fn public_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The operator listener's `http://ADDR` + `path`.
    pub(crate) fn operator_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.operator_addr)
    }

    /// The public listener's address.
    pub(crate) fn public_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The operator listener's address.
    pub(crate) fn operator_addr(&self) -> SocketAddr {
        self.operator_addr
    }

    /// The shared HTTP client (20 s timeout).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Everything the server printed so far (ANSI escapes removed).
    pub(crate) fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to the child.
    pub(crate) fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends SIGINT (Ctrl-C) to the child.
    pub(crate) fn interrupt(&self) {
        self.signal("INT");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(
            status.success(),
            "kill -{name} {} failed: {status}",
            self.pid()
        );
    }

    /// Waits up to `timeout` for the child to exit; panics with the output if it does not.
    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vitals-server did not exit within {timeout:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// GET `path`.
    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    /// GET `path` with extra headers.
    pub(crate) async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.client.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// POST `body` to `path` with `Content-Type: application/json`.
    pub(crate) async fn post_json(&self, path: &str, body: &str) -> Answer {
        let request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        self.send(request).await
    }

    /// Sends a request and reads the whole answer.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => panic!(
                "request failed: {error:?}; server output:\n{}",
                self.output()
            ),
        };
        Answer::read(response).await
    }

    /// `GET /health/performance/v2/stats` (200 expected; loopback needs no token).
    pub(crate) async fn stats(&self) -> Value {
        let answer = self.get("/health/performance/v2/stats").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json
    }

    /// The ring's records, slowest first (`/health/performance/slow?limit=500`).
    pub(crate) async fn ring(&self) -> Vec<Value> {
        let answer = self.get("/health/performance/slow?limit=500").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json["requests"]
            .as_array()
            .expect("`requests` is an array")
            .clone()
    }
}

fn remove_db(path: &std::path::Path) -> std::io::Result<()> {
    for suffix in [
        "-wal",
        "-shm",
        "-journal",
        ".history.sqlite",
        ".history.sqlite-wal",
        ".history.sqlite-shm",
    ] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    std::fs::remove_file(path)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = remove_db(&self.db_path);
    }
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Status code.
    pub(crate) status: u16,
    /// Response headers.
    pub(crate) headers: HeaderMap,
    /// Raw body text.
    pub(crate) text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub(crate) json: Value,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("reading the response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text"))
    }

    /// The media type (without parameters).
    pub(crate) fn content_type(&self) -> &str {
        self.header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
    }

    /// Asserts an RFC 9457 problem with `status`.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(self.content_type(), PROBLEM_JSON, "body: {}", self.text);
        assert_eq!(self.json["status"], status, "body: {}", self.text);
        assert!(
            self.json["title"].is_string(),
            "problem without title: {}",
            self.text
        );
        assert!(
            self.json["type"].is_string(),
            "problem without type: {}",
            self.text
        );
    }

    /// Asserts a 200 JSON answer.
    #[track_caller]
    pub(crate) fn assert_ok_json(&self) {
        assert_eq!(self.status, 200, "unexpected status; body: {}", self.text);
        assert_eq!(
            self.content_type(),
            "application/json",
            "body: {}",
            self.text
        );
    }
}

/// True for an RFC 3339 date-time (`2024-05-01T12:00:00.123456Z`, or with an offset).
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        "Z" | "z" => true,
        offset => {
            let o = offset.as_bytes();
            o.len() == 6
                && matches!(o[0], b'+' | b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

/// True for an id vitals generates: 16 lowercase hex digits.
pub(crate) fn is_generated_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn helpers_work() {
    assert_eq!(
        strip_ansi("\u{1b}[2m2024\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
        "2024  INFO x"
    );
    assert_eq!(
        listening_addr(
            "2024-01-01T00:00:00Z  INFO vitals_server: listening on http://127.0.0.1:4321"
        ),
        Some("127.0.0.1:4321".parse().unwrap())
    );
    assert_eq!(
        operator_addr("INFO vitals_server: operator plane on http://127.0.0.1:4601"),
        Some("127.0.0.1:4601".parse().unwrap())
    );
    assert_eq!(
        listening_addr("operator plane on http://127.0.0.1:4601"),
        None
    );
    assert!(is_public_path("/health/ready") && is_public_path("/api/orgs/acme/properties"));
    assert!(!is_public_path("/metrics") && !is_public_path("/api/slow?ms=5"));
    assert!(is_rfc3339("2024-05-01T12:00:00.123456Z"));
    assert!(is_rfc3339("2024-05-01T12:00:00+02:00"));
    assert!(!is_rfc3339("2024-05-01 12:00:00"));
    assert!(is_generated_id("3f9a0c2e7b41d865"));
    assert!(!is_generated_id("0b8e8c8a-1f2e-4d3c-9a7b-6c5d4e3f2a1b"));
    assert!(!is_generated_id("3F9A0C2E7B41D865"));
}
