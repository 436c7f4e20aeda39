//! The hot path allocates nothing, and a flood of distinct label values stays within the
//! documented bounds (label sets, rendered lines and bytes, memory). Proven with a counting
//! global allocator (allocations counted on the test's thread; live bytes process-wide, so
//! the tests take a lock).

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only counts and forwards

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use metrics::{Key, Label, Recorder};
use vitals_metrics::{Config, Registry};

struct Counting;

thread_local! {
    /// Whether allocations of this thread are counted (the harness's threads allocate too).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated minus bytes freed, always tracked.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst)
}

#[test]
fn a_registered_counter_handle_increments_without_allocating() {
    let _serial = SERIAL.lock().unwrap();
    let registry = Registry::default();
    let metadata = metrics::Metadata::new("test", metrics::Level::INFO, None);
    let counter = registry.register_counter(
        &Key::from_parts("orders_created", vec![Label::new("channel", "web")]),
        &metadata,
    );
    let gauge = registry.register_gauge(&Key::from_name("pool_waiters"), &metadata);
    let histogram = registry.register_histogram(&Key::from_name("query_seconds"), &metadata);
    histogram.record(0.003); // makes the fine chunk of that band
    let n = allocations_in(|| {
        for i in 0..100_000 {
            counter.increment(1);
            gauge.set(f64::from(i % 7));
            histogram.record(0.003 + f64::from(i % 10) * 1e-5);
        }
    });
    assert_eq!(n, 0, "allocations on the handle path");
    assert!(
        registry
            .render_text()
            .contains("orders_created_total{channel=\"web\"} 100000\n")
    );
}

#[test]
fn the_macro_with_static_labels_hits_the_cache_without_allocating() {
    let _serial = SERIAL.lock().unwrap();
    let registry = Registry::default();
    let _local = metrics::set_default_local_recorder(&registry);
    let emit = || metrics::counter!("jobs_done", "queue" => "mail", "result" => "ok").increment(1);
    emit(); // first call: sanitises, makes the series and caches the key
    let n = allocations_in(|| {
        for _ in 0..100_000 {
            emit();
        }
    });
    assert_eq!(n, 0, "allocations on the cached macro path");
    assert!(
        registry
            .render_text()
            .contains("jobs_done_total{queue=\"mail\",result=\"ok\"} 100001\n")
    );
}

/// Documented bound on the heap of one counter series with one label whose value is at most
/// `max_label_value_len` (128) bytes, its cache entry included.
const COUNTER_SERIES_BYTES: usize = 1_024;

#[test]
fn a_flood_of_distinct_label_values_stays_within_the_bounds() {
    let _serial = SERIAL.lock().unwrap();
    let config = Config::default();
    let limits = config.limits();
    let registry = Registry::new(config);
    let _local = metrics::set_default_local_recorder(&registry);
    metrics::counter!("warmup").increment(1);
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    for i in 0..100_000u32 {
        // Long values: every one is cut to 128 bytes, still distinct.
        let user = format!("{i:08}-{}", "x".repeat(200));
        metrics::counter!("logins", "user" => user).increment(1);
    }
    let grown = LIVE_BYTES.load(Ordering::SeqCst) - before;

    let snapshot = registry.snapshot();
    let logins = snapshot
        .families
        .iter()
        .find(|f| f.name == "logins")
        .unwrap();
    assert_eq!(
        logins.series.len(),
        limits.max_label_sets + 1,
        "cap plus the overflow series"
    );
    let overflow = logins.series.iter().find(|s| s.overflow).unwrap();
    assert_eq!(
        overflow.value,
        Some((100_000 - limits.max_label_sets) as f64)
    );
    assert_eq!(
        snapshot.overflowed,
        (100_000 - limits.max_label_sets) as u64
    );
    assert!(
        logins
            .series
            .iter()
            .all(|s| s.labels.values().all(|v| v.len() <= 128)),
        "values truncated"
    );

    // Memory: the label sets made, not the values sent.
    let bound = (limits.max_label_sets + 1) * COUNTER_SERIES_BYTES;
    println!(
        "flood: {grown} bytes live for {} series ({} bytes each), bound {bound}",
        limits.max_label_sets + 1,
        grown as usize / (limits.max_label_sets + 1)
    );
    assert!(
        grown > 0 && (grown as usize) <= bound,
        "{grown} bytes > {bound}"
    );

    // Rendered output: documented bound of lines (3 metadata lines per family, 1 line per
    // counter series) and bytes per line (name, `_total`, one label of at most 128 bytes,
    // escaped at most twice as long, a value).
    for (format, text) in [
        ("text", registry.render_text()),
        ("openmetrics", registry.render_openmetrics()),
    ] {
        let lines = text.lines().count();
        // Four families (logins, warmup, the registry's refused and overflowed counters) of at
        // most 3 metadata lines; their series: 1,001 + 1 + 7 reasons + 1; `# EOF`.
        let line_bound = 4 * 3 + (limits.max_label_sets + 1) + 1 + 7 + 1 + 1;
        println!("flood {format}: {lines} lines, {} bytes", text.len());
        assert!(
            lines <= line_bound,
            "{format}: {lines} lines > {line_bound}"
        );
        let longest = text.lines().map(str::len).max().unwrap();
        assert!(
            longest <= 64 + 2 * 128 + 32,
            "{format}: line of {longest} bytes"
        );
    }
}
