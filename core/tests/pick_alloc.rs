//! Picks must not touch the heap: a counting global allocator proves it.
//!
//! The counter is per thread, so allocations by the test harness on other
//! threads do not count. Every picker runs both its fast path (all nodes up)
//! and its slow paths (rejection, then the exact O(n) pass, which most of
//! the weight being down forces), and the load bookkeeping runs too.

use std::time::Duration;

use ringroute::pick::{
    LeastConn, NoLoads, NodeLoads, PeakEwma, Picker, RoundRobin, SmoothWeighted, WeightedRandom,
};
use ringroute::{NodeIndex, NodeState, NodeTable};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

/// 64 nodes of unequal weights, with two free slots.
fn table() -> NodeTable {
    let mut t = NodeTable::new();
    for i in 0..64 {
        t.insert(format!("node-{i}").as_bytes(), 1.0 + (i % 5) as f64, ())
            .unwrap();
    }
    t.remove(NodeIndex::new(10));
    t.remove(NodeIndex::new(40));
    t
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a test that cannot fail proves nothing.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
    let t = table();
    assert!(allocations_during(|| drop(std::hint::black_box(WeightedRandom::new(&t)))) >= 1);
}

#[test]
fn picks_and_bookkeeping_do_not_allocate() {
    let mut t = table();
    let loads = NodeLoads::for_table(&t);
    let weighted = WeightedRandom::with_seed(&t, 1);
    let rr = RoundRobin::new(&t);
    let smooth = SmoothWeighted::new(&t);
    let least = LeastConn::with_seed(&t, 2);
    let ewma = PeakEwma::with_seed(&t, 3);
    let mut even = NodeTable::new(); // equal weights: the uniform P2C path
    for i in 0..16 {
        even.insert(format!("even-{i}").as_bytes(), 2.0, ())
            .unwrap();
    }
    let least_even = LeastConn::with_seed(&even, 4);
    let ewma_even = PeakEwma::with_seed(&even, 5);

    let mut sink = 0u64;
    let mut run = |t: &NodeTable, even: &NodeTable| {
        for i in 0..2_000u64 {
            let now = Duration::from_micros(i * 37);
            let mut add = |n: Option<NodeIndex>| sink += n.map_or(1, |n| u64::from(n.get()));
            add(weighted.choose(t));
            add(weighted.pick(t, &NoLoads, now));
            add(rr.choose(t));
            add(smooth.choose(t));
            add(least.pick(t, &loads, now));
            add(least_even.pick(even, &loads, now));
            add(ewma.pick(t, &loads, now));
            add(ewma_even.pick(even, &loads, now));
            if let Some(n) = least.choose(t, &loads) {
                loads.start(n);
                loads.observe_latency(n, Duration::from_micros(100 + i % 50), now);
                if i % 3 == 0 {
                    loads.finish(n);
                }
            }
        }
    };

    let all_up = allocations_during(|| run(&t, &even));
    assert_eq!(
        all_up, 0,
        "picks with every node up allocated {all_up} times"
    );

    // Most nodes down, the heaviest included: rejection and exact passes.
    for i in (0..64).filter(|i| ![10, 40].contains(i) && i % 9 != 1) {
        t.set_state(NodeIndex::new(i), NodeState::Down).unwrap();
    }
    for i in 0..15 {
        even.set_state(NodeIndex::new(i), NodeState::Down).unwrap();
    }
    let some_down = allocations_during(|| run(&t, &even));
    assert_eq!(
        some_down, 0,
        "picks with nodes down allocated {some_down} times"
    );

    // Everything down: `None`, still without allocating.
    for i in (0..64).filter(|i| ![10, 40].contains(i)) {
        t.set_state(NodeIndex::new(i), NodeState::Down).unwrap();
    }
    even.set_state(NodeIndex::new(15), NodeState::Down).unwrap();
    let none_up = allocations_during(|| run(&t, &even));
    assert_eq!(
        none_up, 0,
        "picks with no node up allocated {none_up} times"
    );
    std::hint::black_box(sink);
}
