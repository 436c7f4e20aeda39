//! History that survives restarts, and performance budgets, for vitals.
//!
//! - [`Store`]: an SQLite file (WAL) holding, per minute, every request series (service,
//!   route and method, tenant) as count, errors, sum, max and sparse latency buckets, the
//!   system figures and alert transitions; tiered like Netdata's and Uptime Kuma's (minute
//!   points 7 days, hour points 90 days, day points 2 years, see [`Retention`]), bounded in
//!   size ([`StoreConfig::max_bytes`]). Percentiles of any span are read from merged buckets.
//! - [`budget`]: latency and availability budgets per route, evaluated from the store as error
//!   budgets and multiwindow burn rates (Google SRE workbook), configured in TOML, and written
//!   out as Prometheus recording and alerting rules in Sloth's shape.
//!
//! The store is written once a minute from a blocking thread, off the request path: the
//! caller builds a [`MinuteBatch`] from the monitor ([`Point::from_aggregate`],
//! [`SystemPoint::from`]) and hands it to [`Store::write_minute`].
//!
//! # Example
//!
//! ```
//! use vitals::AtomicHistogram;
//! use vitals_store::{Buckets, MinuteBatch, Point, SeriesKey, Step, Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("history.db"), StoreConfig::default()).unwrap();
//! let h = AtomicHistogram::new();
//! for ms in 1..=100u64 {
//!     h.record(ms * 1_000_000);
//! }
//! let minute = 28_000_020; // a unix minute starting an hour
//! for m in minute..minute + 60 {
//!     let point = Point {
//!         series: SeriesKey::route(vitals::Method::Get, "/users/{id}"),
//!         count: 100,
//!         errors_5xx: 0,
//!         errors: 0,
//!         sum_us: 5_050_000,
//!         max_us: 100_000,
//!         buckets: Buckets::from(&h.snapshot()),
//!     };
//!     store.write_minute(&MinuteBatch { minute: m, points: vec![point], ..Default::default() }).unwrap();
//! }
//! let key = SeriesKey::route(vitals::Method::Get, "/users/{id}");
//! let hour = store.query(&key, minute * 60, minute * 60, Step::Hour).unwrap();
//! assert_eq!(hour[0].count, 6_000);
//! let p99 = hour[0].p99.unwrap();
//! assert!((p99 - 99.0).abs() <= 0.99, "{p99}");
//! ```

pub mod budget;
mod codec;
mod error;
mod model;
mod store;

pub use codec::CodecError;
pub use error::{HistoryError, OpenError, QueryError, StoreError};
pub use model::{
    ActiveAlert, AlertTransition, Buckets, HistorySeries, MAX_NAME_BYTES, MinuteBatch, Point,
    SeriesKey, SeriesSyntaxError, SystemPoint, Transition,
};
pub use store::{
    GaugeStat, History, HistoryPoint, HistoryRequest, MAX_ACTIVE_ALERTS, MAX_ALERTS_PER_BATCH,
    MAX_POINTS, MAX_POINTS_PER_BATCH, Retention, Step, Store, StoreConfig, SystemHistoryPoint,
    WriteReport,
};
