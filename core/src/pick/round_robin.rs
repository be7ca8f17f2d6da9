//! [`RoundRobin`]: every up node in turn, weights ignored.
//!
//! One shared atomic counter names the next slot of the snapshot (nodes in
//! index order). A pick takes a slot with `fetch_add`; if that node is down
//! it walks forward to the next up node and then moves the counter past the
//! slots it skipped, so the next pick starts after the node it returned.
//! Single-threaded that visits each slot once per cycle, so every up node
//! gets exactly one pick per cycle however many are down (merely skipping
//! would hand a down node's turns to its successor, doubling its share).
//! Concurrent pickers may interleave their skips; the share per node then
//! stays even up to the number of racing threads.
//!
//! The counter is an RMW by nature (strict rotation needs every caller to
//! see a distinct ticket), so unlike the random pickers this one pays for a
//! locked add per pick.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::{Loads, Picker};
use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// The ticket counter, alone on its cache line so that its writes do not
/// evict the node list.
#[repr(align(64))]
#[derive(Default)]
struct Ticket(AtomicU64);

/// Plain round robin over the up nodes of a snapshot.
pub struct RoundRobin {
    nodes: Box<[NodeIndex]>,
    next: Ticket,
}

impl RoundRobin {
    /// Rotation over `table`'s nodes in index order, starting at the first.
    pub fn new<T>(table: &NodeTable<T>) -> Self {
        RoundRobin {
            nodes: table.iter().map(|(i, _)| i).collect(),
            next: Ticket::default(),
        }
    }

    /// Number of nodes in the snapshot.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the snapshot has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The next up node in rotation; `None` when none is up.
    #[inline]
    pub fn choose<L: Liveness + ?Sized>(&self, live: &L) -> Option<NodeIndex> {
        let n = self.nodes.len();
        if n == 0 {
            return None;
        }
        let start = (self.next.0.fetch_add(1, Relaxed) % n as u64) as usize;
        if live.all_up() {
            return Some(self.nodes[start]);
        }
        if live.up_count() == 0 {
            return None;
        }
        self.skip_down(live, start)
    }

    fn skip_down<L: Liveness + ?Sized>(&self, live: &L, start: usize) -> Option<NodeIndex> {
        let n = self.nodes.len();
        for step in 0..n {
            let node = self.nodes[(start + step) % n];
            if live.is_up(node) {
                if step > 0 {
                    self.next.0.fetch_add(step as u64, Relaxed);
                }
                return Some(node);
            }
        }
        None
    }
}

impl Picker for RoundRobin {
    #[inline]
    fn pick<L, D>(&self, live: &L, _loads: &D, _now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choose(live)
    }
}

impl fmt::Debug for RoundRobin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoundRobin")
            .field("nodes", &self.nodes)
            .field("next", &self.next.0.load(Relaxed))
            .finish()
    }
}
