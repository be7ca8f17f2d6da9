//! The two-candidate draw shared by [`LeastConn`] and [`PeakEwma`]: two
//! distinct up nodes, uniformly when all weights are equal, else in
//! proportion to weight. The reasons are in [`least_conn`]'s documentation.
//!
//! [`LeastConn`]: super::LeastConn
//! [`PeakEwma`]: super::PeakEwma
//! [`least_conn`]: super::least_conn

use super::REJECTION_TRIES;
use super::rng::{Rng, column_and_fraction};
use super::weighted::AliasTable;
use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// The candidates of one pick.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) enum Candidates {
    /// No node of the snapshot is up.
    None,
    /// Exactly one is up: it is the answer.
    One(NodeIndex),
    /// Two distinct up nodes in random order, and their weights relative
    /// to the largest in the picker's form (see [`TwoChoices::new`]); no
    /// weights when all are equal (compare loads alone).
    Two(NodeIndex, NodeIndex, Option<(f64, f64)>),
}

/// How candidates are drawn for one snapshot.
pub(super) enum TwoChoices {
    /// All weights equal: uniform over the nodes (index order).
    Uniform(Box<[NodeIndex]>),
    /// Unequal weights: by weight, and the comparison divides by weight.
    Weighted {
        alias: AliasTable,
        /// Weight by slot relative to the largest (in `(0, 1]`, so products
        /// with request counts cannot overflow), in the picker's form; free
        /// slots are never read.
        weight: Box<[f64]>,
    },
}

impl TwoChoices {
    /// Candidates over `table`'s nodes. Their weights, relative to the
    /// largest, reach the comparison as `form` makes them: themselves for
    /// [`LeastConn`](super::LeastConn), their logarithm for
    /// [`PeakEwma`](super::PeakEwma), which compares on a log scale (made
    /// once here, and drawn with the node from the same cache line).
    pub(super) fn new<T>(table: &NodeTable<T>, form: fn(f64) -> f64) -> Self {
        let mut weights = table.iter().map(|(_, n)| n.weight());
        let first = weights.next();
        if weights.all(|w| Some(w) == first) {
            return TwoChoices::Uniform(table.iter().map(|(i, _)| i).collect());
        }
        let max = table.iter().map(|(_, n)| n.weight()).fold(0.0, f64::max);
        let mut weight = vec![0.0; table.capacity()].into_boxed_slice();
        for (i, n) in table.iter() {
            weight[i.as_usize()] = form(n.weight() / max);
        }
        TwoChoices::Weighted {
            alias: AliasTable::with_weights(table, form),
            weight,
        }
    }

    /// Number of nodes in the snapshot.
    pub(super) fn len(&self) -> usize {
        match self {
            TwoChoices::Uniform(nodes) => nodes.len(),
            TwoChoices::Weighted { alias, .. } => alias.len(),
        }
    }

