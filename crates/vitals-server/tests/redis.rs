//! Shared rate limits through a real Redis (`redis-server`, Debian package `redis-server`):
//! two reference-server processes share one quota and admit exactly N requests between them;
//! with Redis stopped they answer no 5xx, decide locally and count the fallbacks; with Redis
//! started again (same port, empty) shared limiting resumes.
//!
//! Also: a made-up organization id gets no fresh quota (it counts against the client IP).

#[allow(dead_code)]
mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::Server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const QUOTA: u32 = 10;

/// A `redis-server` on a loopback port with a temporary directory, killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(port: u16, dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).expect("creating the Redis directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server (apt-get install -y redis-server)");
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ping(self.port).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn ping(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(stream.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"+PONG"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Sends `n` requests for `path` alternating between the servers; the statuses in order.
async fn spread(servers: &[&Server], path: &str, n: usize, headers: &[(&str, &str)]) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    for i in 0..n {
        let answer = servers[i % servers.len()].get_with(path, headers).await;
        if answer.status == 429 {
            answer.assert_problem(429);
            assert!(answer.header("retry-after").is_some(), "{answer:?}");
        }
        statuses.push(answer.status);
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

/// The operator token: a request through a proxy (these carry `x-forwarded-for`) reaches the
/// operator endpoints only with it.
const TOKEN: &str = "redis-test-operator-token-0123456789ab";

/// `name value` of an unlabelled sample in the server's `/metrics` (asked from a fresh
/// address behind the trusted loopback proxy, so the scrape is never rate limited).
async fn metric(server: &Server, name: &str) -> Option<f64> {
    static SCRAPES: AtomicU32 = AtomicU32::new(1);
    let n = SCRAPES.fetch_add(1, Ordering::Relaxed);
    let from = format!("198.51.{}.{}", n / 250, n % 250 + 1);
    let answer = server
        .get_with(
            "/metrics",
            &[
                ("x-forwarded-for", &from),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer
        .text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_quota_and_survive_redis_going_away() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("vitals-redis-{}-{port}", std::process::id()));
    let mut redis = Redis::start(port, dir.clone());
    redis.wait_ready().await;

    let url = format!("redis://127.0.0.1:{port}/0");
    let quota = QUOTA.to_string();
    // A long window (one request earned back per 6 minutes) so the count is exact, and a
    // generous timeout: this test is about sharing and falling back, not about speed.
    let env = [
        ("VITALS_RATE_LIMIT_REDIS_URL", url.as_str()),
        ("VITALS_RATE_LIMIT_MAX", quota.as_str()),
        ("VITALS_RATE_LIMIT_WINDOW_MS", "3600000"),
        ("VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS", "2000"),
        ("VITALS_TRUSTED_PROXIES", "127.0.0.1"),
        ("VITALS_ADMIN_TOKEN", TOKEN),
    ];
    let a = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());
    let b = Server::start_with(&[env.as_slice(), &[("VITALS_DEMO", "1")]].concat());
    let both = [&a, &b];

    // 1. One quota for a known organization, whichever instance answers.
    let statuses = spread(&both, "/api/orgs/acme/properties", 30, &[]).await;
    assert_eq!(count(&statuses, 200), QUOTA as usize, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 30 - QUOTA as usize, "{statuses:?}");
    assert!(
        statuses[..QUOTA as usize].iter().all(|&s| s == 200),
        "{statuses:?}"
    );
    // Headers count the shared quota down across instances.
    let answer = b.get("/api/orgs/globex/properties").await;
    assert_eq!(
        answer.header("x-ratelimit-remaining"),
        Some("9"),
        "{answer:?}"
    );
    let answer = a.get("/api/orgs/globex/properties").await;
    assert_eq!(
        answer.header("x-ratelimit-remaining"),
        Some("8"),
        "{answer:?}"
    );
    assert_eq!(answer.header("ratelimit"), Some("\"default\";r=8;t=720"));

    // 2. Made-up organization ids share the client's address quota: no fresh quota per id.
    let bearer = format!("Bearer {TOKEN}");
    let mut statuses = Vec::new();
    for i in 0..20 {
        let org = format!("stranger-{i}");
        // `/api/slow` is a demo route now: operator-only, so the request carries the token.
        let headers = [
            ("x-organization-id", org.as_str()),
            ("x-forwarded-for", "192.0.2.1"),
            ("authorization", bearer.as_str()),
        ];
        statuses.extend(spread(&both[i % 2..=i % 2], "/api/slow?ms=0", 1, &headers).await);
    }
    assert_eq!(count(&statuses, 200), QUOTA as usize, "{statuses:?}");
    for server in both {
        assert_eq!(
            metric(server, "vitals_rate_limit_store_fallbacks_total").await,
            Some(0.0)
        );
        let health = server.get("/health").await;
        assert_eq!(health.json["status"], "pass", "{}", health.text);
        assert_eq!(health.json["rateLimitStore"]["status"], "pass");
    }

    // 3. Redis stops: no 5xx, each instance decides on its own quota, fallbacks counted and
    // reported as a warning.
    redis.stop();
    let statuses = spread(&both, "/api/orgs/initech/properties", 30, &[]).await;
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 429),
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, 200), 2 * QUOTA as usize, "{statuses:?}");
    for server in both {
        let fallbacks = metric(server, "vitals_rate_limit_store_fallbacks_total")
            .await
            .expect("fallbacks exposed");
        assert!(fallbacks >= 15.0, "{fallbacks}");
        assert_eq!(
            metric(server, "vitals_rate_limit_store_falling_back").await,
            Some(1.0)
        );
        let health = server.get("/health").await;
        assert_eq!(health.status, 200, "{}", health.text);
        assert_eq!(health.json["status"], "warn", "{}", health.text);
        assert_eq!(health.json["rateLimitStore"]["fallingBack"], true);
        let pressure = server.get("/health/pressure").await;
        assert_eq!(
            pressure.json["rateLimitStore"]["status"], "warn",
            "{}",
            pressure.text
        );
    }

    // 4. Redis starts again on the same port (empty): once each instance's probe succeeds,
    // the quota is shared again.
    let redis = Redis::start(port, dir);
    redis.wait_ready().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for server in both {
        loop {
            // Probes run on requests; the IP quota is spent, so these are refused, decided
            // by Redis once it answers.
            let answer = server.get("/api/slow?ms=0").await;
            assert!(answer.status < 500, "{answer:?}");
            if metric(server, "vitals_rate_limit_store_falling_back").await == Some(0.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never returned to Redis",
                server.url("")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Redis came back empty: acme's quota starts over, shared again.
    let statuses = spread(&both, "/api/orgs/acme/properties", 30, &[]).await;
    assert_eq!(count(&statuses, 200), QUOTA as usize, "{statuses:?}");
    for server in both {
        let health = server.get("/health").await;
        assert_eq!(health.json["status"], "pass", "{}", health.text);
    }
}

#[test]
fn an_invalid_redis_url_is_a_start_up_error_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_vitals-server"))
        .env("DATABASE_URL", ":memory:")
        .env("PORT", "0")
        .env(
            "VITALS_RATE_LIMIT_REDIS_URL",
            "http://user:hunter2@example.com",
        )
        .output()
        .expect("running vitals-server");
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("VITALS_RATE_LIMIT_REDIS_URL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
