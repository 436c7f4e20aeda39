//! [`Diagnostics`]: the profilers, the log levels, the build identity, the in-flight registry
//! and the capture rules of one service, and the router that serves them.

use std::sync::Arc;

use vitals_axum::OperatorAuth;

use crate::capture::{ArtifactStore, CaptureHook, CaptureRule};
use crate::cpu::CpuProfiler;
use crate::inflight::InFlight;
use crate::info::BuildInfo;
use crate::loggers::Loggers;

#[derive(Debug)]
struct Inner {
    auth: OperatorAuth,
    cpu: CpuProfiler,
    info: BuildInfo,
    loggers: Option<Loggers>,
    in_flight: InFlight,
    artifacts: Option<ArtifactStore>,
    rules: Vec<CaptureRule>,
}

/// Diagnostics for one service. Cheap to clone.
///
/// ```
/// use vitals_axum::OperatorAuth;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let diag = vitals_diag::Diagnostics::builder(OperatorAuth::token("a-long-operator-token"))
///     .build_info(vitals_diag::build_info!())
///     .build();
/// let vitals = vitals_axum::Vitals::builder()
///     .reporter(diag.reporter())
///     .alert_hook(diag.alert_hook())
///     .build();
/// let app: axum::Router = diag.mount(axum::Router::new().merge(vitals.router()));
/// # drop(app);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Diagnostics(Arc<Inner>);

/// Builds [`Diagnostics`].
#[derive(Debug)]
#[must_use]
pub struct DiagnosticsBuilder(Inner);

impl Diagnostics {
    /// A builder; `auth` guards every route.
    pub fn builder(auth: OperatorAuth) -> DiagnosticsBuilder {
        DiagnosticsBuilder(Inner {
            auth,
            cpu: CpuProfiler::default(),
            info: crate::build_info!(),
            loggers: None,
            in_flight: InFlight::default(),
            artifacts: None,
            rules: Vec::new(),
        })
    }

    /// The `/metrics` part: `vitals_build_info{...} 1`, and the build in `/health/debug`.
    #[must_use]
    pub fn reporter(&self) -> DiagReporter {
        DiagReporter(self.clone())
    }

    /// The alert hook that runs the capture rules (none without an artifact store: then it
    /// does nothing).
    #[must_use]
    pub fn alert_hook(&self) -> CaptureHook {
        CaptureHook::new(
            self.0.rules.clone(),
            self.0.artifacts.clone(),
            self.0.cpu.clone(),
            self.0.in_flight.clone(),
        )
    }

    pub(crate) fn auth(&self) -> &OperatorAuth {
        &self.0.auth
    }

    /// The CPU profiler.
    #[must_use]
    pub fn cpu(&self) -> &CpuProfiler {
        &self.0.cpu
    }

    /// The build identity.
    #[must_use]
    pub fn build_info(&self) -> &BuildInfo {
        &self.0.info
    }

    /// The log levels, when given.
    #[must_use]
    pub fn loggers(&self) -> Option<&Loggers> {
        self.0.loggers.as_ref()
    }

    /// The in-flight registry.
    #[must_use]
    pub fn in_flight(&self) -> &InFlight {
        &self.0.in_flight
    }

    /// The artifact store, when capture on alert is on.
    #[must_use]
    pub fn artifacts(&self) -> Option<ArtifactStore> {
        self.0.artifacts.clone()
    }
}

impl DiagnosticsBuilder {
    /// The CPU profiler's settings (default: 99 Hz, at most 60 s).
    pub fn cpu(mut self, cpu: CpuProfiler) -> Self {
        self.0.cpu = cpu;
        self
    }

    /// The build identity (default: vitals-diag's own; pass `vitals_diag::build_info!()`
    /// from the binary).
    pub fn build_info(mut self, info: BuildInfo) -> Self {
        self.0.info = info;
        self
    }

    /// The reloadable log filter (`/loggers` answers 501 without).
    pub fn loggers(mut self, loggers: Loggers) -> Self {
        self.0.loggers = Some(loggers);
        self
    }

    /// The in-flight registry's size (default [`DEFAULT_IN_FLIGHT_SLOTS`]).
    ///
    /// [`DEFAULT_IN_FLIGHT_SLOTS`]: crate::DEFAULT_IN_FLIGHT_SLOTS
    pub fn in_flight_slots(mut self, slots: usize) -> Self {
        self.0.in_flight = InFlight::new(slots);
        self
    }

    /// Captures on alert: `rules` into `store`.
    pub fn capture(mut self, store: ArtifactStore, rules: Vec<CaptureRule>) -> Self {
        self.0.artifacts = Some(store);
        self.0.rules = rules;
        self
    }

    /// The diagnostics.
    pub fn build(self) -> Diagnostics {
        Diagnostics(Arc::new(self.0))
    }
}

/// [`Diagnostics::reporter`]: the build identity in `/metrics` and `/health/debug`, and the
/// profilers' state in `/health/debug`.
#[derive(Debug)]
pub struct DiagReporter(Diagnostics);

impl vitals_axum::Reporter for DiagReporter {
    fn name(&self) -> &str {
        "diagnostics"
    }

    fn metric_families(&self) -> Vec<vitals::MetricFamily> {
        vec![self.0.build_info().metric_family()]
    }

    fn debug_json(&self) -> serde_json::Value {
        serde_json::json!({
            "build": self.0.build_info().json(),
            "cpuProfile": {
                "running": self.0.cpu().is_running(),
                "frequencyHz": self.0.cpu().frequency_hz(),
                "maxSeconds": self.0.cpu().seconds_cap(),
            },
            "heapProfile": crate::heap::heap_profiling(),
            "inFlight": {
                "capacity": self.0.in_flight().capacity(),
                "untracked": self.0.in_flight().untracked(),
            },
            "captureRules": self.0.0.rules.len(),
        })
    }
}
