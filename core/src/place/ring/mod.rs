//! The native hash ring (spec v2): weighted virtual nodes, health-aware
//! lookups, replicas, and run-time membership changes that move only the
//! changed node's keys.
//!
//! See `docs/ring-spec.md` for the spec every language binding follows.

mod bounded;
mod points;
mod replicas;
mod seen;

pub use bounded::{LoadBound, LoadCounts, Loads};
pub(crate) use points::RawIndex;
pub use replicas::ReplicaIter;

use crate::error::{Error, Result};
use crate::hash::key_hash;
use crate::node::{NodeIndex, NodeState, NodeTable, validate_weight};
use crate::place::Cluster;
use crate::place::{Liveness, Placement};
use points::Points;

pub use crate::limits::{MAX_POINTS, MAX_VNODES};

/// Virtual nodes per unit of weight when none is given.
pub const DEFAULT_VNODES: u32 = 160;
/// Up to this many replicas, `route_n` deduplicates by scanning its output.
const SCAN_REPLICAS: usize = 16;

/// Points a node of weight `weight` owns with `vnodes` per unit weight:
/// `max(1, round(vnodes × weight))`, rounding half away from zero.
///
/// Fails with [`Error::InvalidWeight`] or [`Error::TooManyPoints`]; never panics.
pub fn points_for(vnodes: u32, weight: f64) -> Result<u32> {
    let weight = validate_weight(weight)?;
    let exact = (f64::from(vnodes) * weight).round();
    if exact > MAX_POINTS as f64 {
        return Err(Error::TooManyPoints {
            requested: if exact >= u64::MAX as f64 {
                u64::MAX
            } else {
                exact as u64
            },
            max: MAX_POINTS,
        });
    }
    Ok((exact as u32).max(1))
}

fn validate_vnodes(vnodes: u32) -> Result<u32> {
    if (1..=MAX_VNODES).contains(&vnodes) {
        Ok(vnodes)
    } else {
        Err(Error::InvalidVnodes(u64::from(vnodes)))
    }
}

/// The native ring's placement: sorted virtual-node points and their index.
///
/// Use it through [`Ring`] (`Cluster<RingIndex, T>`), or inside a router.
#[derive(Clone, Debug)]
pub struct RingIndex {
    points: Points,
    vnodes: u32,
}

impl Default for RingIndex {
    fn default() -> Self {
        RingIndex {
            points: Points::default(),
            vnodes: DEFAULT_VNODES,
        }
    }
}

impl RingIndex {
    /// An empty index with `vnodes` virtual nodes per unit weight
    /// (`1..=`[`MAX_VNODES`]).
    pub fn new(vnodes: u32) -> Result<Self> {
        Ok(RingIndex {
            points: Points::default(),
            vnodes: validate_vnodes(vnodes)?,
        })
    }

    /// Virtual nodes per unit weight.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    /// Number of points on the ring.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when the ring has no point.
    pub fn is_empty(&self) -> bool {
        self.points.len() == 0
    }

    /// Bytes held by the points and their index.
    pub fn memory_bytes(&self) -> usize {
        self.points.memory_bytes()
    }

    /// Positions on the ring: the points plus the gaps the index keeps
    /// between pages of points for cheap changes. A walk over positions
    /// wraps here.
    #[inline]
    pub fn slots(&self) -> usize {
        self.points.slots()
    }

    /// The ring position of the first point at or after `hash` (wrapping),
    /// or of a gap before it; `None` on an empty ring. Walk on from there
    /// with [`owner_at`](RingIndex::owner_at), wrapping at
    /// [`slots`](RingIndex::slots): a gap repeats the owner of the point
    /// after it, so the owners met are the points' in ring order, some of
    /// them repeated.
    #[inline]
    pub fn position(&self, hash: u64) -> Option<usize> {
        (!self.is_empty()).then(|| self.points.find(hash))
    }

    /// The owner of the point (or gap) at ring position `position`
    /// (`< slots()`).
    #[inline]
    pub fn owner_at(&self, position: usize) -> NodeIndex {
        NodeIndex::new(self.points.owner(position))
    }

