//! The index against `partition_point`, exhaustively, and edits against
//! builds.

use super::*;
use std::cmp::Ordering;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn many_names(i: u32) -> &'static [u8] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| (0..256).map(|i| format!("node-{i}")).collect())[i as usize].as_bytes()
}

/// Points from arbitrary `(point, owner)` pairs, laid out like a build
/// (or with `buckets` when given): for adversarial sets no hash would
/// produce.
fn from_pairs(mut pairs: Vec<(u64, u32)>, buckets: Option<u64>) -> Points {
    pairs.sort_by(|a, b| compare(*a, *b, &many_names));
    Points::from_sorted(&pairs, buckets, None)
}

/// For each slot (and `slots`), the rank of the first point at or after
/// it, `len` when there is none.
fn ranks(points: &Points) -> Vec<usize> {
    let mut rank = vec![points.len(); points.slots() + 1];
    let mut k = 0;
    for p in 0..points.pages() {
        let (lo, end, hi) = points.page_bounds(p);
        for (i, r) in rank.iter_mut().enumerate().take(hi).skip(lo) {
            *r = k + (i - lo).min(end - lo);
        }
        k += end - lo;
    }
    rank
}

/// Every probe that can tell two searches apart: each point and its
/// neighbours, both ends of the hash space, each bucket's bounds, and
/// random hashes. A lookup is right when the first point at or after its
/// slot is the first point `>= hash` (by `partition_point` over the points
/// in order), and its owner that point's owner (wrapping). The layout's
/// invariants are checked too.
fn check_equivalent(points: &Points, what: &str) {
    points.check_invariants(many_names);
    let flat: Vec<(u64, u32)> = points.iter().collect();
    let n = flat.len();
    assert_eq!(n, points.len());
    assert!(
        flat.windows(2)
            .all(|w| compare(w[0], w[1], &many_names) != Ordering::Greater)
    );
    let rank = ranks(points);
    let check = |h: u64| {
        let want = flat.partition_point(|p| p.0 < h);
        let got = points.find_raw(h);
        assert!(got <= points.slots());
        assert_eq!(rank[got], want, "{what}: find_raw({h:#x}) with {n} points");
        if n > 0 {
            let found = points.find(h);
            assert!(found < points.slots());
            assert_eq!(rank[found] % n, want % n, "{what}: find({h:#x})");
            assert_eq!(points.owner(got), flat[want % n].1, "{what}: owner");
            assert_eq!(points.owner(found), flat[want % n].1, "{what}: owner");
        }
    };
    for &(p, _) in &flat {
        check(p);
        check(p.wrapping_sub(1));
        check(p.wrapping_add(1));
    }
    for h in [0, 1, u64::MAX - 1, u64::MAX] {
        check(h);
    }
    // Bucket boundaries: the smallest hash of each bucket and the one below.
    let buckets = points.buckets;
    for b in (0..buckets).step_by((buckets as usize / 4096).max(1)) {
        let low = ((u128::from(b) << 64).div_ceil(u128::from(buckets))) as u64;
        assert_eq!(bucket_of(low, buckets), b as usize);
        check(low);
        check(low.wrapping_sub(1));
    }
    let mut rng = Rng(n as u64);
    for _ in 0..20_000 {
        check(rng.next());
    }
}

#[test]
fn random_point_sets() {
    let mut rng = Rng(7);
    for &n in &[
        1usize, 2, 3, 4, 5, 7, 8, 9, 100, 1000, 4099, 16_000, 160_000,
    ] {
        let pairs = (0..n)
            .map(|_| (rng.next(), rng.below(256) as u32))
            .collect();
        check_equivalent(&from_pairs(pairs, None), "random");
    }
}

