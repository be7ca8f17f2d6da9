//! Sticky placement: which node owns a key, by algorithms that keep keys
//! where they are as nodes join, leave, change weight or go down.
//!
//! Every algorithm here implements [`Placement`]: the lookup structure alone
//! (ring points, a Maglev table, jump buckets, ...), built from a
//! [`NodeTable`] and answering with [`NodeIndex`]es. Which nodes are up is
//! asked of a [`Liveness`] at lookup time, so a health change never rebuilds
//! anything, and the same placement serves a single-threaded [`Cluster`]
//! (liveness from its own table) and the concurrent
//! [`Router`](crate::router::Router) (liveness from the snapshot's health).
//!
//! | module | placement |
//! | --- | --- |
//! | [`ring`] | the native hash ring (spec v2): weighted virtual nodes, replica walks, bounded loads |
//! | [`jump`] | jump consistent hash with MementoHash removals (unweighted) |
//! | [`jumpback`] | JumpBackHash (Ertl 2024) with MementoHash removals (unweighted) |
//! | [`rendezvous`] | weighted rendezvous hashing (highest random weight) |
//! | [`maglev`] | Maglev's prime lookup table, weighted fill |
//! | [`compat`] | placements bit-compatible with libmemcached, twemproxy, Envoy, gRPC, nginx, ... |
//!
//! Requests without a key are [`pick`](crate::pick)'s business, and
//! [`router::Algorithm`](crate::router::Algorithm) chooses among these
//! placements by configuration.

mod cluster;
pub mod compat;
pub mod jump;
pub mod jumpback;
pub mod maglev;
pub mod rendezvous;
mod replicas;
pub mod ring;

pub use cluster::Cluster;
pub use replicas::Replicas;

use crate::error::Result;
use crate::node::{NodeIndex, NodeTable};

/// Which nodes a lookup may return.
pub trait Liveness {
    /// Whether `node` exists and is up.
    fn is_up(&self, node: NodeIndex) -> bool;

    /// How many nodes are up.
    fn up_count(&self) -> usize;

    /// True when every node is up: lets lookups skip the health check.
    fn all_up(&self) -> bool;
}

impl<T> Liveness for NodeTable<T> {
    #[inline]
    fn is_up(&self, node: NodeIndex) -> bool {
        NodeTable::is_up(self, node)
    }

    #[inline]
    fn up_count(&self) -> usize {
        NodeTable::up_count(self)
    }

    #[inline]
    fn all_up(&self) -> bool {
        NodeTable::up_count(self) == self.len()
    }
}

/// Every node is up: for lookups that ignore health.
#[derive(Copy, Clone, Debug)]
pub struct AllUp(pub usize);

impl Liveness for AllUp {
    #[inline]
    fn is_up(&self, node: NodeIndex) -> bool {
        node.as_usize() < self.0
    }

    #[inline]
    fn up_count(&self) -> usize {
        self.0
    }

    #[inline]
    fn all_up(&self) -> bool {
        true
    }
}

/// A sticky key → node structure over a [`NodeTable`].
///
/// The owner ([`Cluster`] or a router) validates a change
/// with the `check_*` methods *before* touching the table, then applies it
/// to the table, then tells the placement; so the notifications cannot fail
/// and a refused change leaves everything as it was.
pub trait Placement: Clone + Send + Sync {
    /// The hash this placement looks `key` up by.
    ///
    /// The native placements use [`key_hash`](crate::hash::key_hash)
    /// (xxh3), the default; a compatibility mode hashes keys as its peer does
    /// (md5, crc32, one-at-a-time, ...). Owners ([`Cluster`],
    /// the router) call this once per lookup and hand the result to
    /// [`route`](Placement::route), so `route_hash` callers must hash the same
    /// way.
    #[inline(always)]
    fn key_hash(&self, key: &[u8]) -> u64 {
        crate::hash::key_hash(key)
    }

    /// Whether a node of `weight` may join `nodes` (which does not hold it yet).
    fn check_add<T>(&self, nodes: &NodeTable<T>, weight: f64) -> Result<()>;

    /// Whether `node` may take `weight`.
    fn check_weight<T>(&self, nodes: &NodeTable<T>, node: NodeIndex, weight: f64) -> Result<()>;

    /// Whether a whole table is acceptable (for bulk builds).
    fn check_table<T>(&self, nodes: &NodeTable<T>) -> Result<()>;

    /// Recomputes the structure from `nodes`.
    fn rebuild<T>(&mut self, nodes: &NodeTable<T>);

    /// `node` was just inserted into `nodes`.
    fn node_added<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        let _ = node;
        self.rebuild(nodes);
    }

    /// `node` was just removed from `nodes`.
    fn node_removed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        let _ = node;
        self.rebuild(nodes);
    }

    /// `node`'s weight just changed from `old`.
    fn weight_changed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex, old: f64) {
        let _ = (node, old);
        self.rebuild(nodes);
    }

    /// The up node serving a key whose hash is `hash`; `None` if none is up.
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex>;

    /// Routes each of `hashes` into `out` (`out[i]` for `hashes[i]`, `out`
    /// at least as long): the same answers as [`route`](Placement::route).
    /// Placements override it to overlap the cache misses of independent
    /// lookups.
    fn route_hashes<L: Liveness + ?Sized>(
        &self,
        hashes: &[u64],
        live: &L,
        out: &mut [Option<NodeIndex>],
    ) {
        for (out, &hash) in out.iter_mut().zip(hashes) {
            *out = self.route(hash, live);
        }
    }

    /// Fills `out` with up to `out.len()` distinct up nodes for `hash`,
    /// primary first, and returns how many it wrote. Never allocates.
    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize;
}

/// Keys hashed per call of [`Placement::route_hashes`] in [`route_keys`].
const KEY_BLOCK: usize = 256;

/// Routes `keys` into `out` (`out[i]` for `keys[i]`), [`KEY_BLOCK`] at a time:
/// the batch lookups behind every `route_many`.
///
/// Panics if `out` is shorter than `keys`.
pub(crate) fn route_keys<P, L, K>(
    placement: &P,
    live: &L,
    keys: &[K],
    out: &mut [Option<NodeIndex>],
) where
    P: Placement,
    L: Liveness + ?Sized,
    K: AsRef<[u8]>,
{
    assert!(
        out.len() >= keys.len(),
        "route_many: `out` is shorter than `keys`"
    );
    // Blocks of keys much longer than a batch: a placement that pipelines
    // its lookups (the ring) restarts its pipeline once per block.
    let mut hashes = [0u64; KEY_BLOCK];
    for (keys, out) in keys.chunks(KEY_BLOCK).zip(out.chunks_mut(KEY_BLOCK)) {
        for (h, k) in hashes.iter_mut().zip(keys) {
            *h = placement.key_hash(k.as_ref());
        }
        placement.route_hashes(&hashes[..keys.len()], live, out);
    }
}
