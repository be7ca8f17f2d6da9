//! [`WeightedRandom`]: independent draws with `P(node) = w / Σw`, O(1) each,
//! through Vose's alias method.
//!
//! # The alias table
//!
//! Walker's alias method (A. J. Walker, 1977) in the numerically stable,
//! O(n) construction of M. D. Vose ("A linear algorithm for generating
//! random numbers with a given distribution", IEEE TSE 17(9), 1991), as laid
//! out in Keith Schwarz's "Darts, Dice, and Coins". Scale the weights so
//! they average 1; every column holds its own node with probability
//! `threshold` and an alias node otherwise. Columns are filled by pairing one
//! "small" weight (< 1) with one "large" (≥ 1): the small one fills its
//! column, the large one tops it up and loses that much.
//!
//! A pick is one 64-bit draw `r`: the high word of `r · n` is the column and
//! the low word, what remains of `r` after the column, is the coin, compared
//! with the column's threshold stored as a 64-bit fixed-point fraction. So
//! the only deviation from `w / Σw` is the f64 rounding of the build (about
//! `n · 2⁻⁵³`) plus `n · 2⁻⁶⁴` from the coin; [`WeightedRandom::probability`]
//! reads the exact distribution the table encodes.
//!
//! # Down nodes
//!
//! The table is built once for all nodes; health changes never rebuild it.
//! A draw that lands on a down node is rejected and drawn again, which leaves
//! exactly the distribution conditioned on "up": `w / Σw_up`. After
//! [`REJECTION_TRIES`] misses (most of the weight is down), one exact O(n)
//! pass over the up nodes answers instead, with the same distribution, so a
//! pick always ends.

use std::fmt;
use std::time::Duration;

use super::rng::{Rng, column_and_fraction};
use super::{Loads, Picker, REJECTION_TRIES};
use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// 2⁶⁴ as an `f64`, for fixed-point thresholds.
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// One column: keep `node` when the coin is below `threshold`, else `alias`.
/// The two nodes' weights ride along for the weighted two-choice pickers,
/// which compare loads per weight, in the form each wants (relative to the
/// largest, or its logarithm; see [`AliasTable::with_weights`]): 32 bytes,
/// so a draw reads one cache line and nothing else.
#[derive(Copy, Clone, Debug)]
struct Column {
    threshold: u64,
    node: NodeIndex,
    alias: NodeIndex,
    node_weight: f64,
    alias_weight: f64,
}

/// Weighted random choice: each pick is independent and returns an up node
/// with probability proportional to its weight among the up nodes.
pub struct WeightedRandom {
    table: AliasTable,
    rng: Rng,
}

impl WeightedRandom {
    /// The alias table of `table`'s nodes, seeded from entropy.
    pub fn new<T>(table: &NodeTable<T>) -> Self {
        Self::with_seed(table, Rng::from_entropy().next_u64())
    }

    /// The alias table of `table`'s nodes, with a fixed seed.
    pub fn with_seed<T>(table: &NodeTable<T>, seed: u64) -> Self {
        WeightedRandom {
            table: AliasTable::new(table),
            rng: Rng::new(seed),
        }
    }

    /// Number of nodes in the snapshot.
    pub fn len(&self) -> usize {
        self.table.columns.len()
    }

    /// True when the snapshot has no node.
    pub fn is_empty(&self) -> bool {
        self.table.columns.is_empty()
    }

    /// The probability that a pick with every node up returns `node`, as the
    /// table encodes it (0 for a node not in the snapshot). Sums to 1 over
    /// the nodes and equals `w / Σw` up to f64 rounding.
    pub fn probability(&self, node: NodeIndex) -> f64 {
        let mut mass = 0.0;
        for c in self.table.columns.iter() {
            let keep = c.threshold as f64 / TWO_64;
            if c.node == node {
                mass += keep;
            }
            if c.alias == node {
                mass += 1.0 - keep;
            }
        }
        mass / self.len().max(1) as f64
    }

    /// A random up node, `P(node) = w / Σw_up`; `None` when none is up.
    #[inline]
    pub fn choose<L: Liveness + ?Sized>(&self, live: &L) -> Option<NodeIndex> {
        if live.all_up() && !self.is_empty() {
            return Some(self.table.draw(&self.rng));
        }
        self.table.draw_up(live, &self.rng, None)
    }
}

/// The alias table of a snapshot, shared with the weighted two-choice draw.
pub(super) struct AliasTable {
    /// Column `i` holds the `i`-th node of the snapshot (index order).
    columns: Box<[Column]>,
    /// Column `i`'s node's weight, for the exact pass.
    weights: Box<[f64]>,
}

impl AliasTable {
    pub(super) fn new<T>(table: &NodeTable<T>) -> Self {
        Self::with_weights(table, |w| w)
    }

    /// The table of `table`'s nodes whose draws report each node's weight
    /// relative to the largest as `form` makes it (`|w| w.ln()` for a
    /// picker that compares logarithms).
    pub(super) fn with_weights<T>(table: &NodeTable<T>, form: fn(f64) -> f64) -> Self {
        let nodes: Vec<NodeIndex> = table.iter().map(|(i, _)| i).collect();
        let weights: Box<[f64]> = table.iter().map(|(_, n)| n.weight()).collect();
        AliasTable {
            columns: build_alias(&nodes, &weights, form),
            weights,
        }
    }

    /// Number of nodes (columns).
    pub(super) fn len(&self) -> usize {
        self.columns.len()
    }