#[test]
fn adversarial_point_sets() {
    let mut sets: Vec<(&str, Vec<(u64, u32)>)> = vec![
        ("all equal", (0..50).map(|i| (12345, i)).collect()),
        ("all u64::MAX", (0..9).map(|i| (u64::MAX, i)).collect()),
        ("all zero", (0..9).map(|i| (0, i)).collect()),
        ("both ends", vec![(0, 1), (u64::MAX, 2)]),
        ("one at the top", vec![(u64::MAX, 3)]),
        ("one at zero", vec![(0, 3)]),
        (
            "one crowded bucket",
            (0..300).map(|i| (1 << 40 | i, i as u32 % 7)).collect(),
        ),
        (
            "crowded at the wrap",
            (0..300).map(|i| (u64::MAX - i, i as u32 % 5)).collect(),
        ),
        (
            "pairs of duplicates",
            (0..400).map(|i| ((i / 2) << 50, i as u32 % 3)).collect(),
        ),
    ];
    // Exactly 3, 4 and 5 points per bucket then empty runs: full and
    // overflowing windows, at every offset within the window.
    for per in 3..=6u64 {
        let n = 64 * per;
        let buckets = buckets_for(n as usize);
        let width = u64::MAX / buckets;
        let pairs = (0..n)
            .map(|i| ((i / per) * 2 * width + (i % per) * 3 + 1, i as u32 % 11))
            .collect();
        sets.push(("full buckets", pairs));
    }
    // Evenly spaced exactly on bucket boundaries.
    let buckets = buckets_for(1000);
    sets.push((
        "on boundaries",
        (0..1000u64)
            .map(|i| {
                let b = 2 * i;
                (
                    ((u128::from(b) << 64).div_ceil(u128::from(buckets))) as u64,
                    0,
                )
            })
            .collect(),
    ));
    for (what, pairs) in sets {
        let points = from_pairs(pairs.clone(), None);
        check_equivalent(&points, what);
        // The same set at the density bounds an edit keeps.
        let n = pairs.len() as u64;
        check_equivalent(&from_pairs(pairs.clone(), Some((3 * n).div_ceil(4))), what);
        check_equivalent(&from_pairs(pairs, Some(3 * n / 2)), what);
    }
}

#[test]
fn empty_and_tiny() {
    let empty = Points::default();
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.iter().count(), 0);
    assert!(empty.find_raw(0) <= empty.slots());
    assert!(empty.find_raw(u64::MAX) <= empty.slots());
    check_equivalent(&empty, "empty");
    let one = Points::build(&[(0u32, many_names(0), 1u32)], 1, many_names, None);
    assert_eq!(one.len(), 1);
    assert_eq!(one.owner(one.find(0)), 0);
    assert_eq!(one.owner(one.find(u64::MAX)), 0);
    check_equivalent(&one, "one");
}

/// Every point of `nodes`, sorted by `compare`.
fn sorted_reference(nodes: &[(u32, u32)]) -> Vec<(u64, u32)> {
    let mut all: Vec<(u64, u32)> = nodes
        .iter()
        .flat_map(|&(node, count)| {
            (0..count).map(move |vnode| (crate::hash::point_hash(many_names(node), vnode), node))
        })
        .collect();
    all.sort_by(|a, b| compare(*a, *b, &many_names));
    all
}

fn build(nodes: &[(u32, u32)], spare: Option<Points>) -> Points {
    let total = nodes.iter().map(|&(_, c)| c as usize).sum();
    Points::build(
        &nodes
            .iter()
            .map(|&(n, c)| (n, many_names(n), c))
            .collect::<Vec<_>>(),
        total,
        many_names,
        spare,
    )
}

#[test]
fn build_sorts_like_a_full_sort() {
    // Counts above CHUNK, and one node of 0 points, exercise the batching.
    let nodes: Vec<(u32, u32)> = (0..64)
        .map(|i| (i, [0, 1, 7, 160, 300, 1000][i as usize % 6]))
        .collect();
    let points = build(&nodes, None);
    assert_eq!(points.iter().collect::<Vec<_>>(), sorted_reference(&nodes));
    check_equivalent(&points, "built");
    // Reusing a larger ring's buffers gives the same ring.
    let small = build(&nodes[..10], Some(points.clone()));
    assert_eq!(
        small.iter().collect::<Vec<_>>(),
        sorted_reference(&nodes[..10])
    );
    check_equivalent(&small, "built in spare buffers");
    // The same points laid out from a sorted list: the same arrays.
    let sorted: Vec<(u64, u32)> = points.iter().collect();
    let relaid = Points::from_sorted(&sorted, None, None);
    assert_eq!(relaid.hashes, points.hashes);
    assert_eq!(relaid.owners, points.owners);
    assert_eq!(relaid.starts, points.starts);
    assert_eq!(relaid.page_at, points.page_at);
    assert_eq!(relaid.counts, points.counts);
}

