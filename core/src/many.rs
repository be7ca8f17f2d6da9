//! Routing many keys at once, and splitting them into one batch per node
//! for a multi-get (a memcached `get_multi`, a fan-out RPC).
//!
//! A single lookup is a short chain of dependent loads (bucket, points,
//! owner), each a likely cache miss on a large ring, so one key at a time
//! leaves the memory system idle while it waits. The ring's batch lookup is
//! a software pipeline: while key `i` is scanned, the bucket entry of key
//! `i + BATCH` and the points and owner of key `i + BATCH / 2` are already
//! being fetched (a prefetch hint on x86-64; elsewhere out-of-order
//! execution alone overlaps what it can), so the misses of different keys
//! overlap. Nothing allocates.
//!
//! [`KeyGroups`] lays the answer out for fan-out: the owner of each key, the
//! distinct nodes in order of first appearance, and the key positions of
//! each node contiguous (`positions[offsets[g]..offsets[g + 1]]`).
//!
//! [`route_many`]: crate::Cluster::route_many

use crate::node::NodeIndex;

/// How many keys ahead the ring's batch lookup fetches bucket entries.
pub const BATCH: usize = 16;

/// Which node a key is grouped under.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// The node that serves the key now: a down node's keys go to the next
    /// up replica (the same answer as `route`).
    #[default]
    Failover,
    /// The key's primary whatever its health (for callers that handle
    /// failures themselves).
    Primary,
}

/// Keys split by node: see the [module docs](self).
///
/// Reuse one across calls: its buffers are kept, so grouping allocates only
/// while it grows.
#[derive(Clone, Debug, Default)]
pub struct KeyGroups {
    owners: Vec<Option<NodeIndex>>,
    nodes: Vec<NodeIndex>,
    offsets: Vec<u32>,
    positions: Vec<u32>,
    unrouted: Vec<u32>,
    /// Per node slot: its group + 1, 0 for none (scratch).
    group_of: Vec<u32>,
}

impl KeyGroups {
    /// Empty groups.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node of each key, by key position (`None`: no node is up).
    pub fn owners(&self) -> &[Option<NodeIndex>] {
        &self.owners
    }

    /// Number of groups (distinct nodes).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no key was routed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The distinct nodes, in order of their first key.
    pub fn nodes(&self) -> &[NodeIndex] {
        &self.nodes
    }

    /// Group `g` starts at `offsets()[g]` in [`positions`](KeyGroups::positions)
    /// and ends at `offsets()[g + 1]` (`len() + 1` entries).
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Key positions grouped by node, ascending within each group.
    pub fn positions(&self) -> &[u32] {
        &self.positions
    }

    /// Node and key positions of group `g`.
    pub fn group(&self, g: usize) -> (NodeIndex, &[u32]) {
        let (from, to) = (self.offsets[g] as usize, self.offsets[g + 1] as usize);
        (self.nodes[g], &self.positions[from..to])
    }

