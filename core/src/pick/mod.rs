//! Non-sticky choice: which node takes *this* request, when there is no key.
//!
//! A [`Ring`](crate::Ring) sends a key to the same node every time; a picker
//! spreads requests that have no key. Every picker here
//!
//! * is built once from a [`NodeTable`](crate::NodeTable) snapshot (names
//!   are not needed, only indices and weights; free slots are skipped),
//! * is `Send + Sync` and picks through `&self` (atomics; one mutex for smooth
//!   weighted round robin, which is sequential by nature),
//! * asks a [`Liveness`] at pick time which nodes are up, and **never returns
//!   a down node**: the answer is `None` exactly when no node of the snapshot
//!   is up,
//! * never allocates while picking.
//!
//! | picker | idea | pick cost | source |
//! | --- | --- | --- | --- |
//! | [`WeightedRandom`] | independent draws, `P(node) = w / Σw` | O(1) | Vose's alias method |
//! | [`RoundRobin`] | each up node in turn, weights ignored | O(1) | — |
//! | [`SmoothWeighted`] | deterministic, interleaved weighted order | O(n), locked | nginx `ngx_http_upstream_get_peer` |
//! | [`LeastConn`] | of two random nodes, the one with fewer requests per weight | O(1) | P2C (Mitzenmacher), Envoy `least_request`, Finagle `WeightedP2CPick` |
//! | [`PeakEwma`] | of two random nodes, the one with the lower latency × load per weight | O(1) | Finagle / linkerd `PeakEwma` |
//!
//! The load-aware pickers read [`NodeLoads`]: per-node in-flight counters and
//! peak-EWMA latencies that the caller updates around each request
//! ([`NodeLoads::start`], [`NodeLoads::finish`],
//! [`NodeLoads::observe_latency`]), through the [`Loads`] trait. Time is a
//! `now: Duration` argument since an epoch of the caller's choosing, never a
//! clock read inside, which keeps tests deterministic.
//!
//! Randomised pickers draw from [`Rng`] (wyrand), seedable for tests. Each
//! algorithm's module documents how it works, where it comes from and how it
//! differs from its source.
//!
//! Load-blind pickers also have an inherent `choose(&live)`, and
//! [`LeastConn`] a `choose(&live, &loads)`; [`Picker::pick`] is the uniform
//! entry point for code generic over the algorithm ([`NoLoads`] stands in
//! for the loads a load-blind picker ignores).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ringroute::{NodeState, NodeTable};
//! use ringroute::pick::{LeastConn, NodeLoads, Picker, WeightedRandom};
//!
//! let mut table: NodeTable = NodeTable::new();
//! let small = table.insert(b"10.0.0.1:80", 1.0, ())?;
//! let big = table.insert(b"10.0.0.2:80", 3.0, ())?;
//!
//! // Weighted random: `big` takes about 3 requests in 4.
//! let weighted = WeightedRandom::with_seed(&table, 7);
//! let picked = weighted.choose(&table).expect("nodes are up");
//! assert!(picked == small || picked == big);
//!
//! // Least connections reads the caller's in-flight counts.
//! let loads = NodeLoads::for_table(&table);
//! let least = LeastConn::with_seed(&table, 7);
//! let now = Duration::from_secs(1); // from the caller's clock
//! for _ in 0..8 {
//!     loads.start(big); // eight slow requests pile up on `big`
//! }
//! assert_eq!(least.pick(&table, &loads, now), Some(small));
//! loads.finish(big);
//! loads.observe_latency(big, Duration::from_millis(12), now);
//!
//! // A down node is never picked; with none up, there is no answer.
//! table.set_state(small, NodeState::Down)?;
//! assert_eq!(weighted.choose(&table), Some(big));
//! table.set_state(big, NodeState::Down)?;
//! assert_eq!(least.pick(&table, &loads, now), None);
//! # Ok::<(), ringroute::Error>(())
//! ```

use std::time::Duration;

use crate::node::NodeIndex;
use crate::place::Liveness;

