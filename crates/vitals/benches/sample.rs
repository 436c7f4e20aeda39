//! Cost of one sample of the process's vitals: [`vitals::sample_process`] (reads
//! `/proc/self/stat`, `/proc/self/status` and counts `/proc/self/fd` on Linux),
//! [`vitals::heap_stats`], and both together (what the sampler does every interval).
//!
//! Budget: sampling must cost under 1% of one core at the default interval of 5 s, i.e.
//! 1% × 5 s = 50 ms of CPU per sample. (Wall time measured here bounds CPU time from above.)
//!
//! This binary installs [`CountingAllocator`] as its global allocator, so `heap_stats` takes
//! its counting-allocator path (as in a service without jemalloc) and returns `Some`. The
//! jemalloc path (`--features jemalloc` with `tikv-jemallocator` as the global allocator) is
//! not measured here.
//!
//! `cargo bench -p vitals-core --bench sample -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vitals::{CountingAllocator, heap_stats, sample_process};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new(std::alloc::System);

fn sample(c: &mut Criterion) {
    eprintln!(
        "sample: process = {:?}, heap = {:?}",
        sample_process().map(|p| (p.rss_bytes, p.threads, p.open_fds)),
        heap_stats().map(|h| h.source)
    );
    let mut group = c.benchmark_group("sample");
    group.bench_function("sample_process", |b| {
        b.iter(|| black_box(sample_process()));
    });
    group.bench_function("heap_stats", |b| {
        b.iter(|| black_box(heap_stats()));
    });
    group.bench_function("process_and_heap", |b| {
        b.iter(|| black_box((sample_process(), heap_stats())));
    });
    group.finish();
}

/// What per-request attribution reads around each poll of a measured request: the thread CPU
/// clock (a system call) and the per-thread allocation counters, twice per poll.
fn poll_probe(c: &mut Criterion) {
    let mut group = c.benchmark_group("poll_probe");
    group.bench_function("thread_cpu_time", |b| {
        b.iter(vitals::thread_cpu_time);
    });
    group.bench_function("thread_allocation", |b| {
        b.iter(vitals::thread_allocation);
    });
    group.bench_function("instant_now", |b| b.iter(std::time::Instant::now));
    group.finish();
}

criterion_group!(benches, sample, poll_probe);
criterion_main!(benches);
