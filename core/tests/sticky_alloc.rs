//! Maglev and rendezvous lookups must not touch the heap: a counting global
//! allocator proves it (the pattern of `no_alloc.rs`; one global allocator
//! per test binary, hence a binary of its own).
//!
//! The counter is per thread, so allocations by the test harness on other
//! threads do not count.

use ringroute::place::maglev::{Maglev, MaglevTable};
use ringroute::place::rendezvous::Rendezvous;
use ringroute::{NodeIndex, NodeState};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

fn nodes(n: usize) -> impl Iterator<Item = (String, f64, NodeState, ())> {
    (0..n).map(|i| (format!("node-{i}"), 1.0 + (i % 3) as f64, NodeState::Up, ()))
}

fn maglev(n: usize) -> Maglev {
    Maglev::from_nodes(MaglevTable::new(10_007).unwrap(), nodes(n)).unwrap()
}

fn rendezvous(n: usize) -> Rendezvous {
    Rendezvous::from_nodes(Default::default(), nodes(n)).unwrap()
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a test that cannot fail proves nothing.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
    let m = maglev(10);
    assert!(allocations_during(|| drop(std::hint::black_box(m.route_n("k", 9)))) >= 1);
    let r = rendezvous(10);
    assert!(allocations_during(|| drop(std::hint::black_box(r.route_n("k", 9)))) >= 1);
}

#[test]
fn maglev_lookups_do_not_allocate() {
    let mut c = maglev(200);
    for i in (0..200).step_by(7) {
        c.mark_down(&format!("node-{i}")).unwrap();
    }
    let keys: Vec<String> = (0..2000).map(|i| format!("key-{i}")).collect();
    let mut buf = [NodeIndex::new(0); 32];
    let mut sink = 0u64;
    let count = allocations_during(|| {
        for k in &keys {
            sink += u64::from(c.route(k).unwrap().get());
            sink += u64::from(c.route_node(k).unwrap().name()[0]);
            sink += c.route_n(k, 8).len() as u64;
            sink += c.route_n_into(k, &mut buf) as u64;
        }
        sink += u64::from(c.try_route("k").is_ok());
    });
    std::hint::black_box(sink);
    assert_eq!(count, 0, "maglev lookups allocated {count} times");
}

#[test]
fn rendezvous_lookups_do_not_allocate() {
    let mut c = rendezvous(100);
    for i in (0..100).step_by(7) {
        c.mark_down(&format!("node-{i}")).unwrap();
    }
    let keys: Vec<String> = (0..500).map(|i| format!("key-{i}")).collect();
    // Past the 32 candidates ranked per scan: the multi-scan path too.
    let mut buf = [NodeIndex::new(0); 80];
    let mut sink = 0u64;
    let count = allocations_during(|| {
        for k in &keys {
            sink += u64::from(c.route(k).unwrap().get());
            sink += u64::from(c.route_node(k).unwrap().name()[0]);
            sink += c.route_n(k, 8).len() as u64;
            sink += c.route_n_into(k, &mut buf) as u64;
        }
        sink += u64::from(c.try_route("k").is_ok());
    });
    std::hint::black_box(sink);
    assert_eq!(count, 0, "rendezvous lookups allocated {count} times");
}
