//! The dependency checks' verdict for integrations outside axum (a gRPC health service, say).

use crate::builder::Vitals;

impl Vitals {
    /// Runs the registered dependency checks (each bounded by the check timeout, at most once a
    /// second however many ask, as for `GET /health`) and returns their outcomes, for an
    /// integration that reports health in its own protocol (`vitals-tonic`'s `grpc.health.v1`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let vitals = vitals_axum::Vitals::builder()
    ///     .health_check("db", || async { Err("down".into()) })
    ///     .build();
    /// let checks = vitals.dependency_checks().await;
    /// assert_eq!((checks[0].name.as_str(), checks[0].ok), ("db", false));
    /// # }
    /// ```
    pub async fn dependency_checks(&self) -> Vec<vitals::DependencySignal> {
        crate::report::run_checks(&self.shared)
            .await
            .into_iter()
            .map(|(signal, _)| signal)
            .collect()
    }
}
