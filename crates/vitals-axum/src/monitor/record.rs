//! The pending record of a request: what is recorded once it ends, kept in a reused box, and
//! the timing and resource probes of its polls.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use vitals::InlineStr;
use vitals::{Method, Monitor, RequestSample, RouteKey};

use crate::context::{Organization, RequestContext, RequestId};

/// Everything needed to record a request once it ends.
#[derive(Debug)]
pub(super) struct Pending {
    /// The monitor to record into. Kept when the box waits for reuse, so that the next request
    /// of the same monitor on this thread need not clone it: a clone and its drop are two
    /// atomic writes per request to a reference count every worker shares. A spare box thus
    /// keeps its last monitor alive (at most [`SPARE_BOXES`] per thread).
    pub(super) monitor: Monitor,
    /// True until the request is recorded.
    pub(super) armed: bool,
    /// Correlation id, trace, tenant, route and start: what handlers see, and what is recorded.
    pub(super) context: RequestContext,
    /// Whether handlers see the correlation id (the layer's `request_id` setting); it is
    /// recorded either way.
    pub(super) expose_id: bool,
    /// Whether the response carries `traceparent` (the request sent one).
    pub(super) echo_trace: bool,
    /// Whether trace context is on: a request that has no trace yet gets one when its context
    /// is asked for (see `current`).
    pub(super) trace_on_demand: bool,
    pub(super) method: Method,
    /// The raw path, kept only when there is no route template.
    pub(super) path: Option<Box<str>>,
    pub(super) profile: Option<Profile>,
    /// Polls of the request's future and body so far, the longest one, and when the current
    /// (or last) one began.
    pub(super) polls: u32,
    pub(super) longest_poll: Duration,
    /// The sum of the polls so far: the request's busy time.
    pub(super) busy: Duration,
    pub(super) poll_start: Tick,
    /// The request's start on the [`Tick`] clock (`context.start` is the same moment as an
    /// `Instant`, for what the record and handlers read).
    pub(super) start_tick: Tick,
    pub(super) status: u16,
    /// Where the tenant came from (see [`super::tenant`]).
    pub(super) tenant_source: vitals::TenantSource,
    pub(super) response_org: Option<Organization>,
    pub(super) response_started: bool,
}

impl Pending {
    /// A poll of the request's future or body begins. (Not the request's start for the first
    /// one: whatever runs between the call and the first poll, such as HTTP/2's spawning of
    /// the stream's task or a `Buffer` in front, is waiting, not polling.)
    fn poll_begins(&mut self) {
        self.poll_start = Tick::now();
    }

    /// The poll that began last ended at `now`.
    fn poll_ended(&mut self, now: Tick) {
        self.polls += 1;
        let poll = now.since(self.poll_start);
        self.longest_poll = self.longest_poll.max(poll);
        self.busy += poll;
    }

    /// Records the request, once, as ended at `end`.
    fn record(&mut self, aborted: bool, end: Tick) {
        if !std::mem::replace(&mut self.armed, false) {
            return;
        }
        let monitor = &self.monitor;
        monitor.request_finished();
        let panicked = !self.response_started && std::thread::panicking();
        let status = if panicked {
            500
        } else if aborted && !self.response_started {
            499
        } else {
            self.status
        };
        let context = &self.context;
        let route = match &context.route {
            Some(matched) => RouteKey::Template(matched.as_str()),
            // No path kept: the layer is inside a router, where no template means no route.
            None if status == 404 || self.path.is_none() => RouteKey::Unmatched,
            None => RouteKey::Path(self.path.as_deref().unwrap_or("/")),
        };
        let (organization, tenant_source) = match &self.response_org {
            Some(org) => (Some(org.as_str()), vitals::TenantSource::Vouched),
            None => (
                context.organization.as_ref().map(InlineStr::as_str),
                self.tenant_source,
            ),
        };
        monitor.record(&RequestSample {
            method: self.method,
            route,
            status,
            start: context.start,
            duration: end.since(self.start_tick),
            organization,
            tenant_source,
            correlation_id: context.request_id.as_ref().map_or("", RequestId::as_str),
            trace_id: context.trace.map(|t| t.trace_id),
            aborted,
            panicked,
            resources: self.profile.map(|p| vitals::Resources {
                cpu: p.cpu,
                allocated_bytes: p.alloc_known.then_some(p.allocated),
                freed_bytes: p.alloc_known.then_some(p.freed),
            }),
            polls: Some(vitals::Polls {
                count: self.polls,
                longest: self.longest_poll,
                busy: self.busy,
            }),
        });
    }
}

/// Boxes of [`Pending`] kept for reuse, per thread.
const SPARE_BOXES: usize = 64;

thread_local! {
    /// Emptied boxes for new requests: the pending record lives in a box so that the futures
    /// and responses tower and axum move around stay small (a 300-byte record inline was
    /// copied a dozen times per request), and the boxes are reused so that a request makes
    /// no allocation in the steady state. At most [`SPARE_BOXES`] per thread.
    #[allow(clippy::vec_box)] // the boxes themselves are what is kept for reuse
    static SPARE: RefCell<Vec<Box<Pending>>> = const { RefCell::new(Vec::new()) };

}

/// Owns a request's pending record; records it (as aborted) when dropped unrecorded, so a
/// request whose future or body is dropped is not lost.
#[derive(Debug)]
pub(super) struct Recorder(Option<Box<Pending>>);

