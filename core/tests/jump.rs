//! Jump hash and MementoHash: published vectors, balance, what each
//! membership or health change may move, replicas, and refused weights.

use std::collections::HashSet;

use ringroute::hash::key_hash;
use ringroute::place::AllUp;
use ringroute::place::jump::{Jump, JumpIndex, checked_jump_hash, jump_hash};
use ringroute::{Cluster, Error, NodeIndex, NodeState, NodeTable, Placement};

/// The published loop, transcribed literally: the oracle for `jump_hash`.
fn reference_jump(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// A small deterministic generator (splitmix64) for keys and choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn name(i: usize) -> String {
    format!("node-{i:03}")
}

fn cluster(nodes: usize) -> Jump {
    let mut c = Jump::new();
    for i in 0..nodes {
        c.add(&name(i), 1.0).unwrap();
    }
    c
}

/// Fixed keys, so every bound below is checked on the same sample each run.
fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("key-{i}")).collect()
}

fn routes(c: &Jump, keys: &[String]) -> Vec<Option<NodeIndex>> {
    keys.iter().map(|k| c.route(k)).collect()
}

/// Routes by name, for comparing clusters whose slots differ.
fn named_routes(c: &Jump, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| c.route_node(k).unwrap().name_str().unwrap().to_owned())
        .collect()
}

/// Binomial bound: `count` of `trials` with probability `p` is within five
/// standard deviations of its mean. With fixed keys the outcome is fixed;
/// five sd is a one-in-1.7-million event per check for a fair hash, while a
/// placement off by a whole share (the bugs this guards against) is tens of
/// sd away at these sample sizes.
fn assert_binomial(count: usize, trials: usize, p: f64, what: &str) {
    let mean = trials as f64 * p;
    let sd = (trials as f64 * p * (1.0 - p)).sqrt();
    let dev = (count as f64 - mean).abs();
    assert!(
        dev <= 5.0 * sd,
        "{what}: {count} of {trials}, expected {mean:.1} ± {:.1} (5 sd)",
        5.0 * sd
    );
}

// ---------------------------------------------------------------- jump_hash

#[test]
fn jump_hash_matches_go_jump_vectors() {
    // dgryski/go-jump jump_test.go ("generated from the reference C++ code"):
    // Hash(key, i + 1) for each listed i.
    let vectors: [(u64, &[u32]); 4] = [
        (0, &[0; 20]),
        (
            1,
            &[0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17],
        ),
        (
            0xdeadbeef,
            &[0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16],
        ),
        (
            0x0ddc0ffeebadf00d,
            &[0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15],
        ),
    ];
    for (key, expected) in vectors {
        for (i, &want) in expected.iter().enumerate() {
            let buckets = i as u32 + 1;
            assert_eq!(
                jump_hash(key, buckets),
                want,
                "key {key:#x}, {buckets} buckets"
            );
        }
    }
}

#[test]
fn jump_hash_matches_guava_vectors() {
    // Guava HashingTest.testConsistentHash_linearCongruentialGeneratorCompatibility.
    // Guava seeds its LinearCongruentialGenerator with the input and divides
    // by the fraction ((state >>> 33) + 1) / 2^31 instead of multiplying by
    // its inverse; its test states these goldens are shared across languages,
    // and they are checked here against the published loop as well.
    let golden100 = [
        0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83,
    ];
    for (key, &want) in golden100.iter().enumerate() {
        assert_eq!(jump_hash(key as u64, 100), want, "key {key}");
        assert_eq!(
            reference_jump(key as u64, 100),
            want,
            "reference, key {key}"
        );
    }
    let more: [(u64, u32, u32); 6] = [
        (10863919174838991, 11, 6),
        (2016238256797177309, 11, 3),
        (1673758223894951030, 11, 5),
        (2, 100001, 80343),
        (2201, 100001, 22152),
        (2202, 100001, 15018),
    ];
    for (key, buckets, want) in more {
        assert_eq!(
            jump_hash(key, buckets),
            want,
            "key {key}, {buckets} buckets"
        );
        assert_eq!(reference_jump(key, buckets), want, "reference, key {key}");
    }
}

