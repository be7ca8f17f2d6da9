//! Least response time: [`PeakEwmaCell`], a lock-free peak-EWMA latency
//! estimate, and [`PeakEwma`], the power of two choices over it. Both follow
//! Finagle's `PeakEwma` (`finagle-core`, `loadbalancer/PeakEwma.scala`, the
//! balancer linkerd adopted).
//!
//! # The estimate
//!
//! On each observed round-trip time `rtt`, with `Δt` the time since the
//! previous observation and `w = exp(−Δt/τ)`:
//!
//! ```text
//! if rtt > cost { cost = rtt } else { cost = cost·w + rtt·(1 − w) }
//! ```
//!
//! A spike raises the cost at once; good news lowers it only as fast as
//! time passes, so a node that just misbehaved is avoided for a while. `Δt`
//! enters the weight because observations are unevenly spaced. Reading the
//! cost at `now` decays it toward zero by `exp(−(now − stamp)/τ)`, as
//! Finagle's `get()` does with `observe(0.0)`, so an avoided node is retried
//! in time. Finagle stores that decay on every read; here reads never write
//! (a pick must not bounce cache lines between cores), which gives Finagle's
//! value whenever no read falls between two observations. `τ` defaults to
//! 10 s ([`DEFAULT_DECAY`](super::DEFAULT_DECAY)), as in Finagle.
//!
//! # The pick
//!
//! Two distinct random up nodes, drawn as for [`LeastConn`](super::LeastConn)
//! (by weight, see [`least_conn`](super::least_conn)); the request goes to
//! the one with the lower load, Finagle's `Metric.get()`:
//!
//! ```text
//! load = cost · (in_flight + 1)     the latency one more request expects
//! load = PENALTY + in_flight        when cost == 0 and in_flight > 0
//! ```
//!
//! **Nodes without history**, as in Finagle: cost 0, so while idle such a
//! node wins every comparison and is probed at once; while its first
//! requests are in flight it costs [`PENALTY_NANOS`] (Finagle's
//! `Long.MaxValue >> 16` ns, about 1.6 days) plus its in-flight count, so no
//! more requests join them until one returns with a real latency. (tower's
//! `PeakEwma` instead starts nodes at a configured default rtt; Finagle's
//! rule needs no guess.)
//!
//! **Weights**: compared per unit of weight, as Finagle's `WeightedP2CPick`
//! does (`load / w`): a node of weight 2 looks half as loaded at equal
//! latency and concurrency. With equal weights the weights are not read and
//! the choice is Finagle's `P2CPick`. Ties go to the second candidate as in
//! Finagle (`if (a.load < b.load) a else b`), which is random anyway.
//!
//! # Concurrency of the cell
//!
//! An observation claims its `Δt` with `fetch_max` on the stamp and folds
//! its rtt into the cost with a compare-and-swap loop, so no observation is
//! lost. A race can pair an rtt with the `Δt` of a concurrent observation
//! instead of the previous one in real order, and a reader can see a cost and
//! a stamp from two different observations; both blur the average slightly,
//! which a balancing heuristic tolerates.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::p2c::TwoChoices;
use super::{Loads, Picker, Rng};
use crate::node::{NodeIndex, NodeTable};
use crate::placement::Liveness;

/// The load of a node with requests in flight but no latency observed yet:
/// Finagle's `Long.MaxValue >> 16` nanoseconds.
pub const PENALTY_NANOS: f64 = (i64::MAX >> 16) as f64;

/// One node's peak-EWMA round-trip time, updated and read lock-free.
///
/// `τ` is passed to each call rather than stored, so the cell stays two
/// words and its owner decides the decay for all its nodes.
#[derive(Default)]
pub struct PeakEwmaCell {
    /// `f64` bits of the estimate in nanoseconds; `0.0` until observed.
    cost: AtomicU64,
    /// Caller time (ns) of the latest observation.
    stamp: AtomicU64,
}

impl PeakEwmaCell {
    /// A cell that has observed nothing.
    pub const fn new() -> Self {
        PeakEwmaCell {
            cost: AtomicU64::new(0),
            stamp: AtomicU64::new(0),
        }
    }

