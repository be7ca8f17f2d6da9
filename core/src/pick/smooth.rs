//! [`SmoothWeighted`]: nginx's smooth weighted round robin.
//!
//! The algorithm of `ngx_http_upstream_get_peer` in nginx's
//! `src/http/ngx_http_upstream_round_robin.c`. Each node keeps a
//! `current_weight`, starting at 0. A pick walks the nodes in order,
//! skipping down ones (nginx `continue`s past `peer->down`), and for each up
//! node adds its weight to its `current_weight` and to a running `total`;
//! the node with the largest `current_weight` wins, the *first* in order
//! winning ties (nginx replaces `best` only on a strict `>`), and the winner
//! then loses `total`. Over any `Σw` consecutive picks (integer weights,
//! nothing changing) each node is picked exactly `w` times, and its picks are
//! spread out instead of bunched: weights 5, 1, 1 give `a a b a c a a`, not
//! `a a a a a b c`.
//!
//! Differences from nginx, none of which changes the sequence:
//!
//! * nginx's `effective_weight` drops on failures and climbs back by one per
//!   pick; here health is binary (the [`Liveness`]), so `effective_weight`
//!   is always `weight`.
//! * nginx's per-request `tried` bitmap, `max_fails` and `max_conns` belong
//!   to its retry and failure accounting, which callers do here.
//! * Weights are `f64`, not integers, and are kept as they are rather than
//!   scaled to integers (any scaling would round some weights). For integer
//!   weights every value the algorithm computes is an integer of magnitude
//!   below `2⁵³`, where f64 arithmetic is exact, so the sequence is bit for
//!   bit nginx's. If the weights are so large that the sum could overflow,
//!   they are all scaled by one power of two, which is exact and changes no
//!   comparison. Fractional weights round at each step by at most half an
//!   ulp of the running sums; the current weights always sum to zero (each
//!   pick adds `total` and takes it back) and stay bounded, so the rounding
//!   does not compound into a drift of the shares.
//!
//! The walk is sequential by nature (every pick updates every up node), so
//! the state sits behind a `parking_lot::Mutex`; a pick is O(n).

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Loads, Picker};
use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// Largest total weight kept unscaled: far from overflow even after `n`
/// more additions of the largest weight.
const MAX_TOTAL: f64 = 1e300;

/// Smooth weighted round robin, exactly as nginx does it.
pub struct SmoothWeighted {
    nodes: Box<[NodeIndex]>,
    weights: Box<[f64]>,
    current: Mutex<Box<[f64]>>,
}

impl SmoothWeighted {
    /// The rotation of `table`'s nodes (index order), current weights at 0.
    pub fn new<T>(table: &NodeTable<T>) -> Self {
        let nodes: Box<[NodeIndex]> = table.iter().map(|(i, _)| i).collect();
        let mut weights: Box<[f64]> = table.iter().map(|(_, n)| n.weight()).collect();
        // Multiplying by 2⁻⁶⁴ is exact (barring underflow of weights that are
        // 2⁶⁴ times smaller than the largest, which nginx could not express).
        let scale_down = 2f64.powi(-64);
        while weights.iter().sum::<f64>() > MAX_TOTAL {
            weights.iter_mut().for_each(|w| *w *= scale_down);
        }
        let current = Mutex::new(vec![0.0; nodes.len()].into_boxed_slice());
        SmoothWeighted {
            nodes,
            weights,
            current,
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

    /// The next node of the smooth weighted rotation over the up nodes;
    /// `None` when none is up.
    pub fn choose<L: Liveness + ?Sized>(&self, live: &L) -> Option<NodeIndex> {
        let all_up = live.all_up();
        let mut current = self.current.lock();
        let mut total = 0.0;
        let mut best: Option<usize> = None;
        for (i, (&node, &weight)) in self.nodes.iter().zip(self.weights.iter()).enumerate() {
            if !all_up && !live.is_up(node) {
                continue;
            }
            current[i] += weight;
            total += weight;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        current[best] -= total;
        Some(self.nodes[best])
    }
}

impl Picker for SmoothWeighted {
    #[inline]
    fn pick<L, D>(&self, live: &L, _loads: &D, _now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choose(live)
    }
}

impl fmt::Debug for SmoothWeighted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmoothWeighted")
            .field("nodes", &self.nodes)
            .field("weights", &self.weights)
            .field("current", &*self.current.lock())
            .finish()
    }
}
