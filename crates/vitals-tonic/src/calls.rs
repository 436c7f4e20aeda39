//! [`GrpcCalls`]: calls counted per method and gRPC status code, and messages sent, read by
//! `/metrics` through vitals' [`Reporter`] hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use vitals::MetricFamily;
use vitals_axum::Reporter;

use crate::methods::Methods;
use crate::status::{GRPC_CODES, code_label};

#[derive(Debug)]
struct Inner {
    methods: Methods,
    /// One row per declared method, then one for `(unmatched)`: fixed at build time.
    codes: Box<[[AtomicU64; GRPC_CODES]]>,
    messages: Box<[AtomicU64]>,
}

/// Per-method call and message counters, fixed in size when made (declared methods plus
/// `(unmatched)`, times the 17 codes). Give a clone to
/// [`VitalsBuilder::reporter`](vitals_axum::VitalsBuilder::reporter) and one to
/// [`GrpcLayer::new`](crate::GrpcLayer::new); cheap to clone.
#[derive(Debug, Clone)]
pub struct GrpcCalls(Arc<Inner>);

impl GrpcCalls {
    /// Counters for `methods`.
    #[must_use]
    pub fn new(methods: Methods) -> Self {
        let rows = methods.len() + 1;
        Self(Arc::new(Inner {
            codes: (0..rows).map(|_| Default::default()).collect(),
            messages: (0..rows).map(|_| AtomicU64::new(0)).collect(),
            methods,
        }))
    }

    /// The declared methods.
    #[must_use]
    pub fn methods(&self) -> &Methods {
        &self.0.methods
    }

    fn row(&self, method: Option<usize>) -> usize {
        method.unwrap_or(self.0.methods.len())
    }

    /// Counts a finished call.
    pub(crate) fn count(&self, method: Option<usize>, code: u8, messages: u64) {
        let row = self.row(method);
        self.0.codes[row][usize::from(code).min(GRPC_CODES - 1)].fetch_add(1, Relaxed);
        self.0.messages[row].fetch_add(messages, Relaxed);
    }

    /// Calls to `method` (`None`: unmatched) that ended with `code`.
    #[must_use]
    pub fn calls(&self, method: Option<usize>, code: u8) -> u64 {
        self.0.codes[self.row(method)][usize::from(code).min(GRPC_CODES - 1)].load(Relaxed)
    }

    fn names(&self, row: usize) -> (&str, &str, &str) {
        self.0
            .methods
            .get(row)
            .unwrap_or((vitals::UNMATCHED, vitals::UNMATCHED, vitals::UNMATCHED))
    }
}

impl Reporter for GrpcCalls {
    fn name(&self) -> &str {
        "grpc"
    }

    fn metric_families(&self) -> Vec<MetricFamily> {
        let mut calls = MetricFamily::counter(
            "vitals_grpc_server_calls",
            "gRPC calls finished, by method and gRPC status code.",
        );
        let mut messages = MetricFamily::counter(
            "vitals_grpc_server_messages_sent",
            "gRPC messages sent in responses, by method.",
        );
        for (row, codes) in self.0.codes.iter().enumerate() {
            let (path, service, method) = self.names(row);
            let labels = |code: Option<usize>| {
                let mut l = vec![
                    ("rpc_system", "grpc".to_owned()),
                    ("rpc_service", service.to_owned()),
                    ("rpc_method", method.to_owned()),
                    ("route", path.to_owned()),
                ];
                if let Some(code) = code {
                    l.push(("rpc_grpc_status_code", code_label(code).to_owned()));
                }
                l
            };
            let mut any = false;
            for (code, n) in codes.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    any = true;
                    calls.push(labels(Some(code)), n as f64);
                }
            }
            if any {
                messages.push(labels(None), self.0.messages[row].load(Relaxed) as f64);
            }
        }
        vec![calls, messages]
    }

    fn debug_json(&self) -> serde_json::Value {
        serde_json::json!({ "declaredMethods": self.0.methods.len() })
    }
}