    /// Every group: `(node, key positions)`.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (NodeIndex, &[u32])> + '_ {
        (0..self.len()).map(|g| self.group(g))
    }

    /// Positions of the keys no node serves (no node up).
    pub fn unrouted(&self) -> &[u32] {
        &self.unrouted
    }

    /// Routes `keys` with `route` (which fills owners) and groups them.
    /// `slots` is the node table's capacity. Fails (changing nothing
    /// observable but the buffers) if there are more than `u32::MAX` keys.
    pub(crate) fn fill<K: AsRef<[u8]>>(
        &mut self,
        keys: &[K],
        slots: usize,
        route: impl FnOnce(&[K], &mut [Option<NodeIndex>]),
    ) -> crate::Result<()> {
        if u32::try_from(keys.len()).is_err() {
            return Err(crate::Error::InvalidParameter(
                "too many keys to group (at most 2^32 - 1)",
            ));
        }
        self.owners.clear();
        self.owners.resize(keys.len(), None);
        route(keys, &mut self.owners);
        self.nodes.clear();
        self.offsets.clear();
        self.unrouted.clear();
        self.group_of.clear();
        self.group_of.resize(slots, 0);
        // Pass 1: number the groups and count their keys (in `offsets`,
        // shifted by one so the prefix sum lands in place).
        self.offsets.push(0);
        for (k, owner) in self.owners.iter().enumerate() {
            let Some(node) = owner else {
                self.unrouted.push(k as u32);
                continue;
            };
            let g = &mut self.group_of[node.as_usize()];
            if *g == 0 {
                self.nodes.push(*node);
                self.offsets.push(0);
                *g = self.nodes.len() as u32;
            }
            self.offsets[*g as usize] += 1;
        }
        for g in 1..self.offsets.len() {
            self.offsets[g] += self.offsets[g - 1];
        }
        // Pass 2: place each key at its group's cursor (`group_of` reused
        // as the cursors, offsets untouched).
        let routed = keys.len() - self.unrouted.len();
        self.positions.clear();
        self.positions.resize(routed, 0);
        for (g, node) in self.nodes.iter().enumerate() {
            self.group_of[node.as_usize()] = self.offsets[g];
        }
        for (k, owner) in self.owners.iter().enumerate() {
            if let Some(node) = owner {
                let cursor = &mut self.group_of[node.as_usize()];
                self.positions[*cursor as usize] = k as u32;
                *cursor += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Ring;
    use crate::many::{GroupBy, KeyGroups};

    fn ring() -> Ring {
        (0..20)
            .fold(Ring::builder(), |b, i| b.node(&format!("n{i}"), 1.0))
            .build()
            .unwrap()
    }

    #[test]
    fn route_many_equals_route_at_every_pipeline_edge() {
        // Shorter than the fetch distances, around them, and around the
        // 256-key blocks the keys are hashed in.
        let ring = ring();
        let keys: Vec<String> = (0..600).map(|i| format!("edge-{i}")).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 31, 255, 256, 257, 513, 600] {
            let mut out = vec![None; len];
            ring.route_many(&keys[..len], &mut out);
            for (k, o) in keys[..len].iter().zip(&out) {
                assert_eq!(*o, ring.route(k), "{len} keys");
            }
            // The same pipeline fed hashes instead of keys.
            let hashes: Vec<u64> = keys[..len]
                .iter()
                .map(|k| crate::hash::key_hash(k.as_bytes()))
                .collect();
            let mut by_hash = vec![None; len];
            ring.route_many_hashes(&hashes, &mut by_hash);
            assert_eq!(by_hash, out, "{len} hashes");
        }
    }

    #[test]
    fn route_many_equals_route() {
        let mut ring = ring();
        let keys: Vec<String> = (0..1000).map(|i| format!("key-{i}")).collect();
        for down in [None, Some("n3")] {
            if let Some(d) = down {
                ring.mark_down(d).unwrap();
            }
            let mut out = vec![None; keys.len() + 3];
            ring.route_many(&keys, &mut out);
            for (k, o) in keys.iter().zip(&out) {
                assert_eq!(*o, ring.route(k));
            }
            assert_eq!(out[keys.len()..], [None, None, None]);
        }
    }

    #[test]
    fn groups_partition_the_keys() {
        let mut ring = ring();
        ring.mark_down("n5").unwrap();
        let keys: Vec<String> = (0..3000).map(|i| format!("key-{i}")).collect();
        let mut groups = KeyGroups::new();
        for by in [GroupBy::Failover, GroupBy::Primary] {
            ring.group(&keys, by, &mut groups).unwrap();
            let mut seen = vec![false; keys.len()];
            assert_eq!(groups.offsets().len(), groups.len() + 1);
            assert_eq!(*groups.offsets().last().unwrap() as usize, keys.len());
            for (node, positions) in groups.iter() {
                assert!(positions.windows(2).all(|w| w[0] < w[1]));
                for &p in positions {
                    assert!(!std::mem::replace(&mut seen[p as usize], true));
                    assert_eq!(groups.owners()[p as usize], Some(node));
                    let hash = crate::hash::key_hash(keys[p as usize].as_bytes());
                    let want = match by {
                        GroupBy::Failover => ring.route_hash(hash),
                        GroupBy::Primary => ring
                            .placement()
                            .position(hash)
                            .map(|i| ring.placement().owner_at(i)),
                    };
                    assert_eq!(Some(node), want);
                }
            }
            assert!(seen.iter().all(|&s| s));
            let n5 = ring.index_of("n5").unwrap();
            assert_eq!(groups.nodes().contains(&n5), by == GroupBy::Primary);
        }
        // No node up: every key is unrouted.
        for i in 0..20 {
            ring.mark_down(&format!("n{i}")).unwrap();
        }
        ring.group(&keys, GroupBy::Failover, &mut groups).unwrap();
        assert!(groups.is_empty());
        assert_eq!(groups.unrouted().len(), keys.len());
        assert_eq!(groups.offsets(), &[0]);
    }
}
