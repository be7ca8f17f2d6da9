//! The non-sticky pickers: distributions, exact sequences, load awareness,
//! and the contract that no picker ever returns a down node.
//!
//! Random pickers run from fixed seeds, so every count below is reproducible;
//! the bounds are still chosen so that a correct picker passes for almost any
//! seed (5 binomial standard deviations: a false failure has probability
//! about 6e-7 per checked count) and a wrong one fails by a wide margin.

use std::time::Duration;

use proptest::prelude::*;
use ringroute::pick::{
    LeastConn, NoLoads, NodeLoads, PeakEwma, Picker, RoundRobin, SmoothWeighted, WeightedRandom,
};
use ringroute::place::AllUp;
use ringroute::{NodeIndex, NodeState, NodeTable};

fn table(weights: &[f64]) -> NodeTable {
    let mut t = NodeTable::new();
    for (i, w) in weights.iter().enumerate() {
        t.insert(format!("node-{i}").as_bytes(), *w, ()).unwrap();
    }
    t
}

fn ix(i: u32) -> NodeIndex {
    NodeIndex::new(i)
}

fn down(t: &mut NodeTable, nodes: &[u32]) {
    for &i in nodes {
        t.set_state(ix(i), NodeState::Down).unwrap();
    }
}

/// Per-slot counts of `picks` answers of `f`.
fn counts(slots: usize, picks: usize, mut f: impl FnMut() -> Option<NodeIndex>) -> Vec<u64> {
    let mut c = vec![0u64; slots];
    for _ in 0..picks {
        c[f().expect("a node is up").as_usize()] += 1;
    }
    c
}

/// Each count within 5 binomial sigmas of `picks · p`.
fn assert_binomial(counts: &[u64], probs: &[f64], picks: usize) {
    for (i, (&c, &p)) in counts.iter().zip(probs).enumerate() {
        let mean = picks as f64 * p;
        let sigma = (picks as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (c as f64 - mean).abs() <= 5.0 * sigma,
            "slot {i}: {c} picks, expected {mean:.0} ± {:.0} (5σ)",
            5.0 * sigma
        );
    }
}

/// `w / Σw` over the up slots, 0 for the others.
fn shares(t: &NodeTable) -> Vec<f64> {
    let total: f64 = t
        .iter()
        .filter(|(_, n)| n.is_up())
        .map(|(_, n)| n.weight())
        .sum();
    (0..t.capacity())
        .map(|i| {
            t.get(ix(i as u32))
                .filter(|n| n.is_up())
                .map_or(0.0, |n| n.weight() / total)
        })
        .collect()
}

#[test]
fn weighted_random_follows_the_weights() {
    let mut t = table(&[1.0, 2.0, 3.0, 4.0, 10.0, 0.5, 7.25]);
    t.remove(ix(2)); // a free slot
    let picker = WeightedRandom::with_seed(&t, 0x5eed);
    let n = 200_000;
    assert_binomial(
        &counts(t.capacity(), n, || picker.choose(&t)),
        &shares(&t),
        n,
    );
    assert_eq!(
        picker.choose(&AllUp(t.capacity())).map(|i| i != ix(2)),
        Some(true)
    );

    // Down nodes: the distribution conditioned on "up" (rejection path).
    down(&mut t, &[4, 6]);
    assert_binomial(
        &counts(t.capacity(), n, || picker.choose(&t)),
        &shares(&t),
        n,
    );
}

#[test]
fn weighted_random_exact_pass_keeps_the_distribution() {
    // Almost all the weight is down, so rejection gives up and the O(n) pass
    // answers nearly every pick.
    let mut weights = vec![1000.0; 50];
    weights[..3].copy_from_slice(&[1.0, 2.0, 3.0]);
    let mut t = table(&weights);
    down(&mut t, &(3..50).collect::<Vec<_>>());
    let picker = WeightedRandom::with_seed(&t, 11);
    let n = 60_000;
    assert_binomial(&counts(50, n, || picker.choose(&t)), &shares(&t), n);
}

