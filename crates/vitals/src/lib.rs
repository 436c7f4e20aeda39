//! # vitals
//!
//! The framework-agnostic core of vitals: built-in performance monitoring for web services.
//! It records requests ([`Monitor`]), keeps latency percentiles per route and per
//! organization in time windows ([`series`], [`histogram`]), a ring of recent requests
//! ([`ring`]) and a path normalizer ([`normalize`]) for frameworks without route templates.
//!
//! **Architecture invariant:** this crate knows no HTTP framework, server or database; the
//! axum integration lives in `vitals-axum`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vitals::{Method, Monitor, RequestSample, Resources, RouteResources, RouteKey, Window};
//!
//! let monitor = Monitor::default();
//! monitor.record(&RequestSample {
//!     method: Method::Post,
//!     route: RouteKey::Path("/orders/12345"),
//!     status: 201,
//!     start: Instant::now(),
//!     duration: Duration::from_micros(850),
//!     ..RequestSample::default()
//! });
//! let routes = monitor.route_stats(Window::SinceStart);
//! assert_eq!(&*routes[0].route, "/orders/{id}");
//! ```

pub mod advice;
pub mod alerts;
pub mod alloc;
pub mod expose;
pub mod health;
pub mod heap;
pub mod histogram;
pub mod memory;
pub mod method;
pub mod monitor;
pub mod normalize;
pub mod process;
pub mod ring;
pub mod series;
pub mod system;
pub mod trend;

pub use method::Method;
pub use monitor::{
    MemoryReport, Monitor, MonitorConfig, OVERFLOW, OrganizationStats, Polls, RequestRecord,
    RequestSample, Resources, RouteKey, RouteResources, RouteStats, SeriesSnapshot, StatusCounts,
    UNMATCHED, Window, WindowStats,
};
