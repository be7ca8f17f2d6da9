//! A second, deliberately simple implementation of the native ring spec v2
//! (docs/ring-spec.md): every point in one sorted `Vec`, found with
//! `partition_point`, no index, no cleverness. The real ring must agree with
//! it on random clusters, names, weights, down sets and keys, so speed work
//! on the index can never drift from the spec.

use proptest::prelude::*;
use ringroute::{NodeIndex, Ring};
use xxhash_rust::xxh3::xxh3_64;

/// The spec, rule by rule.
struct Model {
    /// `(point, name)` sorted (rule 4).
    ring: Vec<(u64, Vec<u8>)>,
    down: Vec<Vec<u8>>,
}

impl Model {
    fn new(nodes: &[(Vec<u8>, f64)], vnodes: u32, down: &[Vec<u8>]) -> Self {
        let mut ring = Vec::new();
        for (name, weight) in nodes {
            // Rule 2: max(1, round(V × w)), half away from zero.
            let points = ((f64::from(vnodes) * weight).round() as u64).max(1);
            for j in 0..points as u32 {
                // Rule 3: xxh3_64(name ‖ le32(j)), seed 0.
                let mut input = name.clone();
                input.extend_from_slice(&j.to_le_bytes());
                ring.push((xxh3_64(&input), name.clone()));
            }
        }
        ring.sort();
        Model {
            ring,
            down: down.to_vec(),
        }
    }

    /// Rules 5 and 6: walk clockwise from the first point ≥ h(k), wrapping,
    /// collecting distinct up owners.
    fn route_n(&self, key: &[u8], r: usize) -> Vec<Vec<u8>> {
        let h = xxh3_64(key);
        let start = self.ring.partition_point(|(p, _)| *p < h);
        let mut out: Vec<Vec<u8>> = Vec::new();
        for i in 0..self.ring.len() {
            let owner = &self.ring[(start + i) % self.ring.len()].1;
            if out.len() == r {
                break;
            }
            if !self.down.contains(owner) && !out.contains(owner) {
                out.push(owner.clone());
            }
        }
        out
    }
}

fn names(ring: &Ring, nodes: &[NodeIndex]) -> Vec<Vec<u8>> {
    nodes.iter().map(|&i| ring[i].name().to_vec()).collect()
}

fn cluster() -> impl Strategy<Value = Vec<(Vec<u8>, f64)>> {
    let name = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..4),
        prop::collection::vec(any::<u8>(), 4..24),
        "[a-z]{1,3}".prop_map(String::into_bytes),
    ];
    let weight = prop_oneof![Just(1.0), 0.001f64..8.0];
    prop::collection::hash_map(name, weight, 1..24).prop_map(|m| m.into_iter().collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ring_matches_the_simple_model(
        nodes in cluster(),
        vnodes in prop_oneof![Just(160u32), 1u32..300],
        down_mask in any::<u32>(),
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..200),
        extra in prop::collection::vec(any::<u64>(), 0..64),
    ) {
        let down: Vec<Vec<u8>> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| down_mask & (1 << (i % 32)) != 0)
            .map(|(_, (n, _))| n.clone())
            .collect();
        let model = Model::new(&nodes, vnodes, &down);
        let mut ring: Ring = nodes
            .iter()
            .fold(Ring::builder().vnodes(vnodes), |b, (n, w)| b.node(n, *w))
            .build()
            .unwrap();
        for n in &down {
            ring.mark_down(n).unwrap();
        }
        prop_assert_eq!(ring.point_count(), model.ring.len());
        // Keys, plus hashes right at and around points (the index's edges).
        let mut hashes: Vec<Vec<u8>> = keys;
        for e in extra {
            hashes.push(e.to_le_bytes().to_vec());
        }
        for key in &hashes {
            let want = model.route_n(key, 3);
            prop_assert_eq!(ring.route(key).map(|i| ring[i].name().to_vec()), want.first().cloned());
            prop_assert_eq!(names(&ring, &ring.route_n(key, 3)), want);
        }
        for &(point, _) in model.ring.iter().step_by(7) {
            for h in [point.wrapping_sub(1), point, point.wrapping_add(1)] {
                let start = model.ring.partition_point(|(p, _)| *p < h) % model.ring.len();
                let want = model.ring[start..].iter().chain(&model.ring[..start])
                    .map(|(_, n)| n)
                    .find(|n| !down.contains(n))
                    .cloned();
                prop_assert_eq!(ring.route_hash(h).map(|i| ring[i].name().to_vec()), want);
            }
        }
    }
}
