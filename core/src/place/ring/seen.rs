//! Which nodes a replica walk has already produced, without the heap.

use crate::node::NodeIndex;

/// Node indices below this are tracked in an inline bitset (128 bytes).
const BITSET_NODES: usize = 1024;

/// A set of nodes seen so far in a walk: exact and O(1) for node indices
/// below 1024; larger indices are reported as unknown so the caller can fall
/// back to an exact scan of its own.
#[derive(Clone)]
pub(crate) struct Seen {
    bits: [u64; BITSET_NODES / 64],
}

impl Seen {
    pub fn new() -> Self {
        Seen {
            bits: [0; BITSET_NODES / 64],
        }
    }

    /// `Some(true)` if `node` was inserted before, `Some(false)` if not
    /// (and records it now), `None` if it is beyond the bitset.
    #[inline]
    pub fn insert(&mut self, node: NodeIndex) -> Option<bool> {
        let i = node.as_usize();
        let word = self.bits.get_mut(i / 64)?;
        let mask = 1u64 << (i % 64);
        let seen = *word & mask != 0;
        *word |= mask;
        Some(seen)
    }
}
