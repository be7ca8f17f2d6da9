//! Per-node request accounting: in-flight counts, outcomes and latency, and
//! the lease that keeps them right when a request ends in any way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::Router;
use crate::node::NodeIndex;
use crate::pick::{LoadCell, PeakEwmaCell};

/// Counters of one node, shared by every snapshot the node appears in, so
/// they survive membership updates. Updated lock-free by request threads.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Stores its `log_load` only for a router whose picker reads it (see
    /// [`LoadCell::computed`]).
    load: LoadCell,
    consecutive_failures: AtomicU32,
    successes: AtomicU64,
    failures: AtomicU64,
}

impl NodeStats {
    /// Counters at zero; the load cell stores its `log_load` only when
    /// `store_log_load` (the router's picker reads it).
    pub(crate) fn new(store_log_load: bool) -> Self {
        NodeStats {
            load: if store_log_load {
                LoadCell::new()
            } else {
                LoadCell::computed()
            },
            ..Self::default()
        }
    }

    /// Requests started on the node and not finished yet.
    pub fn in_flight(&self) -> u32 {
        self.load.in_flight()
    }

    /// Failures since the last success (or ejection).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    /// Successes reported in total.
    pub fn successes(&self) -> u64 {
        self.successes.load(Ordering::Relaxed)
    }

    /// Failures reported in total.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Peak-EWMA of the node's successful request latencies.
    pub fn latency(&self) -> &PeakEwmaCell {
        self.load.latency()
    }

    /// In-flight count, latency and the load a least-response-time pick
    /// compares.
    pub(crate) fn load(&self) -> &LoadCell {
        &self.load
    }

    pub(crate) fn start(&self) {
        self.load.start();
    }

    /// Ends a request at `now` (EWMA time constant `decay`); returns the
    /// consecutive-failure count after it.
    pub(crate) fn finish(&self, outcome: Outcome, now: Duration, decay: Duration) -> u32 {
        match outcome {
            Outcome::Success(rtt) => {
                self.load.finish_observed(rtt, now, decay);
                self.successes.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
                0
            }
            Outcome::Failure => {
                self.load.finish();
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1
            }
            Outcome::Abandoned => {
                self.load.finish();
                self.consecutive_failures()
            }
        }
    }

    pub(crate) fn reset_failures(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }
}

/// How a request ended.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It succeeded and took this long.
    Success(Duration),
    /// It failed in a way that counts against the node (a connect error, a
    /// timeout, a 5xx): consecutive failures lead to ejection.
    Failure,
    /// It ended without a verdict (cancelled, or the lease was dropped):
    /// only the in-flight count changes.
    Abandoned,
}

/// An owned record of a started request: which node, its counters, and when
/// it started. Hand it back with [`Router::finish`]. For bindings that
/// cannot hold a borrowing [`Lease`]; Rust code should prefer the lease.
#[derive(Debug)]
pub struct Ticket {
    pub(crate) node: NodeIndex,
    pub(crate) stats: Arc<NodeStats>,
    pub(crate) started: Duration,
}

impl Ticket {
    /// The node the request went to.
    pub fn node(&self) -> NodeIndex {
        self.node
    }

    /// When the request started, on the router's clock.
    pub fn started(&self) -> Duration {
        self.started
    }
}

/// A request in flight on one node. Report how it went with
/// [`success`](Lease::success), [`success_timed`](Lease::success_timed) or
/// [`failure`](Lease::failure); dropping it unreported just ends it
/// ([`Outcome::Abandoned`]). Either way the node's in-flight count drops.
#[must_use = "a lease reports the request's outcome; dropping it at once ends the request"]
pub struct Lease<'r, T: Clone + Send + Sync + 'static> {
    router: &'r Router<T>,
    ticket: Option<Ticket>,
}

impl<'r, T: Clone + Send + Sync + 'static> Lease<'r, T> {
    pub(crate) fn new(router: &'r Router<T>, ticket: Ticket) -> Self {
        Lease {
            router,
            ticket: Some(ticket),
        }
    }

    /// The node serving the request.
    pub fn node(&self) -> NodeIndex {
        self.ticket.as_ref().expect("live lease").node
    }

    /// The node's counters.
    pub fn stats(&self) -> &NodeStats {
        &self.ticket.as_ref().expect("live lease").stats
    }

    /// The request succeeded after `latency`.
    pub fn success(mut self, latency: Duration) {
        self.end(Outcome::Success(latency));
    }

    /// The request succeeded; its latency is the time since the lease
    /// started, on the router's clock.
    pub fn success_timed(mut self) {
        let ticket = self.ticket.as_ref().expect("live lease");
        let latency = self.router.now().saturating_sub(ticket.started);
        self.end(Outcome::Success(latency));
    }

    /// The request failed in a way that counts against the node.
    pub fn failure(mut self) {
        self.end(Outcome::Failure);
    }

    /// Turns the lease into an owned [`Ticket`] (to finish later with
    /// [`Router::finish`]); the request stays in flight.
    pub fn into_ticket(self) -> Ticket {
        // Not dropped: with the ticket taken its drop does nothing, and the
        // compiler does not always see that (the drop's finish is not
        // inlined), so it would call it on the request's hot path.
        let mut lease = std::mem::ManuallyDrop::new(self);
        lease.ticket.take().expect("live lease")
    }

    fn end(&mut self, outcome: Outcome) {
        if let Some(ticket) = self.ticket.take() {
            self.router.finish(ticket, outcome);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        self.end(Outcome::Abandoned);
    }
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for Lease<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("ticket", &self.ticket)
            .finish()
    }
}
