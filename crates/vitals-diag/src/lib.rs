//! # vitals-diag
//!
//! From alert to cause: diagnostics of a running service over HTTP, for operators, as Go's
//! `net/http/pprof`, Spring Boot Actuator's `/loggers` and `/info`, and dotnet-monitor's
//! collection rules give theirs. Kept out of vitals' core and vitals-axum: the profilers
//! bring their own dependencies.
//!
//! - `GET /debug/pprof/profile?seconds=N` ([`CpuProfiler`]): a CPU profile as gzipped pprof
//!   protobuf (`go tool pprof`, Pyroscope, Polar Signals read it), `&format=svg` a flame graph;
//!   one at a time (409), `seconds` capped (400 beyond), 99 samples per CPU-second.
//! - `GET /debug/pprof/heap` ([`heap_profile`]): jemalloc's sampled live allocations by stack,
//!   symbolized pprof; 501/503 problem+json saying how to turn it on where it cannot.
//! - `GET /debug/tasks` ([`InFlight`]): Tokio's task dump where the build allows it, and always
//!   the requests in flight with their age, polls, longest poll and the poll running now.
//! - `GET /loggers`, `GET|POST /loggers/{name}` ([`Loggers`]): Actuator's shape,
//!   `{"configuredLevel": "DEBUG"}` (`null` resets), optional `expiresInSeconds`.
//! - `GET /info` ([`BuildInfo`], [`build_info!`]) and `vitals_build_info{...} 1` in `/metrics`
//!   ([`Diagnostics::reporter`]).
//! - Capture on alert ([`CaptureRule`], [`ArtifactStore`], [`Diagnostics::alert_hook`]):
//!   `GET /debug/artifacts`, `GET /debug/artifacts/{id}`, links in the alert's notifications.
//!
//! Every route sits behind vitals-axum's [`OperatorAuth`](vitals_axum::OperatorAuth); nothing
//! here runs on the request path but the in-flight layer (see [`InFlight`] for its cost).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod capture;
mod cpu;
mod diagnostics;
mod heap;
mod inflight;
mod info;
mod loggers;
mod routes;
mod tasks;

pub use capture::{
    Action, Artifact, ArtifactStore, CaptureHook, CaptureRule, MAX_ARTIFACTS, RuleError,
};
pub use cpu::{CpuError, CpuFormat, CpuProfiler, DEFAULT_FREQUENCY_HZ, DEFAULT_MAX_SECONDS};
pub use diagnostics::{DiagReporter, Diagnostics, DiagnosticsBuilder};
pub use heap::{
    HOW_TO_ENABLE, HeapError, HeapProfiling, configure_heap_profiling, heap_profile, heap_profiling,
};
pub use inflight::{
    DEFAULT_IN_FLIGHT_SLOTS, InFlight, InFlightFuture, InFlightLayer, InFlightRequest,
    InFlightService, PROBE,
};
pub use info::{BuildInfo, process_start};
pub use loggers::{
    CHANGE_LOG, LEVELS, LevelChange, LoggerError, Loggers, MAX_EXPIRY, MAX_OVERRIDES, ROOT,
};
pub use tasks::{DUMP_TIMEOUT, task_dump_json};
