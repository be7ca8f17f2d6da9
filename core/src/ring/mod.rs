//! The native hash ring (spec v1): weighted virtual nodes, health-aware
//! lookups, replicas, and run-time membership changes that move only the
//! changed node's keys.
//!
//! See `docs/ring-spec.md` for the spec every language binding follows.

mod points;
mod replicas;

use std::fmt;

pub use replicas::{ReplicaIter, Replicas};

use crate::error::{Error, Result};
use crate::hash::key_hash;
use crate::node::{Node, NodeIndex, NodeState, NodeTable, validate_weight};
use points::Points;

/// Virtual nodes per unit of weight when none is given.
pub const DEFAULT_VNODES: u32 = 160;
/// The largest accepted virtual-node count per unit of weight.
pub const MAX_VNODES: u32 = 1 << 16;
/// The most points one ring may hold (16,777,216: about 370 MB of index).
pub const MAX_POINTS: u64 = 1 << 24;

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

/// A consistent-hash ring of weighted nodes, each carrying a payload `T`.
///
/// * Lookups ([`route`](Ring::route), [`route_n`](Ring::route_n),
///   [`replicas`](Ring::replicas)) take `&self`, never allocate (for up to 8
///   replicas) and skip nodes that are down.
/// * Changes ([`add`](Ring::add), [`remove`](Ring::remove),
///   [`set_weight`](Ring::set_weight)) merge or drop only the changed node's
///   points; [`set_state`](Ring::set_state) touches no point at all.
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
#[derive(Clone)]
pub struct Ring<T = ()> {
    nodes: NodeTable<T>,
    points: Points,
    vnodes: u32,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring {
            nodes: NodeTable::new(),
            points: Points::default(),
            vnodes: DEFAULT_VNODES,
        }
    }
}

impl<T> Ring<T> {
    /// An empty ring with [`DEFAULT_VNODES`] virtual nodes per unit weight.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty ring with `vnodes` virtual nodes per unit weight
    /// (`1..=`[`MAX_VNODES`]).
    pub fn with_vnodes(vnodes: u32) -> Result<Self> {
        Ok(Ring {
            vnodes: validate_vnodes(vnodes)?,
            ..Self::default()
        })
    }

    /// A builder that adds many nodes and sorts the ring once.
    pub fn builder() -> RingBuilder<T> {
        RingBuilder::new()
    }

    /// Virtual nodes per unit weight.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    /// Number of nodes, up or down.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the ring has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes that are up.
    pub fn up_count(&self) -> usize {
        self.nodes.up_count()
    }

    /// Number of points (virtual nodes) on the ring.
    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    /// Bytes held by the points and their index.
    pub fn index_memory_bytes(&self) -> usize {
        self.points.memory_bytes()
    }

