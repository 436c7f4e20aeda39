//! The request monitor middleware: [`MonitorLayer`] (settings), [`MonitorService`] (reads the
//! request, opens its record), [`ResponseFuture`] and [`ResponseBody`] (time the polls and
//! record the request once it ends). `record` holds the pending record and its pool of reused
//! boxes; `current` the thread's current record and the readers application code calls;
//! `hooks` the request span's hooks for a trace exporter; `tenant` where a request's tenant
//! comes from and how much it is trusted.

mod body;
mod current;
mod future;
mod hooks;
mod layer;
mod record;
mod service;
mod tenant;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use hooks::{RequestSpanHooks, RequestSpanStart, install_request_span_hooks};
pub use layer::{DEFAULT_BUFFERED_BODY_LIMIT, DEFAULT_RESOURCES_EVERY, MonitorLayer};
pub use service::MonitorService;
#[cfg(feature = "custom-metrics")]
pub(crate) use tenant::current_tenant_label;
