//! What a [`Monitor`] holds: the route and organization maps with their series, the ring, and
//! the in-flight counters. Recording and reading live in sibling modules.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::race::OnceBox;

use crate::method::Method;
use crate::monitor::config::MonitorConfig;
use crate::monitor::sample::{OVERFLOW, UNMATCHED};
use crate::monitor::tenants::{Mark, OTHER, Selection};
use crate::monitor::views::RouteResources;
use crate::monitor::window::{STATUS_CLASSES, status_class};
use crate::ring::Ring;
use crate::series::Series;

pub(super) struct RouteEntry {
    pub(super) id: u32,
    pub(super) name: Arc<str>,
    pub(super) series: [[OnceBox<Series>; STATUS_CLASSES]; Method::ALL.len()],
    pub(super) resources: [OnceBox<ResourceTotals>; Method::ALL.len()],
}

/// Since-start sums of one route and method: CPU, allocation and polls over the measured
/// requests; the longest poll and the blocking count over every request whose polls were timed.
///
/// Cache-line aligned: every request with a long poll reads `longest_poll_ns`, and a box
/// allocated next to a series' counters shared a line with words other threads write on every
/// request (two threads recording took 2.5 times as long).
#[derive(Debug, Default)]
#[repr(align(64))]
pub(super) struct ResourceTotals {
    pub(super) measured: AtomicU64,
    /// Measured requests whose allocations were known (an allocator that counts per thread).
    pub(super) allocations_known: AtomicU64,
    pub(super) cpu_ns: AtomicU64,
    pub(super) allocated_bytes: AtomicU64,
    pub(super) freed_bytes: AtomicU64,
    pub(super) polls: AtomicU64,
    pub(super) longest_poll_ns: AtomicU64,
    pub(super) high_cpu: AtomicU64,
    pub(super) high_memory: AtomicU64,
    pub(super) blocked: AtomicU64,
    /// Requests whose polls were timed, and the sum of their busy times.
    pub(super) timed: AtomicU64,
    pub(super) busy_ns: AtomicU64,
}

impl ResourceTotals {
    pub(super) fn snapshot(&self) -> RouteResources {
        let n = self.measured.load(Relaxed);
        let per = |v: u64| (n > 0).then(|| v as f64 / n as f64);
        let known = self.allocations_known.load(Relaxed);
        let per_known = |v: u64| (known > 0).then(|| v as f64 / known as f64);
        let cpu_ns = self.cpu_ns.load(Relaxed);
        RouteResources {
            measured: n,
            cpu_ms_per_request: per(cpu_ns).map(|ns| ns / 1e6),
            cpu_ms_total: cpu_ns as f64 / 1e6,
            allocated_bytes_per_request: per_known(self.allocated_bytes.load(Relaxed)),
            freed_bytes_per_request: per_known(self.freed_bytes.load(Relaxed)),
            polls_per_request: per(self.polls.load(Relaxed)),
            longest_poll_ms: self.longest_poll_ns.load(Relaxed) as f64 / 1e6,
            high_cpu: self.high_cpu.load(Relaxed),
            high_memory: self.high_memory.load(Relaxed),
            blocked_runtime: self.blocked.load(Relaxed),
            timed: self.timed.load(Relaxed),
            busy_ms_total: self.busy_ns.load(Relaxed) as f64 / 1e6,
            busy_ms_per_request: {
                let timed = self.timed.load(Relaxed);
                (timed > 0).then(|| self.busy_ns.load(Relaxed) as f64 / 1e6 / timed as f64)
            },
        }
    }
}

impl RouteEntry {
    pub(super) fn new(id: u32, name: &str) -> Self {
        Self {
            id,
            name: Arc::from(name),
            series: std::array::from_fn(|_| std::array::from_fn(|_| OnceBox::new())),
            resources: std::array::from_fn(|_| OnceBox::new()),
        }
    }

    #[inline]
    pub(super) fn series(&self, method: Method, status: u16) -> &Series {
        self.series[method.index()][status_class(status)].get_or_init(Box::default)
    }

