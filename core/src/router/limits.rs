//! [`LoadLimits`]: the bounded-load rule of [`Router::lease`], node by node,
//! for callers that walk a key's failover order themselves (one attempt per
//! replica) and still want the router's bounded loads.

use std::sync::atomic::Ordering;

use super::{Router, Snapshot};
use crate::node::NodeIndex;
use crate::place::Liveness;
use crate::place::ring::LoadBound;

/// The bounded-load capacities of one snapshot at one moment: which nodes
/// may take one more request. From [`Router::load_limits`].
///
/// [`Router::lease`] sends a key to the first node of its failover order
/// for which [`has_room`](LoadLimits::has_room) holds; a caller walking
/// [`Snapshot::failover`] and skipping full nodes makes the same choice.
#[derive(Debug)]
pub struct LoadLimits<'s, T> {
    snapshot: &'s Snapshot<T>,
    bound: LoadBound,
    /// Requests in flight on the router, the one being placed included.
    placed: u64,
}

impl<T> LoadLimits<'_, T> {
    /// Whether `node` is up and, with one more request placed, holds fewer
    /// requests than its capacity `⌈c · (m + 1) · w / W⌉` (see
    /// [`LoadBound`]).
    #[inline]
    pub fn has_room(&self, node: NodeIndex) -> bool {
        let (Some(member), Some(stats)) = (self.snapshot.node(node), self.snapshot.stats(node))
        else {
            return false;
        };
        let health = &self.snapshot.health;
        // `load < ⌈x⌉` is `load < x` for a whole `load`: the same test as
        // `LoadBound::capacity` (the same `x`, computed in the same order)
        // without the call to `ceil` the baseline x86-64 target makes.
        let x = self.bound.factor() * self.placed as f64 * member.weight() / health.up_weight;
        health.is_up(node) && f64::from(stats.in_flight()) < x
    }

    /// The bound factor `c`.
    pub fn bound(&self) -> LoadBound {
        self.bound
    }
}

impl<T: Clone + Send + Sync + 'static> Router<T> {
    /// The bounded-load capacities [`lease`](Router::lease) applies to
    /// `snapshot` now, counting the requests in flight on this router.
    /// `None` when the router has no bounded loads, or when leases route
    /// `snapshot` plainly: a tiered snapshot, or a placement other than the
    /// ring.
    #[inline]
    pub fn load_limits<'s>(&self, snapshot: &'s Snapshot<T>) -> Option<LoadLimits<'s, T>> {
        let bound = self.inner.load_bound?;
        if snapshot.is_tiered() || snapshot.placement.as_ring().is_none() {
            return None;
        }
        Some(LoadLimits {
            snapshot,
            bound,
            placed: self.inner.in_flight.load(Ordering::Relaxed) + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::router::Router;

    #[test]
    fn has_room_picks_what_lease_picks() {
        let router: Router = Router::builder()
            .bounded_loads(1.25)
            .node("a:1", 1.0)
            .node("b:1", 2.0)
            .node("c:1", 1.0)
            .node("d:1", 1.0)
            .build()
            .unwrap();
        let mut held = Vec::new();
        for i in 0..40 {
            let key = format!("hot:{}", i % 2);
            let snapshot = router.snapshot();
            let limits = router.load_limits(&snapshot).unwrap();
            let walked = snapshot.failover(&key).find(|&n| limits.has_room(n));
            let lease = router.lease(&key).unwrap();
            assert_eq!(walked, Some(lease.node()), "request {i}");
            held.push(lease);
        }
        // The spill reached past the hot keys' primaries.
        let snapshot = router.snapshot();
        let busy = snapshot
            .nodes()
            .iter()
            .filter(|(n, _)| snapshot.stats(*n).unwrap().in_flight() > 0)
            .count();
        assert!(busy > 2, "{busy} nodes took the hot keys");
    }

    #[test]
    fn no_limits_without_a_bound_or_off_the_ring() {
        let plain: Router = Router::builder().node("a:1", 1.0).build().unwrap();
        assert!(plain.load_limits(&plain.snapshot()).is_none());
        let jump: Router = Router::builder()
            .algorithm(crate::router::Algorithm::Jump)
            .bounded_loads(1.25)
            .node("a:1", 1.0)
            .build()
            .unwrap();
        assert!(jump.load_limits(&jump.snapshot()).is_none());
    }
}
