//! Rendezvous hashing's contract: weighted shares, exact movement, top-k
//! order, and independence from insertion order.

use std::collections::HashMap;

use ringroute::hash::key_hash;
use ringroute::place::rendezvous::{NODE_SEED, Rendezvous, mix, node_seed, score};
use ringroute::{Error, NodeIndex, NodeState};
use xxhash_rust::xxh3::xxh3_64_with_seed;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("shard-{i:03}")).collect()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i}")).collect()
}

fn build(names: &[String], weight: impl Fn(usize) -> f64) -> Rendezvous {
    let mut c: Rendezvous = Rendezvous::new();
    for (i, n) in names.iter().enumerate() {
        c.add(n, weight(i)).unwrap();
    }
    c
}

fn routes(c: &Rendezvous, keys: &[String]) -> Vec<Option<String>> {
    keys.iter()
        .map(|k| c.route_node(k).map(|n| n.name_lossy().into_owned()))
        .collect()
}

/// With independent key hashes, a node of share `p = w/Σw` wins
/// Binomial(K, p) of K keys when the method is right; we allow 5 standard
/// deviations per node (a false alarm about once in 2·10⁶ per node).
/// Taking `max(w·u)` instead, the usual mistake, gives weights 1 and 2 the
/// shares 1/4 and 3/4, not 1/3 and 2/3: off by about 150σ here.
#[test]
fn shares_follow_weights() {
    let all = names(10);
    let weight = |i: usize| (i + 1) as f64;
    let c = build(&all, weight);
    let keys = keys(200_000);
    let mut wins: HashMap<String, usize> = HashMap::new();
    for r in routes(&c, &keys) {
        *wins.entry(r.unwrap()).or_default() += 1;
    }
    let total: f64 = (0..10).map(weight).sum();
    let k = keys.len() as f64;
    for (i, n) in all.iter().enumerate() {
        let p = weight(i) / total;
        let sigma = (k * p * (1.0 - p)).sqrt();
        let got = wins.get(n).copied().unwrap_or(0) as f64;
        assert!(
            (got - k * p).abs() <= 5.0 * sigma,
            "{n}: {got} wins, expected {:.0} ± {:.0}",
            k * p,
            5.0 * sigma
        );
    }

    // Two nodes, weights 1 and 2: 1/3 and 2/3, not the naive 1/4 and 3/4.
    let c = build(&names(2), |i| (i + 1) as f64);
    let light = routes(&c, &keys)
        .iter()
        .filter(|r| r.as_deref() == Some("shard-000"))
        .count() as f64;
    let sigma = (k * (1.0 / 3.0) * (2.0 / 3.0)).sqrt();
    assert!((light - k / 3.0).abs() <= 5.0 * sigma, "{light}");
}

/// Checks that going from `before` to `after` moved keys only from or to
/// `node`, and says how many moved.
fn moved_only_for(before: &[Option<String>], after: &[Option<String>], node: &str) -> usize {
    let mut moved = 0;
    for (b, a) in before.iter().zip(after) {
        if a != b {
            moved += 1;
            assert!(
                b.as_deref() == Some(node) || a.as_deref() == Some(node),
                "{b:?} -> {a:?} does not involve {node}"
            );
        }
    }
    moved
}

