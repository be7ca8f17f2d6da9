//! What readers see: an immutable membership plus the health of each node,
//! published together in one atomic swap.

use std::sync::Arc;
use std::time::Duration;

use super::algorithm::AnyPlacement;
use super::lease::NodeStats;
use super::picker::AnyPicker;
use super::tiers::{TierShare, TierView, Tiers};
use super::view::{HealthView, NodeHealth};
use crate::hash::key_hash;
use crate::node::{Node, NodeIndex, NodeTable};
use crate::pick;
use crate::place::Replicas;
use crate::place::ring::{RawIndex, ReplicaIter};
use crate::place::{Liveness, Placement};

/// The membership part of a snapshot: rebuilt only when nodes join, leave,
/// change weight or are marked up/down by hand. Health-only changes reuse it.
#[derive(Debug)]
pub(crate) struct Members<T> {
    pub table: NodeTable<T>,
    pub placement: Arc<AnyPlacement>,
    pub picker: AnyPicker,
    pub stats: Vec<Option<Arc<NodeStats>>>,
    /// Per-tier placements, when the nodes span two tiers or more.
    pub tiers: Option<Arc<Tiers>>,
}

/// One published state of a [`Router`](super::Router): nodes, placement and
/// health that belong together. Lookups on a snapshot are consistent with
/// each other even while the router moves on.
#[derive(Debug)]
pub struct Snapshot<T> {
    pub(crate) members: Arc<Members<T>>,
    /// `members.placement` again, one pointer nearer: every lookup starts
    /// here, and on a big ring each hop of the chain is a load that waits
    /// for the one before.
    pub(crate) placement: Arc<AnyPlacement>,
    pub(crate) health: HealthView,
    pub(crate) version: u64,
    /// The tiers' shares under this health (set iff `members.tiers` is).
    pub(crate) tiers: Option<Box<TierView>>,
}

impl<T> Snapshot<T> {
    /// Increases by one with every publication.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The members. Every node in it is [`Up`](crate::NodeState::Up):
    /// a router keeps manual state with the rest of the health, so that
    /// marking a node down publishes no copy of the table; ask
    /// [`health`](Snapshot::health) (`NodeHealth::Down` is a manual mark).
    pub fn nodes(&self) -> &NodeTable<T> {
        &self.members.table
    }

    /// The placement the lookups of this snapshot use.
    pub fn placement(&self) -> &AnyPlacement {
        &self.placement
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> Option<&Node<T>> {
        self.members.table.get(index)
    }

    /// The index of the node named `name`.
    pub fn index_of<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Option<NodeIndex> {
        self.members.table.index_of(name.as_ref())
    }

    /// Health of the node at `index`.
    pub fn health(&self, index: NodeIndex) -> Option<NodeHealth> {
        self.members.table.get(index)?;
        self.health.get(index)
    }

    /// Number of nodes taking traffic.
    pub fn up_count(&self) -> usize {
        self.health.up_count()
    }

    /// The counters of the node at `index`.
    pub fn stats(&self, index: NodeIndex) -> Option<&NodeStats> {
        self.members.stats.get(index.as_usize())?.as_deref()
    }

    pub(crate) fn stats_arc(&self, index: NodeIndex) -> Option<&Arc<NodeStats>> {
        self.members.stats.get(index.as_usize())?.as_ref()
    }

    /// The up node serving `key`.
    #[inline(always)]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        // The ring hashes keys with the native xxh3: inline it; any other
        // placement asks its own key hash once, out of line.
        match &*self.placement {
            AnyPlacement::Ring(ring) => ring.route(key_hash(key.as_ref()), &self.health),
            _ => self.route_other(self.key_hash(key)),
        }
    }

    /// The all-up ring lookup's view of this snapshot's points, for a
    /// reader that holds it (see `RawIndex`): `None` unless the placement
    /// is a non-empty ring and every node is up, when `route` is exactly
    /// that lookup on the key's xxh3.
    pub(crate) fn raw_ring(&self) -> Option<RawIndex> {
        match &*self.placement {
            AnyPlacement::Ring(ring) if self.health.all_up() => ring.raw(),
            _ => None,
        }
    }

