//! The counting allocator, installed as the global allocator, sees a known allocation come and
//! go.

use std::hint::black_box;

use vitals::{CountingAllocator, allocator_stats};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new(std::alloc::System);

const SIZE: usize = 8 << 20;

// One test function: a second one would run on another thread and move the counters while
// this one measures.
#[test]
fn counts_a_known_allocation() {
    live_bytes_follow_a_known_vec();
    growing_a_vec_counts_reallocations();
}

fn live_bytes_follow_a_known_vec() {
    // Anything allocated before `main` (the test harness allocates) has been counted.
    let before = allocator_stats().expect("installed and has served allocations");
    assert!(before.allocations_total > 0);

    let buffer: Vec<u8> = black_box(Vec::with_capacity(SIZE));
    let during = allocator_stats().unwrap();
    assert!(during.allocated_bytes_total - before.allocated_bytes_total >= SIZE as u64);
    assert!(during.allocations_total > before.allocations_total);
    // Live bytes rose by at least the Vec; the harness's other threads may free a little
    // meanwhile, so allow a small slack.
    let slack = 64 << 10;
    assert!(
        during.live_bytes() + slack >= before.live_bytes() + SIZE as u64,
        "before {before:?}, during {during:?}"
    );

    drop(black_box(buffer));
    let after = allocator_stats().unwrap();
    assert!(after.freed_bytes_total - during.freed_bytes_total >= SIZE as u64);
    assert!(
        after.live_bytes() <= before.live_bytes() + slack,
        "before {before:?}, after {after:?}"
    );
}

fn growing_a_vec_counts_reallocations() {
    let before = allocator_stats().unwrap();
    let mut v: Vec<u64> = Vec::with_capacity(1);
    for i in 0..100_000u64 {
        v.push(black_box(i));
    }
    let during = allocator_stats().unwrap();
    assert!(during.allocations_total - before.allocations_total >= 10);
    assert!(during.allocated_bytes_total - before.allocated_bytes_total >= 800_000);
    drop(v);
}