    /// `(point, owner)` in ring order.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (u64, NodeIndex)> + '_ {
        self.points.iter().map(|(p, o)| (p, NodeIndex::new(o)))
    }

    /// The share of the hash space each node of `nodes` (the table this
    /// index was built from) owns: the fraction of uniformly random keys it
    /// gets with every node up, by node index. Exact: summed arc lengths, no
    /// sampling.
    pub fn ownership<T>(&self, nodes: &NodeTable<T>) -> Vec<(NodeIndex, f64)> {
        let mut arcs = vec![0u128; nodes.capacity()];
        let points = &self.points;
        if let Some(mut prev) = points.last() {
            for (k, (point, node)) in points.iter().enumerate() {
                // The arc (prev, point] belongs to its owner; the first wraps around.
                let arc = if k == 0 {
                    u128::from(point) + (1u128 << 64) - u128::from(prev)
                } else {
                    u128::from(point - prev)
                };
                // A point of a node `nodes` lacks (another table) counts for none.
                if let Some(sum) = arcs.get_mut(node as usize) {
                    *sum += arc;
                }
                prev = point;
            }
        }
        let total = (1u128 << 64) as f64;
        nodes
            .iter()
            .map(|(i, _)| (i, arcs[i.as_usize()] as f64 / total))
            .collect()
    }

    /// The points of `vnodes from..to` of the node named `name`, owned by `node`.
    fn points_of(name: &[u8], node: NodeIndex, from: u32, to: u32, out: &mut Vec<(u64, u32)>) {
        if from >= to {
            return;
        }
        let mut chunk = [0u64; points::CHUNK];
        points::for_each_point(name, from..to, &mut chunk, |_, point| {
            out.push((point, node.get()));
        });
    }

    /// This ring after the membership went from `old` to `new` (both
    /// validated), written into `spare`'s buffers when given.
    ///
    /// Changed nodes are applied as an edit that rewrites only the pages of
    /// the ring their points fall in, in place on `spare` when it is the
    /// version this one was edited from (see `Points::edited`). When the
    /// changed points exceed a third of the ring, sorting and locating them
    /// costs more than a build, and the ring is built afresh. Either way
    /// the cost is at most about one build.
    pub(crate) fn updated<T>(
        &self,
        old: &NodeTable<T>,
        new: &NodeTable<T>,
        spare: Option<RingIndex>,
    ) -> RingIndex {
        let spare = spare.map(|s| s.points);
        let count = |w: f64| points_for(self.vnodes, w).expect("validated");
        let name_of = |i: u32| new.get(NodeIndex::new(i)).map_or(&[][..], |n| n.name());
        let limit = self.points.len() / 3;
        let (mut drops, mut fresh) = (Vec::new(), Vec::new());
        let slots = old.capacity().max(new.capacity());
        for i in 0..slots {
            let node = NodeIndex::new(i as u32);
            match (old.get(node), new.get(node)) {
                (Some(a), Some(b)) if a.name() == b.name() => {
                    let (c0, c1) = (count(a.weight()), count(b.weight()));
                    if c1 == c0 {
                        // Unchanged: the common case, 10,000 times per change
                        // in a large fleet.
                    } else if c1 > c0 {
                        Self::points_of(b.name(), node, c0, c1, &mut fresh);
                    } else {
                        Self::points_of(a.name(), node, c1, c0, &mut drops);
                    }
                }
                (a, b) => {
                    if let Some(a) = a {
                        Self::points_of(a.name(), node, 0, count(a.weight()), &mut drops);
                    }
                    if let Some(b) = b {
                        Self::points_of(b.name(), node, 0, count(b.weight()), &mut fresh);
                    }
                }
            }
            if drops.len() + fresh.len() > limit {
                return RingIndex {
                    points: Self::build_points(self.vnodes, new, spare),
                    vnodes: self.vnodes,
                };
            }
        }
        RingIndex {
            points: self.points.edited(&drops, &mut fresh, name_of, spare),
            vnodes: self.vnodes,
        }
    }

    /// The all-up lookup's view of the points, `None` when empty (see
    /// [`RawIndex`]).
    pub(crate) fn raw(&self) -> Option<RawIndex> {
        self.points.raw()
    }

    fn build_points<T>(vnodes: u32, nodes: &NodeTable<T>, spare: Option<Points>) -> Points {
        let count = |w: f64| points_for(vnodes, w).expect("checked");
        let list: Vec<(u32, &[u8], u32)> = nodes
            .iter()
            .map(|(i, n)| (i.get(), n.name(), count(n.weight())))
            .collect();
        let total = list.iter().map(|&(_, _, c)| c as usize).sum();
        Points::build(&list, total, |i| nodes[NodeIndex::new(i)].name(), spare)
    }

    /// From slot `i` (the key's first point, or `slots()`), the first up
    /// owner: the lookup with some node down.
    #[cold]
    #[inline(never)]
    fn route_walk<L: Liveness + ?Sized>(&self, mut i: usize, live: &L) -> Option<NodeIndex> {
        if live.up_count() == 0 {
            return None;
        }
        let len = self.points.slots();
        if i == len {
            i = 0;
        }
        // Terminates: some node is up, and every node owns at least one point.
        // A gap repeats the next point's owner: walking slots is walking
        // points with repeats.
        loop {
            let owner = NodeIndex::new(self.points.owner(i));
            if live.is_up(owner) {
                return Some(owner);
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }

    fn check_total(&self, current: u64, extra: u64) -> Result<()> {
        let requested = current + extra;
        if requested > MAX_POINTS {
            return Err(Error::TooManyPoints {
                requested,
                max: MAX_POINTS,
            });
        }
        Ok(())
    }
}

impl Placement for RingIndex {
    fn check_add<T>(&self, _nodes: &NodeTable<T>, weight: f64) -> Result<()> {
        let count = points_for(self.vnodes, weight)?;
        self.check_total(self.points.len() as u64, u64::from(count))
    }

    fn check_weight<T>(&self, nodes: &NodeTable<T>, node: NodeIndex, weight: f64) -> Result<()> {
        let new = points_for(self.vnodes, weight)?;
        let old = points_for(self.vnodes, nodes[node].weight())?;
        self.check_total(self.points.len() as u64, u64::from(new.saturating_sub(old)))
    }

    fn check_table<T>(&self, nodes: &NodeTable<T>) -> Result<()> {
        let mut total = 0u64;
        for (_, node) in nodes.iter() {
            let count = points_for(self.vnodes, node.weight())?;
            self.check_total(total, u64::from(count))?;
            total += u64::from(count);
        }
        Ok(())
    }

    fn rebuild<T>(&mut self, nodes: &NodeTable<T>) {
        self.points = Self::build_points(self.vnodes, nodes, None);
    }

    fn node_added<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        let count = points_for(self.vnodes, nodes[node].weight()).expect("checked");
        let mut fresh = Vec::with_capacity(count as usize);
        Self::points_of(nodes[node].name(), node, 0, count, &mut fresh);
        self.points.edit(&[], &mut fresh, |i| {
            nodes.get(NodeIndex::new(i)).map_or(&[][..], |n| n.name())
        });
    }

    fn node_removed<T>(&mut self, _nodes: &NodeTable<T>, node: NodeIndex) {
        // The name is gone with the node: filter by owner instead.
        self.points.remove_owner(node.get());
    }

    fn weight_changed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex, old: f64) {
        let old = points_for(self.vnodes, old).expect("was valid");
        let new = points_for(self.vnodes, nodes[node].weight()).expect("checked");
        let name = nodes[node].name();
        let name_of = |i: u32| nodes.get(NodeIndex::new(i)).map_or(&[][..], |n| n.name());
        let mut changed = Vec::new();
        if new > old {
            Self::points_of(name, node, old, new, &mut changed);
            self.points.edit(&[], &mut changed, name_of);
        } else if new < old {
            Self::points_of(name, node, new, old, &mut changed);
            self.points.edit(&changed, &mut [], name_of);
        }
    }

    /// Always inlined, and small: the all-up lookup. Callers that cannot
    /// see the key's length at compile time (the C ABI, Python) otherwise
    /// got this as a call of its own, walk included.
    #[inline(always)]
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        if self.points.len() == 0 {
            return None;
        }
        if live.all_up() {
            // Slot `slots()` holds the first point's owner: no wrap test.
            return Some(NodeIndex::new(self.points.owner_of(hash)));
        }
        self.route_walk(self.points.find_raw(hash), live)
    }

    fn route_hashes<L: Liveness + ?Sized>(
        &self,
        hashes: &[u64],
        live: &L,
        out: &mut [Option<NodeIndex>],
    ) {
        if !live.all_up() || self.is_empty() {
            for (out, &hash) in out.iter_mut().zip(hashes) {
                *out = self.route(hash, live);
            }
            return;
        }
        // A software pipeline: while key `i` is scanned, the bucket entry of
        // key `i + AHEAD` and the window and owner of key `i + AHEAD / 2`
        // are already on their way, so a lookup's three dependent misses
        // overlap with other keys' instead of following each other.
        const AHEAD: usize = crate::many::BATCH;
        const MID: usize = AHEAD / 2;
        let n = hashes.len().min(out.len());
        let points = &self.points;
        for &hash in &hashes[..n.min(AHEAD)] {
            points.prefetch_start(hash);
        }
        let mut starts = [points::Start::default(); MID];
        for (k, &hash) in hashes[..n.min(MID)].iter().enumerate() {
            starts[k] = points.start(hash);
            points.prefetch_scan(starts[k]);
        }
        for i in 0..n {
            if let Some(&hash) = hashes.get(i + AHEAD) {
                points.prefetch_start(hash);
            }
            let slot = i % MID;
            let start = starts[slot];
            if let Some(&hash) = hashes.get(i + MID) {
                starts[slot] = points.start(hash);
                points.prefetch_scan(starts[slot]);
            }
            out[i] = Some(NodeIndex::new(points.owner(points.scan(start, hashes[i]))));
        }
    }

    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize {
        let want = out.len().min(live.up_count());
        if want == 0 || self.points.len() == 0 {
            return 0;
        }
        let len = self.points.slots();
        let mut i = self.points.find(hash);
        let mut found = 0;
        // A few replicas are checked against the answers so far; many get a
        // bitset, whose 128-byte clearing would dominate a short walk.
        let mut seen = (want > SCAN_REPLICAS).then(seen::Seen::new);
        // Terminates: `want` distinct up nodes exist and each owns a point.
        loop {
            let owner = NodeIndex::new(self.points.owner(i));
            // Down nodes are never recorded: `&&` stops before the insert.
            if live.is_up(owner)
                && !seen
                    .as_mut()
                    .and_then(|s| s.insert(owner))
                    .unwrap_or_else(|| out[..found].contains(&owner))
            {
                out[found] = owner;
                found += 1;
                if found == want {
                    return found;
                }
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }
}

/// A consistent-hash ring of weighted nodes, each carrying a payload `T`:
/// a [`Cluster`] placed by the native ring ([`RingIndex`], spec v2).
///
/// * Lookups ([`route`](Cluster::route), [`route_n`](Cluster::route_n),
///   [`replicas`](Cluster::replicas)) take `&self`, never allocate (for up
///   to 8 replicas) and skip nodes that are down.
/// * Changes ([`add`](Cluster::add), [`remove`](Cluster::remove),
///   [`set_weight`](Cluster::set_weight)) merge or drop only the changed
///   node's points; [`set_state`](Cluster::set_state) touches no point.
/// * Placement depends only on the set of `(name, weight)` pairs and the
///   vnode count, never on insertion order.
///
/// ```
/// use ringroute::Ring;
///
/// let mut ring: Ring = Ring::new();
/// ring.add("cache-a", 1.0)?;
/// ring.add("cache-b", 2.0)?;
/// let node = ring.route_node("user:42").unwrap();
/// assert!(node.name() == b"cache-a" || node.name() == b"cache-b");
///
/// // Two distinct replicas, primary first.
/// let replicas = ring.route_n("user:42", 2);
/// assert_eq!(replicas.len(), 2);
/// assert_eq!(Some(replicas[0]), ring.route("user:42"));
/// # Ok::<(), ringroute::Error>(())
/// ```
pub type Ring<T = ()> = Cluster<RingIndex, T>;

impl<T> Default for Cluster<RingIndex, T> {
    fn default() -> Self {
        Cluster::with_placement(RingIndex::default())
    }
}

impl<T> Cluster<RingIndex, T> {
    /// An empty ring with [`DEFAULT_VNODES`] virtual nodes per unit weight.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty ring with `vnodes` virtual nodes per unit weight
    /// (`1..=`[`MAX_VNODES`]).
    pub fn with_vnodes(vnodes: u32) -> Result<Self> {
        Ok(Cluster::with_placement(RingIndex::new(vnodes)?))
    }

    /// A builder that adds many nodes and sorts the ring once.
    pub fn builder() -> RingBuilder<T> {
        RingBuilder::new()
    }

    /// Virtual nodes per unit weight.
    pub fn vnodes(&self) -> u32 {
        self.placement.vnodes
    }

    /// Number of points (virtual nodes) on the ring.
    pub fn point_count(&self) -> usize {
        self.placement.len()
    }

    /// Bytes held by the points and their index.
    pub fn index_memory_bytes(&self) -> usize {
        self.placement.memory_bytes()
    }

    /// The points a node of `weight` owns on this ring.
    pub fn points_for(&self, weight: f64) -> Result<u32> {
        points_for(self.placement.vnodes, weight)
    }

    /// Every distinct up node for `key`, in ring order: the failover order.
    /// Lazy and allocation-free; stop after as many as you need.
    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> ReplicaIter<'_, NodeTable<T>> {
        self.replicas_hash(key_hash(key.as_ref()))
    }

    /// [`replicas`](Cluster::replicas) for a key hash computed elsewhere.
    pub fn replicas_hash(&self, hash: u64) -> ReplicaIter<'_, NodeTable<T>> {
        ReplicaIter::new(&self.placement, &self.nodes, hash)
    }

    /// Bounded-load routing: the first up node clockwise from `key` whose
    /// load is under `⌈c · (total + 1) · weight / up weight⌉`. Equals
    /// [`route`](Cluster::route) while no node is full; see [`LoadBound`].
    ///
    /// ```
    /// use ringroute::Ring;
    /// use ringroute::place::ring::{LoadBound, LoadCounts};
    ///
    /// let ring: Ring = Ring::builder().node("a", 1.0).node("b", 1.0).build()?;
    /// let loads = LoadCounts::new(ring.nodes().capacity());
    /// let bound = LoadBound::new(1.25)?;
    /// for i in 0..100 {
    ///     let node = ring.route_bounded(&format!("req-{i}"), &loads, bound).unwrap();
    ///     loads.acquire(node); // and release(node) when the request is done
    /// }
    /// // No node holds more than ⌈1.25 · 100 / 2⌉ = 63.
    /// # use ringroute::place::ring::Loads;
    /// assert!(ring.iter().all(|(i, _)| loads.load(i) <= 63));
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn route_bounded<K, D>(&self, key: &K, loads: &D, bound: LoadBound) -> Option<NodeIndex>
    where
        K: AsRef<[u8]> + ?Sized,
        D: Loads + ?Sized,
    {
        self.placement.route_bounded(
            key_hash(key.as_ref()),
            &self.nodes,
            loads,
            bound,
            |i| self.nodes[i].weight(),
            self.nodes.up_weight(),
        )
    }

    /// The share of the hash space each node owns (the fraction of uniformly
    /// random keys it gets with every node up), by node index. Exact: summed
    /// arc lengths, no sampling.
    pub fn ownership(&self) -> Vec<(NodeIndex, f64)> {
        self.placement.ownership(&self.nodes)
    }

    /// `(point, owner)` in ring order: for tests, tools and other bindings.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (u64, NodeIndex)> + '_ {
        self.placement.points()
    }
}