    /// The hash [`route_hash`](Snapshot::route_hash) expects for `key`: the
    /// placement's own key hash (xxh3 unless a compatibility mode says
    /// otherwise).
    #[inline]
    pub fn key_hash<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> u64 {
        match &self.members.tiers {
            Some(tiers) => tiers.key_hash(key.as_ref()),
            None => self.placement.key_hash(key.as_ref()),
        }
    }

    /// The up node serving a key hash computed elsewhere (with
    /// [`key_hash`](Snapshot::key_hash)).
    #[inline]
    pub fn route_hash(&self, hash: u64) -> Option<NodeIndex> {
        // The ring (the default) gets a small path the caller can inline; a
        // match over every algorithm's lookup is too big to be inlined. A
        // tiered router's placement is never a ring (see `tiers::stand_in`),
        // so the tiers cost the untiered path nothing.
        match &*self.placement {
            AnyPlacement::Ring(ring) => ring.route(hash, &self.health),
            _ => self.route_other(hash),
        }
    }

    /// Routes every key of `keys` into `out` (`out[i]` for `keys[i]`),
    /// overlapping the lookups of independent keys; see
    /// [`Cluster::route_many`](crate::Cluster::route_many). Panics if `out`
    /// is shorter than `keys`.
    pub fn route_many<K: AsRef<[u8]>>(&self, keys: &[K], out: &mut [Option<NodeIndex>]) {
        if self.members.tiers.is_some() {
            // Each key first picks its tier: one lookup at a time.
            assert!(
                out.len() >= keys.len(),
                "route_many: `out` is shorter than `keys`"
            );
            for (out, key) in out.iter_mut().zip(keys) {
                *out = self.route(key);
            }
            return;
        }
        self.placement.route_keys(&self.health, keys, out)
    }

    /// The placement a key's primary comes from: the router's, or for a
    /// tiered router its top tier's.
    fn primary_placement(&self) -> &AnyPlacement {
        match &self.members.tiers {
            Some(tiers) => tiers.top_placement(),
            None => &self.placement,
        }
    }

    /// The primary node of `key` whatever its health (the node
    /// [`GroupBy::Primary`](crate::GroupBy::Primary) groups it under; for a
    /// tiered router, its node in the top tier); `None` only when there is
    /// no member.
    pub fn primary<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        let all = crate::place::AllUp(self.members.table.capacity());
        if self.members.table.is_empty() {
            return None;
        }
        let placement = self.primary_placement();
        placement.route(placement.key_hash(key.as_ref()), &all)
    }

    /// Splits `keys` into one batch per node; see
    /// [`Cluster::group`](crate::Cluster::group).
    pub fn group<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        by: crate::many::GroupBy,
        out: &mut crate::many::KeyGroups,
    ) -> crate::Result<()> {
        let slots = self.members.table.capacity();
        out.fill(keys, slots, |keys, owners| match by {
            crate::many::GroupBy::Failover => self.route_many(keys, owners),
            crate::many::GroupBy::Primary => {
                let all = crate::place::AllUp(slots);
                self.primary_placement().route_keys(&all, keys, owners)
            }
        })
    }

    /// Up to `n` distinct up nodes for `key`, primary first.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Replicas {
        let hash = self.key_hash(key);
        Replicas::fill(n.min(self.health.up_count()), |out| {
            self.route_n_hash_into(hash, out)
        })
    }

    /// Writes up to `out.len()` distinct up nodes for `key` into `out`.
    pub fn route_n_into<K: AsRef<[u8]> + ?Sized>(&self, key: &K, out: &mut [NodeIndex]) -> usize {
        self.route_n_hash_into(self.key_hash(key), out)
    }

    /// Every distinct healthy node for `key` in failover order: the primary,
    /// then each next replica. Never allocates. The ring walks lazily over
    /// every node; other placements, and a tiered router (the key's tier
    /// first, then the next), offer their first 8 replicas.
    pub fn failover<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Failover<'_> {
        let hash = self.key_hash(key);
        Failover(match self.placement.as_ring() {
            Some(ring) if self.tiers.is_none() => {
                Walk::Ring(ReplicaIter::new(ring, &self.health, hash))
            }
            _ => Walk::Fixed(
                Replicas::fill(self.health.up_count().min(FIXED_FAILOVER), |out| {
                    self.route_n_hash_into(hash, out)
                }),
                0,
            ),
        })
    }
}