#[test]
fn jump_hash_equals_the_published_loop() {
    // The fast path reorders the arithmetic; it must not change one answer.
    let mut rng = Rng(7);
    let sizes = [
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        9,
        10,
        16,
        100,
        1000,
        1 << 16,
        1_000_003,
    ];
    for _ in 0..20_000 {
        let key = rng.next();
        for &n in &sizes {
            assert_eq!(jump_hash(key, n), reference_jump(key, n), "{key:#x} {n}");
        }
        let n = (rng.next() as u32).max(1);
        assert_eq!(jump_hash(key, n), reference_jump(key, n), "{key:#x} {n}");
    }
    for key in [0, 1, u64::MAX, u64::MAX / 3, 1 << 63] {
        for n in [1, 2, u32::MAX - 1, u32::MAX] {
            assert_eq!(jump_hash(key, n), reference_jump(key, n), "{key:#x} {n}");
        }
    }
}

#[test]
fn jump_hash_stops_when_the_candidate_lands_exactly_on_the_bucket_count() {
    // Random keys almost never make the candidate (b + 1) · 2^31 / x an exact
    // integer equal to the bucket count, so build keys that do: with
    // x = 2^k the first candidate is exactly 2^(31 - k). At buckets = 2^(31 - k)
    // the loop must stop (j < buckets fails) and answer 0.
    const M: u64 = 2862933555777941757;
    let mut inverse = M; // Newton's iteration for M⁻¹ mod 2^64 (M is odd).
    for _ in 0..6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(M.wrapping_mul(inverse)));
    }
    assert_eq!(M.wrapping_mul(inverse), 1);
    for k in 0..=31u32 {
        for low in [0u64, 1, 0x1_2345_6789, (1 << 33) - 1] {
            let state = (((1u64 << k) - 1) << 33) | low;
            let key = state.wrapping_sub(1).wrapping_mul(inverse);
            let exact = 1u32 << (31 - k);
            for n in [exact - 1, exact, exact.saturating_add(1)] {
                if n == 0 {
                    continue;
                }
                assert_eq!(jump_hash(key, n), reference_jump(key, n), "k={k} n={n}");
            }
            assert_eq!(jump_hash(key, exact), 0, "k={k}");
        }
    }
}

#[test]
fn jump_hash_grows_by_moving_keys_only_into_the_new_bucket() {
    let mut rng = Rng(11);
    for _ in 0..2_000 {
        let key = rng.next();
        for n in 1..200 {
            let (a, b) = (jump_hash(key, n), jump_hash(key, n + 1));
            assert!(a < n);
            assert!(a == b || b == n, "{key:#x}: {a} -> {b} at {n} -> {}", n + 1);
        }
    }
}

#[test]
fn zero_buckets_has_no_answer() {
    assert_eq!(checked_jump_hash(42, 0), None);
    assert_eq!(checked_jump_hash(42, 1), Some(0));
    assert!(std::panic::catch_unwind(|| jump_hash(42, 0)).is_err());
}

// ------------------------------------------------------------- distribution

#[test]
fn keys_spread_evenly_over_nodes() {
    let keys = keys(200_000);
    let mut c = cluster(100);
    let count = |c: &Jump| {
        let mut per = vec![0usize; c.nodes().capacity()];
        for k in &keys {
            per[c.route(k).unwrap().as_usize()] += 1;
        }
        per
    };
    for (i, &n) in count(&c).iter().enumerate() {
        assert_binomial(n, keys.len(), 0.01, &format!("node {i} of 100"));
    }
    // After ten removals from the middle, memento still spreads evenly.
    for i in (10..100).step_by(9) {
        c.remove(&name(i)).unwrap();
    }
    assert_eq!(c.len(), 90);
    let per = count(&c);
    for (i, _) in c.iter() {
        assert_binomial(
            per[i.as_usize()],
            keys.len(),
            1.0 / 90.0,
            &format!("node {i} of 90"),
        );
    }
    assert_eq!(per.iter().sum::<usize>(), keys.len());
}

