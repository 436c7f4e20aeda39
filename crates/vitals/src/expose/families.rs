//! The metric families vitals exposes, one builder each: shared by the model
//! ([`families`](crate::expose::families)) and the direct renderer, so both name and
//! describe them the same way.

use crate::expose::model::{Family, HistogramValue};
use crate::monitor::Monitor;
use crate::series::{PROMETHEUS_BUCKETS, PrometheusCounts};
use crate::system::SystemSnapshot;

pub(super) fn histogram(counts: &PrometheusCounts) -> HistogramValue {
    HistogramValue {
        buckets: PROMETHEUS_BUCKETS
            .iter()
            .copied()
            .zip(counts.cumulative)
            .collect(),
        sum: counts.sum_ns as f64 / 1e9,
        count: counts.count,
    }
}

/// The request-duration histogram family, without samples.
pub(super) fn duration_family() -> Family {
    Family::histogram(
        "http_server_request_duration_seconds",
        "Time from the request to the end of its response body, by route template, method and status class.",
    )
    .unit("seconds")
}

/// The requests counter family, without samples.
pub(super) fn requests_family() -> Family {
    Family::counter(
        "http_server_requests",
        "Requests finished, by route template, method and status class.",
    )
}

/// The errors counter family, without samples.
pub(super) fn errors_family() -> Family {
    Family::counter(
        "http_server_errors",
        "Requests answered with status 400 or above (client aborts count as 499), by route template, method and status class.",
    )
}

/// The in-flight gauge family, with its one sample.
pub(super) fn active_family(monitor: &Monitor) -> Family {
    let mut active = Family::gauge(
        "http_server_active_requests",
        "Requests started and not yet finished.",
    );
    active.push(vec![], monitor.in_flight() as f64);
    active
}

/// The per-organization requests counter family, without samples.
pub(super) fn org_requests_family() -> Family {
    Family::counter(
        "vitals_organization_requests",
        "Requests finished per organization: the busiest of the last interval by id, the rest under (other).",
    )
}

/// The per-organization errors counter family, without samples.
pub(super) fn org_errors_family() -> Family {
    Family::counter(
        "vitals_organization_errors",
        "Requests answered with status 400 or above per organization: the busiest of the last interval by id, the rest under (other).",
    )
}

/// The per-organization duration histogram family, without samples.
pub(super) fn org_duration_family() -> Family {
    Family::histogram(
        "vitals_organization_request_duration_seconds",
        "Time from the request to the end of its response body, per organization.",
    )
    .unit("seconds")
}

fn gauge(name: &str, help: &str, unit: Option<&'static str>, value: Option<f64>) -> Family {
    let mut f = Family::gauge(name, help);
    if let Some(unit) = unit {
        f = f.unit(unit);
    }
    if let Some(v) = value {
        f.push(vec![], v);
    }
    f
}

/// The process, heap and runtime families (some possibly without samples).
pub(super) fn system_families(s: &SystemSnapshot) -> Vec<Family> {
    let p = &s.process;
    let mut cpu = Family::counter(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
    )
    .unit("seconds");
    if let Some(total) = p.cpu_total() {
        cpu.push(vec![], total.as_secs_f64());
    }
    let as_f = |v: Option<u64>| v.map(|v| v as f64);
    let mut out = vec![
        cpu,
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Some("bytes"),
            as_f(p.rss_bytes),
        ),
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            Some("bytes"),
            as_f(p.virtual_bytes),
        ),
        gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            None,
            as_f(p.open_fds),
        ),
        gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            None,
            as_f(p.max_fds),
        ),
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Some("seconds"),
            p.start_time_unix_secs,
        ),
        gauge(
            "process_threads",
            "Number of OS threads in the process.",
            None,
            as_f(p.threads),
        ),
    ];
    if let Some(heap) = s.heap {
        out.push(gauge(
            "vitals_heap_allocated_bytes",
            "Bytes allocated by the application and not yet freed, from the allocator.",
            Some("bytes"),
            Some(heap.allocated_bytes as f64),
        ));
        out.push(gauge(
            "vitals_heap_resident_bytes",
            "Bytes the allocator holds in physical memory.",
            Some("bytes"),
            as_f(heap.resident_bytes),
        ));
        out.push(gauge(
            "vitals_heap_fragmentation_ratio",
            "Memory held beyond what is allocated, as a fraction of what is allocated.",
            Some("ratio"),
            s.fragmentation(),
        ));
    }
    if let Some(rt) = s.runtime {
        out.push(gauge(
            "vitals_runtime_workers",
            "Async runtime worker threads.",
            None,
            Some(rt.workers as f64),
        ));
        out.push(gauge(
            "vitals_runtime_busy_ratio",
            "Runtime workers' busy time over wall time per worker, over the last sampling interval.",
            Some("ratio"),
            Some(rt.busy_ratio),
        ));
        for (name, help, ms) in [
            (
                "vitals_runtime_scheduling_delay_p50_seconds",
                "Median lateness of the scheduling probe over the last interval.",
                rt.scheduling_delay_p50_ms,
            ),
            (
                "vitals_runtime_scheduling_delay_p99_seconds",
                "99th percentile lateness of the scheduling probe over the last interval.",
                rt.scheduling_delay_p99_ms,
            ),
            (
                "vitals_runtime_scheduling_delay_max_seconds",
                "Worst lateness of the scheduling probe over the last interval.",
                rt.scheduling_delay_max_ms,
            ),
        ] {
            out.push(gauge(name, help, Some("seconds"), Some(ms / 1e3)));
        }
    }
    out
}
