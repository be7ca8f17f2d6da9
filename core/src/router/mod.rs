//! [`Router`]: the concurrent handle an RPC client shares between threads.
//!
//! Readers never lock and never allocate: they load the current
//! [`Snapshot`] (an immutable membership plus per-node health) through
//! `arc-swap` and look up in it. Writers (membership changes, manual up/down,
//! outlier ejections, heartbeat verdicts) are serialized by a
//! `parking_lot::Mutex`, build the next snapshot and publish it in one atomic
//! swap, so a reader sees the old state or the new one, never a mix. A
//! health-only change reuses the membership part of the snapshot: no point
//! is rehashed or re-sorted.
//!
//! Requests are accounted with leases: [`Router::lease`] routes a key and
//! starts a request on the chosen node (its in-flight count goes up); the
//! caller reports [`success`](Lease::success) or [`failure`](Lease::failure)
//! and the count comes down, also when the lease is merely dropped.
//! Consecutive failures eject a node (Envoy's outlier detection), a
//! phi-accrual detector fed by [`Router::heartbeat`] marks silent nodes
//! unreachable, and [`Router::tick`] ends ejections whose time is up.
//!
//! ```
//! use ringroute::router::Router;
//! use std::time::Duration;
//!
//! let router: Router = Router::builder()
//!     .node("10.0.0.1:9000", 1.0)
//!     .node("10.0.0.2:9000", 1.0)
//!     .node("10.0.0.3:9000", 1.0)
//!     .build()?;
//!
//! // Share `router` (it is Send + Sync; clone it for another owner).
//! let snapshot = router.snapshot();
//! for node in snapshot.failover("user:42").take(2) {
//!     let lease = router.start_on(&snapshot, node).unwrap();
//!     let answer: Result<(), ()> = Ok(()); // call the node here
//!     match answer {
//!         Ok(()) => { lease.success(Duration::from_millis(3)); break; }
//!         Err(()) => lease.failure(), // and try the next replica
//!     }
//! }
//! # Ok::<(), ringroute::Error>(())
//! ```

mod algorithm;
mod batch;
mod control;
mod lease;
mod limits;
mod local;
mod picker;
mod reader;
mod snapshot;
mod tiers;
mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

pub use algorithm::{Algorithm, AnyPlacement};
pub use batch::Change;
pub use lease::{Lease, NodeStats, Outcome, Ticket};
pub use limits::LoadLimits;
pub use picker::PickerKind;
#[doc(hidden)]
pub use reader::QUICK_KEY_MAX;
pub use reader::RouterReader;
pub use snapshot::{Failover, Snapshot};
pub use tiers::{TierPolicy, TierShare};
pub use view::NodeHealth;

use crate::error::Result;
use crate::health::{
    Clock, MonotonicClock, OutlierConfig, OutlierDetector, PhiConfig, PhiDetector,
};
use crate::node::{NodeIndex, NodeState};
use crate::place::Cluster;
use crate::place::Replicas;
use crate::place::ring::{LoadBound, Loads};
use control::Control;
use snapshot::SnapshotLoads;

/// A routing table shared by many threads; see the [module docs](self).
///
/// Cloning gives another handle to the same router.
pub struct Router<T = ()> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Router<T> {
    fn clone(&self) -> Self {
        Router {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<T> {
    current: ArcSwap<Snapshot<T>>,
    /// The unique epoch of the latest publication (see `local`), stored
    /// after `current`.
    epoch: AtomicU64,
    control: Mutex<Control<T>>,
    clock: Arc<dyn Clock>,
    decay: Duration,
    failure_threshold: u32,
    load_bound: Option<LoadBound>,
    in_flight: AtomicU64,
}

/// In-flight requests per node, as bounded-load routing reads them.
struct InFlight<'a, T> {
    snapshot: &'a Snapshot<T>,
    total: u64,
}

impl<T> Inner<T> {
    /// Makes `snapshot` current, then stamps it with a fresh epoch (in
    /// that order: a reader that sees the epoch finds the snapshot).
    fn publish(&self, snapshot: Snapshot<T>) {
        self.current.store(Arc::new(snapshot));
        self.epoch.store(local::next_epoch(), Ordering::Release);
    }
}

impl<T> Loads for InFlight<'_, T> {
    fn load(&self, node: NodeIndex) -> u64 {
        self.snapshot
            .stats(node)
            .map_or(0, |s| u64::from(s.in_flight()))
    }

    fn total(&self) -> u64 {
        self.total
    }
}

impl<T: Clone + Send + Sync + 'static> Router<T> {
    /// A builder: algorithm, health settings, clock and initial nodes.
    pub fn builder() -> RouterBuilder<T> {
        RouterBuilder::default()
    }

