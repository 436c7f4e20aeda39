//! An existing axum app adopting vitals: the four marked lines are all it takes.
//!
//! ```text
//! cargo run -p vitals-axum --example adopt          # binds 127.0.0.1:0 (a free port)
//! PORT=4600 cargo run -p vitals-axum --example adopt
//! curl http://127.0.0.1:<port>/health
//! curl http://127.0.0.1:<port>/health/performance/v2/stats   # operator-only: loopback
//! ```

use std::net::SocketAddr;

use axum::{Router, routing::get};
use vitals_axum::Vitals;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let vitals = Vitals::builder().build(); // vitals: 1 of 4

    // The app as it was.
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/api/items/{id}", get(|| async { "an item" }))
        .merge(vitals.router()) // vitals: 2 of 4 (merged first, so its routes are monitored)
        .layer(vitals.layers()); // vitals: 3 of 4

    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0u16);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // vitals: 4 of 4: the peer address, for the operator auth and the rate limiter.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
