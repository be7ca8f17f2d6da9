//! The load-aware pickers and their bookkeeping: least connections, peak
//! EWMA, [`NodeLoads`], and sharing pickers across threads.
//!
//! Seeds are fixed, so every count is reproducible; bounds are explained
//! where they are set.

use std::time::Duration;

use ringroute::pick::{
    LeastConn, Loads, NodeLoads, PENALTY_NANOS, PeakEwma, PeakEwmaCell, Picker, SmoothWeighted,
    WeightedRandom,
};
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

/// Each count within 5 binomial sigmas of `picks · p` (a false failure has
/// probability about 6e-7 per count).
fn assert_binomial(counts: &[u64], probs: &[f64], picks: usize) {
    for (i, (&c, &p)) in counts.iter().zip(probs).enumerate() {
        let mean = picks as f64 * p;
        let sigma = (picks as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (c as f64 - mean).abs() <= 5.0 * sigma,
            "count {i}: {c}, expected {mean:.0} ± {:.0} (5σ)",
            5.0 * sigma
        );
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

#[test]
fn least_conn_avoids_busy_nodes() {
    let t = table(&[1.0; 10]);
    let loads = NodeLoads::for_table(&t);
    let lc = LeastConn::with_seed(&t, 3);
    // One busy node: the other candidate is always idle, so it never wins.
    (0..100).for_each(|_| loads.start(ix(7)));
    let c = counts(10, 20_000, || lc.choose(&t, &loads));
    assert_eq!(c[7], 0);
    // Three busy nodes win only when both candidates are busy: P = 3/10 · 2/9.
    (0..100).for_each(|_| {
        loads.start(ix(0));
        loads.start(ix(4));
    });
    let n = 60_000;
    let c = counts(10, n, || lc.choose(&t, &loads));
    let busy = c[0] + c[4] + c[7];
    assert_binomial(&[busy], &[1.0 / 15.0], n);
}

#[test]
fn least_conn_loads_nodes_in_proportion_to_weight() {
    // Requests that never finish pile up where the picker sends them; P2C
    // keeps every node's `(in_flight + 1) / weight` within a few requests of
    // the others' (±3 over ten seeds), so 1% is loose for a correct picker.
    // Uniform candidates would fail by 12%: the weight-8 node would be a
    // candidate in only 2/7 of the picks, short of its 8/22 share.
    let weights = [1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0];
    let t = table(&weights);
    let loads = NodeLoads::for_table(&t);
    let lc = LeastConn::with_seed(&t, 5);
    let n = 22_000;
    for _ in 0..n {
        loads.start(lc.choose(&t, &loads).unwrap());
    }
    let total: f64 = weights.iter().sum();
    for (i, w) in weights.iter().enumerate() {
        let got = f64::from(loads.in_flight(ix(i as u32)));
        let want = n as f64 * w / total;
        assert!(
            (got - want).abs() <= 0.01 * want,
            "node {i}: {got} in flight, want ≈{want}"
        );
    }
    // Two nodes: the comparison is deterministic, 1:3 to the request.
    let t = table(&[1.0, 3.0]);
    let loads = NodeLoads::for_table(&t);
    let lc = LeastConn::with_seed(&t, 5);
    (0..4000).for_each(|_| loads.start(lc.choose(&t, &loads).unwrap()));
    assert!(loads.in_flight(ix(0)).abs_diff(1000) <= 1);
    // A single up node is returned however busy it is.
    let mut t = table(&[1.0, 1.0]);
    down(&mut t, &[0]);
    assert_eq!(lc.choose(&t, &loads), Some(ix(1)));
}

#[test]
fn peak_ewma_cell_follows_finagle() {
    let tau = Duration::from_secs(10);
    let ms = |x: f64| x * 1e6;
    let cell = PeakEwmaCell::new();
    assert_eq!(cell.cost(Duration::from_secs(3), tau), 0.0);
    cell.observe(Duration::from_millis(10), Duration::from_secs(1), tau);
    // The cell keeps the estimate on an anchored log scale: equal to
    // rounding (see `ringroute::pick::ewma`).
    let near = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want;
    assert!(near(cell.cost(Duration::from_secs(1), tau), ms(10.0)));
    // Reading decays toward zero: one τ later, a factor e.
    let later = cell.cost(Duration::from_secs(11), tau);
    assert!((later - ms(10.0) / std::f64::consts::E).abs() < 1e-6);
    // A lower rtt moves the estimate by 1 − w of the way.
    cell.observe(Duration::from_millis(4), Duration::from_secs(6), tau);
    let w = (-0.5f64).exp();
    let want = ms(10.0) * w + ms(4.0) * (1.0 - w);
    assert!((cell.cost(Duration::from_secs(6), tau) - want).abs() < 1e-6);
    // A peak is taken at once, however recent the previous observation.
    cell.observe(Duration::from_millis(50), Duration::from_secs(6), tau);
    assert!(near(cell.cost(Duration::from_secs(6), tau), ms(50.0)));
    // A clock reading older than the stamp counts as no time passed.
    cell.observe(Duration::from_millis(50), Duration::from_secs(2), tau);
    assert!(near(cell.cost(Duration::from_secs(6), tau), ms(50.0)));
}

#[test]
fn peak_ewma_prefers_the_fast_node_and_retries_the_slow_one_later() {
    let t = table(&[1.0, 1.0]);
    let loads = NodeLoads::for_table(&t);
    let pe = PeakEwma::with_seed(&t, 9);
    let at = Duration::from_secs;
    loads.observe_latency(ix(0), Duration::from_secs(1), at(0)); // a spike
    loads.observe_latency(ix(1), Duration::from_millis(10), at(0));
    assert!((0..100).all(|_| pe.pick(&t, &loads, at(0)) == Some(ix(1))));
    // Node 1 stays at 10 ms; node 0's spike decays to 1 s · e^-6 ≈ 2.5 ms.
    loads.observe_latency(ix(1), Duration::from_millis(10), at(60));
    assert!((0..100).all(|_| pe.pick(&t, &loads, at(60)) == Some(ix(0))));
    // Concurrency multiplies the cost: 2.5 ms × 5 requests > 10 ms.
    (0..4).for_each(|_| loads.start(ix(0)));
    assert!((0..100).all(|_| pe.pick(&t, &loads, at(60)) == Some(ix(1))));
}

#[test]
fn peak_ewma_probes_new_nodes_once_then_penalises_them() {
    let t = table(&[1.0, 1.0]);
    let loads = NodeLoads::for_table(&t);
    let pe = PeakEwma::with_seed(&t, 1);
    let now = Duration::from_secs(1);
    loads.observe_latency(ix(0), Duration::from_secs(30), now);
    // Node 1 has no history: cost 0 while idle, so it is probed...
    assert_eq!(pe.pick(&t, &loads, now), Some(ix(1)));
    // ...and penalised while that probe is in flight, even against 30 s.
    loads.start(ix(1));
    assert_eq!(PeakEwma::load(&loads, ix(1), now), PENALTY_NANOS + 1.0);
    assert_eq!(pe.pick(&t, &loads, now), Some(ix(0)));
}

#[test]
fn peak_ewma_weighs_nodes() {
    let t = table(&[1.0, 2.0]);
    let loads = NodeLoads::for_table(&t);
    let pe = PeakEwma::with_seed(&t, 4);
    let now = Duration::from_secs(1);
    loads.observe_latency(ix(0), Duration::from_millis(10), now);
    loads.observe_latency(ix(1), Duration::from_millis(15), now);
    // 15 ms / 2 beats 10 ms / 1.
    assert!((0..50).all(|_| pe.pick(&t, &loads, now) == Some(ix(1))));
}

#[test]
fn node_loads_bookkeeping() {
    let loads = NodeLoads::new(3);
    loads.finish(ix(0)); // unmatched: saturates instead of wrapping
    assert_eq!(loads.in_flight(ix(0)), 0);
    loads.start(ix(2));
    loads.start(ix(2));
    loads.start(ix(9)); // past the end: ignored
    assert_eq!((loads.in_flight(ix(2)), loads.in_flight(ix(9))), (2, 0));
    loads.observe_latency(ix(2), Duration::from_millis(3), Duration::from_secs(1));
    let bigger = loads.resized(5);
    assert_eq!(bigger.in_flight(ix(2)), 2);
    // Equal to rounding: the estimate is kept on an anchored log scale.
    assert!((bigger.cost(ix(2), Duration::from_secs(1)) - 3e6).abs() < 1e-6);
    bigger.reset(ix(2));
    assert_eq!(
        (bigger.in_flight(ix(2)), bigger.cost(ix(2), Duration::ZERO)),
        (0, 0.0)
    );
    assert!(NodeLoads::with_decay(3, Duration::ZERO).is_err());
    assert_eq!(
        NodeLoads::with_decay(3, Duration::from_secs(2))
            .unwrap()
            .decay(),
        Duration::from_secs(2)
    );
}

#[test]
fn pickers_are_shared_across_threads() {
    fn assert_sync<P: Picker + Send + Sync>(_: &P) {}
    let t = table(&[1.0, 2.0, 3.0, 4.0]);
    let loads = NodeLoads::for_table(&t);
    let (lc, pe) = (LeastConn::new(&t), PeakEwma::new(&t));
    let (w, s) = (WeightedRandom::new(&t), SmoothWeighted::new(&t));
    assert_sync(&lc);
    assert_sync(&s);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for i in 0..20_000u64 {
                    let now = Duration::from_micros(i);
                    let node = lc.pick(&t, &loads, now).unwrap();
                    loads.start(node);
                    let other = pe.pick(&t, &loads, now).unwrap();
                    loads.observe_latency(other, Duration::from_micros(50), now);
                    assert!(w.choose(&t).is_some() && s.choose(&t).is_some());
                    loads.finish(node);
                }
            });
        }
    });
    assert!((0..4).all(|i| loads.in_flight(ix(i)) == 0));
}