// ------------------------------------------------------------------ movement

#[test]
fn adding_a_node_moves_keys_only_to_it() {
    let keys = keys(100_000);
    let mut c = cluster(100);
    let before = routes(&c, &keys);
    let new = c.add("newcomer", 1.0).unwrap();
    let after = routes(&c, &keys);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if b != a {
            assert_eq!(*a, Some(new), "a key moved between old nodes");
            moved += 1;
        }
    }
    assert_binomial(moved, keys.len(), 1.0 / 101.0, "keys moved to the new node");
}

#[test]
fn removing_the_last_node_moves_only_its_keys() {
    let keys = keys(100_000);
    let mut c = cluster(100);
    let before = routes(&c, &keys);
    let last = c.index_of(&name(99)).unwrap();
    assert_eq!(last.get(), 99);
    c.remove(&name(99)).unwrap();
    assert_eq!(c.placement().removed().len(), 0, "plain jump shrink");
    let after = routes(&c, &keys);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(*a, Some(last));
        if b != a {
            assert_eq!(*b, Some(last), "a key of another node moved");
            moved += 1;
        }
    }
    let owned = before.iter().filter(|&&b| b == Some(last)).count();
    assert_eq!(moved, owned);
    assert_binomial(moved, keys.len(), 0.01, "keys moved");
}

#[test]
fn removing_a_middle_node_moves_exactly_its_keys() {
    let keys = keys(100_000);
    let mut c = cluster(100);
    let before = routes(&c, &keys);
    let gone = c.index_of(&name(37)).unwrap();
    c.remove(&name(37)).unwrap();
    assert_eq!(c.placement().removed().collect::<Vec<_>>(), [gone]);
    assert_eq!(c.placement().buckets(), 100, "memento, not a renumbering");
    let after = routes(&c, &keys);

    let others_moved = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a && **b != Some(gone))
        .count();
    assert_eq!(others_moved, 0, "keys of other nodes moved");
    let owned = before.iter().filter(|&&b| b == Some(gone)).count();
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert_eq!(moved, owned, "every key of node 37 moved");
    assert!(after.iter().all(|&a| a != Some(gone)));
    assert_binomial(moved, keys.len(), 0.01, "keys moved");

    // Its keys spread over the others rather than piling onto one.
    let receivers: HashSet<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, _)| **b == Some(gone))
        .map(|(_, a)| *a)
        .collect();
    assert!(receivers.len() > 80, "only {} receivers", receivers.len());

    // Plain jump cannot drop bucket 37: the cheapest fix, moving node 99
    // into bucket 37 and shrinking, moves two nodes' keys, twice the ideal.
    let plain_before: Vec<u32> = keys
        .iter()
        .map(|k| jump_hash(key_hash(k.as_bytes()), 100))
        .collect();
    let plain_moved = keys
        .iter()
        .zip(&plain_before)
        .filter(|(k, b)| {
            let now = jump_hash(key_hash(k.as_bytes()), 99);
            let owner = if now == 37 { 99 } else { now };
            owner != **b
        })
        .count();
    assert_binomial(plain_moved, keys.len(), 0.02, "plain jump, swap with last");
}