#[test]
fn alias_table_encodes_the_weights_exactly() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut sets: Vec<Vec<f64>> = vec![
        vec![1.0],
        vec![5.0, 1.0, 1.0],
        vec![1e-6, 1.0, 1e6],
        vec![3.0; 17],
        vec![f64::MAX / 4.0, f64::MAX / 2.0, 1.0],
    ];
    for n in [2, 10, 100, 1000] {
        sets.push((0..n).map(|_| 0.01 + 100.0 * next()).collect());
    }
    for weights in sets {
        let mut t = table(&weights);
        if weights.len() > 2 {
            t.remove(ix(1));
        }
        let picker = WeightedRandom::with_seed(&t, 0);
        let want = shares(&t);
        let mut sum = 0.0;
        for (i, &p) in want.iter().enumerate() {
            let got = picker.probability(ix(i as u32));
            assert!(
                (got - p).abs() <= 1e-12,
                "{weights:?}: slot {i} {got} vs {p}"
            );
            sum += got;
        }
        assert!((sum - 1.0).abs() <= 1e-12);
        assert_eq!(picker.probability(ix(weights.len() as u32)), 0.0);
    }
}

#[test]
fn round_robin_cycles_the_up_nodes_evenly() {
    let mut t = table(&[1.0, 5.0, 1.0, 1.0, 1.0, 1.0]);
    t.remove(ix(3));
    let rr = RoundRobin::new(&t);
    let seq: Vec<u32> = (0..10).map(|_| rr.choose(&t).unwrap().get()).collect();
    assert_eq!(seq, [0, 1, 2, 4, 5, 0, 1, 2, 4, 5]);

    // Node 1 down: its turns are skipped, not handed to node 2.
    down(&mut t, &[1]);
    let c = counts(6, 4000, || rr.choose(&t));
    assert_eq!(c, [1000, 0, 1000, 0, 1000, 1000]);
    down(&mut t, &[0, 2, 4, 5]);
    assert_eq!(rr.choose(&t), None);
}

