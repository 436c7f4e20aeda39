//! Serving the app with limits `axum::serve` does not have: `axum::serve` gives hyper no timer,
//! so hyper's header read timeout is inert and a slowloris holds a connection (and its memory)
//! for as long as it trickles bytes. This accept loop serves each connection with
//! `hyper_util`'s auto (HTTP/1 + HTTP/2) builder with a Tokio timer:
//!
//! - a header read timeout: a client that has not sent a whole request head in time is
//!   disconnected;
//! - a cap on open connections (a semaphore taken before `accept`: past the cap, new
//!   connections wait in the kernel's backlog instead of costing memory and descriptors);
//! - graceful shutdown with a deadline: on the signal the listener closes, in-flight requests
//!   get the deadline to finish, then the remaining connections are dropped and the process
//!   exits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time a client has to send a request head.
    pub(crate) header_read_timeout: Duration,
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// Time in-flight requests get after the shutdown signal.
    pub(crate) shutdown_deadline: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains within the deadline.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a little, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(req)
            },
        ));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are the client's (a reset, a timeout, a malformed request).
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_deadline) => {
            tracing::warn!(
                "in-flight requests did not finish within {:?}; exiting anyway",
                limits.shutdown_deadline
            );
        }
    }
}