#[test]
fn changes_move_exactly_the_victims_keys() {
    let all = names(60);
    let keys = keys(30_000);
    let mut c = build(&all[..50], |i| 1.0 + (i % 3) as f64);
    let before = routes(&c, &keys);
    let owned = |routes: &[Option<String>], n: &str| {
        routes.iter().filter(|r| r.as_deref() == Some(n)).count()
    };

    // Remove: exactly its keys move, all of them; adding it back restores all.
    let victim = &all[21];
    let had = owned(&before, victim);
    assert!(had > 0);
    c.remove(victim).unwrap();
    let after = routes(&c, &keys);
    assert_eq!(moved_only_for(&before, &after, victim), had);
    assert_eq!(owned(&after, victim), 0);
    c.add(victim, 1.0).unwrap();
    assert_eq!(routes(&c, &keys), before);

    // Down and up: the same, without touching the index.
    c.mark_down(victim).unwrap();
    let down = routes(&c, &keys);
    assert_eq!(down, after);
    c.mark_up(victim).unwrap();
    assert_eq!(routes(&c, &keys), before);

    // Add a newcomer: only keys it wins move.
    let newcomer = &all[55];
    c.add(newcomer, 2.0).unwrap();
    let grown = routes(&c, &keys);
    let moved = moved_only_for(&before, &grown, newcomer);
    assert_eq!(moved, owned(&grown, newcomer));
    assert!(moved > 0);

    // Reweight: keys move only to or from that node.
    let heavier = &all[3];
    c.set_weight(heavier, 5.0).unwrap();
    let reweighted = routes(&c, &keys);
    assert!(moved_only_for(&grown, &reweighted, heavier) > 0);
    assert!(owned(&reweighted, heavier) > owned(&grown, heavier));
}

/// The full order of `(score desc, name asc)` over the up nodes, computed
/// from the published v1 functions: what `route_n` must return.
fn expected_order(c: &Rendezvous, key: &str) -> Vec<NodeIndex> {
    let hash = key_hash(key.as_bytes());
    let mut scored: Vec<(f64, &[u8], NodeIndex)> = c
        .iter()
        .filter(|(_, n)| n.is_up())
        .map(|(i, n)| (score(hash, node_seed(n.name()), n.weight()), n.name(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().map(|s| s.2).collect()
}

#[test]
fn route_n_is_the_top_k_by_score() {
    // 80 nodes: more than one on-stack batch of candidates (32).
    let all = names(80);
    let mut c = build(&all, |i| 0.5 + (i % 5) as f64);
    for down in [4, 40, 77] {
        c.mark_down(&all[down]).unwrap();
    }
    let mut buf = [NodeIndex::new(0); 80];
    for k in keys(300) {
        let order = expected_order(&c, &k);
        assert_eq!(order.len(), 77);
        assert_eq!(c.route(&k), Some(order[0]));
        for n in [1, 3, 8, 31, 32, 33, 64, 77] {
            assert_eq!(&c.route_n(&k, n)[..], &order[..n], "{k} n={n}");
        }
        assert_eq!(c.route_n_into(&k, &mut buf), 77);
        assert_eq!(&buf[..77], &order[..]);
    }
}

/// Lookups skip the logarithm of nodes that provably cannot win; the
/// answers must still be those of scoring every node, whatever the weights.
#[test]
fn pruned_scans_equal_full_scans() {
    let all = names(200);
    let weight = |i: usize| 10f64.powi((i % 7) as i32 - 3) * (1.0 + (i % 5) as f64);
    let mut c = build(&all, weight);
    for down in [0, 50, 199] {
        c.mark_down(&all[down]).unwrap();
    }
    for k in keys(3_000) {
        let order = expected_order(&c, &k);
        assert_eq!(c.route(&k), Some(order[0]), "{k}");
        assert_eq!(&c.route_n(&k, 4)[..], &order[..4], "{k}");
    }
}

#[test]
fn the_v1_functions_are_as_documented() {
    assert_eq!(
        node_seed(b"shard-a"),
        xxh3_64_with_seed(b"shard-a", NODE_SEED)
    );
    let (hash, seed) = (key_hash(b"k"), node_seed(b"shard-a"));
    let s = score(hash, seed, 2.0);
    assert!(s > 0.0 && s.is_finite());
    assert_eq!(score(hash, seed, 4.0), 2.0 * s);
    assert_eq!(mix(unmix(0x0123_4567_89ab_cdef), 0), 0x0123_4567_89ab_cdef);
    // u stays strictly inside (0, 1) at both ends: finite, positive scores.
    let ln2 = std::f64::consts::LN_2;
    let bottom = score(unmix(0), 0, 1.0);
    assert!((bottom - 1.0 / (53.0 * ln2)).abs() < 1e-12, "{bottom}");
    let top = score(unmix(u64::MAX), 0, 1.0);
    assert!(top.is_finite() && top > 9e15, "{top}");
}

/// The preimage of `x` under [`mix`] with seed 0: SplitMix64's finalizer
/// undone step by step (xorshifts by repetition, multipliers by their
/// inverses mod 2⁶⁴ from Newton's iteration).
fn unmix(x: u64) -> u64 {
    fn unshift(y: u64, s: u32) -> u64 {
        let mut z = y;
        for _ in 0..64 / s {
            z = y ^ (z >> s);
        }
        z
    }
    fn inverse(m: u64) -> u64 {
        let mut inv = m;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(inv)));
        }
        inv
    }
    let mut z = unshift(x, 31);
    z = unshift(z.wrapping_mul(inverse(0x94d0_49bb_1331_11eb)), 27);
    unshift(z.wrapping_mul(inverse(0xbf58_476d_1ce4_e5b9)), 30)
}

