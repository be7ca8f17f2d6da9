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
//! # No `exp()` per pick
//!
//! The cell stores the estimate *anchored* on a log scale:
//! `ℓ = ln(cost) + stamp/τ` (−∞ with no history). The cost decayed to any
//! `now` is then `exp(ℓ − now/τ)`, and at one instant `now` the term
//! `now/τ` is the same for every node, so a pick compares
//! `ℓ_a + ln(in_flight_a + 1) − ln(w_a)` with the same for `b`: no
//! `exp()`, and `now` is not even read.
//!
//! The first two terms are the node's load on that scale,
//! [`Loads::log_load`]; [`LoadCell`](super::LoadCell) (what
//! [`NodeLoads`](super::NodeLoads) and the router keep per node) computes it
//! whenever a request starts, finishes or reports a latency, with Finagle's
//! kinds folded in: −∞ for an idle node without history, +∞ for the
//! penalty. `ln(w)` is made with the snapshot and comes with the candidate
//! from the alias column it was drawn from. A pick then loads one word per
//! candidate, subtracts, compares and selects: no logarithm, no division,
//! and no branch that goes either way at random. Computing the load at pick
//! time (table logarithms and the kinds' branches) took a third of a pick's
//! instructions; a logarithm computed per pick had made it 5–8 times slower
//! than [`LeastConn`](super::LeastConn).
//!
//! The decay is computed only when an observation is folded in. Two
//! consequences, both negligible for a balancing heuristic: a node observed
//! after the caller's `now` (a skewed clock) is compared at its own stamp
//! instead of undecayed, and a node with requests in flight whose cost
//! decayed so far that `exp()` would underflow (hours at `τ` = 10 s) keeps
//! a tiny cost instead of taking the no-history penalty.
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
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::time::Duration;

use super::p2c::TwoChoices;
use super::{Loads, Picker, Rng};
use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// The load of a node with requests in flight but no latency observed yet:
/// Finagle's `Long.MaxValue >> 16` nanoseconds.
pub const PENALTY_NANOS: f64 = (i64::MAX >> 16) as f64;

/// One node's peak-EWMA round-trip time, updated and read lock-free.
///
/// `τ` is passed to each call rather than stored, so the cell stays two
/// words and its owner decides the decay for all its nodes.
pub struct PeakEwmaCell {
    /// `f64` bits of the anchored estimate `ln(cost_ns) + stamp/τ` (see the
    /// [module docs](self)); −∞ until observed.
    log_cost: AtomicU64,
    /// Caller time (ns) of the latest observation.
    stamp: AtomicU64,
}

impl PeakEwmaCell {
    /// A cell that has observed nothing.
    pub const fn new() -> Self {
        PeakEwmaCell {
            log_cost: AtomicU64::new(NO_HISTORY),
            stamp: AtomicU64::new(0),
        }
    }

    /// Folds `rtt`, observed at `now`, into the estimate (decay time `tau`).
    /// A `now` older than the latest observation counts as `Δt = 0`.
    pub fn observe(&self, rtt: Duration, now: Duration, tau: Duration) {
        let now = nanos(now);
        let rtt = nanos(rtt) as f64;
        let prev = self.stamp.fetch_max(now, Relaxed);
        let at = now.max(prev);
        let w = decay(now.saturating_sub(prev), tau);
        let tau_ns = tau_nanos(tau);
        // Sequentially consistent, as `LoadCell` needs for its load.
        let _ = self.log_cost.fetch_update(SeqCst, SeqCst, |bits| {
            // The estimate as of the previous observation (`prev`).
            let cost = unanchor(f64::from_bits(bits), prev, tau_ns);
            let next = if rtt > cost {
                rtt
            } else {
                cost * w + rtt * (1.0 - w)
            };
            Some(anchor(next, at, tau_ns).to_bits())
        });
    }

    /// The estimate in nanoseconds, decayed to `now` (decay time `tau`);
    /// `0.0` if nothing was observed, or so long ago that it underflowed.
    #[inline]
    pub fn cost(&self, now: Duration, tau: Duration) -> f64 {
        // Never decayed before the latest observation (a `now` from the past).
        let at = nanos(now).max(self.stamp.load(Relaxed));
        unanchor(self.log_cost(), at, tau_nanos(tau))
    }

