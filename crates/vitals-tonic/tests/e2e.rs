//! A real tonic server with the layer and the health service, a real tonic client, then
//! vitals' `/metrics` read over HTTP from the operator listener.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::greeter::{GreeterClient, GreeterServer, HelloRequest, METHODS, SERVICE, STREAMED};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use vitals_tonic::{GrpcCalls, GrpcLayer, Methods};

struct Running {
    grpc: SocketAddr,
    operator: SocketAddr,
    healthy: Arc<AtomicBool>,
}

async fn start() -> Running {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let calls = GrpcCalls::new(Methods::new().service(SERVICE, METHODS));
    let vitals = vitals_axum::Vitals::builder()
        .reporter(calls.clone())
        .health_check("dependency", move || {
            let ok = flag.load(Ordering::SeqCst);
            async move { if ok { Ok(()) } else { Err("down".into()) } }
        })
        .build();
    let (health, _task) =
        vitals_tonic::health_service(vitals.clone(), &[SERVICE], Duration::from_millis(50));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = listener.local_addr().unwrap();
    let layer = GrpcLayer::for_vitals(&vitals, calls);
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .add_service(GreeterServer)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let op = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let operator = op.local_addr().unwrap();
    let router = vitals.router().layer(vitals.layers());
    tokio::spawn(async move {
        axum::serve(
            op,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Running {
        grpc,
        operator,
        healthy,
    }
}

async fn channel(addr: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn metrics(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first line that starts with `name{` and contains every one of `labels`.
fn value(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_recorded_by_method_with_grpc_status_and_streams_timed() {
    let app = start().await;
    let mut client = GreeterClient::new(channel(app.grpc).await);

    // Unary OK, with a correlation id and a trace the service answers.
    let mut request = tonic::Request::new(HelloRequest { name: "ada".into() });
    request
        .metadata_mut()
        .insert("x-request-id", "grpc-test-1".parse().unwrap());
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    request
        .metadata_mut()
        .insert("traceparent", incoming.parse().unwrap());
    let reply = client
        .call_unary("/helloworld.Greeter/SayHello", request)
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "hello ada");
    assert_eq!(reply.metadata().get("x-request-id").unwrap(), "grpc-test-1");
    let answered = reply
        .metadata()
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        answered.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{answered}"
    );
    assert!(
        !answered.contains("00f067aa0ba902b7"),
        "a span id of its own: {answered}"
    );

    // A call without an id gets one made.
    let reply = client.say_hello("bob").await.unwrap();
    let made = reply
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(made.len(), 36, "{made}");

    // NOT_FOUND: HTTP says 200, gRPC says 5.
    let err = client.say_hello("missing").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Server streaming: three messages 50 ms apart.
    let started = Instant::now();
    let mut stream = client.say_hellos("eve").await.unwrap();
    let mut got = 0;
    while let Some(reply) = stream.message().await.unwrap() {
        assert!(reply.message.starts_with("hello eve #"));
        got += 1;
    }
    let stream_took = started.elapsed();
    assert_eq!(got, STREAMED);

    // Strangers' paths: answered UNIMPLEMENTED, recorded under (unmatched), no series minted.
    for i in 0..20 {
        let path: &'static str = Box::leak(format!("/evil.Scanner/Probe{i}").into_boxed_str());
        let request = tonic::Request::new(HelloRequest { name: "x".into() });
        let err = client.call_unary(path, request).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    }

    // The stream is recorded when it ends, just after the client saw its end.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = metrics(app.operator).await;
    let calls = "vitals_grpc_server_calls_total";
    let hello = "rpc_method=\"SayHello\"";
    assert_eq!(
        value(&m, calls, &[hello, "rpc_grpc_status_code=\"0\""]),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        value(&m, calls, &[hello, "rpc_grpc_status_code=\"5\""]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            calls,
            &["rpc_method=\"SayHellos\"", "rpc_grpc_status_code=\"0\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            calls,
            &["route=\"(unmatched)\"", "rpc_grpc_status_code=\"12\""]
        ),
        Some(20.0)
    );
    assert_eq!(
        value(
            &m,
            "vitals_grpc_server_messages_sent_total",
            &["rpc_method=\"SayHellos\""]
        ),
        Some(STREAMED as f64)
    );
    assert!(
        !m.contains("evil.Scanner"),
        "a stranger's path minted a series"
    );

    // The route series: the method path as the route, NOT_FOUND counted as a (4xx) error.
    let route = "route=\"/helloworld.Greeter/SayHello\"";
    assert!(m.lines().any(|l| l.contains(route)), "{m}");
    let duration = "http_server_request_duration_seconds";
    let count_name = format!("{duration}_count{{");
    let count: f64 = m
        .lines()
        .filter(|l| l.starts_with(&count_name) && l.contains(route))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(count, 3.0, "{m}");
    let errors: f64 = m
        .lines()
        .filter(|l| l.contains(route) && l.contains("4xx"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(errors >= 1.0, "NOT_FOUND not counted as an error:\n{m}");
    // The stream's duration covers its three messages (two 50 ms gaps at least).
    let stream_route = "route=\"/helloworld.Greeter/SayHellos\"";
    let sum = value(&m, &format!("{duration}_sum"), &[stream_route]).unwrap();
    assert!(sum >= 0.14, "stream recorded as {sum} s");
    assert!(
        sum <= stream_took.as_secs_f64() + 0.05,
        "{sum} vs {stream_took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_service_follows_the_checks() {
    let app = start().await;
    let mut health = HealthClient::new(channel(app.grpc).await);
    let status = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    async fn wait_for(
        health: &mut HealthClient<tonic::transport::Channel>,
        request: HealthCheckRequest,
        want: ServingStatus,
    ) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = health
                .check(request.clone())
                .await
                .map(|r| r.into_inner().status);
            if got.as_ref().ok() == Some(&(want as i32)) {
                return;
            }
            assert!(Instant::now() < deadline, "still {got:?}, want {want:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    wait_for(&mut health, status(""), ServingStatus::Serving).await;
    wait_for(&mut health, status(SERVICE), ServingStatus::Serving).await;
    app.healthy.store(false, Ordering::SeqCst);
    wait_for(&mut health, status(""), ServingStatus::NotServing).await;
    wait_for(&mut health, status(SERVICE), ServingStatus::NotServing).await;
    app.healthy.store(true, Ordering::SeqCst);
    wait_for(&mut health, status(SERVICE), ServingStatus::Serving).await;
    let err = health.check(status("nobody.Else")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