#[test]
fn placement_does_not_depend_on_insertion_order() {
    let all = names(40);
    let weight = |n: &str| 1.0 + (n.as_bytes()[8] % 3) as f64;
    let keys = keys(5_000);
    let mut forward: Rendezvous = Rendezvous::new();
    for n in &all {
        forward.add(n, weight(n)).unwrap();
    }
    // Reverse order, after churn, so indices and insertion history differ.
    let mut backward: Rendezvous = Rendezvous::new();
    for i in 0..7 {
        backward.add(&format!("temp-{i}"), 1.0).unwrap();
    }
    for n in all.iter().rev() {
        backward.add(n, weight(n)).unwrap();
    }
    for i in 0..7 {
        backward.remove(&format!("temp-{i}")).unwrap();
    }
    assert_ne!(forward.index_of(&all[0]), backward.index_of(&all[0]));
    assert_eq!(routes(&forward, &keys), routes(&backward, &keys));
    // A bulk build agrees too.
    let bulk = Rendezvous::from_nodes(
        Default::default(),
        all.iter()
            .map(|n| (n.clone(), weight(n), NodeState::Up, ())),
    )
    .unwrap();
    assert_eq!(routes(&bulk, &keys), routes(&forward, &keys));
    let name_of = |c: &Rendezvous, k: &str| -> Vec<String> {
        c.route_n(k, 5)
            .iter()
            .map(|&i| c[i].name_lossy().into_owned())
            .collect()
    };
    for k in &keys[..200] {
        assert_eq!(name_of(&forward, k), name_of(&backward, k));
    }
}

#[test]
fn empty_down_and_bad_input() {
    let mut c: Rendezvous = Rendezvous::new();
    assert_eq!(c.route("k"), None);
    assert_eq!(c.try_route("k"), Err(Error::EmptyRing));
    assert_eq!(c.route_n("k", 3).len(), 0);
    c.add("a", 1.0).unwrap();
    c.add("b", 1.0).unwrap();
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(c.add("c", w), Err(Error::InvalidWeight(_))));
        assert!(matches!(c.set_weight("a", w), Err(Error::InvalidWeight(_))));
    }
    assert_eq!(c.len(), 2);
    assert_eq!(c.placement().len(), 2);
    c.mark_down("a").unwrap();
    c.mark_down("b").unwrap();
    assert_eq!(c.route("k"), None);
    assert_eq!(c.try_route("k"), Err(Error::NoNodeUp));
    assert_eq!(c.route_n("k", 2).len(), 0);
    c.mark_up("b").unwrap();
    assert_eq!(c.route("k"), c.index_of("b"));
    assert_eq!(&c.route_n("k", 2)[..], &[c.index_of("b").unwrap()]);
}
