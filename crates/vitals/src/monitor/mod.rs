//! The request monitor: where every request is recorded and every report is read.
//!
//! [`Monitor`] is a cheap handle (`Arc` inside) shared by the middleware that records and the
//! endpoints that read. Recording ([`Monitor::record`]) finds the route in a per-thread cache
//! (else in a lock-free `papaya` map) and the organization in another map, records the request
//! into the series of its route, method and status class and into its organization's series
//! (what one series touches per request: see [`crate::series`]), and writes it into the
//! [ring](crate::ring). It takes no lock and, once a route, method and status class have been
//! seen, allocates nothing.
//!
//! # Bounded by construction
//!
//! - Routes are route templates. At most [`MonitorConfig::max_routes`] distinct templates get
//!   their own series; later ones fold into [`OVERFLOW`]. Requests that matched no route fold
//!   into [`UNMATCHED`], whatever their path.
//! - Organizations: at most [`MonitorConfig::max_organizations`] get their own series, later
//!   ones fold into [`OVERFLOW`]. Only a trusted source creates one ([`TenantSource`]: what
//!   the application vouches for, or a route's path parameter when the answer is not a client
//!   error, or a tenant the application knows), so a scan of made-up tenant ids lands in the
//!   overflow series; nor does an id that is not 1 to 64 bytes of `A-Z a-z 0-9 . _ - : @ ~`.
//!   A tenant idle for [`MonitorConfig::tenant_idle`] loses its series.
//! - `/metrics` names at most [`MonitorConfig::top_tenants`] tenants, the busiest of the last
//!   [`MonitorConfig::tenant_interval`], and folds the rest into [`OTHER`]
//!   ([`Monitor::tenant_counts`]).
//! - The ring has a fixed number of slots.
//!
//! The memory of a series is described in [`crate::series`]; [`Monitor::memory`] reports what
//! the monitor holds ([`MemoryReport`]).
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey, Window};
//!
//! let monitor = Monitor::new(MonitorConfig::default());
//! monitor.record(&RequestSample {
//!     method: Method::Get,
//!     route: RouteKey::Template("/api/orgs/{orgId}/properties"),
//!     status: 200,
//!     start: Instant::now(),
//!     duration: Duration::from_millis(12),
//!     organization: Some("acme"),
//!     ..RequestSample::default()
//! });
//! let overall = monitor.overall(Window::SinceStart);
//! assert_eq!(overall.count, 1);
//! assert_eq!(monitor.organization_stats("acme").unwrap().since_start.count, 1);
//! ```

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
