//! Test parts: loopback receivers that fail on command, a waiter, the standardwebhooks verifier.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use vitals_notify::{ChannelKind, DeliveryOptions};

/// What the receiver does with the next request.
#[derive(Debug, Clone)]
pub enum Act {
    Ok,
    Status(u16, &'static str),
    /// 429 with this `Retry-After` value.
    TooMany(&'static str),
    /// Holds the request this long before answering 200.
    Hang(Duration),
}

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub act: Act,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
    pub fn accepted(&self) -> bool {
        matches!(self.act, Act::Ok)
    }
}

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<Act>>,
    hits: Mutex<Vec<Hit>>,
}

/// A receiver on a loopback port; answers 200 unless scripted otherwise.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
    task: Arc<tokio::task::JoinHandle<()>>,
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let act = inner.script.lock().unwrap().pop_front().unwrap_or(Act::Ok);
    let hit = Hit {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        act: act.clone(),
    };
    inner.hits.lock().unwrap().push(hit);
    match act {
        Act::Ok => (StatusCode::OK, "ok").into_response(),
        Act::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Act::TooMany(after) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", after)],
            "slow down",
        )
            .into_response(),
        Act::Hang(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
    }
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            inner,
            addr,
            task: Arc::new(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, acts: impl IntoIterator<Item = Act>) {
        self.inner.script.lock().unwrap().extend(acts);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> Vec<Hit> {
        self.hits().into_iter().filter(Hit::accepted).collect()
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

/// A loopback port with nothing listening (bound, then released).
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Short backoffs and timeouts so failure scenarios finish in well under a second or two.
pub fn fast(kind: ChannelKind) -> DeliveryOptions {
    DeliveryOptions {
        timeout: Duration::from_millis(300),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        min_interval: Duration::ZERO,
        ..DeliveryOptions::defaults(kind)
    }
}

/// Verifies a captured request with the `standardwebhooks` package from PyPI (an
/// implementation we did not write). Returns the verifier's verdict; panics when python or the
/// package is missing.
pub fn standardwebhooks_verify(secret: &str, hit: &Hit) -> Result<(), String> {
    const SCRIPT: &str = r#"
import json, sys
try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    print("MISSING: pip install standardwebhooks", file=sys.stderr)
    sys.exit(3)
d = json.load(sys.stdin)
try:
    Webhook(d["secret"]).verify(d["body"], d["headers"])
except Exception as e:
    print("REJECTED: %r" % e, file=sys.stderr)
    sys.exit(1)
print("verified")
"#;
    let input =
        serde_json::json!({"secret": secret, "body": hit.body, "headers": hit.headers}).to_string();
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect(
            "python3 is needed to verify webhook signatures (then: pip install standardwebhooks)",
        );
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
            Ok(())
        }
        Some(3) => {
            panic!("the PyPI package standardwebhooks is missing: pip install standardwebhooks")
        }
        _ => Err(stderr),
    }
}