    pub(super) fn each_series(&self) -> impl Iterator<Item = (Method, usize, &Series)> {
        self.series.iter().enumerate().flat_map(|(m, classes)| {
            classes
                .iter()
                .enumerate()
                .filter_map(move |(c, s)| s.get().map(|s| (Method::from_index(m), c, s)))
        })
    }
}

pub(super) struct OrgEntry {
    pub(super) name: Arc<str>,
    pub(super) series: Series,
    /// Whether `/metrics` names the tenant (set by the choice of named tenants).
    pub(super) named: AtomicBool,
    /// What the last choice saw (only the choice and `/metrics` lock it).
    pub(super) mark: Mutex<Mark>,
}

impl OrgEntry {
    pub(super) fn new(name: Arc<str>, histograms: bool, named: bool) -> Self {
        Self {
            name,
            series: Series::default(),
            named: AtomicBool::new(named),
            mark: Mutex::new(Mark::new(histograms, Instant::now())),
        }
    }
}

/// foldhash rather than the standard SipHash: route and tenant lookups happen on every request,
/// and SipHash was a quarter of the recording cost. Seeds stay random per map.
pub(super) type Hasher = foldhash::fast::RandomState;

pub(super) struct Inner {
    /// Unique per monitor in the process ([`ROUTE_CACHE`]).
    pub(super) id: u64,
    pub(super) config: MonitorConfig,
    pub(super) start: Instant,
    pub(super) start_unix: SystemTime,
    pub(super) start_unix_ns: u64,
    /// A tenth of the blocking threshold: polls this long or longer count in the per-route
    /// poll totals (divided once here rather than on every request).
    pub(super) long_poll: Duration,
    pub(super) routes: papaya::HashMap<Box<str>, Arc<RouteEntry>, Hasher>,
    pub(super) route_slots: AtomicUsize,
    pub(super) unmatched: Arc<RouteEntry>,
    pub(super) overflow_route: Arc<RouteEntry>,
    /// Keyed by the entry's own name (one allocation of the id, not two).
    pub(super) orgs: papaya::HashMap<Arc<str>, Arc<OrgEntry>, Hasher>,
    pub(super) org_slots: AtomicUsize,
    pub(super) overflow_org: Arc<OrgEntry>,
    /// Tenants `/metrics` names now (a new tenant is named at once while there is room).
    pub(super) named_slots: AtomicUsize,
    /// The choice of the tenants `/metrics` names.
    pub(super) selection: Mutex<Selection>,
    /// [`OTHER`], shared.
    pub(super) other_name: Arc<str>,
    pub(super) ring: Ring,
    pub(super) in_flight: [Padded; STRIPES],
}

/// The request monitor.
///
/// [`Monitor`] is a cheap handle (`Arc` inside) shared by the middleware that records and the
/// endpoints that read. Recording ([`Monitor::record`]) finds the route in a per-thread cache
/// (else in a lock-free `papaya` map) and the organization in another map, records the request
/// into the series of its route, method and status class and into its organization's series
/// (what one series touches per request: see [`Series`](crate::Series)), and writes it into the
/// [ring](crate::Ring). It takes no lock and, once a route, method and status class have been
/// seen, allocates nothing.
///
/// # Bounded by construction
///
/// - Routes are route templates. At most [`MonitorConfig::max_routes`] distinct templates get
///   their own series; later ones fold into [`OVERFLOW`]. Requests that matched no route fold
///   into [`UNMATCHED`], whatever their path.
/// - Organizations: at most [`MonitorConfig::max_organizations`] get their own series, later
///   ones fold into [`OVERFLOW`]. Only a trusted source creates one ([`TenantSource`](crate::TenantSource): what
///   the application vouches for, or a route's path parameter when the answer is not a client
///   error, or a tenant the application knows), so a scan of made-up tenant ids lands in the
///   overflow series; nor does an id that is not 1 to 64 bytes of `A-Z a-z 0-9 . _ - : @ ~`.
///   A tenant idle for [`MonitorConfig::tenant_idle`] loses its series.
/// - `/metrics` names at most [`MonitorConfig::top_tenants`] tenants, the busiest of the last
///   [`MonitorConfig::tenant_interval`], and folds the rest into [`OTHER`]
///   ([`Monitor::tenant_counts`]).
/// - The ring has a fixed number of slots.
///
/// The memory of a series is described in [`Series`](crate::Series); [`Monitor::memory`] reports what
/// the monitor holds ([`MemoryReport`](crate::MemoryReport)).
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// use vitals::{Method, Monitor, MonitorConfig, RequestSample, RouteKey, Window};
///
/// let monitor = Monitor::new(MonitorConfig::default());
/// monitor.record(&RequestSample {
///     method: Method::Get,
///     route: RouteKey::Template("/api/orgs/{orgId}/properties"),
///     status: 200,
///     start: Instant::now(),
///     duration: Duration::from_millis(12),
///     organization: Some("acme"),
///     ..RequestSample::default()
/// });
/// let overall = monitor.overall(Window::SinceStart);
/// assert_eq!(overall.count, 1);
/// assert_eq!(monitor.organization_stats("acme").unwrap().since_start.count, 1);
/// ```
#[derive(Clone)]
pub struct Monitor {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("config", &self.inner.config)
            .field("routes", &self.inner.routes.len())
            .field("organizations", &self.inner.orgs.len())
            .finish()
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new(MonitorConfig::default())
    }
}