    /// The anchored estimate `ln(cost_ns) + stamp/τ`, −∞ with no history:
    /// `ln(cost(now, τ)) + now/τ` for any `now` at or after the latest
    /// observation, so two cells with the same `τ` compare at one instant
    /// without an `exp()` (see the [module docs](self)).
    #[inline]
    pub fn log_cost(&self) -> f64 {
        f64::from_bits(self.log_cost.load(Relaxed))
    }

    /// The bits of [`log_cost`](PeakEwmaCell::log_cost), read sequentially
    /// consistent (see [`LoadCell`](super::LoadCell)).
    #[inline]
    pub(super) fn log_cost_bits(&self) -> u64 {
        self.log_cost.load(SeqCst)
    }

    /// Takes `other`'s state (for resizing an owner's table of cells).
    pub(super) fn copy_from(&self, other: &PeakEwmaCell) {
        self.log_cost.store(other.log_cost.load(Relaxed), SeqCst);
        self.stamp.store(other.stamp.load(Relaxed), Relaxed);
    }

    /// Forgets everything observed.
    pub fn reset(&self) {
        self.log_cost.store(NO_HISTORY, SeqCst);
        self.stamp.store(0, Relaxed);
    }
}

impl Default for PeakEwmaCell {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PeakEwmaCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeakEwmaCell")
            .field("log_cost", &self.log_cost())
            .field("stamp_ns", &self.stamp.load(Relaxed))
            .finish()
    }
}

/// The bits of −∞: the anchored estimate of a cell with no history.
const NO_HISTORY: u64 = 0xfff0_0000_0000_0000;

/// `τ` in ns as `f64`, at least 1 ns (`τ = 0` then still keeps only the
/// latest observation, as `exp` underflows to 0 after a microsecond).
#[inline]
fn tau_nanos(tau: Duration) -> f64 {
    nanos(tau).max(1) as f64
}

/// `ln(cost) + at/τ`; −∞ for a zero cost.
#[inline]
fn anchor(cost: f64, at: u64, tau_ns: f64) -> f64 {
    if cost > 0.0 {
        cost.ln() + at as f64 / tau_ns
    } else {
        f64::NEG_INFINITY
    }
}

/// The cost at `at` from the anchored estimate `log_cost`: 0 with no history.
#[inline]
fn unanchor(log_cost: f64, at: u64, tau_ns: f64) -> f64 {
    (log_cost - at as f64 / tau_ns).exp()
}

