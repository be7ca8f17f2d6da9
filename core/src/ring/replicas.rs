//! Distinct replicas of a key: a stack-allocated list and a lazy iterator.

use smallvec::SmallVec;

use super::Ring;
use crate::node::NodeIndex;

/// Distinct nodes for one key, primary first. Holds up to 8 without
/// touching the heap; dereferences to `[NodeIndex]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replicas(SmallVec<[NodeIndex; 8]>);

impl Replicas {
    pub(crate) fn new() -> Self {
        Replicas(SmallVec::new())
    }

    /// Fills with up to `n` distinct up nodes from `hash`.
    pub(crate) fn fill<T>(&mut self, ring: &Ring<T>, hash: u64, n: usize) {
        let want = n.min(ring.up_count());
        self.0.clear();
        self.0.resize(want, NodeIndex::new(0));
        let found = ring.route_n_hash_into(hash, &mut self.0);
        self.0.truncate(found);
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

/// How many yielded nodes [`ReplicaIter`] remembers inline; past that it
/// checks for repeats by rescanning the arc it has walked.
const INLINE_SEEN: usize = 16;

/// Distinct up nodes for a key in ring order; see [`Ring::replicas`].
///
/// The first `INLINE_SEEN` (16) answers are deduplicated against an inline
/// list, later ones by rescanning the walked arc, so the iterator never
/// allocates, whatever the node count.
pub struct ReplicaIter<'a, T> {
    ring: &'a Ring<T>,
    start: usize,
    steps: usize,
    yielded: usize,
    seen: [u32; INLINE_SEEN],
}

impl<'a, T> ReplicaIter<'a, T> {
    pub(crate) fn new(ring: &'a Ring<T>, hash: u64) -> Self {
        let start = if ring.point_count() == 0 {
            0
        } else {
            ring.raw_points().find(hash)
        };
        ReplicaIter {
            ring,
            start,
            steps: 0,
            yielded: 0,
            seen: [0; INLINE_SEEN],
        }
    }

    fn already_yielded(&self, owner: u32, position: usize) -> bool {
        if self.yielded <= INLINE_SEEN {
            return self.seen[..self.yielded].contains(&owner);
        }
        // Every earlier visit of an up node yielded it, so "seen" is "owns a
        // point on the arc walked so far".
        let points = self.ring.raw_points();
        let len = points.len();
        (0..self.steps).any(|k| {
            let p = (self.start + k) % len;
            p != position && points.owner(p) == owner
        })
    }
}

impl<T> Iterator for ReplicaIter<'_, T> {
    type Item = NodeIndex;

    fn next(&mut self) -> Option<NodeIndex> {
        let points = self.ring.raw_points();
        let len = points.len();
        let up = self.ring.nodes().up_flags();
        while self.yielded < self.ring.up_count() && self.steps < len {
            let position = (self.start + self.steps) % len;
            let owner = points.owner(position);
            let fresh = up[owner as usize] && !self.already_yielded(owner, position);
            self.steps += 1;
            if fresh {
                if self.yielded < INLINE_SEEN {
                    self.seen[self.yielded] = owner;
                }
                self.yielded += 1;
                return Some(NodeIndex::new(owner));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.ring.up_count() - self.yielded))
    }
}

impl<T> std::iter::FusedIterator for ReplicaIter<'_, T> {}