/// Builds a [`Ring`] from many nodes at once, sorting the points a single
/// time (a counting sort by bucket). Validation happens in
/// [`build`](RingBuilder::build), which reports the first bad node.
#[derive(Clone, Debug)]
pub struct RingBuilder<T = ()> {
    vnodes: u32,
    nodes: Vec<(Box<[u8]>, f64, NodeState, T)>,
}

impl<T> Default for RingBuilder<T> {
    fn default() -> Self {
        RingBuilder {
            vnodes: DEFAULT_VNODES,
            nodes: Vec::new(),
        }
    }
}

impl<T> RingBuilder<T> {
    /// A builder with [`DEFAULT_VNODES`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Virtual nodes per unit weight (checked in [`build`](RingBuilder::build)).
    pub fn vnodes(mut self, vnodes: u32) -> Self {
        self.vnodes = vnodes;
        self
    }

    /// Adds a node with a payload.
    pub fn node_with<N: AsRef<[u8]> + ?Sized>(mut self, name: &N, weight: f64, payload: T) -> Self {
        self.nodes
            .push((name.as_ref().into(), weight, NodeState::Up, payload));
        self
    }

    /// Adds a node with a payload and an initial state.
    pub fn node_in_state<N: AsRef<[u8]> + ?Sized>(
        mut self,
        name: &N,
        weight: f64,
        state: NodeState,
        payload: T,
    ) -> Self {
        self.nodes
            .push((name.as_ref().into(), weight, state, payload));
        self
    }

    /// Validates every node and builds the ring.
    pub fn build(self) -> Result<Ring<T>> {
        Cluster::from_nodes(RingIndex::new(self.vnodes)?, self.nodes)
    }
}

impl<T: Default> RingBuilder<T> {
    /// Adds a node with a default payload.
    pub fn node<N: AsRef<[u8]> + ?Sized>(self, name: &N, weight: f64) -> Self {
        self.node_with(name, weight, T::default())
    }
}

impl<N: AsRef<[u8]>, T: Default> FromIterator<(N, f64)> for RingBuilder<T> {
    fn from_iter<I: IntoIterator<Item = (N, f64)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(RingBuilder::new(), |b, (name, w)| b.node(name.as_ref(), w))
    }
}
