//! `bench-app`: a trivial axum service for measuring the overhead of
//! [`vitals_axum::MonitorLayer`] under load (driven by `scripts/bench-load.sh`).
//!
//! Usage: `bench-app <bare|monitor|monitor-noid|passthrough|full> [PORT]`.
//!
//! - `bare`: the routes alone, no monitoring.
//! - `monitor`: the same routes under `MonitorLayer::new(Monitor::default())` (request ids on,
//!   the default).
//!
//! Routes: `GET /hello` answers `hello`; `GET /orgs/{orgId}/items/{id}` answers a small JSON
//! object.
//!
//! The port comes from the second argument, else from env `PORT`, else `0` (a free port). The
//! server binds `127.0.0.1` and prints `listening on ADDR` (e.g. `listening on
//! 127.0.0.1:41234`) once it accepts connections. Env `WORKERS` sets the number of tokio worker
//! threads (default 1, so that with CPU pinning one core serves and another drives the load).
//! No logging subscriber is installed, so tracing spans cost what they cost without one.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};

/// Which app to serve.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Bare,
    Monitor,
    /// The monitor without correlation ids (isolates recording from id handling).
    MonitorNoId,
    /// The whole stack with its defaults: `Vitals` (sampler, alerts), its monitor layer (trace
    /// context on, resources measured 1 in 16), the pressure layer and a rate limit per client
    /// IP high enough never to refuse.
    Full,
    /// A layer that only wraps the response body in a pass-through body: the floor any
    /// middleware pays that times requests to the end of the body under `Router::layer`.
    Passthrough,
}

pin_project_lite::pin_project! {
    /// Forwards every call to the inner body.
    struct PassthroughBody<B> {
        #[pin]
        inner: B,
    }
}

impl<B: http_body::Body> http_body::Body for PassthroughBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Variant {
    fn parse(arg: &str) -> Option<Self> {
        match arg {
            "bare" => Some(Self::Bare),
            "monitor" => Some(Self::Monitor),
            "monitor-noid" => Some(Self::MonitorNoId),
            "passthrough" => Some(Self::Passthrough),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

async fn hello() -> &'static str {
    "hello"
}

async fn item(Path((org_id, id)): Path<(String, String)>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "orgId": org_id,
        "id": id,
        "name": "widget",
        "quantity": 3,
    }))
}

fn app(variant: Variant) -> Router {
    let router = Router::new()
        .route("/hello", get(hello))
        .route("/orgs/{orgId}/items/{id}", get(item));
    match variant {
        Variant::Bare => router,
        Variant::Monitor => {
            router.layer(vitals_axum::MonitorLayer::new(vitals::Monitor::default()))
        }
        Variant::Passthrough => router.layer(tower::util::MapResponseLayer::new(
            |res: axum::response::Response| res.map(|inner| PassthroughBody { inner }),
        )),
        Variant::Full => {
            let vitals = vitals_axum::Vitals::builder().build();
            let limit = vitals_axum::RateLimitLayer::per_window(
                u32::MAX,
                std::time::Duration::from_secs(1),
            );
            router
                .layer(limit)
                .layer(vitals.pressure_layer())
                .layer(vitals.layer())
        }
        Variant::MonitorNoId => router
            .layer(vitals_axum::MonitorLayer::new(vitals::Monitor::default()).request_id(false)),
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("bench-app: {problem}");
    eprintln!(
        "usage: bench-app <bare|monitor|monitor-noid|passthrough|full> [PORT]   (env: PORT, WORKERS)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(variant) = args.next() else {
        return usage("missing variant");
    };
    let Some(variant) = Variant::parse(&variant) else {
        return usage(&format!("unknown variant `{variant}`"));
    };
    let port = args
        .next()
        .or_else(|| std::env::var("PORT").ok())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "0".to_owned());
    let Ok(port) = port.trim().parse::<u16>() else {
        return usage(&format!("bad port `{port}`"));
    };
    let workers = std::env::var("WORKERS")
        .ok()
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "1".to_owned());
    let workers = match workers.trim().parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => return usage(&format!("bad WORKERS `{workers}`")),
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench-app: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(variant, port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-app: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(variant: Variant, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    // Every variant gets the peer address (the rate limit keys on it), so all pay the same.
    axum::serve(
        listener,
        app(variant).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
