//! Tenant attribution: a metric emitted while a tenant is current carries it as a label, within
//! the tenant cap (later tenants are `(other)`), and only for the metrics in scope.

use std::cell::RefCell;

use vitals_metrics::{Config, Registry, TENANT_OTHER, TenantScope};

thread_local! {
    /// Stands in for the axum layer's current request.
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn as_tenant<T>(tenant: Option<&str>, f: impl FnOnce() -> T) -> T {
    CURRENT.with(|c| *c.borrow_mut() = tenant.map(str::to_owned));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = None);
    out
}

fn registry(scope: TenantScope) -> Registry {
    Registry::new(
        Config::default()
            .tenant_hook(|| CURRENT.with(|c| c.borrow().clone()))
            .tenant_scope(scope)
            .max_tenants(2),
    )
}

#[test]
fn tenants_are_labelled_up_to_the_cap_then_other() {
    let registry = registry(TenantScope::Names(vec!["properties_created".into()]));
    metrics::with_local_recorder(&registry, || {
        for tenant in ["acme", "globex", "acme", "initech", "umbrella"] {
            as_tenant(Some(tenant), || {
                metrics::counter!("properties_created").increment(1);
                metrics::counter!("untenanted").increment(1);
            });
        }
        as_tenant(None, || {
            metrics::counter!("properties_created").increment(1);
        });
    });
    let text = registry.render_text();
    assert!(
        text.contains("properties_created_total{tenant=\"acme\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("properties_created_total{tenant=\"globex\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "properties_created_total{{tenant=\"{TENANT_OTHER}\"}} 2\n"
    )));
    assert!(
        text.contains("properties_created_total 1\n"),
        "no tenant: no label\n{text}"
    );
    assert!(
        text.contains("untenanted_total 5\n"),
        "out of scope: no label\n{text}"
    );
    assert!(!text.contains("initech"));
    let snapshot = registry.snapshot();
    assert!(
        snapshot
            .families
            .iter()
            .any(|f| f.name == "properties_created" && f.tenant)
    );
}

#[test]
fn a_handle_keeps_the_tenant_current_at_registration() {
    let registry = registry(TenantScope::All);
    let handle = metrics::with_local_recorder(&registry, || {
        as_tenant(Some("acme"), || metrics::gauge!("pool_waiters"))
    });
    as_tenant(Some("globex"), || handle.set(4.0));
    assert!(
        registry
            .render_text()
            .contains("pool_waiters{tenant=\"acme\"} 4\n")
    );
}

#[test]
fn attribution_is_off_by_default() {
    let registry = Registry::new(Config::default().tenant_hook(|| Some("acme")));
    metrics::with_local_recorder(&registry, || metrics::counter!("orders").increment(1));
    assert!(registry.render_text().contains("orders_total 1\n"));
}