    /// The current snapshot. Hold it to resolve names and payloads, or to
    /// make several lookups that must agree with each other.
    pub fn snapshot(&self) -> Arc<Snapshot<T>> {
        self.inner.current.load_full()
    }

    /// Runs `f` on the current snapshot without touching its reference
    /// count: the per-thread fast path of [`route`](Router::route), for a
    /// lookup that needs more than an index (a name, a payload) from the
    /// same snapshot. [`snapshot`](Router::snapshot) hands out an owned
    /// `Arc` instead.
    #[inline]
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot<T>) -> R) -> R {
        local::with_current(&self.inner.epoch, &self.inner.current, f)
    }

    /// A per-thread reading handle whose lookups skip the arc-swap load:
    /// use one in each worker's hot loop.
    pub fn reader(&self) -> RouterReader<T> {
        RouterReader::new(self)
    }

    /// The up node serving `key` in the current snapshot.
    ///
    /// Each thread remembers the last snapshot it routed with and checks
    /// with one atomic load that it is still current, so this costs about
    /// what a [`reader`](Router::reader) does; the remembered snapshot stays
    /// alive until the thread's next call or its exit. A reader per thread
    /// per router is still the cheapest, and the right tool for a thread
    /// that alternates between routers.
    #[inline]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        self.with_snapshot(|s| s.route(key))
    }

    /// Up to `n` distinct up nodes for `key`, primary first.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Replicas {
        self.inner.current.load().route_n(key, n)
    }

    /// Routes `key` and starts a request on the chosen node. With bounded
    /// loads configured, a node already holding more than its share of the
    /// in-flight requests passes the key to its next replica.
    pub fn lease<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<Lease<'_, T>> {
        let snapshot = self.inner.current.load();
        let hash = snapshot.key_hash(key);
        // Bounded loads walk one ring; a tiered router routes plainly.
        let ring = snapshot.placement.as_ring();
        let node = match (
            self.inner.load_bound,
            ring.filter(|_| !snapshot.is_tiered()),
        ) {
            (Some(bound), Some(ring)) => {
                let loads = InFlight {
                    snapshot: &snapshot,
                    total: self.inner.in_flight.load(Ordering::Relaxed),
                };
                let table = &snapshot.members.table;
                let up_weight = snapshot.health.up_weight;
                ring.route_bounded(
                    hash,
                    &snapshot.health,
                    &loads,
                    bound,
                    |i| table[i].weight(),
                    up_weight,
                )
            }
            _ => snapshot.route_hash(hash),
        }?;
        self.start_on(&snapshot, node)
    }

    /// Picks a node for a request without a key (the configured
    /// [`PickerKind`]) and starts the request on it. `None` when no node is up.
    pub fn pick(&self) -> Option<Lease<'_, T>> {
        let snapshot = self.inner.current.load();
        let now = self.now();
        let loads = SnapshotLoads {
            snapshot: &snapshot,
            decay: self.inner.decay,
        };
        let node = match (&snapshot.tiers, &snapshot.members.tiers) {
            (Some(view), Some(tiers)) => tiers.pick(view, &snapshot.health, &loads, now),
            _ => snapshot.members.picker.pick(&snapshot.health, &loads, now),
        }?;
        Some(Lease::new(self, self.ticket_at(&snapshot, node, now)?))
    }

    /// Like [`pick`](Router::pick), but returns an owned [`Ticket`] for
    /// [`finish`](Router::finish).
    pub fn pick_ticket(&self) -> Option<Ticket> {
        self.pick().map(Lease::into_ticket)
    }

    /// Starts a request on `node` of `snapshot` (for failover loops over
    /// [`Snapshot::failover`]). `None` if the node is not a member.
    pub fn start_on(&self, snapshot: &Snapshot<T>, node: NodeIndex) -> Option<Lease<'_, T>> {
        let ticket = self.ticket(snapshot, node)?;
        Some(Lease::new(self, ticket))
    }

    /// Starts a request on `node` and returns an owned [`Ticket`] to hand
    /// back to [`finish`](Router::finish): for bindings that cannot keep a
    /// borrowing [`Lease`].
    pub fn start(&self, node: NodeIndex) -> Option<Ticket> {
        self.ticket(&self.inner.current.load(), node)
    }

    fn ticket(&self, snapshot: &Snapshot<T>, node: NodeIndex) -> Option<Ticket> {
        self.ticket_at(snapshot, node, self.now())
    }

    fn ticket_at(&self, snapshot: &Snapshot<T>, node: NodeIndex, now: Duration) -> Option<Ticket> {
        let stats = Arc::clone(snapshot.stats_arc(node)?);
        stats.start();
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Ticket {
            node,
            stats,
            started: now,
        })
    }

    /// Ends a request started with [`start`](Router::start).
    pub fn finish(&self, ticket: Ticket, outcome: Outcome) {
        let _ = self
            .inner
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        let now = match outcome {
            Outcome::Success(_) | Outcome::Failure => self.now(),
            Outcome::Abandoned => ticket.started,
        };
        let failures = ticket.stats.finish(outcome, now, self.inner.decay);
        if outcome == Outcome::Failure
            && self.inner.failure_threshold > 0
            && failures >= self.inner.failure_threshold
        {
            let mut control = self.inner.control.lock();
            if control.eject(ticket.node, &ticket.stats, now) {
                self.inner.publish(control.publish_health());
            }
        }
    }

    /// The router's clock.
    pub fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    fn update<R>(&self, members: bool, f: impl FnOnce(&mut Control<T>) -> Result<R>) -> Result<R> {
        let mut control = self.inner.control.lock();
        let out = f(&mut control)?;
        let snapshot = if members {
            control.publish_members()
        } else {
            control.publish_health()
        };
        self.inner.publish(snapshot);
        Ok(out)
    }

    /// Adds a node carrying `payload`; it is up.
    pub fn add_with<N: AsRef<[u8]> + ?Sized>(
        &self,
        name: &N,
        weight: f64,
        payload: T,
    ) -> Result<NodeIndex> {
        self.update(true, |c| c.add(name.as_ref(), weight, payload))
    }

    /// Removes the node named `name`.
    pub fn remove<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Result<()> {
        self.update(true, |c| c.apply(vec![Change::remove(name)]))
    }

    /// Changes the weight of `name`.
    pub fn set_weight<N: AsRef<[u8]> + ?Sized>(&self, name: &N, weight: f64) -> Result<()> {
        self.update(true, |c| c.apply(vec![Change::set_weight(name, weight)]))
    }

    /// Moves `name` to `tier` (0 = primary, 1 = first backup, ...): a
    /// membership change, like a reweight. See [`TierPolicy`].
    pub fn set_tier<N: AsRef<[u8]> + ?Sized>(&self, name: &N, tier: u32) -> Result<()> {
        self.apply([Change::set_tier(name, tier)])
    }

    /// Marks `name` down by hand: no lookup returns it until [`mark_up`](Router::mark_up).
    pub fn mark_down<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Result<()> {
        self.update(true, |c| c.apply(vec![Change::mark_down(name)]))
    }

    /// Marks `name` up by hand (an ejection or a heartbeat verdict may still hold it out).
    pub fn mark_up<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Result<()> {
        self.update(true, |c| c.apply(vec![Change::mark_up(name)]))
    }

    /// Makes the membership exactly `nodes` (`(name, weight, payload)`), all
    /// or nothing, in one publication. Nodes that stay keep their counters,
    /// health and manual state.
    pub fn replace<N, I>(&self, nodes: I) -> Result<()>
    where
        N: AsRef<[u8]>,
        I: IntoIterator<Item = (N, f64, T)>,
    {
        let nodes = nodes
            .into_iter()
            .map(|(n, w, p)| (n.as_ref().into(), w, p))
            .collect();
        self.update(true, |c| c.replace(nodes))
    }

    /// Applies several membership changes at once, all or nothing, and
    /// publishes them as one snapshot: readers see all of them or none.
    ///
    /// Changes apply in order (a node may leave and another join in the same
    /// batch); the first bad one is returned and nothing changes. The
    /// placement is rebuilt at most once, so a batch costs about one fresh
    /// build however many nodes it touches; a batch of state changes alone
    /// rebuilds nothing.
    ///
    /// ```
    /// use ringroute::router::{Change, Router};
    ///
    /// let router: Router = Router::builder().node("a:1", 1.0).node("b:1", 1.0).build()?;
    /// router.apply([
    ///     Change::add("c:1", 2.0, ()),
    ///     Change::remove("a:1"),
    ///     Change::mark_down("b:1"),
    /// ])?;
    /// assert_eq!(router.snapshot().nodes().len(), 2);
    /// // All or nothing: the unknown node refuses the whole batch.
    /// assert!(router.apply([Change::remove("b:1"), Change::remove("zz")]).is_err());
    /// assert_eq!(router.snapshot().nodes().len(), 2);
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn apply<I: IntoIterator<Item = Change<T>>>(&self, changes: I) -> Result<()> {
        let changes: Vec<Change<T>> = changes.into_iter().collect();
        self.update(true, |c| c.apply(changes))
    }

    /// Records a heartbeat from `name` for the phi-accrual detector (a no-op
    /// when none is configured). A node found unreachable is up again at once.
    pub fn heartbeat<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Result<()> {
        let now = self.now();
        let mut control = self.inner.control.lock();
        let node = control.nodes.require(name.as_ref())?;
        if control.heartbeat(node, now) {
            self.inner.publish(control.publish_health());
        }
        Ok(())
    }

    /// Ends ejections whose time is up and marks nodes whose heartbeats
    /// stopped as unreachable. Call it periodically (say every second).
    pub fn tick(&self) {
        let now = self.now();
        let mut control = self.inner.control.lock();
        if control.tick(now) {
            self.inner.publish(control.publish_health());
        }
    }

    /// The health of `name` now.
    pub fn health<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Option<NodeHealth> {
        let snapshot = self.inner.current.load();
        snapshot.health(snapshot.index_of(name)?)
    }
}

