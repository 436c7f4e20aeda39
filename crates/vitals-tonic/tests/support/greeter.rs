//! A `helloworld.Greeter` service and client written against tonic's codegen-free API
//! (`tonic::server::Grpc`, `tonic::client::Grpc`) and hand-written prost messages: no protoc,
//! no build script. `SayHello` answers `NOT_FOUND` for the name `missing`; `SayHellos` streams
//! three replies 50 ms apart.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tonic::codegen::{BoxFuture, Service, StdError, http};
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

pub const SERVICE: &str = "helloworld.Greeter";
pub const METHODS: [&str; 2] = ["SayHello", "SayHellos"];
pub const STREAMED: usize = 3;

type ReplyStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<HelloReply, Status>> + Send>>;

#[derive(Debug, Clone, Default)]
pub struct GreeterServer;

impl NamedService for GreeterServer {
    const NAME: &'static str = SERVICE;
}

struct SayHello;

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<Response<HelloReply>, Status>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        Box::pin(async move {
            let name = request.into_inner().name;
            tracing::info!(name = %name, "saying hello");
            if name == "missing" {
                return Err(Status::not_found("no such person"));
            }
            Ok(Response::new(HelloReply {
                message: format!("hello {name}"),
            }))
        })
    }
}

struct SayHellos;

impl tonic::server::ServerStreamingService<HelloRequest> for SayHellos {
    type Response = HelloReply;
    type ResponseStream = ReplyStream;
    type Future = BoxFuture<Response<ReplyStream>, Status>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        Box::pin(async move {
            let name = request.into_inner().name;
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tokio::spawn(async move {
                for i in 0..STREAMED {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let reply = HelloReply {
                        message: format!("hello {name} #{i}"),
                    };
                    if tx.send(Ok(reply)).await.is_err() {
                        break;
                    }
                }
            });
            let stream: ReplyStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
            Ok(Response::new(stream))
        })
    }
}

impl<B> Service<http::Request<B>> for GreeterServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match req.uri().path() {
            "/helloworld.Greeter/SayHello" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(SayHello, req).await)
            }),
            "/helloworld.Greeter/SayHellos" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.server_streaming(SayHellos, req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// A client over `channel`.
#[derive(Debug, Clone)]
pub struct GreeterClient(tonic::client::Grpc<tonic::transport::Channel>);

impl GreeterClient {
    pub fn new(channel: tonic::transport::Channel) -> Self {
        Self(tonic::client::Grpc::new(channel))
    }

    pub async fn call_unary(
        &mut self,
        path: &'static str,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        self.0
            .ready()
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        self.0
            .unary(
                request,
                PathAndQuery::from_static(path),
                ProstCodec::default(),
            )
            .await
    }

    pub async fn say_hello(&mut self, name: &str) -> Result<Response<HelloReply>, Status> {
        let request = Request::new(HelloRequest { name: name.into() });
        self.call_unary("/helloworld.Greeter/SayHello", request)
            .await
    }

    pub async fn say_hellos(&mut self, name: &str) -> Result<Streaming<HelloReply>, Status> {
        self.0
            .ready()
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        let request = Request::new(HelloRequest { name: name.into() });
        let path = PathAndQuery::from_static("/helloworld.Greeter/SayHellos");
        Ok(self
            .0
            .server_streaming(request, path, ProstCodec::default())
            .await?
            .into_inner())
    }
}