    /// Folds `rtt`, observed at `now`, into the estimate (decay time `tau`).
    /// A `now` older than the latest observation counts as `Δt = 0`.
    pub fn observe(&self, rtt: Duration, now: Duration, tau: Duration) {
        let now = nanos(now);
        let rtt = nanos(rtt) as f64;
        let prev = self.stamp.fetch_max(now, Relaxed);
        let w = decay(now.saturating_sub(prev), tau);
        let _ = self.cost.fetch_update(Relaxed, Relaxed, |bits| {
            let cost = f64::from_bits(bits);
            let next = if rtt > cost {
                rtt
            } else {
                cost * w + rtt * (1.0 - w)
            };
            Some(next.to_bits())
        });
    }

    /// The estimate in nanoseconds, decayed to `now` (decay time `tau`);
    /// `0.0` if nothing was observed, or so long ago that it underflowed.
    #[inline]
    pub fn cost(&self, now: Duration, tau: Duration) -> f64 {
        let cost = f64::from_bits(self.cost.load(Relaxed));
        if cost == 0.0 {
            return 0.0;
        }
        cost * decay(nanos(now).saturating_sub(self.stamp.load(Relaxed)), tau)
    }

    /// Takes `other`'s state (for resizing an owner's table of cells).
    pub(super) fn copy_from(&self, other: &PeakEwmaCell) {
        self.cost.store(other.cost.load(Relaxed), Relaxed);
        self.stamp.store(other.stamp.load(Relaxed), Relaxed);
    }

    /// Forgets everything observed.
    pub fn reset(&self) {
        self.cost.store(0, Relaxed);
        self.stamp.store(0, Relaxed);
    }
}

impl fmt::Debug for PeakEwmaCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeakEwmaCell")
            .field("cost_ns", &f64::from_bits(self.cost.load(Relaxed)))
            .field("stamp_ns", &self.stamp.load(Relaxed))
            .finish()
    }
}

/// `exp(−elapsed/τ)`; exactly 1 for no elapsed time (so `τ = 0` means "keep
/// only the latest observation" instead of `0/0`).
#[inline]
fn decay(elapsed_ns: u64, tau: Duration) -> f64 {
    if elapsed_ns == 0 {
        1.0
    } else {
        (-(elapsed_ns as f64) / nanos(tau) as f64).exp()
    }
}

/// Saturating nanoseconds (584 years fit in a `u64`).
#[inline]
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// Power-of-two-choices least response time over peak-EWMA latency.
pub struct PeakEwma {
    choices: TwoChoices,
    rng: Rng,
}

impl PeakEwma {
    /// Over `table`'s nodes, seeded from entropy.
    pub fn new<T>(table: &NodeTable<T>) -> Self {
        Self::with_rng(table, Rng::from_entropy())
    }

    /// Over `table`'s nodes, with a fixed seed.
    pub fn with_seed<T>(table: &NodeTable<T>, seed: u64) -> Self {
        Self::with_rng(table, Rng::new(seed))
    }

    fn with_rng<T>(table: &NodeTable<T>, rng: Rng) -> Self {
        PeakEwma {
            choices: TwoChoices::new(table),
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

    /// Finagle's load of `node` at `now`, before weighting: the latency one
    /// more request expects, in ns, or the penalty (see the
    /// [module docs](self)).
    #[inline]
    pub fn load<D: Loads + ?Sized>(loads: &D, node: NodeIndex, now: Duration) -> f64 {
        let cost = loads.cost(node, now);
        let pending = f64::from(loads.in_flight(node));
        if cost == 0.0 && pending != 0.0 {
            PENALTY_NANOS + pending
        } else {
            cost * (pending + 1.0)
        }
    }
}

impl Picker for PeakEwma {
    /// Of two random up nodes, the one with the lower load per unit of
    /// weight; `None` when none is up.
    #[inline]
    fn pick<L, D>(&self, live: &L, loads: &D, now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choices.pick(live, &self.rng, |a, b, weights| {
            let (load_a, load_b) = (Self::load(loads, a, now), Self::load(loads, b, now));
            let a_wins = match weights {
                None => load_a < load_b,
                // load_a / w_a < load_b / w_b, without dividing.
                Some((w_a, w_b)) => load_a * w_b < load_b * w_a,
            };
            !a_wins
        })
    }
}

impl fmt::Debug for PeakEwma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeakEwma")
            .field("nodes", &self.choices.len())
            .finish_non_exhaustive()
    }
}