    /// One draw from the full table, health ignored. The table must not be
    /// empty.
    #[inline]
    pub(super) fn draw(&self, rng: &Rng) -> NodeIndex {
        self.draw_with(rng.next_u64())
    }

    /// The draw that the 64 random bits `r` select.
    #[inline]
    pub(super) fn draw_with(&self, r: u64) -> NodeIndex {
        self.draw_weighted(r).0
    }

    /// The draw that `r` selects, with its weight relative to the largest
    /// in the table's form (see [`with_weights`](AliasTable::with_weights)).
    #[inline]
    pub(super) fn draw_weighted(&self, r: u64) -> (NodeIndex, f64) {
        let (col, coin) = column_and_fraction(r, self.columns.len());
        let c = &self.columns[col];
        if coin < c.threshold {
            (c.node, c.node_weight)
        } else {
            (c.alias, c.alias_weight)
        }
    }

    /// A random up node other than `skip`, `P(node) = w / Σw` over those;
    /// `None` when there is none. Out of line: pickers inline their own
    /// all-up fast path and come here for the rest.
    #[inline(never)]
    pub(super) fn draw_up<L: Liveness + ?Sized>(
        &self,
        live: &L,
        rng: &Rng,
        skip: Option<NodeIndex>,
    ) -> Option<NodeIndex> {
        if self.columns.is_empty() {
            return None;
        }
        let all_up = live.all_up();
        if all_up && skip.is_none() {
            return Some(self.draw(rng));
        }
        if !all_up && live.up_count() == 0 {
            return None;
        }
        for _ in 0..REJECTION_TRIES {
            let node = self.draw(rng);
            if Some(node) != skip && (all_up || live.is_up(node)) {
                return Some(node);
            }
        }
        self.exact(live, rng, skip)
    }

    /// The same distribution by inversion over the eligible nodes, O(n).
    /// Weights are divided by the largest eligible weight first, so the sum
    /// cannot overflow however large the weights are.
    #[cold]
    fn exact<L: Liveness + ?Sized>(
        &self,
        live: &L,
        rng: &Rng,
        skip: Option<NodeIndex>,
    ) -> Option<NodeIndex> {
        let all_up = live.all_up();
        let eligible = |i: &usize| {
            let node = self.columns[*i].node;
            Some(node) != skip && (all_up || live.is_up(node))
        };
        let max = (0..self.columns.len())
            .filter(eligible)
            .map(|i| self.weights[i])
            .fold(0.0, f64::max);
        if max == 0.0 {
            return None;
        }
        let total: f64 = (0..self.columns.len())
            .filter(eligible)
            .map(|i| self.weights[i] / max)
            .sum();
        let target = rng.unit_f64() * total;
        let mut acc = 0.0;
        let mut last = None;
        for i in (0..self.columns.len()).filter(eligible) {
            acc += self.weights[i] / max;
            last = Some(self.columns[i].node);
            if target < acc {
                break;
            }
        }
        // Rounding can leave `target` a hair above the final sum: the last
        // eligible node takes that sliver.
        last
    }
}

/// Vose's construction. Weights are divided by the largest first, so the
/// scaled sum cannot overflow; the work lists live in one buffer (smalls
/// grow from the front, larges from the back). Columns carry their nodes'
/// relative weights in `form`.
fn build_alias(nodes: &[NodeIndex], weights: &[f64], form: fn(f64) -> f64) -> Box<[Column]> {
    let n = nodes.len();
    if n == 0 {
        return Box::new([]);
    }
    let max = weights.iter().copied().fold(0.0, f64::max);
    let sum: f64 = weights.iter().map(|w| w / max).sum();
    let mut scaled: Vec<f64> = weights.iter().map(|w| w / max * n as f64 / sum).collect();
    let mut columns: Vec<Column> = nodes
        .iter()
        .zip(weights)
        .map(|(&node, &w)| Column {
            threshold: u64::MAX,
            node,
            alias: node,
            node_weight: form(w / max),
            alias_weight: form(w / max),
        })
        .collect();

    let mut work = vec![0u32; n];
    let (mut smalls, mut larges) = (0usize, n);
    for (i, &p) in scaled.iter().enumerate() {
        if p < 1.0 {
            work[smalls] = i as u32;
            smalls += 1;
        } else {
            larges -= 1;
            work[larges] = i as u32;
        }
    }
    while smalls > 0 && larges < n {
        smalls -= 1;
        let small = work[smalls] as usize;
        let large = work[larges] as usize;
        larges += 1;
        columns[small].threshold = to_fixed(scaled[small]);
        columns[small].alias = nodes[large];
        columns[small].alias_weight = form(weights[large] / max);
        scaled[large] = (scaled[large] + scaled[small]) - 1.0;
        if scaled[large] < 1.0 {
            work[smalls] = large as u32;
            smalls += 1;
        } else {
            larges -= 1;
            work[larges] = large as u32;
        }
    }
    // Whatever is left is 1 up to rounding: those columns keep their node
    // (threshold u64::MAX and alias = self, already set).
    columns.into_boxed_slice()
}

/// A probability in `[0, 1)` as a fraction of 2⁶⁴ (the cast saturates).
fn to_fixed(p: f64) -> u64 {
    (p * TWO_64) as u64
}

impl Picker for WeightedRandom {
    #[inline]
    fn pick<L, D>(&self, live: &L, _loads: &D, _now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choose(live)
    }
}

impl fmt::Debug for WeightedRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedRandom")
            .field("nodes", &self.len())
            .finish_non_exhaustive()
    }
}