#[test]
fn re_adding_in_reverse_order_restores_the_placement_exactly() {
    let keys = keys(50_000);
    let mut c = cluster(100);
    let index = c.placement().clone();
    let before = named_routes(&c, &keys);
    let gone = [37, 12, 80, 99, 54, 3, 98];
    for &i in &gone {
        let prev = routes(&c, &keys);
        let node = c.index_of(&name(i)).unwrap();
        c.remove(&name(i)).unwrap();
        let now = routes(&c, &keys);
        for (p, n) in prev.iter().zip(&now) {
            assert!(
                p == n || *p == Some(node),
                "removing {i} moved another node's key"
            );
        }
    }
    assert_eq!(c.len(), 100 - gone.len());
    for &i in gone.iter().rev() {
        let prev = routes(&c, &keys);
        let node = c.add(&name(i), 1.0).unwrap();
        assert_eq!(node.get(), i as u32, "the table reuses the last freed slot");
        let now = routes(&c, &keys);
        for (p, n) in prev.iter().zip(&now) {
            assert!(
                p == n || *n == Some(node),
                "re-adding {i} moved a key elsewhere"
            );
        }
    }
    assert_eq!(named_routes(&c, &keys), before);
    assert_eq!(*c.placement(), index, "the index itself is back as it was");
}

#[test]
fn random_histories_move_only_the_changed_node() {
    // Removes of random members and re-adds of the most recently removed
    // (what the node table's free stack hands out), interleaved: memento's
    // chains of replacements get deep, and every lookup must still end on a
    // member with minimal movement.
    let keys = keys(3_000);
    let mut rng = Rng(2024);
    for round in 0..12 {
        let size = 5 + rng.below(60);
        let mut c = cluster(size);
        let mut removed: Vec<String> = Vec::new();
        let mut prev = routes(&c, &keys);
        for step in 0..120 {
            let add = c.len() <= 1 || (!removed.is_empty() && rng.below(3) == 0);
            let changed;
            if add {
                let back = removed.pop().unwrap();
                changed = c.add(&back, 1.0).unwrap();
            } else {
                let members: Vec<NodeIndex> = c.iter().map(|(i, _)| i).collect();
                changed = members[rng.below(members.len())];
                let n = c[changed].name_str().unwrap().to_owned();
                c.remove(&n).unwrap();
                removed.push(n);
            }
            let now = routes(&c, &keys);
            for (p, n) in prev.iter().zip(&now) {
                let member = n.unwrap();
                assert!(
                    c.node(member).is_some(),
                    "round {round} step {step}: not a member"
                );
                if p != n {
                    let culprit = if add { *n } else { *p };
                    assert_eq!(culprit, Some(changed), "round {round} step {step}");
                }
            }
            assert_eq!(
                c.placement().len(),
                c.len(),
                "round {round} step {step}: index and table disagree"
            );
            prev = now;
        }
    }
}

#[test]
fn a_fresh_build_equals_incremental_adds() {
    let keys = keys(5_000);
    let incremental = cluster(50);
    let bulk = Cluster::from_nodes(
        JumpIndex::new(),
        (0..50).map(|i| (name(i), 1.0, NodeState::Up, ())),
    )
    .unwrap();
    assert_eq!(bulk.placement(), incremental.placement());
    assert_eq!(routes(&bulk, &keys), routes(&incremental, &keys));
}

#[test]
fn rebuilding_a_table_with_holes_stays_correct() {
    // Placement is public, so a router may rebuild from any table. The holes'
    // removal order is not visible to it; answers must stay members anyway,
    // including after the table refills its holes in its own order.
    let mut table: NodeTable = NodeTable::new();
    for i in 0..40 {
        table.insert(name(i).as_bytes(), 1.0, ()).unwrap();
    }
    for i in [5, 39, 17, 38, 22] {
        table.remove(NodeIndex::new(i));
    }
    let mut index = JumpIndex::new();
    index.rebuild(&table);
    assert_eq!(index.len(), table.len());
    let check = |index: &JumpIndex, table: &NodeTable| {
        for k in 0..5_000u64 {
            let node = index.route(key_hash(&k.to_le_bytes()), table).unwrap();
            assert!(table.get(node).is_some(), "{node:?} is not a member");
        }
    };
    check(&index, &table);
    for i in 0..5 {
        let node = table
            .insert(format!("back-{i}").as_bytes(), 1.0, ())
            .unwrap();
        index.node_added(&table, node);
        assert_eq!(index.len(), table.len());
        check(&index, &table);
    }
}

