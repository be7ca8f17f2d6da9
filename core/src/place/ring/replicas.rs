//! Distinct replicas of a key: a stack-allocated list and a lazy iterator.

use smallvec::SmallVec;

use super::RingIndex;
use super::seen::Seen;
use crate::node::NodeIndex;
use crate::place::Liveness;

/// Distinct nodes for one key, primary first. Holds up to 8 without
/// touching the heap; dereferences to `[NodeIndex]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replicas(SmallVec<[NodeIndex; 8]>);

impl Replicas {
    /// Up to `want` nodes written by `fill` into a buffer of that size.
    #[inline]
    pub(crate) fn fill(want: usize, fill: impl FnOnce(&mut [NodeIndex]) -> usize) -> Self {
        if want <= 8 {
            // A plain array and one length: no per-element push, so
            // `route_n(key, 3)` costs what `route_n_into` does.
            let mut buf = [NodeIndex::new(0); 8];
            let found = fill(&mut buf[..want]);
            return Replicas(SmallVec::from_buf_and_len(buf, found));
        }
        let mut nodes = SmallVec::from_elem(NodeIndex::new(0), want);
        let found = fill(&mut nodes);
        nodes.truncate(found);
        Replicas(nodes)
    }

    /// The nodes as a slice.
    pub fn as_slice(&self) -> &[NodeIndex] {
        &self.0
    }
}

impl std::ops::Deref for Replicas {
    type Target = [NodeIndex];

    fn deref(&self) -> &[NodeIndex] {
        &self.0
    }
}

impl IntoIterator for Replicas {
    type Item = NodeIndex;
    type IntoIter = smallvec::IntoIter<[NodeIndex; 8]>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Replicas {
    type Item = &'a NodeIndex;
    type IntoIter = std::slice::Iter<'a, NodeIndex>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

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
        let len = self.ring.len();
        (0..self.steps).any(|k| {
            let p = (self.start + k) % len;
            p != position && self.ring.owner_at(p) == owner
        })
    }
}

impl<L: Liveness + ?Sized> Iterator for ReplicaIter<'_, L> {
    type Item = NodeIndex;

    fn next(&mut self) -> Option<NodeIndex> {
        let len = self.ring.len();
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
