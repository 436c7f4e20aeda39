//! Closed by default (issue 25), against the real binary on loopback: a same-host proxy that
//! adds no forwarding header gets no operator data; the operator listener answers a loopback
//! client and refuses a foreign `Origin`; anonymous traffic on every public route cannot fail
//! readiness or raise an alert; SIGTERM turns readiness to 503 while a request drains; one
//! peer's idle h2c connections cannot starve another client.

#[allow(dead_code)]
mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::Server;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

/// Operator paths a stranger must not reach on the public listener.
const OPERATOR_GETS: [&str; 6] = [
    "/metrics",
    "/health/debug",
    "/health/performance/v2/stats",
    "/metrics/json",
    "/metrics/dashboard",
    "/openapi.json",
];

/// A plain TCP forwarder to `target` (what `proxy_pass`, socat or stunnel do with no
/// forwarding header): every connection it makes comes from 127.0.0.1.
async fn forwarder(target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_host_proxy_gets_no_operator_data_and_the_operator_listener_does() {
    let server = Server::start();
    let proxy = forwarder(server.public_addr()).await;
    let client = reqwest::Client::new();
    for path in OPERATOR_GETS {
        // The Host the proxy sends is an IP literal: `127.0.0.1:<port>`.
        let res = client
            .get(format!("http://{proxy}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} through the proxy");
    }
    for path in ["/metrics/notifications/test", "/metrics/memory/gc"] {
        let res = client
            .post(format!("http://{proxy}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "POST {path} through the proxy");
    }
    // The demo switches do not exist there either (nor on the operator listener, demo off).
    let res = client
        .get(format!("http://{proxy}/api/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // The public endpoints still answer through it.
    let res = client
        .get(format!("http://{proxy}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The operator listener answers a loopback client at the seed's paths.
    for path in OPERATOR_GETS {
        let answer = server.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    // A page of another site cannot change state there (CSRF); its own origin can.
    let gc = server.operator_url("/metrics/memory/gc");
    let refused = server
        .send(client.post(&gc).header("origin", "http://evil.example"))
        .await;
    refused.assert_problem(403);
    assert!(refused.text.contains("Origin"), "{}", refused.text);
    let own = format!("http://{}", server.operator_addr());
    let allowed = server.send(client.post(&gc).header("origin", own)).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    let img = server
        .send(
            client
                .get(server.operator_url("/metrics"))
                .header("sec-fetch-site", "cross-site")
                .header("sec-fetch-mode", "no-cors"),
        )
        .await;
    img.assert_problem(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_proxy_still_needs_it() {
    let token = "closed-by-default-operator-token-0123456789";
    let server = Server::start_with(&[("VITALS_ADMIN_TOKEN", token)]);
    let proxy = forwarder(server.public_addr()).await;
    let client = reqwest::Client::new();
    for path in OPERATOR_GETS {
        let res = client
            .get(format!("http://{proxy}{path}"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path} through the proxy, no token");
        let res = client
            .get(format!("http://{proxy}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "{path} through the proxy, with the token"
        );
    }
    // The operator listener wants the token too.
    assert_eq!(server.get("/metrics").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_token_is_a_start_up_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitals-server"))
        .env("VITALS_ADMIN_TOKEN", "s3cret")
        .env("DATABASE_URL", ":memory:")
        .env("PORT", "0")
        .env("VITALS_OPERATOR_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("VITALS_ADMIN_TOKEN") && text.contains("32"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_traffic_on_every_public_route_fails_no_probe_and_pages_nobody() {
    let server = Server::start_with(&[
        ("VITALS_SAMPLE_INTERVAL_MS", "200"),
        ("VITALS_RATE_LIMIT_MAX", "1000000"),
    ]);
    let client = server.client().clone();
    let gets = [
        "/health/ping",
        "/health",
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/metrics/health",
        "/health/pressure",
        "/api/orgs/acme/properties",
        "/api/orgs/acme/properties/1",
        "/api/orgs/nobody/properties",
        // Gone from the public listener: fault injection is a demo route now.
        "/api/fail?status=500",
        "/api/slow?ms=10000",
    ];
    for _ in 0..100 {
        for path in gets {
            let res = client.get(server.public_url(path)).send().await.unwrap();
            assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
        }
        let res = client
            .post(server.public_url("/api/orgs/acme/properties"))
            .header("content-type", "application/json")
            .body("{\"broken\"")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error());
    }
    // Let the sampling loop evaluate the alerts a few times over these figures.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let ready = server.get("/health/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json["status"], "pass");
    let health = server.get("/metrics/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let dashboard = server
        .get_with("/metrics/dashboard", &[("accept", "application/json")])
        .await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.text);
    let active = dashboard.json["alerts"]["active"]
        .as_array()
        .expect("alerts.active");
    assert!(active.is_empty(), "alerts fired: {active:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_while_a_request_drains() {
    let mut server = Server::start_with(&[("VITALS_DEMO", "1")]);
    let client = server.client().clone();
    let slow = tokio::spawn({
        let url = server.url("/api/slow?ms=2000");
        let client = client.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    // The request is in flight once the server has it; then the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.get("/health/ready").await.status, 200);
    let signalled = Instant::now();
    server.terminate();
    // Poll readiness (a fresh connection each time, as a load balancer's probe).
    let mut seen = None;
    while signalled.elapsed() < Duration::from_secs(2) {
        let probe = reqwest::Client::new();
        if let Ok(res) = probe.get(server.public_url("/health/ready")).send().await {
            if res.status() == 503 {
                seen = Some(signalled.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = seen.expect("/health/ready never answered 503 after SIGTERM");
    eprintln!("/health/ready answered 503 {seen:?} after SIGTERM");
    // The issue asks for 100 ms; the state flips in the signal handler, so what this measures
    // is a loopback round trip. A loaded CI machine gets a generous bound.
    assert!(seen < Duration::from_millis(1_000), "{seen:?}");
    let live = reqwest::Client::new()
        .get(server.public_url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(slow.await.unwrap().unwrap(), 200);
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
}

/// The HTTP/2 connection preface and an empty SETTINGS frame (prior knowledge, h2c).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_with_a_thousand_idle_h2c_connections_starves_no_one() {
    let server = Server::start();
    let target = server.public_addr();
    let mut held = Vec::new();
    for _ in 0..1_000 {
        let mut stream = TcpStream::connect(target).await.unwrap();
        let _ = stream.write_all(H2_PREFACE).await;
        held.push(stream);
    }
    // Another client, from another loopback address (another peer).
    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let res = other
        .get(server.public_url("/health/ping"))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 200);
    eprintln!("the second client was served in {took:?} beside 1,000 idle h2c connections");
    // The issue asks for 250 ms; what is measured is one loopback request on a shared
    // machine, so the bound is generous (what matters: it is served at all, not queued
    // behind the held slots).
    assert!(took < Duration::from_secs(2), "{took:?}");
    let metrics = server.get("/metrics").await;
    let refused: f64 = metrics
        .text
        .lines()
        .find(|l| l.starts_with("vitals_connections_refused_total{reason=\"per_peer\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no per-peer refusals in /metrics:\n{}", metrics.text));
    // 256 per peer by default: the other 744 were closed at accept.
    assert!(refused >= 744.0, "{refused}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2c_connections_are_closed_and_counted() {
    let server = Server::start_with(&[("VITALS_IDLE_TIMEOUT_MS", "300")]);
    let mut stream = TcpStream::connect(server.public_addr()).await.unwrap();
    stream.write_all(H2_PREFACE).await.unwrap();
    // The server ends it (GOAWAY, then close): reading reaches the end.
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt as _;
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection stayed open");
    let metrics = server.get("/metrics").await;
    assert!(
        metrics.text.lines().any(|l| l
            .starts_with("vitals_connections_closed_total{reason=\"idle_timeout\"}")
            && !l.ends_with(" 0")),
        "{}",
        metrics.text
    );
}