// -------------------------------------------------------------------- health

#[test]
fn a_down_node_hands_over_only_its_keys_and_gets_them_back() {
    let keys = keys(50_000);
    let mut c = cluster(100);
    let index = c.placement().clone();
    let before = routes(&c, &keys);
    let down = c.index_of(&name(42)).unwrap();
    c.mark_down(&name(42)).unwrap();
    assert_eq!(*c.placement(), index, "health does not touch the index");
    let during = routes(&c, &keys);
    let mut moved = 0;
    let mut receivers = HashSet::new();
    for (b, d) in before.iter().zip(&during) {
        assert_ne!(*d, Some(down));
        if b != d {
            assert_eq!(*b, Some(down), "a key of an up node moved");
            receivers.insert(*d);
            moved += 1;
        }
    }
    assert_eq!(moved, before.iter().filter(|&&b| b == Some(down)).count());
    assert!(receivers.len() > 80, "only {} receivers", receivers.len());

    // A second node down moves only keys it was serving.
    let down2 = c.index_of(&name(7)).unwrap();
    c.mark_down(&name(7)).unwrap();
    let during2 = routes(&c, &keys);
    for (d, d2) in during.iter().zip(&during2) {
        assert!(d == d2 || *d == Some(down2));
        assert_ne!(*d2, Some(down2));
    }

    c.mark_up(&name(7)).unwrap();
    assert_eq!(routes(&c, &keys), during);
    c.mark_up(&name(42)).unwrap();
    assert_eq!(routes(&c, &keys), before);
}

#[test]
fn lookups_find_the_last_up_nodes() {
    // 999 of 1000 down: almost every key exhausts its re-hashes and reaches
    // the scan, which must still end on the one up node.
    let keys = keys(2_000);
    let mut c = cluster(1000);
    for i in 0..1000 {
        if i != 613 {
            c.mark_down(&name(i)).unwrap();
        }
    }
    let up = c.index_of(&name(613)).unwrap();
    for k in &keys {
        assert_eq!(c.route(k), Some(up));
        assert_eq!(c.route_n(k, 3).as_slice(), &[up]);
    }
    // Ten up: every answer is up, and the answers cover all ten.
    for i in (0..1000).step_by(100) {
        c.mark_up(&name(i)).unwrap();
    }
    let seen: HashSet<_> = keys.iter().map(|k| c.route(k).unwrap()).collect();
    assert!(seen.iter().all(|&i| c[i].is_up()));
    assert_eq!(seen.len(), 11);
}

#[test]
fn no_node_up_or_no_node_at_all() {
    let empty: Jump = Jump::new();
    assert_eq!(empty.route("k"), None);
    assert_eq!(empty.try_route("k"), Err(Error::EmptyRing));
    assert_eq!(empty.route_n("k", 3).len(), 0);
    assert_eq!(empty.placement().bucket(1), None);

    let mut c = cluster(3);
    for i in 0..3 {
        c.mark_down(&name(i)).unwrap();
    }
    assert_eq!(c.route("k"), None);
    assert_eq!(c.try_route("k"), Err(Error::NoNodeUp));
    assert_eq!(c.route_n("k", 3).len(), 0);
    c.mark_up(&name(1)).unwrap();
    assert_eq!(c.route("k"), c.index_of(&name(1)));

    // Every node removed, then one back: the index empties and refills.
    let mut c = cluster(4);
    for i in [1, 3, 0, 2] {
        c.remove(&name(i)).unwrap();
    }
    assert!(c.placement().is_empty());
    assert_eq!(c.route("k"), None);
    let back = c.add("again", 1.0).unwrap();
    assert_eq!(c.route("k"), Some(back));
}

// ------------------------------------------------------------------- route_n

