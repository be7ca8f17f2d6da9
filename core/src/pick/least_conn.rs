//! [`LeastConn`]: least connections by the power of two choices, weighted the
//! way Envoy's `least_request` balancer weighs hosts.
//!
//! # The power of two choices
//!
//! Draw two distinct up nodes at random and send the request to the less
//! loaded. Comparing two random candidates instead of scanning for the
//! global best keeps a pick O(1) and, as Mitzenmacher showed ("The Power of
//! Two Choices in Randomized Load Balancing", IEEE TPDS 12(10), 2001),
//! brings the maximum load down exponentially compared with one random
//! choice, without the herding of every client sending to the same "best"
//! node on stale counts. [`PeakEwma`](super::PeakEwma) draws the same way.
//!
//! # The score
//!
//! The request goes to the candidate with the larger `w / (active + 1)`,
//! where `active` is its in-flight count ([`Loads::in_flight`]): Envoy's
//! effective weight for unequal weights, `weight / (active_requests +
//! 1)^active_request_bias`, at its default bias of 1.0 (Envoy
//! `source/extensions/load_balancing_policies/least_request`,
//! `hostWeight`). With equal weights it reduces to "fewer active requests
//! wins", Envoy's P2C rule, and the weights are not even read. Envoy feeds
//! the score to an EDF scheduler over all hosts; here it decides between
//! two candidates, which keeps the pick O(1). Ties go to the first
//! candidate, itself random, so ties split evenly. With one up node it is
//! returned without a draw.
//!
//! # Why candidates are drawn by weight
//!
//! A node can only win a comparison it takes part in, so with uniformly
//! drawn candidates no node could receive more than a `2/n` share of the
//! requests, whatever its weight (of seven nodes weighted 1, 1, 2, 2, 4, 4,
//! 8, the last should take 36% but would be a candidate in only 29% of the
//! picks, and the light nodes would absorb the difference). So, as
//! Finagle's `WeightedP2CPick` does over its alias-method
//! `ProbabilityDistribution`, the first candidate is drawn with probability
//! `w / Σw` ([`weighted`](super::weighted)'s alias table) and the second
//! likewise among the others, and loads are compared per unit of weight.
//! When loads per weight are equal, requests then arrive in proportion to
//! weight, and a node behind its share wins more often, so in-flight counts
//! settle in proportion to the weights. With equal weights the draw is
//! uniform and takes a single 64-bit random number, the way Finagle's
//! `P2CPick` does it: `a` uniform in `0..n`, `b` uniform in `0..n−1`,
//! bumped by one when `b ≥ a`.
//!
//! Down nodes are skipped by rejection and, after
//! [`REJECTION_TRIES`](super::REJECTION_TRIES) misses, by an exact pass, so
//! the candidates keep exactly that distribution over the up nodes.

use std::fmt;
use std::time::Duration;

use super::p2c::TwoChoices;
use super::{Loads, Picker, Rng};
use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// Power-of-two-choices least connections, weighted.
pub struct LeastConn {
    choices: TwoChoices,
    rng: Rng,
}

impl LeastConn {
    /// Over `table`'s nodes, seeded from entropy.
    pub fn new<T>(table: &NodeTable<T>) -> Self {
        Self::with_rng(table, Rng::from_entropy())
    }

    /// Over `table`'s nodes, with a fixed seed.
    pub fn with_seed<T>(table: &NodeTable<T>, seed: u64) -> Self {
        Self::with_rng(table, Rng::new(seed))
    }

    fn with_rng<T>(table: &NodeTable<T>, rng: Rng) -> Self {
        LeastConn {
            choices: TwoChoices::new(table, |w| w),
            rng,
        }
    }

    /// Number of nodes in the snapshot.
    pub fn len(&self) -> usize {
        self.choices.len()
    }

    /// True when the snapshot has no node.
    pub fn is_empty(&self) -> bool {
        self.choices.len() == 0
    }

    /// Of two random up nodes, the one with more weight per request in
    /// flight; `None` when none is up.
    #[inline]
    pub fn choose<L, D>(&self, live: &L, loads: &D) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choices
            .pick::<false, _, _>(live, &self.rng, |a, b, weights| {
                let (active_a, active_b) = (loads.in_flight(a), loads.in_flight(b));
                match weights {
                    None => active_b < active_a,
                    // w_b / (active_b + 1) > w_a / (active_a + 1), without dividing.
                    Some((w_a, w_b)) => {
                        w_b * (f64::from(active_a) + 1.0) > w_a * (f64::from(active_b) + 1.0)
                    }
                }
            })
    }
}

impl Picker for LeastConn {
    #[inline]
    fn pick<L, D>(&self, live: &L, loads: &D, _now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choose(live, loads)
    }
}

impl fmt::Debug for LeastConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeastConn")
            .field("nodes", &self.choices.len())
            .finish_non_exhaustive()
    }
}
