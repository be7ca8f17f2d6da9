//! Jump lookups must not touch the heap: a counting global allocator proves
//! it, on every path: the plain jump, memento's replacement walk, health
//! re-hashes and the final scan.
//!
//! The counter is per thread, so allocations by the test harness on other
//! threads do not count.

use ringroute::NodeIndex;
use ringroute::place::jump::{Jump, jump_hash};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

fn cluster(nodes: usize) -> Jump {
    let mut c = Jump::new();
    for i in 0..nodes {
        c.add(&format!("node-{i}"), 1.0).unwrap();
    }
    c
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a test that cannot fail proves nothing.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
    let c = cluster(20);
    assert!(allocations_during(|| drop(std::hint::black_box(c.route_n("k", 9)))) >= 1);
}

#[test]
fn lookups_do_not_allocate() {
    let mut c = cluster(300);
    // Memento removals from the middle, and down nodes.
    for i in (5..300).step_by(11) {
        c.remove(&format!("node-{i}")).unwrap();
    }
    for i in (0..300).step_by(7) {
        let name = format!("node-{i}");
        if c.contains(&name) {
            c.mark_down(&name).unwrap();
        }
    }
    let keys: Vec<String> = (0..2000).map(|i| format!("key-{i}")).collect();
    let mut buf = [NodeIndex::new(0); 32];
    let mut all = vec![NodeIndex::new(0); 300];
    let mut sink = 0u64;
    let count = allocations_during(|| {
        for k in &keys {
            sink += u64::from(c.route(k).unwrap().get());
            sink += u64::from(c.route_node(k).unwrap().name()[0]);
            sink += c.route_n(k, 8).len() as u64;
            sink += c.route_n_into(k, &mut buf) as u64;
            sink += u64::from(jump_hash(k.len() as u64, 1000));
        }
        // Every up node for one key: re-hashes run out, the scan fills the rest.
        sink += c.route_n_into("full-walk", &mut all) as u64;
        sink += u64::from(c.try_route("k").is_ok());
    });
    std::hint::black_box(sink);
    assert_eq!(count, 0, "lookups allocated {count} times");
}

#[test]
fn the_scan_does_not_allocate() {
    let mut c = cluster(500);
    for i in 0..500 {
        if i != 250 {
            c.mark_down(&format!("node-{i}")).unwrap();
        }
    }
    let mut sink = 0u64;
    let count = allocations_during(|| {
        for i in 0..500u32 {
            let k = i.to_le_bytes();
            sink += u64::from(c.route(&k).unwrap().get());
            sink += c.route_n(&k, 4).len() as u64;
        }
    });
    std::hint::black_box(sink);
    assert_eq!(count, 0, "lookups allocated {count} times");
}
