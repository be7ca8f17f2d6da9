//! What readers see: an immutable membership plus the health of each node,
//! published together in one atomic swap.

use std::sync::Arc;

use super::algorithm::AnyPlacement;
use super::lease::NodeStats;
use super::picker::AnyPicker;
use crate::hash::key_hash;
use crate::node::{Node, NodeIndex, NodeTable};
use crate::placement::{Liveness, Placement};
use crate::ring::{ReplicaIter, Replicas};

/// Why a node does or does not take traffic.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeHealth {
    /// Takes traffic.
    Up,
    /// Marked down by hand (or by the membership source).
    Down,
    /// Ejected by passive outlier detection until its ejection time is up.
    Ejected,
    /// Its heartbeats stopped: the phi-accrual detector suspects it.
    Unreachable,
}

/// The membership part of a snapshot: rebuilt only when nodes join, leave,
/// change weight or are marked up/down by hand. Health-only changes reuse it.
#[derive(Debug)]
pub(crate) struct Members<T> {
    pub table: NodeTable<T>,
    pub placement: Arc<AnyPlacement>,
    pub picker: AnyPicker,
    pub stats: Vec<Option<Arc<NodeStats>>>,
}

/// Per-node health as lookups see it.
#[derive(Clone, Debug)]
pub(crate) struct HealthView {
    states: Vec<NodeHealth>,
    up: usize,
    members: usize,
    /// Total weight of the up nodes, for bounded-load capacities.
    pub up_weight: f64,
}

impl HealthView {
    pub fn new<T>(states: Vec<NodeHealth>, table: &NodeTable<T>) -> Self {
        let is_up = |i: &NodeIndex| states.get(i.as_usize()) == Some(&NodeHealth::Up);
        let up = table.iter().filter(|(i, _)| is_up(i)).count();
        let up_weight = table
            .iter()
            .filter(|(i, _)| is_up(i))
            .map(|(_, n)| n.weight())
            .sum();
        HealthView {
            states,
            up,
            members: table.len(),
            up_weight,
        }
    }

    pub fn get(&self, node: NodeIndex) -> Option<NodeHealth> {
        self.states.get(node.as_usize()).copied()
    }
}

impl Liveness for HealthView {
    #[inline]
    fn is_up(&self, node: NodeIndex) -> bool {
        self.states.get(node.as_usize()) == Some(&NodeHealth::Up)
    }

    #[inline]
    fn up_count(&self) -> usize {
        self.up
    }

    #[inline]
    fn all_up(&self) -> bool {
        self.up == self.members
    }
}

/// One published state of a [`Router`](super::Router): nodes, placement and
/// health that belong together. Lookups on a snapshot are consistent with
/// each other even while the router moves on.
#[derive(Debug)]
pub struct Snapshot<T> {
    pub(crate) members: Arc<Members<T>>,
    pub(crate) health: HealthView,
    pub(crate) version: u64,
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
        self.health.up
    }

    /// The counters of the node at `index`.
    pub fn stats(&self, index: NodeIndex) -> Option<&NodeStats> {
        self.members.stats.get(index.as_usize())?.as_deref()
    }

    pub(crate) fn stats_arc(&self, index: NodeIndex) -> Option<&Arc<NodeStats>> {
        self.members.stats.get(index.as_usize())?.as_ref()
    }

    /// The up node serving `key`.
    #[inline]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        self.route_hash(key_hash(key.as_ref()))
    }

    /// The up node serving a key hash computed elsewhere.
    #[inline]
    pub fn route_hash(&self, hash: u64) -> Option<NodeIndex> {
        // The ring (the default) gets a small path the caller can inline; a
        // match over every algorithm's lookup is too big to be inlined.
        match &*self.members.placement {
            AnyPlacement::Ring(ring) => ring.route(hash, &self.health),
            other => route_other(other, hash, &self.health),
        }
    }

    /// Routes every key of `keys` into `out` (`out[i]` for `keys[i]`),
    /// overlapping the lookups of independent keys; see
    /// [`Cluster::route_many`](crate::Cluster::route_many). Panics if `out`
    /// is shorter than `keys`.
    pub fn route_many<K: AsRef<[u8]>>(&self, keys: &[K], out: &mut [Option<NodeIndex>]) {
        crate::many::route_keys(&*self.members.placement, &self.health, keys, out)
    }

    /// The primary node of `key` whatever its health (the node
    /// [`GroupBy::Primary`](crate::GroupBy::Primary) groups it under);
    /// `None` only when there is no member.
    pub fn primary<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        let all = crate::placement::AllUp(self.members.table.capacity());
        if self.members.table.is_empty() {
            return None;
        }
        self.members.placement.route(key_hash(key.as_ref()), &all)
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
        let placement = &*self.members.placement;
        out.fill(keys, slots, |keys, owners| match by {
            crate::many::GroupBy::Failover => {
                crate::many::route_keys(placement, &self.health, keys, owners)
            }
            crate::many::GroupBy::Primary => {
                let all = crate::placement::AllUp(slots);
                crate::many::route_keys(placement, &all, keys, owners)
            }
        })
    }

    /// Up to `n` distinct up nodes for `key`, primary first.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Replicas {
        let hash = key_hash(key.as_ref());
        Replicas::fill(n.min(self.health.up), |out| {
            self.members.placement.route_n(hash, &self.health, out)
        })
    }

    /// Writes up to `out.len()` distinct up nodes for `key` into `out`.
    pub fn route_n_into<K: AsRef<[u8]> + ?Sized>(&self, key: &K, out: &mut [NodeIndex]) -> usize {
        self.members
            .placement
            .route_n(key_hash(key.as_ref()), &self.health, out)
    }

    /// Every distinct healthy node for `key` in failover order: the primary,
    /// then each next replica. Never allocates. The ring walks lazily over
    /// every node; other placements offer their first 8 replicas.
    pub fn failover<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Failover<'_> {
        let hash = key_hash(key.as_ref());
        Failover(match self.members.placement.as_ring() {
            Some(ring) => Walk::Ring(ReplicaIter::new(ring, &self.health, hash)),
            None => Walk::Fixed(
                Replicas::fill(self.health.up.min(FIXED_FAILOVER), |out| {
                    self.members.placement.route_n(hash, &self.health, out)
                }),
                0,
            ),
        })
    }
}

#[inline(never)]
fn route_other(placement: &AnyPlacement, hash: u64, health: &HealthView) -> Option<NodeIndex> {
    placement.route(hash, health)
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
