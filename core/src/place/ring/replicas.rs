//! Distinct replicas of a key in ring order, lazily: the failover walk.

use super::RingIndex;
use super::seen::Seen;
use crate::node::NodeIndex;
use crate::place::Liveness;

/// Distinct up nodes for a key in ring order; see [`Ring::replicas`](crate::Ring::replicas).
///
/// Answers are deduplicated with an inline bitset over node indices below
/// 1024 (O(1) each); a larger index is checked by rescanning the arc walked
/// so far. So the iterator never allocates, whatever the node count.
pub struct ReplicaIter<'a, L: ?Sized> {
    ring: &'a RingIndex,
    live: &'a L,
    start: usize,
    steps: usize,
    yielded: usize,
    seen: Seen,
}

impl<'a, L: Liveness + ?Sized> ReplicaIter<'a, L> {
    /// Walks `ring` from `hash`, yielding nodes that `live` says are up.
    pub fn new(ring: &'a RingIndex, live: &'a L, hash: u64) -> Self {
        ReplicaIter {
            ring,
            live,
            start: ring.position(hash).unwrap_or(0),
            steps: 0,
            yielded: 0,
            seen: Seen::new(),
        }
    }

    /// Whether `owner` (seen at `position`) was yielded before; records it.
    fn already_yielded(&mut self, owner: NodeIndex, position: usize) -> bool {
        if let Some(seen) = self.seen.insert(owner) {
            return seen;
        }
        // Every earlier visit of an up node yielded it, so "seen" is "owns a
        // point on the arc walked so far".
        let len = self.ring.slots();
        (0..self.steps).any(|k| {
            let p = (self.start + k) % len;
            p != position && self.ring.owner_at(p) == owner
        })
    }
}

impl<L: Liveness + ?Sized> Iterator for ReplicaIter<'_, L> {
    type Item = NodeIndex;

    fn next(&mut self) -> Option<NodeIndex> {
        // Positions are slots: a gap repeats the next point's owner, which
        // the deduplication below skips.
        let len = if self.ring.is_empty() {
            0
        } else {
            self.ring.slots()
        };
        while self.yielded < self.live.up_count() && self.steps < len {
            let position = (self.start + self.steps) % len;
            let owner = self.ring.owner_at(position);
            let fresh = self.live.is_up(owner) && !self.already_yielded(owner, position);
            self.steps += 1;
            if fresh {
                self.yielded += 1;
                return Some(owner);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.live.up_count().saturating_sub(self.yielded)))
    }
}

impl<L: Liveness + ?Sized> std::iter::FusedIterator for ReplicaIter<'_, L> {}