    /// The node table: names, weights, states and payloads by index.
    pub fn nodes(&self) -> &NodeTable<T> {
        &self.nodes
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> Option<&Node<T>> {
        self.nodes.get(index)
    }

    /// The node named `name`.
    pub fn get<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Option<&Node<T>> {
        self.nodes.get(self.index_of(name)?)
    }

    /// The index of the node named `name`.
    pub fn index_of<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> Option<NodeIndex> {
        self.nodes.index_of(name.as_ref())
    }

    /// True when a node named `name` is a member.
    pub fn contains<N: AsRef<[u8]> + ?Sized>(&self, name: &N) -> bool {
        self.index_of(name).is_some()
    }

    /// The payload of the node named `name`, mutably.
    pub fn payload_mut<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Option<&mut T> {
        let index = self.index_of(name)?;
        self.nodes.payload_mut(index)
    }

    /// The points a node of `weight` owns on this ring.
    pub fn points_for(&self, weight: f64) -> Result<u32> {
        points_for(self.vnodes, weight)
    }

    fn check_total(&self, extra: u64) -> Result<()> {
        let requested = self.points.len() as u64 + extra;
        if requested > MAX_POINTS {
            return Err(Error::TooManyPoints {
                requested,
                max: MAX_POINTS,
            });
        }
        Ok(())
    }

    /// Adds a node carrying `payload`; it is up. Costs the node's own points
    /// (hashed, sorted, merged) plus one pass over the index.
    pub fn add_with<N: AsRef<[u8]> + ?Sized>(
        &mut self,
        name: &N,
        weight: f64,
        payload: T,
    ) -> Result<NodeIndex> {
        let name = name.as_ref();
        self.nodes.check_insert(name, weight)?;
        let count = self.points_for(weight)?;
        self.check_total(u64::from(count))?;
        let index = self.nodes.insert(name, weight, payload)?;
        let nodes = &self.nodes;
        self.points.insert(index.get(), name, 0, count, |i| {
            nodes[NodeIndex::new(i)].name()
        });
        Ok(index)
    }

    /// Removes the node named `name` and returns it. Only its keys move.
    pub fn remove<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Result<Node<T>> {
        let index = self.nodes.require(name.as_ref())?;
        self.points.remove(index.get(), 0);
        Ok(self.nodes.remove(index).expect("index came from the table"))
    }

    /// Changes the weight of `name`, adding or dropping only its points, so
    /// keys move only to it (weight up) or from it (weight down).
    pub fn set_weight<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N, weight: f64) -> Result<()> {
        let index = self.nodes.require(name.as_ref())?;
        let old = self.points_for(self.nodes[index].weight())?;
        let new = self.points_for(weight)?;
        if new > old {
            self.check_total(u64::from(new - old))?;
        }
        self.nodes.set_weight(index, weight)?;
        if new > old {
            let nodes = &self.nodes;
            let name = nodes[index].name();
            self.points.insert(index.get(), name, old, new, |i| {
                nodes[NodeIndex::new(i)].name()
            });
        } else if new < old {
            self.points.remove(index.get(), new);
        }
        Ok(())
    }

    /// Marks `name` up or down; no point moves. Returns the previous state.
    pub fn set_state<N: AsRef<[u8]> + ?Sized>(
        &mut self,
        name: &N,
        state: NodeState,
    ) -> Result<NodeState> {
        let index = self.nodes.require(name.as_ref())?;
        self.nodes.set_state(index, state)
    }

    /// Marks `name` down: lookups skip it until [`mark_up`](Ring::mark_up).
    pub fn mark_down<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Result<()> {
        self.set_state(name, NodeState::Down).map(drop)
    }

    /// Marks `name` up: its keys come back to it.
    pub fn mark_up<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Result<()> {
        self.set_state(name, NodeState::Up).map(drop)
    }

