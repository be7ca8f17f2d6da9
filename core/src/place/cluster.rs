//! [`Cluster`]: a node table plus one sticky placement, kept in step.

use std::fmt;

use crate::error::{Error, Result};
use crate::node::{Node, NodeIndex, NodeState, NodeTable};
use crate::place::Placement;
use crate::place::Replicas;

/// Weighted nodes placed by the algorithm `P`, each carrying a payload `T`.
///
/// [`Ring`](crate::Ring) is `Cluster<RingIndex, T>`; the other sticky
/// algorithms plug in the same way, so code written against `Cluster` can
/// switch algorithm by changing one type or one configuration value.
///
/// * Lookups take `&self`, never allocate (for up to 8 replicas) and skip
///   nodes that are down.
/// * Every change is validated before anything is touched: an `Err` leaves
///   the cluster exactly as it was.
#[derive(Clone)]
pub struct Cluster<P, T = ()> {
    pub(crate) nodes: NodeTable<T>,
    pub(crate) placement: P,
}

impl<P: Placement, T> Cluster<P, T> {
    /// An empty cluster placed by `placement` (whose configuration it keeps).
    pub fn with_placement(mut placement: P) -> Self {
        let nodes = NodeTable::new();
        placement.rebuild(&nodes);
        Cluster { nodes, placement }
    }

    /// A cluster of many nodes at once: the placement is built a single time.
    /// Nodes are `(name, weight, state, payload)`; the first bad one is reported.
    pub fn from_nodes<N, I>(mut placement: P, nodes: I) -> Result<Self>
    where
        N: AsRef<[u8]>,
        I: IntoIterator<Item = (N, f64, NodeState, T)>,
    {
        let mut table = NodeTable::new();
        for (name, weight, state, payload) in nodes {
            let index = table.insert(name.as_ref(), weight, payload)?;
            table.set_state(index, state)?;
        }
        placement.check_table(&table)?;
        placement.rebuild(&table);
        Ok(Cluster {
            nodes: table,
            placement,
        })
    }

    /// The placement (the algorithm and its configuration).
    pub fn placement(&self) -> &P {
        &self.placement
    }

    /// Number of nodes, up or down.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there is no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes that are up.
    pub fn up_count(&self) -> usize {
        self.nodes.up_count()
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

    /// Iterates over `(index, node)` in index order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeIndex, &Node<T>)> + '_ {
        self.nodes.iter()
    }

    /// Adds a node carrying `payload`; it is up.
    pub fn add_with<N: AsRef<[u8]> + ?Sized>(
        &mut self,
        name: &N,
        weight: f64,
        payload: T,
    ) -> Result<NodeIndex> {
        let name = name.as_ref();
        self.nodes.check_insert(name, weight)?;
        self.placement.check_add(&self.nodes, weight)?;
        let index = self.nodes.insert(name, weight, payload)?;
        self.placement.node_added(&self.nodes, index);
        Ok(index)
    }

    /// Removes the node named `name` and returns it.
    pub fn remove<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Result<Node<T>> {
        let index = self.nodes.require(name.as_ref())?;
        let node = self.nodes.remove(index).expect("index came from the table");
        self.placement.node_removed(&self.nodes, index);
        Ok(node)
    }