#[test]
fn route_n_is_distinct_up_and_starts_with_route() {
    let keys = keys(3_000);
    let mut c = cluster(30);
    for i in [37, 12, 29] {
        if c.contains(&name(i)) {
            c.remove(&name(i)).unwrap();
        }
    }
    for i in [3, 4, 5, 20] {
        c.mark_down(&name(i)).unwrap();
    }
    let up = c.up_count();
    let mut buf = [NodeIndex::new(u32::MAX); 40];
    for k in &keys {
        for n in [1, 2, 3, 5, 8, up, 40] {
            let r = c.route_n(k, n);
            assert_eq!(r.len(), n.min(up), "{k} n={n}");
            assert_eq!(Some(r[0]), c.route(k));
            let distinct: HashSet<_> = r.iter().collect();
            assert_eq!(distinct.len(), r.len(), "duplicates for {k}");
            assert!(r.iter().all(|&i| c[i].is_up()));
            // A shorter request is a prefix of a longer one.
            let written = c.route_n_into(k, &mut buf);
            assert_eq!(&buf[..r.len()], r.as_slice());
            assert_eq!(written, up);
        }
    }
}

#[test]
fn any_liveness_works() {
    // The placement alone, with the all-up view a router uses.
    let c = cluster(64);
    let index = c.placement();
    let live = AllUp(64);
    let mut out = [NodeIndex::new(0); 4];
    for k in 0..2_000u64 {
        let h = key_hash(&k.to_le_bytes());
        let primary = index.route(h, &live).unwrap();
        assert_eq!(Some(primary), c.route_hash(h));
        assert_eq!(index.bucket(h), Some(primary));
        assert_eq!(index.route_n(h, &live, &mut out), 4);
        assert_eq!(out[0], primary);
    }
}

// ------------------------------------------------------------------- weights

/// Everything observable, to compare before and after a refused change.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    index: JumpIndex,
    nodes: Vec<(String, f64, NodeState)>,
    routes: Vec<Option<NodeIndex>>,
}

fn fingerprint(c: &Jump) -> Fingerprint {
    Fingerprint {
        index: c.placement().clone(),
        nodes: c
            .iter()
            .map(|(_, n)| (n.name_str().unwrap().to_owned(), n.weight(), n.state()))
            .collect(),
        routes: routes(c, &keys(500)),
    }
}

#[test]
fn weights_other_than_one_are_refused_and_change_nothing() {
    let mut c = cluster(10);
    c.remove(&name(4)).unwrap();
    let before = fingerprint(&c);
    for w in [2.0, 0.5, 1.0 + f64::EPSILON, 1e-9, 1e9] {
        let err = c.add("heavy", w).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter(m) if m.contains("unweighted")),
            "add {w}: {err:?}"
        );
        let err = c.set_weight(&name(3), w).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter(_)),
            "set {w}: {err:?}"
        );
        let built = Cluster::from_nodes(
            JumpIndex::new(),
            [("a", 1.0, NodeState::Up, ()), ("b", w, NodeState::Up, ())],
        );
        assert!(
            matches!(built, Err(Error::InvalidParameter(_))),
            "build {w}"
        );
    }
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(c.add("bad", w), Err(Error::InvalidWeight(_))),
            "{w}"
        );
        assert!(matches!(
            c.set_weight(&name(3), w),
            Err(Error::InvalidWeight(_))
        ));
    }
    assert_eq!(fingerprint(&c), before);
    // Weight 1 is the one weight there is; setting it is a no-op.
    c.set_weight(&name(3), 1.0).unwrap();
    assert_eq!(fingerprint(&c), before);
    // The refused add did not take the free slot either.
    assert_eq!(c.add("next", 1.0).unwrap().get(), 4);
}

#[test]
fn the_error_says_why() {
    let mut c: Jump = Jump::new();
    let msg = c.add("a", 3.0).unwrap_err().to_string();
    assert!(
        msg.contains("unweighted") && msg.contains("weight 1"),
        "{msg}"
    );
    assert!(c.is_empty());
}
