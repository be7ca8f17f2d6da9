//! Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
//! "Consistent Hashing with Bounded Loads", SODA 2018).
//!
//! Plain consistent hashing lets a hot arc overload its node. With a bound
//! factor `c >= 1`, no up node takes more than `⌈c · (m + 1) · w / W⌉` of the
//! `m` units in flight (the new one included), where `w` is its weight and
//! `W` the up nodes' total weight: the weighted form of the paper's
//! `⌈c · average⌉`. A key goes to the first node clockwise from its hash that
//! is up and under that capacity, so it stays sticky while loads are even and
//! spills to its next replicas, in ring order, when its node is full.
//!
//! The capacities add up to at least `m + 1`, so some node always has room
//! when the loads are consistent; if a caller's counts are not (a total that
//! does not match the per-node loads), the walk gives up after one lap and
//! falls back to the plain route rather than failing.

use std::sync::atomic::{AtomicU64, Ordering};

use super::RingIndex;
use crate::error::{Error, Result};
use crate::node::NodeIndex;
use crate::place::{Liveness, Placement};

/// Current load per node, as bounded-load routing reads it.
pub trait Loads {
    /// Units (requests, keys, connections) `node` holds now.
    fn load(&self, node: NodeIndex) -> u64;

    /// Units held by all nodes together.
    fn total(&self) -> u64;
}

/// Per-node load counters that many threads may update at once.
///
/// Call [`acquire`](LoadCounts::acquire) with the node that
/// [`route_bounded`](crate::Cluster::route_bounded) chose and
/// [`release`](LoadCounts::release) when the unit is done.
#[derive(Debug, Default)]
pub struct LoadCounts {
    counts: Vec<AtomicU64>,
    total: AtomicU64,
}

impl LoadCounts {
    /// Counters for node indices `0..capacity` (use the node table's
    /// [`capacity`](crate::NodeTable::capacity)).
    pub fn new(capacity: usize) -> Self {
        LoadCounts {
            counts: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
        }
    }

    /// One more unit on `node`. Indices past the capacity are ignored.
    pub fn acquire(&self, node: NodeIndex) {
        if let Some(c) = self.counts.get(node.as_usize()) {
            c.fetch_add(1, Ordering::Relaxed);
            self.total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One unit fewer on `node`; never goes below zero.
    pub fn release(&self, node: NodeIndex) {
        let Some(c) = self.counts.get(node.as_usize()) else {
            return;
        };
        let dec = |v: u64| v.checked_sub(1);
        if c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, dec)
            .is_ok()
        {
            let _ = self
                .total
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, dec);
        }
    }
}

impl Loads for LoadCounts {
    fn load(&self, node: NodeIndex) -> u64 {
        self.counts
            .get(node.as_usize())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Plain per-node counts (indexed by [`NodeIndex::as_usize`]); the total is summed.
impl Loads for [u64] {
    fn load(&self, node: NodeIndex) -> u64 {
        self.get(node.as_usize()).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.iter().sum()
    }
}

/// The bound factor `c` (finite, `>= 1`; 1.25 is a common choice).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LoadBound(f64);

impl LoadBound {
    /// Checks and wraps `c`.
    pub fn new(c: f64) -> Result<Self> {
        if c.is_finite() && c >= 1.0 {
            Ok(LoadBound(c))
        } else {
            Err(Error::InvalidParameter(
                "load bound factor must be finite and at least 1",
            ))
        }
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }

    /// Most units a node of `weight` may hold once `placed` units are
    /// placed, when the up nodes weigh `up_weight` in total.
    pub fn capacity(self, placed: u64, weight: f64, up_weight: f64) -> u64 {
        (self.0 * placed as f64 * weight / up_weight).ceil() as u64
    }
}

impl RingIndex {
    /// The first up node clockwise from `hash` whose load is under its
    /// capacity (see the module docs); `weight_of` gives a node's weight and
    /// `up_weight` the up nodes' total.
    pub fn route_bounded<L, D, W>(
        &self,
        hash: u64,
        live: &L,
        loads: &D,
        bound: LoadBound,
        weight_of: W,
        up_weight: f64,
    ) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
        W: Fn(NodeIndex) -> f64,
    {
        let start = self.position(hash)?;
        if live.up_count() == 0 {
            return None;
        }
        let placed = loads.total() + 1;
        // Slots: a gap repeats the next point's owner.
        let len = self.slots();
        for step in 0..len {
            let owner = self.owner_at((start + step) % len);
            if live.is_up(owner)
                && loads.load(owner) < bound.capacity(placed, weight_of(owner), up_weight)
            {
                return Some(owner);
            }
        }
        self.route(hash, live)
    }
}
