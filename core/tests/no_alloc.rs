//! Lookups must not touch the heap: a counting global allocator proves it.
//!
//! The counter is per thread, so allocations by the test harness on other
//! threads do not count.

use ringroute::{NodeIndex, Ring};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

fn ring(nodes: usize) -> Ring {
    (0..nodes)
        .fold(Ring::builder(), |b, i| {
            b.node(&format!("node-{i}"), 1.0 + (i % 3) as f64)
        })
        .build()
        .unwrap()
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a test that cannot fail proves nothing.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
    let r = ring(10);
    assert!(allocations_during(|| drop(std::hint::black_box(r.route_n("k", 9)))) >= 1);
}

#[test]
fn lookups_do_not_allocate() {
    let mut ring = ring(200);
    for i in (0..200).step_by(7) {
        ring.mark_down(&format!("node-{i}")).unwrap();
    }
    let keys: Vec<String> = (0..2000).map(|i| format!("key-{i}")).collect();
    let mut buf = [NodeIndex::new(0); 32];
    let mut sink = 0u64;
    let count = allocations_during(|| {
        for k in &keys {
            sink += u64::from(ring.route(k).unwrap().get());
            sink += u64::from(ring.route_node(k).unwrap().name()[0]);
            sink += ring.route_n(k, 8).len() as u64;
            sink += ring.route_n_into(k, &mut buf) as u64;
            sink += ring.replicas(k).take(5).count() as u64;
        }
        // Walking every distinct node from a key, past the inline memory of
        // the iterator, still stays off the heap.
        sink += ring.replicas("full-walk").count() as u64;
        sink += u64::from(ring.try_route("k").is_ok());
    });
    std::hint::black_box(sink);
    assert_eq!(count, 0, "lookups allocated {count} times");
}