impl<T> Snapshot<T> {
    /// Writes up to `out.len()` distinct up nodes for a key hash computed
    /// elsewhere into `out`, primary first (a tiered router walks the key's
    /// tier first, then the next).
    pub fn route_n_hash_into(&self, hash: u64, out: &mut [NodeIndex]) -> usize {
        match (&self.tiers, &self.members.tiers) {
            (Some(view), Some(tiers)) => tiers.route_n(view, &self.health, hash, out),
            _ => self.placement.route_n(hash, &self.health, out),
        }
    }

    #[inline(never)]
    fn route_other(&self, hash: u64) -> Option<NodeIndex> {
        match (&self.tiers, &self.members.tiers) {
            (Some(view), Some(tiers)) => tiers.route(view, &self.health, hash),
            _ => self.placement.route(hash, &self.health),
        }
    }

    /// Whether the nodes span two tiers or more (lookups then choose a tier first).
    pub fn is_tiered(&self) -> bool {
        self.tiers.is_some()
    }

    /// The tier `key` is routed to under the current health.
    pub fn key_tier<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<u32> {
        match (&self.tiers, &self.members.tiers) {
            (Some(view), Some(tiers)) => Some(tiers.tier_of(view, self.key_hash(key))),
            _ => self.members.table.iter().next().map(|(_, n)| n.tier()),
        }
    }

    /// Every tier, highest priority first, with the share of keys and picks
    /// it takes under the current health (an untiered router has one tier
    /// with share 1). Allocates: for reports, not for lookups.
    pub fn tiers(&self) -> Vec<TierShare> {
        if let (Some(view), Some(tiers)) = (&self.tiers, &self.members.tiers) {
            return tiers.shares(view);
        }
        let table = &self.members.table;
        let Some((_, first)) = table.iter().next() else {
            return Vec::new();
        };
        vec![TierShare {
            tier: first.tier(),
            share: 1.0,
            up: self.health.up_count(),
            nodes: table.len(),
            up_weight: self.health.up_weight,
            weight: table.iter().map(|(_, n)| n.weight()).sum(),
        }]
    }
}

/// Replicas a non-ring placement offers for failover.
const FIXED_FAILOVER: usize = 8;

/// Distinct healthy nodes for a key, primary first; see [`Snapshot::failover`].
pub struct Failover<'a>(Walk<'a>);

enum Walk<'a> {
    Ring(ReplicaIter<'a, HealthView>),
    Fixed(Replicas, usize),
}

impl Iterator for Failover<'_> {
    type Item = NodeIndex;

    fn next(&mut self) -> Option<NodeIndex> {
        match &mut self.0 {
            Walk::Ring(walk) => walk.next(),
            Walk::Fixed(nodes, next) => {
                let node = nodes.get(*next).copied();
                *next += 1;
                node
            }
        }
    }
}

/// The per-node signals of a snapshot, as the pickers read them.
pub(crate) struct SnapshotLoads<'a, T> {
    pub snapshot: &'a Snapshot<T>,
    pub decay: Duration,
}

impl<T> pick::Loads for SnapshotLoads<'_, T> {
    #[inline]
    fn in_flight(&self, node: NodeIndex) -> u32 {
        self.snapshot.stats(node).map_or(0, |s| s.in_flight())
    }

    #[inline]
    fn cost(&self, node: NodeIndex, now: Duration) -> f64 {
        self.snapshot
            .stats(node)
            .map_or(0.0, |s| s.latency().cost(now, self.decay))
    }

    #[inline]
    fn log_cost(&self, node: NodeIndex, _now: Duration) -> f64 {
        self.snapshot
            .stats(node)
            .map_or(f64::NEG_INFINITY, |s| s.latency().log_cost())
    }

    #[inline]
    fn log_load(&self, node: NodeIndex, _now: Duration) -> f64 {
        self.snapshot
            .stats(node)
            .map_or(f64::NEG_INFINITY, |s| s.load().log_load())
    }
}
