//! What an integration hands to [`Monitor::record`](crate::Monitor::record)(super::Monitor::record): one finished
//! request ([`RequestSample`]), how it names its route ([`RouteKey`]), and what its polls
//! consumed ([`Resources`], [`Polls`]).

use std::time::{Duration, Instant};

use crate::method::Method;
use crate::monitor::tenants::TenantSource;

/// Route label of requests that matched no route.
pub const UNMATCHED: &str = "(unmatched)";
/// Label of the series that collects routes or organizations beyond the cap.
pub const OVERFLOW: &str = "(overflow)";

/// How a request names its route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RouteKey<'a> {
    /// A route template from the router (`/api/orgs/{orgId}`): used as is.
    Template(&'a str),
    /// A raw path from a framework without templates: folded by
    /// [`normalize_path`](crate::normalize::normalize_path) first.
    Path(&'a str),
    /// No route matched (a 404 from the router's fallback).
    #[default]
    Unmatched,
}

/// One finished request, as the middleware hands it to [`Monitor::record`](crate::Monitor::record).
#[derive(Debug, Clone, Copy)]
pub struct RequestSample<'a> {
    /// Request method.
    pub method: Method,
    /// Route template, raw path, or unmatched.
    pub route: RouteKey<'a>,
    /// Response status (499 when the client went away first).
    pub status: u16,
    /// When the request arrived (monotonic clock).
    pub start: Instant,
    /// From arrival to the end (or drop) of the response body.
    pub duration: Duration,
    /// Tenant, if known.
    pub organization: Option<&'a str>,
    /// Where the tenant came from: whether it may create a tenant series (default
    /// [`TenantSource::Observed`]).
    pub tenant_source: TenantSource,
    /// Correlation id (empty: none).
    pub correlation_id: &'a str,
    /// W3C trace id, if the request carried one.
    pub trace_id: Option<[u8; 16]>,
    /// The client went away before the response ended.
    pub aborted: bool,
    /// The handler panicked.
    pub panicked: bool,
    /// What the request's polls consumed, when measured (sampled; see [`Resources`]).
    pub resources: Option<Resources>,
    /// How many times the request's future and body were polled and the longest poll, when the
    /// integration timed them (the axum layer does for every request).
    pub polls: Option<Polls>,
}

/// What a request's polls consumed: CPU time read from the thread's CPU clock around each poll
/// of the request's future and of its response body, and bytes allocated and freed on the
/// thread during those polls. Reading the CPU clock is a system call, so integrations measure
/// one request in N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU time of the polls.
    pub cpu: Duration,
    /// Bytes allocated during the polls (`None`: no allocator that reports per thread).
    pub allocated_bytes: Option<u64>,
    /// Bytes freed during the polls.
    pub freed_bytes: Option<u64>,
}

/// How a request was polled: its future and its response body, each poll timed on the
/// monotonic clock. A poll longer than [`MonitorConfig::blocking_poll_threshold`](crate::MonitorConfig::blocking_poll_threshold) held its
/// worker thread that long, blocking the other tasks queued on it.
///
/// ```
/// use std::time::Duration;
/// let polls = vitals::Polls {
///     count: 2,
///     longest: Duration::from_millis(3),
///     busy: Duration::from_millis(4),
/// };
/// assert_eq!(polls.count, 2);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polls {
    /// Number of polls.
    pub count: u32,
    /// The longest single poll (wall time).
    pub longest: Duration,
    /// Busy time: the sum of the polls' lengths (wall time on the monotonic clock). Every poll
    /// is timed, so every request has it, where CPU time is read for one request in N. It
    /// includes time the thread was descheduled or waiting inside a poll (a blocking call, a
    /// page fault, another process on the core), so it is an upper bound on the CPU time the
    /// polls used: equal when the thread ran throughout, larger when it did not.
    pub busy: Duration,
}

impl Default for RequestSample<'_> {
    fn default() -> Self {
        Self {
            method: Method::Get,
            route: RouteKey::Unmatched,
            status: 200,
            start: Instant::now(),
            duration: Duration::ZERO,
            organization: None,
            tenant_source: TenantSource::Observed,
            correlation_id: "",
            trace_id: None,
            aborted: false,
            panicked: false,
            resources: None,
            polls: None,
        }
    }
}

/// True for ids that may name an organization series.
#[must_use]
pub fn is_valid_organization_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@' | b'~')
        })
}
