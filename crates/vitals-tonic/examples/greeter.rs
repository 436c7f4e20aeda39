//! A greeter gRPC service on tonic with vitals: `cargo run -p vitals-tonic --example greeter`.
//! gRPC on 127.0.0.1:50051 (with `grpc.health.v1`), vitals' endpoints on 127.0.0.1:4601
//! (`curl -s 127.0.0.1:4601/metrics | grep grpc`).

#[path = "../tests/support/greeter.rs"]
mod greeter;

use std::net::SocketAddr;

use vitals_tonic::{GrpcCalls, GrpcLayer, Methods};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls = GrpcCalls::new(Methods::new().service(greeter::SERVICE, greeter::METHODS));
    let vitals = vitals_axum::Vitals::builder()
        .reporter(calls.clone())
        .health_check("self", || async { Ok(()) })
        .build();
    let (health, _task) = vitals_tonic::health_service(
        vitals.clone(),
        &[greeter::SERVICE],
        vitals_tonic::DEFAULT_HEALTH_INTERVAL,
    );
    let operator = tokio::net::TcpListener::bind("127.0.0.1:4601").await?;
    let router = vitals.router().layer(vitals.layers());
    tokio::spawn(async move {
        axum::serve(
            operator,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    tonic::transport::Server::builder()
        .layer(GrpcLayer::for_vitals(&vitals, calls))
        .add_service(health)
        .add_service(greeter::GreeterServer)
        .serve("127.0.0.1:50051".parse()?)
        .await?;
    Ok(())
}