pub(super) const STRIPES: usize = 8;

/// A counter on its own cache lines (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct Padded(pub(super) std::sync::atomic::AtomicI64);

/// Gives each monitor an id for [`ROUTE_CACHE`] (an address could be reused by a later one).
static NEXT_MONITOR_ID: AtomicU64 = AtomicU64::new(1);

impl Monitor {
    /// A monitor with the given settings. Allocates the ring now; everything else on demand.
    #[must_use]
    pub fn new(config: MonitorConfig) -> Self {
        let ring = Ring::new(config.ring_capacity);
        let start = Instant::now();
        Self {
            inner: Arc::new(Inner {
                long_poll: config.blocking_poll_threshold / 10,
                id: NEXT_MONITOR_ID.fetch_add(1, Relaxed),
                start,
                start_unix: SystemTime::now(),
                start_unix_ns: UNIX_EPOCH
                    .elapsed()
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0)),
                routes: papaya::HashMap::with_hasher(Hasher::default()),
                route_slots: AtomicUsize::new(0),
                unmatched: Arc::new(RouteEntry::new(0, UNMATCHED)),
                overflow_route: Arc::new(RouteEntry::new(1, OVERFLOW)),
                orgs: papaya::HashMap::with_hasher(Hasher::default()),
                org_slots: AtomicUsize::new(0),
                overflow_org: Arc::new(OrgEntry::new(Arc::from(OVERFLOW), false, false)),
                named_slots: AtomicUsize::new(0),
                // The first interval starts now.
                selection: Mutex::new(Selection {
                    last: Some(start),
                    ..Selection::default()
                }),
                other_name: Arc::from(OTHER),
                ring,
                in_flight: Default::default(),
                config,
            }),
        }
    }

    /// True when both handles are the same monitor (clones of one another).
    ///
    /// ```
    /// use vitals::Monitor;
    ///
    /// let a = Monitor::default();
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&Monitor::default()));
    /// ```
    #[must_use]
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &MonitorConfig {
        &self.inner.config
    }

    /// When the monitor started.
    #[must_use]
    pub fn started_at(&self) -> SystemTime {
        self.inner.start_unix
    }

    /// Time since the monitor started.
    #[must_use]
    pub fn uptime(&self) -> Duration {
        self.inner.start.elapsed()
    }

    pub(super) fn minute_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.inner.start).as_secs() / 60
    }

    pub(super) fn all_routes(&self) -> Vec<Arc<RouteEntry>> {
        let routes = self.inner.routes.pin();
        let mut all: Vec<_> = routes.values().cloned().collect();
        all.push(Arc::clone(&self.inner.unmatched));
        all.push(Arc::clone(&self.inner.overflow_route));
        all.sort_by_key(|e| e.id);
        all
    }

    pub(super) fn now_minute(&self) -> u64 {
        self.minute_of(Instant::now())
    }
}
