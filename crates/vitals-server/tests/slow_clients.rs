//! Slow and greedy clients against the real binary: a slowloris does not stop the server
//! answering and is cut off after the header read timeout; an API request that runs past the
//! request timeout is answered 503 problem+json.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use support::Server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const SLOW_CONNECTIONS: usize = 1_000;

/// One slowloris connection: a request head sent a byte a second, forever. Returns whether the
/// server closed it (EOF or reset) within `give_up`.
async fn slowloris(addr: std::net::SocketAddr, give_up: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let head = b"GET /health/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let mut sent = 0usize;
    let deadline = tokio::time::Instant::now() + give_up;
    let mut buf = [0u8; 512];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => {} // a 408 or similar before the close: keep reading to the EOF
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                sent += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    return true;
                }
            }
            () = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slowloris_does_not_stop_the_server_and_is_cut_off_after_the_header_timeout() {
    let server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        ("VITALS_HEADER_READ_TIMEOUT_MS", "3000"),
    ]);
    let addr: std::net::SocketAddr = server
        .url("")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let slow: Vec<_> = (0..SLOW_CONNECTIONS)
        .map(|_| tokio::spawn(slowloris(addr, Duration::from_secs(30))))
        .collect();
    // Let them all connect and start trickling.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let ping = server.get("/health/ping").await;
        latencies.push(started.elapsed());
        assert_eq!(ping.status, 200, "{}", ping.text);
        assert!(
            slow.iter().any(|t| !t.is_finished()),
            "the slow connections are still open"
        );
    }
    println!("/health/ping with {SLOW_CONNECTIONS} slowloris connections open: {latencies:?}");
    let mut closed = 0;
    for task in slow {
        if task.await.unwrap() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, SLOW_CONNECTIONS,
        "every slow connection was closed by the server"
    );
    server.get("/health/ping").await.assert_ok_json();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_request_past_the_request_timeout_is_a_503_problem() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_REQUEST_TIMEOUT_MS", "200")]);
    let slow = server.get("/api/slow?ms=3000").await;
    slow.assert_problem(503);
    assert!(
        slow.json["detail"].as_str().unwrap().contains("200 ms"),
        "{}",
        slow.text
    );
    server.get("/api/slow?ms=10").await.assert_ok_json();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_waits_for_in_flight_requests_only_until_its_deadline() {
    let mut server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        ("VITALS_SHUTDOWN_DEADLINE_MS", "500"),
        ("VITALS_REQUEST_TIMEOUT_MS", "60000"),
    ]);
    let url = server.url("/api/slow?ms=10000");
    let client = server.client().clone();
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(8)).await;
    assert!(status.success(), "{status}: {}", server.output());
    assert!(
        server.output().contains("did not finish within"),
        "{}",
        server.output()
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the 10 s request was cut at the deadline"
    );
}