/// `exp(−elapsed/τ)`; exactly 1 for no elapsed time (so `τ = 0` means "keep
/// only the latest observation" instead of `0/0`).
#[inline]
fn decay(elapsed_ns: u64, tau: Duration) -> f64 {
    if elapsed_ns == 0 {
        1.0
    } else {
        (-(elapsed_ns as f64) / tau_nanos(tau)).exp()
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
            choices: TwoChoices::new(table, f64::ln),
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

/// Whether a pick sends the request to `b` rather than `a`, given their
/// loads per unit of weight on the log scale ([`Loads::log_load`] minus
/// `ln(w)`): Finagle's `if (a.load < b.load) a else b`, so ties go to `b`
/// (the order is random anyway). Two penalized nodes (+∞ both) are compared
/// exactly, `(PENALTY + in_flight) / w`, by `penalized`, which returns
/// whether `a` is lighter; that is the only case the log scale cannot order.
#[inline(always)]
pub(super) fn prefer_b(load_a: f64, load_b: f64, penalized: impl FnOnce() -> bool) -> bool {
    if load_a == f64::INFINITY && load_b == f64::INFINITY {
        return !penalized();
    }
    // No NaN reaches here: loads are finite or ±∞, and a drawn node's weight
    // is finite and positive, so `ln(w)` is finite.
    load_a >= load_b
}

/// `(PENALTY + p_a) / w_a < (PENALTY + p_b) / w_b`, without dividing.
#[cold]
#[inline(never)]
fn penalty_lighter(p_a: u32, p_b: u32, w_a: f64, w_b: f64) -> bool {
    (PENALTY_NANOS + f64::from(p_a)) * w_b < (PENALTY_NANOS + f64::from(p_b)) * w_a
}

impl Picker for PeakEwma {
    /// Of two random up nodes, the one with the lower load per unit of
    /// weight; `None` when none is up. Reads each candidate's load on the
    /// log scale ([`Loads::log_load`]): no `exp()` or `ln()` per pick.
    #[inline]
    fn pick<L, D>(&self, live: &L, loads: &D, now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized,
    {
        self.choices
            .pick::<true, _, _>(live, &self.rng, |a, b, ln_weights| {
                let (mut load_a, mut load_b) = (loads.log_load(a, now), loads.log_load(b, now));
                if let Some((ln_a, ln_b)) = ln_weights {
                    load_a -= ln_a;
                    load_b -= ln_b;
                }
                prefer_b(load_a, load_b, || {
                    let (w_a, w_b) =
                        ln_weights.map_or((1.0, 1.0), |(l_a, l_b)| (l_a.exp(), l_b.exp()));
                    penalty_lighter(loads.in_flight(a), loads.in_flight(b), w_a, w_b)
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Finagle's load compared in linear terms, with the cost decayed by
    /// `exp()` to `now`: what the pick computed before anchoring.
    fn linear(cell: &PeakEwmaCell, pending: u32, now: Duration, tau: Duration) -> f64 {
        let cost = cell.cost(now, tau);
        let p = f64::from(pending);
        if cost == 0.0 && pending != 0 {
            PENALTY_NANOS + p
        } else {
            cost * (p + 1.0)
        }
    }

    proptest! {
        /// The pick's comparison on the log scale decides as Finagle's
        /// exp-based one wherever the two loads differ by more than rounding:
        /// idle, estimated and penalized nodes, weighted.
        #[test]
        fn anchored_compare_matches_linear(
            obs in prop::collection::vec((0u64..3, 1u64..50_000_000, 0u64..5_000_000_000), 0..6),
            pending in (0u32..100, 0u32..100),
            weights in (0.01f64..=1.0, 0.01f64..=1.0),
            later in 0u64..30_000_000_000,
        ) {
            let tau = Duration::from_secs(10);
            let cells = [PeakEwmaCell::new(), PeakEwmaCell::new()];
            let mut clock = 0;
            for (who, rtt, gap) in obs {
                clock += gap;
                if who < 2 {
                    cells[who as usize].observe(Duration::from_nanos(rtt), Duration::from_nanos(clock), tau);
                }
            }
            let now = Duration::from_nanos(clock + later);
            let (w_a, w_b) = weights;
            let load_a = linear(&cells[0], pending.0, now, tau) / w_a;
            let load_b = linear(&cells[1], pending.1, now, tau) / w_b;
            // What a pick computes: the cells' loads (as `LoadCell` stores
            // them) less `ln(w)`, and the exact rule for two penalties.
            let log = |i: usize, p: u32, w: f64| crate::pick::cell::log_load(cells[i].log_cost(), p) - w.ln();
            let anchored = !prefer_b(log(0, pending.0, w_a), log(1, pending.1, w_b), || {
                penalty_lighter(pending.0, pending.1, w_a, w_b)
            });
            let close = (load_a - load_b).abs() <= 1e-9 * load_a.max(load_b);
            prop_assert!(close || anchored == (load_a < load_b), "{load_a} vs {load_b}");
        }
    }

    #[test]
    fn cost_decays_and_peaks() {
        let tau = Duration::from_secs(10);
        let cell = PeakEwmaCell::new();
        assert_eq!(cell.cost(Duration::ZERO, tau), 0.0);
        assert_eq!(cell.log_cost(), f64::NEG_INFINITY);
        let ms = Duration::from_millis(1);
        cell.observe(ms, Duration::from_secs(1), tau);
        let c = cell.cost(Duration::from_secs(1), tau);
        assert!((c - 1e6).abs() < 1e-3, "{c}");
        // A skewed `now` before the observation does not inflate the cost.
        assert!((cell.cost(Duration::ZERO, tau) - 1e6).abs() < 1e-3);
        let later = cell.cost(Duration::from_secs(11), tau);
        assert!((later - 1e6 * (-1.0f64).exp()).abs() < 1e-3, "{later}");
        // A spike raises it at once.
        cell.observe(5 * ms, Duration::from_secs(2), tau);
        assert!((cell.cost(Duration::from_secs(2), tau) - 5e6).abs() < 1e-3);
        cell.reset();
        assert_eq!(cell.cost(Duration::from_secs(2), tau), 0.0);
    }
}
