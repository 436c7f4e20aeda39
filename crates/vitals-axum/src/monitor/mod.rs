//! The request monitor middleware: [`MonitorLayer`] (settings), [`MonitorService`] (reads the
//! request, opens its record), [`ResponseFuture`] and [`ResponseBody`] (time the polls and
//! record the request once it ends). `record` holds the pending record and its pool of reused
//! boxes; `current` the thread's current record and the readers application code calls;
//! `hooks` the request span's hooks for a trace exporter; `span` the request span (its level
//! and fields); `log` the event formatter that adds the current request's ids to log lines;
//! `tenant` where a request's tenant comes from and how much it is trusted.

mod body;
mod current;
mod future;
mod hooks;
mod layer;
#[cfg(feature = "log-fields")]
mod log;
mod record;
mod service;
mod span;
mod tenant;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use hooks::{RequestSpanHooks, RequestSpanStart, install_request_span_hooks};
pub use layer::{DEFAULT_BUFFERED_BODY_LIMIT, DEFAULT_RESOURCES_EVERY, MonitorLayer};
#[cfg(feature = "log-fields")]
pub use log::RequestFields;
pub use service::MonitorService;
pub use span::DEFAULT_SPAN_LEVEL;
#[cfg(feature = "custom-metrics")]
pub(crate) use tenant::current_tenant_label;
