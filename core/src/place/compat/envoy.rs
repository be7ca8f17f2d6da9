//! Envoy's `ring_hash` and `maglev` load balancers and gRPC's `ring_hash`
//! (gRFC A42): xxh64 everywhere, weights normalized by their sum.

use xxhash_rust::xxh64::xxh64;

use super::table::{Member, Table};
use crate::error::{Error, Result};
use crate::place::maglev::{FillEntry, fill};

/// Envoy's default `minimum_ring_size`.
pub const ENVOY_MIN_RING: u64 = 1024;
/// Envoy's default `maximum_ring_size`.
pub const ENVOY_MAX_RING: u64 = 8 * 1024 * 1024;
/// gRPC's default `min_ring_size`.
pub const GRPC_MIN_RING: u64 = 1024;
/// gRPC's default `max_ring_size`.
pub const GRPC_MAX_RING: u64 = 4096;
/// grpc-go's `GRPC_RING_HASH_CAP` default: both sizes are capped to it.
pub const GRPC_RING_CAP: u64 = 4096;
/// Envoy's default Maglev table size.
pub const ENVOY_MAGLEV_SIZE: u32 = 65537;

/// Checks ring sizes as Envoy and gRPC do: `1 <= min <= max <= 8M`.
pub(crate) fn check_ring_sizes(min: u64, max: u64) -> Result<()> {
    if min == 0 || min > max || max > ENVOY_MAX_RING {
        return Err(Error::InvalidParameter(
            "ring sizes need 1 <= min <= max <= 8388608",
        ));
    }
    Ok(())
}