impl Recorder {
    /// A record for a request that started at `start`, in a spare box if the thread has one.
    /// The caller fills in the request's fields in the box: built on the stack and moved in,
    /// the record was a 250-byte copy per request.
    pub(super) fn new(monitor: &Monitor, start: Instant, start_tick: Tick) -> Self {
        let spare = SPARE
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        let mut boxed = spare.unwrap_or_else(|| {
            Box::new(Pending {
                monitor: monitor.clone(),
                armed: false,
                context: RequestContext {
                    request_id: None,
                    trace: None,
                    organization: None,
                    route: None,
                    start,
                },
                expose_id: false,
                echo_trace: false,
                trace_on_demand: false,
                method: Method::Get,
                path: None,
                profile: None,
                polls: 0,
                longest_poll: Duration::ZERO,
                busy: Duration::ZERO,
                poll_start: start_tick,
                start_tick,
                status: 0,
                tenant_source: vitals::TenantSource::Observed,
                response_org: None,
                response_started: false,
            })
        });
        // The box's monitor stays when it is this one. `finish_in_place` cleared what a record
        // shares (route, path, tenant); the caller sets the request's own fields.
        if !boxed.monitor.ptr_eq(monitor) {
            boxed.monitor = monitor.clone();
        }
        boxed.armed = true;
        boxed.context.start = start;
        boxed.polls = 0;
        boxed.longest_poll = Duration::ZERO;
        boxed.busy = Duration::ZERO;
        boxed.poll_start = start_tick;
        boxed.start_tick = start_tick;
        boxed.status = 0;
        boxed.response_started = false;
        Self(Some(boxed))
    }

    pub(super) fn pending(&self) -> Option<&Pending> {
        self.0.as_deref()
    }

    pub(super) fn pending_mut(&mut self) -> Option<&mut Pending> {
        self.0.as_deref_mut()
    }

    /// Records the request as ended at `end`.
    pub(super) fn finish(mut self, aborted: bool, end: Tick) {
        self.finish_in_place(aborted, end);
    }

    fn finish_in_place(&mut self, aborted: bool, end: Tick) {
        let Some(mut boxed) = self.0.take() else {
            return;
        };
        boxed.record(aborted, end);
        // Let go of what the record shares before the box waits for reuse.
        boxed.context.route = None;
        boxed.path = None;
        boxed.response_org = None;
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < SPARE_BOXES {
                    spare.push(boxed);
                }
            }
        });
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Dropped before the end: the client went away, or the handler panicked.
        if self.0.is_some() {
            self.finish_in_place(true, Tick::now());
        }
    }
}

/// What a measured request's polls consumed so far.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Profile {
    cpu: Duration,
    allocated: u64,
    freed: u64,
    alloc_known: bool,
}

/// Readings taken just before a poll of a measured request.
struct PollProbe {
    cpu: Option<Duration>,
    alloc: Option<(u64, u64)>,
}

impl PollProbe {
    fn begin() -> Self {
        Self {
            alloc: vitals::thread_allocation(),
            cpu: vitals::thread_cpu_time(),
        }
    }

    fn end(self, profile: &mut Profile) {
        if let (Some(before), Some(after)) = (self.cpu, vitals::thread_cpu_time()) {
            profile.cpu += after.saturating_sub(before);
        }
        if let (Some((a0, f0)), Some((a1, f1))) = (self.alloc, vitals::thread_allocation()) {
            profile.allocated += a1.saturating_sub(a0);
            profile.freed += f1.saturating_sub(f0);
            profile.alloc_known = true;
        }
    }

    /// Starts a probe when the request is measured.
    fn for_request(recorder: Option<&Recorder>) -> Option<Self> {
        recorder
            .and_then(Recorder::pending)
            .and_then(|p| p.profile.as_ref())
            .map(|_| Self::begin())
    }

    /// Ends `probe` into the request's profile.
    fn finish(probe: Option<Self>, recorder: Option<&mut Recorder>) {
        if let (Some(probe), Some(profile)) = (
            probe,
            recorder
                .and_then(Recorder::pending_mut)
                .and_then(|p| p.profile.as_mut()),
        ) {
            probe.end(profile);
        }
    }
}

/// Runs one poll of a request's future or body through `poll`: times it, and for a measured
/// request reads the CPU clock and allocation counters around it (outside the timed span:
/// they are system calls). Returns the poll's result and when it ended.
pub(super) fn timed_poll<R>(
    recorder: &mut Option<Recorder>,
    poll: impl FnOnce(&mut Option<Recorder>) -> R,
) -> (R, Tick) {
    let probe = PollProbe::for_request(recorder.as_ref());
    if let Some(p) = recorder.as_mut().and_then(Recorder::pending_mut) {
        p.poll_begins();
    }
    let result = poll(recorder);
    let now = Tick::now();
    if let Some(p) = recorder.as_mut().and_then(Recorder::pending_mut) {
        p.poll_ended(now);
    }
    PollProbe::finish(probe, recorder.as_mut());
    (result, now)
}

/// A reading of the monotonic clock in nanoseconds, for the request's own durations (its
/// polls, its length). The time between two readings is one subtraction, where
/// `Instant::saturating_duration_since` costs about 55 instructions (`sub_timespec` and the
/// `Duration` normalisation) and a request takes two: about 80 fewer per request, net of
/// the one more clock read at the start (callgrind).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tick(u64);

impl Tick {
    /// Now.
    #[cfg(unix)]
    pub(super) fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `timespec` for the call to fill, and
        // `CLOCK_MONOTONIC` is the clock `Instant` itself reads on unix.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
        debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        Self(secs.wrapping_mul(1_000_000_000).wrapping_add(nanos))
    }

    /// Now (from `Instant`, against a process-wide origin, where there is no `clock_gettime`).
    #[cfg(not(unix))]
    pub(super) fn now() -> Self {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        Self(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The time from `earlier` to this reading (zero if `earlier` is later).
    pub(super) fn since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}