impl<T: Clone + Send + Sync + Default + 'static> Router<T> {
    /// Adds a node with a default payload; it is up.
    pub fn add<N: AsRef<[u8]> + ?Sized>(&self, name: &N, weight: f64) -> Result<NodeIndex> {
        self.add_with(name, weight, T::default())
    }
}

/// Configures and builds a [`Router`].
pub struct RouterBuilder<T = ()> {
    algorithm: Algorithm,
    picker: PickerKind,
    outlier: Option<OutlierConfig>,
    phi: Option<PhiConfig>,
    clock: Option<Arc<dyn Clock>>,
    load_bound: Option<f64>,
    nodes: Vec<(Box<[u8]>, f64, NodeState, T)>,
    tier_policy: TierPolicy,
    tiers: Vec<(Box<[u8]>, u32)>,
}

impl<T> Default for RouterBuilder<T> {
    fn default() -> Self {
        RouterBuilder {
            algorithm: Algorithm::default(),
            picker: PickerKind::default(),
            outlier: Some(OutlierConfig::default()),
            phi: None,
            clock: None,
            load_bound: None,
            nodes: Vec::new(),
            tier_policy: TierPolicy::default(),
            tiers: Vec::new(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> RouterBuilder<T> {
    /// The sticky algorithm (default: the native ring, 160 vnodes).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The picker for requests without a key (default: least connections).
    pub fn picker(mut self, picker: PickerKind) -> Self {
        self.picker = picker;
        self
    }

    /// Passive outlier detection settings (on by default, Envoy's defaults).
    pub fn outlier_detection(mut self, config: OutlierConfig) -> Self {
        self.outlier = Some(config);
        self
    }

    /// Turns passive outlier detection off.
    pub fn no_outlier_detection(mut self) -> Self {
        self.outlier = None;
        self
    }

    /// Turns on the phi-accrual heartbeat detector (off by default).
    pub fn phi_accrual(mut self, config: PhiConfig) -> Self {
        self.phi = Some(config);
        self
    }

    /// The clock for latencies, ejections and heartbeats (default: monotonic).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Bounded loads on the ring for [`Router::lease`], with factor `c >= 1`
    /// (and [`Router::load_limits`] for callers that walk a key's replicas
    /// themselves). A router whose nodes span several tiers routes leases
    /// plainly.
    pub fn bounded_loads(mut self, c: f64) -> Self {
        self.load_bound = Some(c);
        self
    }

    /// Adds a node with a payload.
    pub fn node_with<N: AsRef<[u8]> + ?Sized>(mut self, name: &N, weight: f64, payload: T) -> Self {
        self.nodes
            .push((name.as_ref().into(), weight, NodeState::Up, payload));
        self
    }

    /// How traffic spills from a tier to the next (default: [`TierPolicy::Strict`]).
    pub fn tier_policy(mut self, policy: TierPolicy) -> Self {
        self.tier_policy = policy;
        self
    }

    /// Adds a node with a payload in `tier` (0 = primary, 1 = first backup, ...).
    pub fn node_with_tier<N: AsRef<[u8]> + ?Sized>(
        self,
        name: &N,
        weight: f64,
        tier: u32,
        payload: T,
    ) -> Self {
        let mut builder = self.node_with(name, weight, payload);
        if tier != 0 {
            builder.tiers.push((name.as_ref().into(), tier));
        }
        builder
    }

    /// Validates everything and builds the router.
    pub fn build(self) -> Result<Router<T>> {
        self.tier_policy.validate()?;
        let mut cluster = Cluster::from_nodes(self.algorithm.placement()?, self.nodes)?;
        for (name, tier) in &self.tiers {
            let node = cluster.nodes.require(name)?;
            cluster.nodes.set_tier(node, *tier)?;
        }
        let outlier = self.outlier.map(OutlierDetector::new).transpose()?;
        let failure_threshold = outlier
            .as_ref()
            .map_or(0, |o| o.config().consecutive_failures);
        let phi = self.phi.map(PhiDetector::new).transpose()?;
        let load_bound = self.load_bound.map(LoadBound::new).transpose()?;
        self.picker.validate()?;
        let decay = self.picker.decay();
        let mut control = Control::new(cluster, outlier, phi, self.picker);
        control.tiers.policy = self.tier_policy;
        let first = control.publish_members();
        Ok(Router {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(first),
                epoch: AtomicU64::new(local::next_epoch()),
                control: Mutex::new(control),
                clock: self
                    .clock
                    .unwrap_or_else(|| Arc::new(MonotonicClock::default())),
                decay,
                failure_threshold,
                load_bound,
                in_flight: AtomicU64::new(0),
            }),
        })
    }
}

impl<T: Clone + Send + Sync + Default + 'static> RouterBuilder<T> {
    /// Adds a node with a default payload.
    pub fn node<N: AsRef<[u8]> + ?Sized>(self, name: &N, weight: f64) -> Self {
        self.node_with(name, weight, T::default())
    }

    /// Adds a node with a default payload in `tier` (0 = primary, 1 = first backup, ...).
    pub fn node_in_tier<N: AsRef<[u8]> + ?Sized>(self, name: &N, weight: f64, tier: u32) -> Self {
        self.node_with_tier(name, weight, tier, T::default())
    }
}
