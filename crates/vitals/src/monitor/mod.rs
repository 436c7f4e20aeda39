//! The request monitor: where every request is recorded and every report is read.

mod config;
mod minute;
mod read;
mod record;
mod route_cache;
mod sample;
mod state;
mod tenants;
mod top;
mod views;
mod window;

pub use config::MonitorConfig;
pub use minute::{MinuteReport, OrganizationMinute, RouteMinute};
pub use sample::{
    OVERFLOW, Polls, RequestSample, Resources, RouteKey, UNMATCHED, is_valid_organization_id,
};
pub use state::Monitor;
pub use tenants::{KnownTenants, OTHER, TenantSource};
pub use views::{
    MemoryReport, OrganizationStats, RequestRecord, RouteResources, RouteStats, SeriesSnapshot,
};
pub use window::{
    STATUS_CLASSES, StatusCounts, Window, WindowStats, status_class, status_class_label,
};