/// The points of `vnodes from..to` of `node`.
fn points_of(node: u32, from: u32, to: u32) -> Vec<(u64, u32)> {
    (from..to)
        .map(|v| (crate::hash::point_hash(many_names(node), v), node))
        .collect()
}

#[test]
fn edits_equal_builds() {
    // Random joins, leaves and reweights, several per edit, checked against
    // a fresh build each time: positions, order and bucket table.
    let mut rng = Rng(11);
    let mut counts: Vec<u32> = (0..40).map(|i| if i % 3 == 0 { 0 } else { 20 }).collect();
    let live = |counts: &[u32]| -> Vec<(u32, u32)> {
        (0..counts.len() as u32)
            .map(|i| (i, counts[i as usize]))
            .filter(|&(_, c)| c > 0)
            .collect()
    };
    let mut points = build(&live(&counts), None);
    let mut spare = None;
    for round in 0..300 {
        let mut drops = Vec::new();
        let mut fresh = Vec::new();
        let mut touched = std::collections::HashSet::new();
        for _ in 0..1 + rng.below(if round % 10 == 0 { 12 } else { 3 }) {
            let node = rng.below(counts.len() as u64) as u32;
            if !touched.insert(node) {
                continue;
            }
            let old = counts[node as usize];
            let new = if old == 0 || rng.below(4) == 0 {
                [0, 1, 5, 20, 45][rng.below(5) as usize]
            } else {
                old
            };
            if new > old {
                fresh.extend(points_of(node, old, new));
            } else {
                drops.extend(points_of(node, new, old));
            }
            counts[node as usize] = new;
        }
        let next = points.edited(&drops, &mut fresh, many_names, spare.take());
        let want = build(&live(&counts), None);
        assert_eq!(
            next.iter().collect::<Vec<_>>(),
            want.iter().collect::<Vec<_>>(),
            "round {round}"
        );
        assert!((0.75..=1.5).contains(&next.density()), "round {round}");
        check_equivalent(&next, "edited");
        spare = Some(std::mem::replace(&mut points, next));
    }
}

#[test]
fn equal_points_of_one_node_drop_one_by_one() {
    // A 2^-64 event no hash produces on purpose: build it by hand.
    let pairs = vec![(5, 1), (9, 2), (9, 2), (9, 3), (12, 1)];
    let points = from_pairs(pairs, None);
    let one = points.edited(&[(9, 2)], &mut [], many_names, None);
    assert_eq!(
        one.iter().collect::<Vec<_>>(),
        [(5, 1), (9, 2), (9, 3), (12, 1)]
    );
    let both = points.edited(&[(9, 2), (9, 2)], &mut [(7, 4)], many_names, None);
    assert_eq!(
        both.iter().collect::<Vec<_>>(),
        [(5, 1), (7, 4), (9, 3), (12, 1)]
    );
    check_equivalent(&both, "after dropping equal points");
}

#[test]
fn edit_to_and_from_empty() {
    let mut fresh = points_of(3, 0, 10);
    let grown = Points::default().edited(&[], &mut fresh, many_names, None);
    assert_eq!(
        grown.iter().collect::<Vec<_>>(),
        sorted_reference(&[(3, 10)])
    );
    check_equivalent(&grown, "grown from empty");
    let gone = grown.edited(&points_of(3, 0, 10), &mut [], many_names, None);
    assert_eq!(gone.len(), 0);
    assert!(gone.find_raw(42) <= gone.slots());
    check_equivalent(&gone, "emptied");
}

mod spares;