    /// Draws two distinct up nodes as the module docs say and returns the
    /// one `prefer_b(a, b, weights)` selects (`b` when it returns true);
    /// `weights` are the candidates' weights relative to the largest, in
    /// the form given to [`TwoChoices::new`], `None` when all weights are
    /// equal. A lone up node is returned as it is.
    ///
    /// The common case (every node up, two or more nodes) is
    /// inlined into the picker with `prefer_b`, so each branch knows
    /// statically whether weights exist; everything else is out of line.
    ///
    /// `SELECT`: choose without a branch. The comparison is a coin toss the
    /// CPU cannot predict; when it ends a long chain (peak EWMA's loads and
    /// float arithmetic) a mispredicted branch stalls every pick until the
    /// chain resolves (46 ns per pick here, against 31 with a select). For
    /// a short chain (least connections' two loads) the branch is cheaper.
    #[inline(always)]
    pub(super) fn pick<const SELECT: bool, L, F>(
        &self,
        live: &L,
        rng: &Rng,
        prefer_b: F,
    ) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        F: Fn(NodeIndex, NodeIndex, Option<(f64, f64)>) -> bool,
    {
        let choose = |a: NodeIndex, b: NodeIndex, w| {
            let prefer_b = prefer_b(a, b, w);
            if !SELECT {
                return Some(if prefer_b { b } else { a });
            }
            // `black_box` keeps LLVM from turning the mask back into a branch.
            let mask = std::hint::black_box(u32::from(prefer_b)).wrapping_neg();
            Some(NodeIndex::new((a.get() & !mask) | (b.get() & mask)))
        };
        if live.all_up() {
            match self {
                TwoChoices::Uniform(nodes) if nodes.len() > 1 => {
                    // The fraction left after choosing `a` is the second draw.
                    let n = nodes.len();
                    let (a, rest) = column_and_fraction(rng.next_u64(), n);
                    let (b, _) = column_and_fraction(rest, n - 1);
                    let b = if b >= a { b + 1 } else { b };
                    return choose(nodes[a], nodes[b], None);
                }
                TwoChoices::Weighted { alias, .. } if alias.len() > 1 => {
                    // One state update for both draws, weights from the
                    // columns.
                    let (r1, r2) = rng.next_pair();
                    let (a, w_a) = alias.draw_weighted(r1);
                    let (mut b, mut w_b) = alias.draw_weighted(r2);
                    // On a collision keep `a` and draw `b` again: the pair
                    // stays "a by weight, then b by weight among the rest".
                    let mut tries = 0;
                    while b == a {
                        if tries == REJECTION_TRIES {
                            return match self.second(live, rng, a) {
                                Candidates::Two(a, b, w) => choose(a, b, w),
                                _ => Some(a),
                            };
                        }
                        (b, w_b) = alias.draw_weighted(rng.next_u64());
                        tries += 1;
                    }
                    return choose(a, b, Some((w_a, w_b)));
                }
                _ => {}
            }
        }
        match self.draw_slow(live, rng) {
            Candidates::Two(a, b, w) => choose(a, b, w),
            Candidates::One(a) => Some(a),
            Candidates::None => None,
        }
    }

    /// The second candidate when [`REJECTION_TRIES`] draws of it all hit
    /// `a` (which then holds nearly all the weight): the exact pass among
    /// the others, keeping `a`.
    #[inline(never)]
    fn second<L: Liveness + ?Sized>(&self, live: &L, rng: &Rng, a: NodeIndex) -> Candidates {
        let TwoChoices::Weighted { alias, weight, .. } = self else {
            unreachable!("only weighted draws collide");
        };
        match alias.draw_up(live, rng, Some(a)) {
            Some(b) => Candidates::Two(a, b, Some((weight[a.as_usize()], weight[b.as_usize()]))),
            None => Candidates::One(a),
        }
    }

    /// Some nodes down, or fewer than two nodes.
    #[inline(never)]
    fn draw_slow<L: Liveness + ?Sized>(&self, live: &L, rng: &Rng) -> Candidates {
        if !live.all_up() && live.up_count() == 0 {
            return Candidates::None;
        }
        match self {
            TwoChoices::Uniform(nodes) => {
                let Some(a) = uniform_up(nodes, live, rng, usize::MAX) else {
                    return Candidates::None;
                };
                match uniform_up(nodes, live, rng, a) {
                    Some(b) => Candidates::Two(nodes[a], nodes[b], None),
                    None => Candidates::One(nodes[a]),
                }
            }
            TwoChoices::Weighted { alias, weight, .. } => {
                let Some(a) = alias.draw_up(live, rng, None) else {
                    return Candidates::None;
                };
                let w = |n: NodeIndex| weight[n.as_usize()];
                match alias.draw_up(live, rng, Some(a)) {
                    Some(b) => Candidates::Two(a, b, Some((w(a), w(b)))),
                    None => Candidates::One(a),
                }
            }
        }
    }
}

/// A uniform position among the up nodes other than position `skip`.
fn uniform_up<L: Liveness + ?Sized>(
    nodes: &[NodeIndex],
    live: &L,
    rng: &Rng,
    skip: usize,
) -> Option<usize> {
    if nodes.is_empty() {
        return None;
    }
    let all_up = live.all_up();
    let eligible = |i: &usize| *i != skip && (all_up || live.is_up(nodes[*i]));
    for _ in 0..REJECTION_TRIES {
        let i = rng.below(nodes.len());
        if eligible(&i) {
            return Some(i);
        }
    }
    let count = (0..nodes.len()).filter(eligible).count();
    if count == 0 {
        return None;
    }
    (0..nodes.len()).filter(eligible).nth(rng.below(count))
}