    /// The node serving `key`: the owner of the first point at or after
    /// `xxh3_64(key)`, skipping nodes that are down. `None` when no node is up.
    #[inline]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        self.route_hash(key_hash(key.as_ref()))
    }

    /// Like [`route`](Ring::route), resolved to the node.
    #[inline]
    pub fn route_node<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&Node<T>> {
        self.route(key).map(|i| &self.nodes[i])
    }

    /// Like [`route`](Ring::route), but says why there is no answer:
    /// [`Error::EmptyRing`] or [`Error::NoNodeUp`].
    pub fn try_route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<NodeIndex> {
        self.route(key).ok_or_else(|| self.no_route_error())
    }

    fn no_route_error(&self) -> Error {
        if self.is_empty() {
            Error::EmptyRing
        } else {
            Error::NoNodeUp
        }
    }

    /// Routes a key hash computed elsewhere (see [`crate::hash::key_hash`]).
    #[inline]
    pub fn route_hash(&self, hash: u64) -> Option<NodeIndex> {
        let len = self.points.len();
        if len == 0 {
            return None;
        }
        let mut i = self.points.find(hash);
        let up_count = self.nodes.up_count();
        if up_count == self.nodes.len() {
            return Some(NodeIndex::new(self.points.owner(i)));
        }
        if up_count == 0 {
            return None;
        }
        let up = self.nodes.up_flags();
        // Terminates: some node is up, and every node owns at least one point.
        loop {
            let owner = self.points.owner(i);
            if up[owner as usize] {
                return Some(NodeIndex::new(owner));
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }

    /// Up to `n` distinct up nodes for `key` in ring order, the first being
    /// [`route`](Ring::route)'s answer. Stays on the stack for `n <= 8`.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Replicas {
        let mut out = Replicas::new();
        out.fill(self, key_hash(key.as_ref()), n);
        out
    }

    /// Writes up to `out.len()` distinct up nodes for `key` into `out`, in
    /// ring order, and returns how many it wrote. Never allocates.
    pub fn route_n_into<K: AsRef<[u8]> + ?Sized>(&self, key: &K, out: &mut [NodeIndex]) -> usize {
        self.route_n_hash_into(key_hash(key.as_ref()), out)
    }

    /// [`route_n_into`](Ring::route_n_into) for a key hash computed elsewhere.
    pub fn route_n_hash_into(&self, hash: u64, out: &mut [NodeIndex]) -> usize {
        let want = out.len().min(self.nodes.up_count());
        let len = self.points.len();
        if want == 0 || len == 0 {
            return 0;
        }
        let up = self.nodes.up_flags();
        let mut i = self.points.find(hash);
        let mut found = 0;
        // Terminates: `want` distinct up nodes exist and each owns a point.
        loop {
            let owner = NodeIndex::new(self.points.owner(i));
            if up[owner.as_usize()] && !out[..found].contains(&owner) {
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

    /// Every distinct up node for `key`, in ring order: the failover order.
    /// Lazy and allocation-free; stop after as many as you need.
    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> ReplicaIter<'_, T> {
        self.replicas_hash(key_hash(key.as_ref()))
    }

    /// [`replicas`](Ring::replicas) for a key hash computed elsewhere.
    pub fn replicas_hash(&self, hash: u64) -> ReplicaIter<'_, T> {
        ReplicaIter::new(self, hash)
    }

    /// Iterates over `(index, node)` in index order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeIndex, &Node<T>)> + '_ {
        self.nodes.iter()
    }

    /// The share of the hash space each node owns (the fraction of uniformly
    /// random keys it gets with every node up), by node index. Exact: summed
    /// arc lengths, no sampling.
    pub fn ownership(&self) -> Vec<(NodeIndex, f64)> {
        let mut arcs = vec![0u128; self.nodes.capacity()];
        let entries = self.points.entries();
        if let Some(last) = entries.last() {
            let mut prev = last.point;
            for (k, e) in entries.iter().enumerate() {
                // The arc (prev, e.point] belongs to e; the first wraps around.
                let arc = if k == 0 {
                    u128::from(e.point) + (1u128 << 64) - u128::from(prev)
                } else {
                    u128::from(e.point - prev)
                };
                arcs[e.node as usize] += arc;
                prev = e.point;
            }
        }
        let total = (1u128 << 64) as f64;
        self.nodes
            .iter()
            .map(|(i, _)| (i, arcs[i.as_usize()] as f64 / total))
            .collect()
    }

    /// `(point, owner)` in ring order: for tests, tools and other bindings.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (u64, NodeIndex)> + '_ {
        self.points
            .entries()
            .iter()
            .map(|e| (e.point, NodeIndex::new(e.node)))
    }

    #[inline]
    pub(crate) fn raw_points(&self) -> &Points {
        &self.points
    }
}

impl<T: Default> Ring<T> {
    /// Adds a node with a default payload; it is up.
    pub fn add<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N, weight: f64) -> Result<NodeIndex> {
        self.add_with(name, weight, T::default())
    }
}

impl<T> std::ops::Index<NodeIndex> for Ring<T> {
    type Output = Node<T>;

    /// The node at `index`; panics if there is none.
    fn index(&self, index: NodeIndex) -> &Node<T> {
        &self.nodes[index]
    }
}

impl<T: fmt::Debug> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("vnodes", &self.vnodes)
            .field("points", &self.points.len())
            .field("nodes", &self.nodes)
            .finish()
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
        let vnodes = validate_vnodes(self.vnodes)?;
        let mut nodes = NodeTable::new();
        let mut counts = Vec::with_capacity(self.nodes.len());
        let mut total = 0u64;
        for (name, weight, state, payload) in self.nodes {
            let count = points_for(vnodes, weight)?;
            let index = nodes.insert(&name, weight, payload)?;
            nodes.set_state(index, state)?;
            total += u64::from(count);
            if total > MAX_POINTS {
                return Err(Error::TooManyPoints {
                    requested: total,
                    max: MAX_POINTS,
                });
            }
            counts.push((index, count));
        }
        let points = Points::build(
            counts.iter().map(|&(i, c)| (i.get(), nodes[i].name(), c)),
            total as usize,
            |i| nodes[NodeIndex::new(i)].name(),
        );
        Ok(Ring {
            nodes,
            points,
            vnodes,
        })
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
