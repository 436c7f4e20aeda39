//! The request whose future this thread is polling, and its readers: [`RequestId::current`],
//! [`RequestContext::current`] and the [`RequestId`] extractor.

use std::cell::RefCell;

use super::record::{Pending, Recorder};
use crate::context::{RequestContext, RequestId, TraceContext};
use crate::problem::Problem;

thread_local! {
    /// The record of the request whose future this thread is polling (see [`Scope`]).
    static CURRENT: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Runs `f` on the context of the request being polled on this thread, if any.
fn with_current<R>(f: impl FnOnce(&RequestContext, bool) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            let current = current.try_borrow().ok()?;
            let pending = current.as_ref()?.pending()?;
            Some(f(&pending.context, pending.expose_id))
        })
        .ok()
        .flatten()
}

/// True while a request's future is polled on this thread.
#[cfg(feature = "log-fields")]
pub(crate) fn has_current() -> bool {
    with_current(|_, _| ()).is_some()
}

/// Runs `f` on the pending record of the request being polled on this thread, if any.
pub(super) fn with_current_pending<R>(f: impl FnOnce(&mut Pending) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            let mut current = current.try_borrow_mut().ok()?;
            let pending = current.as_mut()?.pending_mut()?;
            Some(f(pending))
        })
        .ok()
        .flatten()
}

/// As [`with_current`], after giving the request its trace if trace context is on and it has
/// none yet: whoever reads the whole context may use the trace id, so it is made now (and
/// then recorded with the request).
pub(crate) fn with_current_traced<R>(f: impl FnOnce(&RequestContext, bool) -> R) -> Option<R> {
    with_current_pending(|pending| {
        if pending.trace_on_demand && pending.context.trace.is_none() {
            pending.context.trace = Some(TraceContext::generate());
        }
        f(&pending.context, pending.expose_id)
    })
}

/// While a request's future is polled, its record is the thread's [`CURRENT`] one, so that
/// handlers and the code they call can read the request's context; dropping the scope puts
/// the record back (also when the poll panics). Written by hand rather than with tokio's
/// `task_local!`: that keeps the value inside its future, out of the layer's reach between
/// polls, and swaps the whole value in and out on every poll, where this swaps a pointer.
pub(super) struct Scope<'a> {
    slot: &'a mut Option<Recorder>,
    previous: Option<Option<Recorder>>,
}

impl<'a> Scope<'a> {
    pub(super) fn enter(slot: &'a mut Option<Recorder>) -> Self {
        let mut previous = None;
        if slot.is_some() {
            let _ = CURRENT.try_with(|current| {
                if let Ok(mut current) = current.try_borrow_mut() {
                    previous = Some(std::mem::replace(&mut *current, slot.take()));
                }
            });
        }
        Self { slot, previous }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        let Some(previous) = self.previous.take() else {
            return;
        };
        let _ = CURRENT.try_with(|current| {
            if let Ok(mut current) = current.try_borrow_mut() {
                *self.slot = std::mem::replace(&mut *current, previous);
            }
        });
    }
}

impl RequestId {
    /// The id of the request being handled on this task, if a [`MonitorLayer`] is polling it.
    ///
    /// [`MonitorLayer`]: crate::MonitorLayer
    #[must_use]
    pub fn current() -> Option<Self> {
        with_current(|c, expose_id| c.request_id.filter(|_| expose_id)).flatten()
    }
}

impl RequestContext {
    /// The context of the request being handled on this task. With trace context on, a
    /// request that has no trace yet gets one now (see
    /// [`MonitorLayer::trace_context`](crate::MonitorLayer::trace_context)).
    #[must_use]
    pub fn current() -> Option<Self> {
        with_current_traced(|c, expose_id| Self {
            request_id: c.request_id.filter(|_| expose_id),
            ..c.clone()
        })
    }
}

/// The extractor fails with 500 only when no monitor layer runs (a wiring error, not a client
/// one).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = Problem;

    async fn from_request_parts(
        _: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Self::current().ok_or_else(|| {
            Problem::new(http::StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail("no request id: MonitorLayer (with request ids on) is not installed")
        })
    }
}
