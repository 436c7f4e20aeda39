//! Where a request's tenant comes from, and how far the monitor trusts it (see
//! [`vitals::TenantSource`]):
//!
//! - vouched for by the application: an [`Organization`] in the request's extensions (put
//!   there by a layer outside the monitor), set from inside the request with
//!   [`Organization::set_current`] (an auth middleware inside the monitor, a handler), or in
//!   the response's extensions; or the `x-organization-id` header when the layer trusts it
//!   ([`MonitorLayer::trust_organization_header`](crate::MonitorLayer::trust_organization_header));
//! - observed: the route's `{orgId}`/`{organizationId}` path parameter, which creates a series
//!   only for an answer that is not a client error (or a tenant the application knows:
//!   [`vitals::MonitorConfig::is_known_tenant`]).
//!
//! Only vitals decides what the tenant label of a figure is: [`current_tenant_label`] reads the
//! monitor's choice ([`vitals::Monitor::tenant_label`]) for the application's own metrics.

use http::Request;
use vitals::{InlineStr, TenantSource};

use super::current::with_current_pending;
use crate::context::Organization;

/// The request's tenant and its source, from what the headers and path gave (`found`, from the
/// trusted header when `from_header`) and an [`Organization`] in the request's extensions,
/// which comes first.
pub(super) fn resolve<B>(
    req: &Request<B>,
    found: Option<InlineStr>,
    from_header: bool,
) -> (InlineStr, TenantSource) {
    // One lookup in the request's extensions map (a type-id hash, no allocation): what an
    // outer authentication layer knows is worth more than anything the request says.
    if let Some(org) = req.extensions().get::<Organization>() {
        return (InlineStr::new(org.as_str()), TenantSource::Vouched);
    }
    match found {
        Some(id) if from_header => (id, TenantSource::Vouched),
        Some(id) => (id, TenantSource::Observed),
        None => (InlineStr::default(), TenantSource::Observed),
    }
}

impl Organization {
    /// Tells the monitor, from inside the request, which tenant it serves: an auth middleware
    /// inside [`MonitorLayer`](crate::MonitorLayer), or a handler, once it knows. The tenant
    /// counts as vouched for (it gets a series from its first request, even one answered
    /// 404), and [`RequestContext::organization`](crate::RequestContext::organization) returns
    /// it from then on. An id that is not valid ([`vitals::is_valid_organization_id`]) is
    /// ignored. Returns whether a monitored request was being handled on this task.
    ///
    /// ```
    /// use vitals_axum::Organization;
    ///
    /// // Outside a request there is nothing to tell.
    /// assert!(!Organization::new("acme").set_current());
    /// ```
    #[must_use = "false: no monitored request is being handled on this task"]
    pub fn set_current(&self) -> bool {
        let id = self.as_str();
        if !vitals::is_valid_organization_id(id) {
            return with_current_pending(|_| ()).is_some();
        }
        with_current_pending(|p| {
            p.context.organization = Some(InlineStr::new(id));
            p.tenant_source = TenantSource::Vouched;
        })
        .is_some()
    }
}

/// The tenant label the application's own metrics get for the request being polled on this
/// thread: the monitor's decision for its tenant ([`vitals::Monitor::tenant_label_for`]: its
/// id while `/metrics` names it, else `(other)`); `None` outside a request or without a
/// tenant.
#[cfg(feature = "custom-metrics")]
pub(crate) fn current_tenant_label() -> Option<std::sync::Arc<str>> {
    with_current_pending(|p| {
        let id = p.context.organization.as_ref()?;
        Some(p.monitor.tenant_label_for(id.as_str(), p.tenant_source))
    })
    .flatten()
}