pub mod cell;
pub mod ewma;
pub mod least_conn;
pub mod loads;
mod p2c;
pub mod rng;
pub mod round_robin;
pub mod smooth;
pub mod weighted;

pub use cell::LoadCell;
pub use ewma::{PENALTY_NANOS, PeakEwma, PeakEwmaCell};
pub use least_conn::LeastConn;
pub use loads::{DEFAULT_DECAY, NodeLoads};
pub use rng::Rng;
pub use round_robin::RoundRobin;
pub use smooth::SmoothWeighted;
pub use weighted::WeightedRandom;

/// Draws of a random candidate before a picker that skips down nodes by
/// rejection switches to an exact O(n) pass over the up nodes. With a
/// fraction `f` of the candidates up, the pass runs with probability
/// `(1 − f)^32`: one pick in 4 billion when half are up.
pub const REJECTION_TRIES: usize = 32;

/// A non-sticky choice of node for one request.
///
/// `live` says which nodes are up. `loads` and `now` feed the load-aware
/// pickers ([`LeastConn`] reads in-flight counts, [`PeakEwma`] also latency
/// decayed to `now`); the others ignore them. `now` is the time since an
/// epoch of the caller's choosing, the same one given to
/// [`NodeLoads::observe_latency`] (a router reads it once per request anyway,
/// to time the request).
pub trait Picker: Send + Sync {
    /// An up node of the snapshot for the next request, or `None` when none
    /// is up. Never allocates.
    fn pick<L, D>(&self, live: &L, loads: &D, now: Duration) -> Option<NodeIndex>
    where
        L: Liveness + ?Sized,
        D: Loads + ?Sized;
}

/// The per-node signals load-aware pickers read.
///
/// [`NodeLoads`] is the ready-made implementation; a router that keeps its
/// own per-node counters can implement this over them instead, embedding a
/// [`LoadCell`] per node (count, latency and the load a pick reads) or a
/// [`PeakEwmaCell`] for the latency alone.
pub trait Loads {
    /// Requests to `node` started and not yet finished.
    fn in_flight(&self, node: NodeIndex) -> u32;

    /// `node`'s peak-EWMA round-trip time in nanoseconds, decayed to `now`;
    /// `0.0` when nothing was observed (see [`PeakEwmaCell::cost`]).
    fn cost(&self, node: NodeIndex, now: Duration) -> f64;

    /// `ln(cost(node, now))` plus any term that depends on `now` alone
    /// (the same for every node), −∞ when nothing was observed: the cost
    /// term of [`log_load`](Loads::log_load). The default computes it from
    /// [`cost`](Loads::cost); implementations over [`PeakEwmaCell`]s return
    /// [`PeakEwmaCell::log_cost`], which needs no `exp()` (all cells of one
    /// `Loads` must share one decay time).
    #[inline]
    fn log_cost(&self, node: NodeIndex, now: Duration) -> f64 {
        self.cost(node, now).ln()
    }

    /// `node`'s load as [`PeakEwma`] compares it: Finagle's
    /// `cost · (in_flight + 1)` on the log scale of
    /// [`log_cost`](Loads::log_cost), −∞ for an idle node never observed,
    /// +∞ for one with requests in flight but never observed (see
    /// [`LoadCell::log_load`]). The default computes it from
    /// [`log_cost`](Loads::log_cost) and [`in_flight`](Loads::in_flight);
    /// implementations that keep a [`LoadCell`] per node return its stored
    /// [`LoadCell::log_load`], which a pick reads with one load.
    #[inline]
    fn log_load(&self, node: NodeIndex, now: Duration) -> f64 {
        cell::log_load(self.log_cost(node, now), self.in_flight(node))
    }
}

/// No signals: every node idle and never observed. For calling a load-blind
/// picker through [`Picker`].
#[derive(Copy, Clone, Debug, Default)]
pub struct NoLoads;

impl Loads for NoLoads {
    #[inline]
    fn in_flight(&self, _node: NodeIndex) -> u32 {
        0
    }

    #[inline]
    fn cost(&self, _node: NodeIndex, _now: Duration) -> f64 {
        0.0
    }
}
