//! Distinct replicas of a key: the stack-allocated list every placement's
//! `route_n` fills.

use smallvec::SmallVec;

use crate::node::NodeIndex;

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