/// nginx's `ngx_http_upstream_get_peer` on integers: the reference model.
fn nginx(weights: &[i64], up: &[bool], current: &mut [i64]) -> Option<usize> {
    let (mut total, mut best) = (0, None::<usize>);
    for i in 0..weights.len() {
        if !up[i] {
            continue;
        }
        current[i] += weights[i];
        total += weights[i];
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    current[best?] -= total;
    best
}

#[test]
fn smooth_weighted_gives_nginx_order_for_5_1_1() {
    let t = table(&[5.0, 1.0, 1.0]);
    let swrr = SmoothWeighted::new(&t);
    let seq: String = (0..14)
        .map(|_| (b'a' + swrr.choose(&t).unwrap().get() as u8) as char)
        .collect();
    assert_eq!(seq, "aabacaaaabacaa");

    // Scaling by a power of two (as the overflow guard does) is exact.
    let huge = table(&[5e300, 1e300, 1e300]);
    let swrr = SmoothWeighted::new(&huge);
    let seq: String = (0..7)
        .map(|_| (b'a' + swrr.choose(&huge).unwrap().get() as u8) as char)
        .collect();
    assert_eq!(seq, "aabacaa");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn smooth_weighted_matches_nginx(
        weights in prop::collection::vec(1i64..=20, 1..12),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3000), 0..16),
    ) {
        let mut t = table(&weights.iter().map(|&w| w as f64).collect::<Vec<_>>());
        let swrr = SmoothWeighted::new(&t);
        let mut current = vec![0i64; weights.len()];
        for step in 0..3000usize {
            // Now and then a node goes down or comes back.
            for (who, _) in flips.iter().filter(|(_, at)| *at == step) {
                let i = ix(who.index(weights.len()) as u32);
                let state = if t.is_up(i) { NodeState::Down } else { NodeState::Up };
                t.set_state(i, state).unwrap();
            }
            let up: Vec<bool> = (0..weights.len()).map(|i| t.is_up(ix(i as u32))).collect();
            let want = nginx(&weights, &up, &mut current).map(|i| ix(i as u32));
            prop_assert_eq!(swrr.choose(&t), want, "step {}", step);
        }
    }

    #[test]
    fn no_picker_returns_a_down_or_free_node(
        weights in prop::collection::vec(0.01f64..100.0, 1..40),
        removed in any::<u64>(),
        down_mask in any::<u64>(),
        loads in prop::collection::vec(0u32..5, 40),
        seed in any::<u64>(),
        equal in any::<bool>(),
    ) {
        // Equal weights take the uniform two-choice path, unequal the alias one.
        let weights: Vec<f64> = weights.iter().map(|&w| if equal { 1.0 } else { w }).collect();
        let mut t = table(&weights);
        for i in 0..weights.len() as u32 {
            if removed & (1 << i) != 0 && i % 3 == 0 {
                t.remove(ix(i));
            } else if down_mask & (1 << i) != 0 {
                t.set_state(ix(i), NodeState::Down).unwrap();
            }
        }
        let nl = NodeLoads::for_table(&t);
        for i in 0..t.capacity() as u32 {
            for _ in 0..loads[i as usize] {
                nl.start(ix(i));
            }
            nl.observe_latency(ix(i), Duration::from_micros(u64::from(loads[i as usize]) * 300), Duration::ZERO);
        }
        let any_up = t.up_count() > 0;
        let now = Duration::from_millis(5);
        let check = |got: Option<NodeIndex>| -> Result<(), TestCaseError> {
            match got {
                Some(i) => prop_assert!(t.get(i).is_some_and(|n| n.is_up()), "{i:?} is not an up member"),
                None => prop_assert!(!any_up, "None while a node is up"),
            }
            Ok(())
        };
        let (w, rr, s) = (WeightedRandom::with_seed(&t, seed), RoundRobin::new(&t), SmoothWeighted::new(&t));
        let (lc, pe) = (LeastConn::with_seed(&t, seed), PeakEwma::with_seed(&t, seed));
        for _ in 0..40 {
            check(w.pick(&t, &NoLoads, now))?;
            check(rr.pick(&t, &NoLoads, now))?;
            check(s.pick(&t, &NoLoads, now))?;
            check(lc.pick(&t, &nl, now))?;
            check(pe.pick(&t, &nl, now))?;
        }
    }
}

#[test]
fn empty_tables_and_all_down_give_none() {
    let now = Duration::ZERO;
    let loads = NodeLoads::new(4);
    for weights in [&[][..], &[1.0, 1.0][..], &[1.0, 3.0][..]] {
        let mut t = table(weights);
        down(&mut t, &(0..weights.len() as u32).collect::<Vec<_>>());
        assert_eq!(WeightedRandom::new(&t).choose(&t), None);
        assert_eq!(RoundRobin::new(&t).choose(&t), None);
        assert_eq!(SmoothWeighted::new(&t).choose(&t), None);
        assert_eq!(LeastConn::new(&t).pick(&t, &loads, now), None);
        assert_eq!(PeakEwma::new(&t).pick(&t, &loads, now), None);
        // Even when the liveness claims everything is up, an empty snapshot
        // has nothing to give.
        if weights.is_empty() {
            assert_eq!(WeightedRandom::new(&t).choose(&AllUp(8)), None);
            assert_eq!(LeastConn::new(&t).pick(&AllUp(8), &loads, now), None);
            assert_eq!(PeakEwma::new(&t).pick(&AllUp(8), &loads, now), None);
            assert_eq!(RoundRobin::new(&t).choose(&AllUp(8)), None);
            assert_eq!(SmoothWeighted::new(&t).choose(&AllUp(8)), None);
        }
    }
}
