//! [`NodeLoads`]: the ready-made [`Loads`], one slot per node index.
//!
//! Each slot is a [`LoadCell`]: the node's in-flight count (updated by
//! [`start`] and [`finish`] around each request), its [`PeakEwmaCell`] (fed
//! by [`observe_latency`]) and the load a pick compares, kept current by
//! each of those calls. Every slot is alone on a 64-byte cache line, so
//! traffic to one node does not slow another. Counters use atomic
//! read-modify-writes and never lose a count; see [`PeakEwmaCell`] for what
//! a race can do to the latency estimate.
//!
//! Time is whatever the caller says: methods that need it take `now` as a
//! [`Duration`] since an epoch of the caller's choosing, so tests drive a
//! fake clock.
//!
//! [`start`]: NodeLoads::start
//! [`finish`]: NodeLoads::finish
//! [`observe_latency`]: NodeLoads::observe_latency

use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use super::PeakEwmaCell;
use super::{LoadCell, Loads};
use crate::error::{Error, Result};
use crate::node::{NodeIndex, NodeTable};

/// Finagle's default decay time `τ` for the peak EWMA: 10 seconds.
pub const DEFAULT_DECAY: Duration = Duration::from_secs(10);

/// One node's signals, alone on its cache line.
#[repr(align(64))]
#[derive(Default)]
struct Slot(LoadCell);

/// Per-node in-flight counts and peak-EWMA latency, shared by reference.
///
/// Sized by [`NodeTable::capacity`] (one slot per index, free slots
/// included). Methods given an index past the end do nothing, and such a
/// node reads as idle and never observed, so a table that grew since this
/// was sized degrades gracefully until the owner calls
/// [`NodeLoads::resized`].
pub struct NodeLoads {
    slots: Box<[Slot]>,
    tau: Duration,
}

impl NodeLoads {
    /// `capacity` idle, never-observed slots; decay time [`DEFAULT_DECAY`].
    pub fn new(capacity: usize) -> Self {
        NodeLoads {
            slots: (0..capacity).map(|_| Slot::default()).collect(),
            tau: DEFAULT_DECAY,
        }
    }

    /// One slot per index of `table` ([`NodeTable::capacity`]).
    pub fn for_table<T>(table: &NodeTable<T>) -> Self {
        Self::new(table.capacity())
    }

    /// Like [`NodeLoads::new`] with the EWMA decay time `tau` (the mean
    /// lifetime of a cost; its half-life is `tau · ln 2`). Fails with
    /// [`Error::InvalidParameter`] unless `tau > 0`.
    pub fn with_decay(capacity: usize, tau: Duration) -> Result<Self> {
        if tau.is_zero() {
            return Err(Error::InvalidParameter("EWMA decay time must be > 0"));
        }
        Ok(NodeLoads {
            tau,
            ..Self::new(capacity)
        })
    }

    /// A copy with `capacity` slots: existing slots keep their counts and
    /// estimates (truncated if smaller), new ones start idle. For the owner
    /// to call when the table grows; requests that finish on the old copy
    /// after the copy was taken are not seen by the new one.
    pub fn resized(&self, capacity: usize) -> Self {
        let slots = (0..capacity)
            .map(|i| {
                let slot = Slot::default();
                if let Some(old) = self.slots.get(i) {
                    slot.0.copy_from(&old.0);
                }
                slot
            })
            .collect();
        NodeLoads {
            slots,
            tau: self.tau,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The EWMA decay time `τ`.
    pub fn decay(&self) -> Duration {
        self.tau
    }

    /// A request to `node` starts.
    #[inline]
    pub fn start(&self, node: NodeIndex) {
        if let Some(s) = self.slots.get(node.as_usize()) {
            s.0.start();
        }
    }

    /// A request to `node` is over. Saturates at zero, so an unmatched
    /// `finish` cannot wrap the count to `u32::MAX` and starve the node.
    #[inline]
    pub fn finish(&self, node: NodeIndex) {
        if let Some(s) = self.slots.get(node.as_usize()) {
            s.0.finish();
        }
    }

    /// Folds a round-trip time observed at `now` into `node`'s peak EWMA
    /// (see [`PeakEwmaCell::observe`]).
    pub fn observe_latency(&self, node: NodeIndex, rtt: Duration, now: Duration) {
        if let Some(s) = self.slots.get(node.as_usize()) {
            s.0.observe(rtt, now, self.tau);
        }
    }

    /// Forgets `node`'s history (count and latency), for when its slot is
    /// reused by a new node.
    pub fn reset(&self, node: NodeIndex) {
        if let Some(s) = self.slots.get(node.as_usize()) {
            s.0.reset();
        }
    }
}

impl Loads for NodeLoads {
    #[inline]
    fn in_flight(&self, node: NodeIndex) -> u32 {
        self.slots
            .get(node.as_usize())
            .map_or(0, |s| s.0.in_flight())
    }

    #[inline]
    fn cost(&self, node: NodeIndex, now: Duration) -> f64 {
        self.slots
            .get(node.as_usize())
            .map_or(0.0, |s| s.0.latency().cost(now, self.tau))
    }

    #[inline]
    fn log_cost(&self, node: NodeIndex, _now: Duration) -> f64 {
        self.slots
            .get(node.as_usize())
            .map_or(f64::NEG_INFINITY, |s| s.0.latency().log_cost())
    }

    #[inline]
    fn log_load(&self, node: NodeIndex, _now: Duration) -> f64 {
        self.slots
            .get(node.as_usize())
            // Every slot is made by `LoadCell::new`, so its load is stored.
            .map_or(f64::NEG_INFINITY, |s| s.0.stored_log_load())
    }
}

impl fmt::Debug for NodeLoads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeLoads")
            .field("capacity", &self.slots.len())
            .field("decay", &self.tau)
            .finish_non_exhaustive()
    }
}