/// `(member, w / Σw)` in the given order, and the smallest normalized weight.
fn normalized<'m>(members: &[&'m Member]) -> (Vec<(&'m Member, f64)>, f64) {
    let sum: u64 = members.iter().map(|m| u64::from(m.weight)).sum();
    let mut min = f64::INFINITY;
    let out = members
        .iter()
        .map(|m| {
            // Envoy: `weight * normalized_locality_weight / sum` with a
            // locality weight of 1.0; grpc-go: `float64(w) / float64(sum)`.
            let w = f64::from(m.weight) * 1.0 / sum as f64;
            min = min.min(w);
            (*m, w)
        })
        .collect();
    (out, min)
}

/// The running-sum ring both Envoy and gRPC build: `scale` hashes per unit
/// of normalized weight, entry `i` of a host hashing `key + "_" + i`.
fn running_sum(hosts: &[(&Member, f64)], min_weight: f64, min_ring: u64, max_ring: u64) -> Table {
    if hosts.is_empty() {
        return Table::Empty;
    }
    let scale = ((min_weight * min_ring as f64).ceil() / min_weight).min(max_ring as f64);
    let mut entries = Vec::with_capacity(scale.ceil() as usize);
    let (mut current, mut target) = (0.0f64, 0.0f64);
    let mut label = Vec::with_capacity(64);
    for (m, w) in hosts {
        target += scale * w;
        let mut i = 0u64;
        while current < target {
            label.clear();
            label.extend_from_slice(&m.name);
            label.extend_from_slice(format!("_{i}").as_bytes());
            entries.push((xxh64(&label, 0), m.index));
            i += 1;
            current += 1.0;
        }
    }
    Table::ring(entries, false)
}

/// Envoy's `RingHashLoadBalancer::Ring` over the hosts in order (the host
/// key is the node name: its address `ip:port` or its hostname).
pub(crate) fn envoy_ring(members: &[Member], min_ring: u64, max_ring: u64) -> Table {
    let refs: Vec<&Member> = members.iter().collect();
    let (hosts, min) = normalized(&refs);
    running_sum(&hosts, min, min_ring, max_ring)
}

/// grpc-go's `newRing`: endpoints sorted by hash key first, sizes capped.
pub(crate) fn grpc_ring(members: &[Member], min_ring: u64, max_ring: u64) -> Table {
    let mut refs: Vec<&Member> = members.iter().collect();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    let (hosts, min) = normalized(&refs);
    running_sum(
        &hosts,
        min,
        min_ring.min(GRPC_RING_CAP),
        max_ring.min(GRPC_RING_CAP),
    )
}

/// Envoy's `MaglevTable`: hosts sorted by key, `xxh64` seeds 0 and 1 for
/// offset and skip, weights normalized by their sum; slot `hash % M`.
pub(crate) fn envoy_maglev(members: &[Member], table_size: u32) -> Result<Table> {
    if members.is_empty() {
        return Ok(Table::Empty);
    }
    let mut refs: Vec<&Member> = members.iter().collect();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    let (hosts, _) = normalized(&refs);
    let entries: Vec<FillEntry> = hosts
        .iter()
        .map(|(m, w)| {
            FillEntry::from_hashes(
                m.index.get(),
                xxh64(&m.name, 0),
                xxh64(&m.name, 1),
                *w,
                table_size,
            )
        })
        .collect();
    let slots = fill(table_size, &entries)?;
    Ok(Table::Slots(
        slots.into_iter().map(crate::node::NodeIndex::new).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeIndex;
    use crate::place::AllUp;

    fn hosts(names: &[&str]) -> Vec<Member> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Member {
                index: NodeIndex::new(i as u32),
                name: n.as_bytes().into(),
                weight: 1,
            })
            .collect()
    }

    /// envoy `test/extensions/load_balancing_policies/ring_hash/
    /// ring_hash_lb_test.cc` `BasicWithHostname` (and `BasicWithMetadataHashKey`):
    /// hosts hashed by the names "90".."95", `minimum_ring_size` 12.
    #[test]
    fn envoy_ring_hash_basic_with_hostname() {
        let m = hosts(&["90", "91", "92", "93", "94", "95"]);
        let ring = envoy_ring(&m, 12, ENVOY_MAX_RING);
        let Table::Ring { points, owners, .. } = &ring else {
            panic!("a ring")
        };
        let want: [(u64, u32); 12] = [
            (1975508444536362413, 5),
            (2376063919839173711, 5),
            (2386806903309390596, 3),
            (6749904478991551885, 4),
            (6803900775736438537, 3),
            (7225015537174310577, 2),
            (8787465352164086522, 0),
            (11282020843382717940, 2),
            (13723418369486627818, 1),
            (13776502110861797421, 0),
            (14338313586354474791, 1),
            (15364271037087512980, 4),
        ];
        let got: Vec<(u64, u32)> = points
            .iter()
            .zip(owners)
            .map(|(p, o)| (*p, o.get()))
            .collect();
        assert_eq!(got, want);
        let live = AllUp(6);
        let route = |h: u64| ring.route(h, &live).unwrap().get();
        assert_eq!(route(0), 5);
        assert_eq!(route(u64::MAX), 5);
        assert_eq!(route(7225015537174310577), 2);
        assert_eq!(route(6803900775736438537), 3);
    }

    /// envoy `maglev_lb_test.cc` `Basic`: hosts 127.0.0.1:90..95, M = 7,
    /// `chooseHost(i)` reads slot `i % 7`.
    #[test]
    fn envoy_maglev_basic() {
        let names: Vec<String> = (90..96).map(|p| format!("127.0.0.1:{p}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let t = envoy_maglev(&hosts(&refs), 7).unwrap();
        let live = AllUp(6);
        let got: Vec<u32> = (0..21u64)
            .map(|i| t.route(i, &live).unwrap().get())
            .collect();
        let want = [2, 4, 0, 1, 5, 0, 3];
        assert_eq!(got, want.repeat(3));
    }

    /// grpc-go `balancer/ringhash/ring.go` and `ring_test.go`: weights
    /// {a:3, b:3, c:4}, min 10, max 20 (as `TestRingPick` builds it) give 3,
    /// 3 and 4 entries `xxh64(hash_key + "_" + i)`, sorted. (The example ring
    /// in `newRing`'s doc comment predates A76: it hashes `addr + global
    /// index`, "a0".."c9", which gives exactly its ten listed hashes; the
    /// code hashes "a_0".."c_3".) Then `TestRingPick` (first entry >= h) and
    /// `TestRingNew` (every size within [min, max], shares near the weights).
    #[test]
    fn grpc_go_ring_vectors() {
        let mut m = hosts(&["a", "b", "c"]);
        m[0].weight = 3;
        m[1].weight = 3;
        m[2].weight = 4;
        let ring = grpc_ring(&m, 10, 20);
        let Table::Ring { points, owners, .. } = &ring else {
            panic!("a ring")
        };
        let got: Vec<(u64, u32)> = points
            .iter()
            .zip(owners)
            .map(|(p, o)| (*p, o.get()))
            .collect();
        let mut want: Vec<(u64, u32)> = [("a", 3, 0), ("b", 3, 1), ("c", 4, 2)]
            .iter()
            .flat_map(|&(k, n, id)| {
                (0..n).map(move |i| (xxh64(format!("{k}_{i}").as_bytes(), 0), id))
            })
            .collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(want[5], (7866922100246443948, 0)); // xxh64("a_0")
        // TestRingPick: the picked entry is the first >= h (h in [low, high)).
        let live = AllUp(3);
        for key in ["1", "2", "3", "4"] {
            let h = xxh64(key.as_bytes(), 0);
            let i = points.partition_point(|&p| p < h) % points.len();
            assert_eq!(ring.route(h, &live), Some(owners[i]));
        }
        // TestRingNew.
        for min in [3u64, 4, 6, 8] {
            for max in [20u64, 8] {
                let ring = grpc_ring(&m, min, max);
                let shares = ring.shares();
                let total: usize = shares.iter().map(|s| s.1).sum();
                assert!(
                    (min as usize..=max as usize).contains(&total),
                    "{min} {max} {total}"
                );
                for (node, count) in shares {
                    let got = count as f64 / total as f64;
                    let want = f64::from(m[node.as_usize()].weight) / 10.0;
                    assert!((got - want).abs() / ((got + want) / 2.0) < 0.25);
                }
            }
        }
    }

    #[test]
    fn grpc_sorts_by_hash_key_and_caps() {
        let m = hosts(&["b:1", "a:1", "c:1"]);
        let ring = grpc_ring(&m, 1024, 8 * 1024 * 1024);
        // min 1024 with three equal weights: scale = ceil(1024/3)·3 = 1026.
        assert_eq!(ring.shares().iter().map(|s| s.1).sum::<usize>(), 1026);
        // The same set in another order builds the same ring.
        let mut n = hosts(&["a:1", "b:1", "c:1"]);
        n[0].index = NodeIndex::new(1);
        n[1].index = NodeIndex::new(0);
        let again = grpc_ring(&n, 1024, 8 * 1024 * 1024);
        let (
            Table::Ring {
                points: p1,
                owners: o1,
                ..
            },
            Table::Ring {
                points: p2,
                owners: o2,
                ..
            },
        ) = (&ring, &again)
        else {
            panic!()
        };
        assert_eq!((p1, o1), (p2, o2));
        // Capped at 4096 whatever is asked.
        let big = grpc_ring(&hosts(&["a", "b"]), 8000, 8000);
        assert_eq!(big.shares().iter().map(|s| s.1).sum::<usize>(), 4096);
    }
}
