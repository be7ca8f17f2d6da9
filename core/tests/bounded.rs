//! Consistent hashing with bounded loads on the native ring.

use proptest::prelude::*;
use ringroute::place::ring::{LoadBound, LoadCounts, Loads};
use ringroute::{NodeIndex, Ring};

fn ring(weights: &[f64]) -> Ring {
    weights
        .iter()
        .enumerate()
        .fold(Ring::builder(), |b, (i, w)| b.node(&format!("n{i}"), *w))
        .build()
        .unwrap()
}

#[test]
fn factor_is_validated() {
    for bad in [0.0, 0.99, -1.0, f64::NAN, f64::INFINITY] {
        assert!(LoadBound::new(bad).is_err(), "{bad}");
    }
    assert_eq!(LoadBound::new(1.0).unwrap().factor(), 1.0);
}

#[test]
fn with_no_load_it_is_the_plain_route() {
    let ring = ring(&[1.0, 2.0, 1.0, 0.5]);
    let loads = LoadCounts::new(ring.nodes().capacity());
    let bound = LoadBound::new(1.25).unwrap();
    for k in 0..2000 {
        let key = format!("k{k}");
        assert_eq!(ring.route_bounded(&key, &loads, bound), ring.route(&key));
    }
}

#[test]
fn a_full_node_spills_to_the_next_replica() {
    let ring = ring(&[1.0, 1.0, 1.0, 1.0]);
    let victim = ring.route("hot").unwrap();
    // The victim holds everything: far over ⌈1.25 · 101 / 4⌉ = 32.
    let mut counts = vec![0u64; ring.nodes().capacity()];
    counts[victim.as_usize()] = 100;
    let bound = LoadBound::new(1.25).unwrap();
    let next = ring.route_n("hot", 2)[1];
    assert_eq!(
        ring.route_bounded("hot", counts.as_slice(), bound),
        Some(next)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Placing keys one by one, no node ever exceeds its weighted bound.
    #[test]
    fn no_node_exceeds_its_bound(
        weights in prop::collection::vec(0.5f64..3.0, 2..12),
        c in 1.0f64..2.0,
        keys in 200usize..1500,
        hot in 0usize..4,
    ) {
        let ring = ring(&weights);
        let loads = LoadCounts::new(ring.nodes().capacity());
        let bound = LoadBound::new(c).unwrap();
        let total_w: f64 = weights.iter().sum();
        for k in 0..keys {
            // Skewed keys: a quarter of them repeat a few hot keys.
            let key = if k % 4 == 0 { format!("hot-{}", k % (hot + 1)) } else { format!("key-{k}") };
            let node = ring.route_bounded(&key, &loads, bound).unwrap();
            loads.acquire(node);
            let placed = loads.total();
            for (i, n) in ring.iter() {
                let cap = (c * placed as f64 * n.weight() / total_w).ceil() as u64;
                prop_assert!(loads.load(i) <= cap, "node {} load {} cap {}", i, loads.load(i), cap);
            }
        }
        prop_assert_eq!(loads.total(), keys as u64);
    }

    /// The answer is up, and is the key's first replica that has room.
    #[test]
    fn answer_is_first_replica_with_room(
        counts in prop::collection::vec(0u64..40, 5),
        down in 0u8..31,
        key in "[a-z]{1,8}",
    ) {
        let mut ring = ring(&[1.0; 5]);
        for i in 0..5 {
            if down & (1 << i) != 0 {
                ring.mark_down(&format!("n{i}")).unwrap();
            }
        }
        let bound = LoadBound::new(1.1).unwrap();
        let got = ring.route_bounded(&key, counts.as_slice(), bound);
        let placed = counts.iter().sum::<u64>() + 1;
        let up_w = ring.up_count() as f64;
        let expect = ring
            .replicas(&key)
            .find(|i: &NodeIndex| counts[i.as_usize()] < bound.capacity(placed, 1.0, up_w))
            .or_else(|| ring.route(&key));
        prop_assert_eq!(got, expect);
        if let Some(n) = got {
            prop_assert!(ring[n].is_up());
        }
    }
}

#[test]
fn release_never_underflows() {
    let loads = LoadCounts::new(2);
    let a = NodeIndex::new(0);
    loads.release(a);
    assert_eq!((loads.load(a), loads.total()), (0, 0));
    loads.acquire(a);
    loads.acquire(NodeIndex::new(7)); // out of range: ignored
    assert_eq!((loads.load(a), loads.total()), (1, 1));
    loads.release(a);
    assert_eq!(loads.total(), 0);
}

proptest! {
    /// The node table's running up-weight (used for bounded-load capacities)
    /// matches a fresh sum through any churn of adds, removes, reweights and
    /// up/down, within float rounding.
    #[test]
    fn up_weight_tracks_the_sum_of_up_nodes(ops in prop::collection::vec((0u8..4, 0usize..6, 0.1f64..5.0), 1..80)) {
        let mut ring: Ring = Ring::with_vnodes(4).unwrap();
        for (op, n, w) in ops {
            let name = format!("node-{n}");
            let _ = match op {
                0 => ring.add(&name, w).map(drop),
                1 => ring.remove(&name).map(drop),
                2 => ring.set_weight(&name, w),
                _ => if n % 2 == 0 { ring.mark_down(&name) } else { ring.mark_up(&name) },
            };
            let sum: f64 = ring.iter().filter(|(_, n)| n.is_up()).map(|(_, n)| n.weight()).sum();
            prop_assert!((ring.nodes().up_weight() - sum).abs() <= 1e-9 * sum.max(1.0), "{} vs {}", ring.nodes().up_weight(), sum);
        }
    }
}
