//! # vitals-tonic
//!
//! vitals for gRPC services on [tonic](https://docs.rs/tonic): [`GrpcLayer`] records each call
//! into the vitals core by method path (`/package.Service/Method`, declared in [`Methods`];
//! others under `(unmatched)`), with its gRPC status from the headers or the trailers, timed to
//! the end of its response stream; [`GrpcCalls`] counts calls per method and code for
//! `/metrics`; [`health_service`] answers `grpc.health.v1` from vitals' checks. vitals'
//! operator endpoints (vitals-axum's router) are served beside the gRPC server on a listener of
//! their own.
//!
//! ```no_run
//! use vitals_tonic::{GrpcCalls, GrpcLayer, Methods};
//!
//! # async fn run() {
//! let calls = GrpcCalls::new(Methods::new().service("helloworld.Greeter", ["SayHello"]));
//! let vitals = vitals_axum::Vitals::builder().reporter(calls.clone()).build();
//! let layer = GrpcLayer::for_vitals(&vitals, calls);
//! // tonic::transport::Server::builder().layer(layer).add_service(...)
//! # let _ = layer;
//! # }
//! ```
//!
//! `cargo run -p vitals-tonic --example greeter` runs a whole service.
#![deny(missing_docs)]

mod body;
mod calls;
mod future;
mod health;
mod layer;
mod methods;
mod record;
mod status;

pub use body::ResponseBody;
pub use calls::GrpcCalls;
pub use future::ResponseFuture;
pub use health::{DEFAULT_HEALTH_INTERVAL, health_service};
pub use layer::{GrpcLayer, GrpcService};
pub use methods::{MAX_METHODS, Methods};
pub use status::{GRPC_CODES, parse_grpc_status, vitals_status};