    /// Changes the weight of `name`.
    pub fn set_weight<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N, weight: f64) -> Result<()> {
        let index = self.nodes.require(name.as_ref())?;
        crate::node::validate_weight(weight)?;
        self.placement.check_weight(&self.nodes, index, weight)?;
        let old = self.nodes[index].weight();
        self.nodes.set_weight(index, weight)?;
        self.placement.weight_changed(&self.nodes, index, old);
        Ok(())
    }

    /// Marks `name` up or down; the placement is untouched. Returns the previous state.
    pub fn set_state<N: AsRef<[u8]> + ?Sized>(
        &mut self,
        name: &N,
        state: NodeState,
    ) -> Result<NodeState> {
        let index = self.nodes.require(name.as_ref())?;
        self.nodes.set_state(index, state)
    }

    /// Marks `name` down: lookups skip it until [`mark_up`](Cluster::mark_up).
    pub fn mark_down<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Result<()> {
        self.set_state(name, NodeState::Down).map(drop)
    }

    /// Marks `name` up: its keys come back to it.
    pub fn mark_up<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N) -> Result<()> {
        self.set_state(name, NodeState::Up).map(drop)
    }

    /// The up node serving `key` (hashed with [`Placement::key_hash`]); `None` when no node is up.
    #[inline]
    pub fn route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<NodeIndex> {
        self.route_hash(self.placement.key_hash(key.as_ref()))
    }

    /// Routes every key of `keys` into `out` (`out[i]` for `keys[i]`), the
    /// same answers as [`route`](Cluster::route), with the lookups of
    /// independent keys overlapped (see [`many`](crate::many)). Never
    /// allocates. Panics if `out` is shorter than `keys`.
    pub fn route_many<K: AsRef<[u8]>>(&self, keys: &[K], out: &mut [Option<NodeIndex>]) {
        crate::place::route_keys(&self.placement, &self.nodes, keys, out)
    }

    /// [`route_many`](Cluster::route_many) for key hashes computed elsewhere.
    pub fn route_many_hashes(&self, hashes: &[u64], out: &mut [Option<NodeIndex>]) {
        assert!(
            out.len() >= hashes.len(),
            "route_many_hashes: `out` is shorter than `hashes`"
        );
        self.placement.route_hashes(hashes, &self.nodes, out)
    }

    /// Splits `keys` into one batch per node (for a multi-get): the node
    /// that serves each key now ([`GroupBy::Failover`](crate::many::GroupBy)),
    /// or each key's primary whatever its health. Fails only with more than
    /// `u32::MAX` keys.
    pub fn group<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        by: crate::many::GroupBy,
        out: &mut crate::many::KeyGroups,
    ) -> Result<()> {
        let slots = self.nodes.capacity();
        out.fill(keys, slots, |keys, owners| match by {
            crate::many::GroupBy::Failover => {
                crate::place::route_keys(&self.placement, &self.nodes, keys, owners)
            }
            crate::many::GroupBy::Primary => {
                let all = crate::place::AllUp(slots);
                crate::place::route_keys(&self.placement, &all, keys, owners)
            }
        })
    }

    /// Routes a key hash computed elsewhere.
    #[inline]
    pub fn route_hash(&self, hash: u64) -> Option<NodeIndex> {
        self.placement.route(hash, &self.nodes)
    }

    /// Like [`route`](Cluster::route), resolved to the node.
    #[inline]
    pub fn route_node<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&Node<T>> {
        self.route(key).map(|i| &self.nodes[i])
    }

    /// Like [`route`](Cluster::route), but says why there is no answer:
    /// [`Error::EmptyRing`] or [`Error::NoNodeUp`].
    pub fn try_route<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<NodeIndex> {
        self.route(key).ok_or_else(|| {
            if self.is_empty() {
                Error::EmptyRing
            } else {
                Error::NoNodeUp
            }
        })
    }

    /// Up to `n` distinct up nodes for `key`, primary first. Stays on the
    /// stack for `n <= 8`.
    pub fn route_n<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Replicas {
        self.route_n_hash(self.placement.key_hash(key.as_ref()), n)
    }

    /// [`route_n`](Cluster::route_n) for a key hash computed elsewhere.
    pub fn route_n_hash(&self, hash: u64, n: usize) -> Replicas {
        Replicas::fill(n.min(self.nodes.up_count()), |out| {
            self.placement.route_n(hash, &self.nodes, out)
        })
    }

    /// Writes up to `out.len()` distinct up nodes for `key` into `out`,
    /// primary first, and returns how many it wrote. Never allocates.
    pub fn route_n_into<K: AsRef<[u8]> + ?Sized>(&self, key: &K, out: &mut [NodeIndex]) -> usize {
        self.route_n_hash_into(self.placement.key_hash(key.as_ref()), out)
    }

    /// [`route_n_into`](Cluster::route_n_into) for a key hash computed elsewhere.
    pub fn route_n_hash_into(&self, hash: u64, out: &mut [NodeIndex]) -> usize {
        self.placement.route_n(hash, &self.nodes, out)
    }
}

impl<P: Placement, T: Default> Cluster<P, T> {
    /// Adds a node with a default payload; it is up.
    pub fn add<N: AsRef<[u8]> + ?Sized>(&mut self, name: &N, weight: f64) -> Result<NodeIndex> {
        self.add_with(name, weight, T::default())
    }
}

impl<P, T> std::ops::Index<NodeIndex> for Cluster<P, T> {
    type Output = Node<T>;

    /// The node at `index`; panics if there is none.
    fn index(&self, index: NodeIndex) -> &Node<T> {
        &self.nodes[index]
    }
}

impl<P: fmt::Debug, T: fmt::Debug> fmt::Debug for Cluster<P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("placement", &self.placement)
            .field("nodes", &self.nodes)
            .finish()
    }
}
