//! The standard gRPC health service (`grpc.health.v1`, through `tonic-health`) answering from
//! vitals' dependency checks.

use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use vitals_axum::Vitals;

/// How often [`health_service`] re-runs the checks by default.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// The `grpc.health.v1.Health` service for `vitals`, and the task that keeps it current: every
/// `interval` it runs vitals' dependency checks ([`Vitals::dependency_checks`], the checks of
/// `GET /health`) and sets `SERVING` when all pass, `NOT_SERVING` when any fails, for the
/// server as a whole (the empty service name) and for each of `services` (the names clients
/// ask about, as `NamedService::NAME`). `Watch` streams the changes. Call it inside a tokio
/// runtime; the task runs until the returned handle is aborted.
pub fn health_service(
    vitals: Vitals,
    services: &[&str],
    interval: Duration,
) -> (HealthServer<HealthService>, tokio::task::JoinHandle<()>) {
    let reporter = HealthReporter::new();
    let server = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    let names: Vec<String> = std::iter::once(String::new())
        .chain(services.iter().map(|s| (*s).to_owned()))
        .collect();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None;
        loop {
            tick.tick().await;
            let ok = vitals.dependency_checks().await.iter().all(|c| c.ok);
            if last == Some(ok) {
                continue;
            }
            last = Some(ok);
            let status = if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            for name in &names {
                reporter.set_service_status(name, status).await;
            }
            tracing::info!(serving = ok, "grpc health status changed");
        }
    });
    (server, task)
}
