//! The node table: names, weights, states and payloads behind dense indices.
//!
//! Every routing structure in the crate stores [`NodeIndex`] values rather
//! than names, so a lookup ends in a `u32` and the caller resolves it here.
//! Indices stay put while a node lives; a removed node's slot is reused by a
//! later insert, which keeps the table dense under churn.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Dense index of a node in its table. Stable for the node's lifetime.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct NodeIndex(u32);

impl NodeIndex {
    /// Wraps a raw index.
    #[inline]
    pub const fn new(raw: u32) -> Self {
        NodeIndex(raw)
    }

    /// The raw index.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The raw index as a `usize`, for indexing slices.
    #[inline]
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for NodeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeIndex({})", self.0)
    }
}

impl fmt::Display for NodeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Whether a node takes traffic.
///
/// A down node keeps its place (its ring points stay), lookups skip it, and
/// its keys return to it when it is up again.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Takes traffic.
    #[default]
    Up,
    /// Skipped by every lookup.
    Down,
}

/// One member: its identity (the name that is hashed), weight, state, tier
/// and the caller's payload.
#[derive(Clone, PartialEq)]
pub struct Node<T = ()> {
    // Shared with the name index: a table copy (one per membership change,
    // 100k nodes at fleet scale) then allocates nothing per node.
    name: Arc<[u8]>,
    weight: f64,
    state: NodeState,
    tier: u32,
    payload: T,
}

impl<T> Node<T> {
    /// The node's identity, as bytes. This is what the ring hashes.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The name as text, when it is UTF-8.
    pub fn name_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.name).ok()
    }

    /// The name as text, invalid UTF-8 replaced by U+FFFD.
    pub fn name_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }

    /// The node's weight (finite, > 0).
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// Up or down.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// The node's tier (priority): 0 = primary (the default), 1 = first
    /// backup tier, and so on. A router sends a tier traffic only as the
    /// tiers above it fail; see [`TierPolicy`](crate::router::TierPolicy).
    pub fn tier(&self) -> u32 {
        self.tier
    }

    /// Whether lookups may return this node.
    pub fn is_up(&self) -> bool {
        self.state == NodeState::Up
    }

    /// The caller's payload (a connection, an address, ...).
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The caller's payload, mutably.
    pub fn payload_mut(&mut self) -> &mut T {
        &mut self.payload
    }

    /// Consumes the node, giving back its payload.
    pub fn into_payload(self) -> T {
        self.payload
    }
}

impl<T: fmt::Debug> fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name_lossy())
            .field("weight", &self.weight)
            .field("state", &self.state)
            .field("tier", &self.tier)
            .field("payload", &self.payload)
            .finish()
    }
}

/// Checks a weight: finite and greater than zero.
pub fn validate_weight(weight: f64) -> Result<f64> {
    if weight.is_finite() && weight > 0.0 {
        Ok(weight)
    } else {
        Err(Error::InvalidWeight(weight))
    }
}

/// The members of a routing structure, addressed by [`NodeIndex`] or name.
///
/// Keeps a dense `up` flag per slot so that hot-path health checks read one
/// byte from a small array instead of a whole [`Node`].
#[derive(Clone)]
pub struct NodeTable<T = ()> {
    slots: Vec<Option<Node<T>>>,
    up: Vec<bool>,
    free: Vec<u32>,
    by_name: HashMap<Arc<[u8]>, NodeIndex>,
    up_count: usize,
    up_weight: f64,
}

impl<T> Default for NodeTable<T> {
    fn default() -> Self {
        NodeTable {
            slots: Vec::new(),
            up: Vec::new(),
            free: Vec::new(),
            by_name: HashMap::new(),
            up_count: 0,
            up_weight: 0.0,
        }
    }
}

impl<T> NodeTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when the table has no node.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Number of nodes that are up.
    pub fn up_count(&self) -> usize {
        self.up_count
    }

    /// Sum of the weights of the nodes that are up.
    pub fn up_weight(&self) -> f64 {
        self.up_weight
    }

    /// Adds `delta` to the up weight. A running sum drifts by a few ulps
    /// under churn, which bounded-load capacities tolerate; it is reset to
    /// exactly zero whenever no node is up, so the drift never accumulates
    /// across an empty table.
    fn adjust_up_weight(&mut self, delta: f64) {
        self.up_weight = if self.up_count == 0 {
            0.0
        } else {
            (self.up_weight + delta).max(0.0)
        };
    }

    /// One past the highest index in use: the length a per-node array needs.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether the node at `index` exists and is up. The routing hot path.
    #[inline]
    pub fn is_up(&self, index: NodeIndex) -> bool {
        self.up.get(index.as_usize()).copied().unwrap_or(false)
    }

    /// The per-slot up flags, indexed by [`NodeIndex::as_usize`]; a free slot is `false`.
    #[inline]
    pub fn up_flags(&self) -> &[bool] {
        &self.up
    }

    /// The node at `index`.
    pub fn get(&self, index: NodeIndex) -> Option<&Node<T>> {
        self.slots.get(index.as_usize())?.as_ref()
    }

    /// The node at `index`, mutably (payload only: name, weight and state
    /// change through the owning structure).
    pub fn payload_mut(&mut self, index: NodeIndex) -> Option<&mut T> {
        Some(
            self.slots
                .get_mut(index.as_usize())?
                .as_mut()?
                .payload_mut(),
        )
    }

    /// The index of the node named `name`.
    pub fn index_of(&self, name: &[u8]) -> Option<NodeIndex> {
        self.by_name.get(name).copied()
    }

    /// The index of `name`, or [`Error::UnknownNode`].
    pub fn require(&self, name: &[u8]) -> Result<NodeIndex> {
        self.index_of(name)
            .ok_or_else(|| Error::UnknownNode(name.into()))
    }

    /// All nodes with their indices, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeIndex, &Node<T>)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((NodeIndex(i as u32), n.as_ref()?)))
    }

    /// Checks that `name` could be inserted with `weight`, without inserting.
    pub fn check_insert(&self, name: &[u8], weight: f64) -> Result<()> {
        if name.is_empty() {
            return Err(Error::EmptyName);
        }
        validate_weight(weight)?;
        if self.by_name.contains_key(name) {
            return Err(Error::DuplicateNode(name.into()));
        }
        if self.free.is_empty() && self.slots.len() >= u32::MAX as usize {
            return Err(Error::TooManyNodes);
        }
        Ok(())
    }

    /// Inserts a node, up. Fails on an empty or duplicate name or a bad weight.
    pub fn insert(&mut self, name: &[u8], weight: f64, payload: T) -> Result<NodeIndex> {
        self.check_insert(name, weight)?;
        let name: Arc<[u8]> = name.into();
        let node = Node {
            name: Arc::clone(&name),
            weight,
            state: NodeState::Up,
            tier: 0,
            payload,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(node);
                self.up[i as usize] = true;
                NodeIndex(i)
            }
            None => {
                self.slots.push(Some(node));
                self.up.push(true);
                NodeIndex((self.slots.len() - 1) as u32)
            }
        };
        self.by_name.insert(name, index);
        self.up_count += 1;
        self.adjust_up_weight(weight);
        Ok(index)
    }

    /// Removes the node at `index`, returning it; its slot becomes free.
    pub fn remove(&mut self, index: NodeIndex) -> Option<Node<T>> {
        let node = self.slots.get_mut(index.as_usize())?.take()?;
        self.by_name.remove(node.name());
        if self.up[index.as_usize()] {
            self.up_count -= 1;
            self.adjust_up_weight(-node.weight);
        }
        self.up[index.as_usize()] = false;
        self.free.push(index.0);
        Some(node)
    }

    /// Sets the weight of the node at `index` (validated).
    pub fn set_weight(&mut self, index: NodeIndex, weight: f64) -> Result<()> {
        validate_weight(weight)?;
        let node = self.slot_mut(index)?;
        let old = std::mem::replace(&mut node.weight, weight);
        if node.is_up() {
            self.adjust_up_weight(weight - old);
        }
        Ok(())
    }

    /// Sets the state of the node at `index`; returns the previous state.
    pub fn set_state(&mut self, index: NodeIndex, state: NodeState) -> Result<NodeState> {
        let node = self.slot_mut(index)?;
        let old = std::mem::replace(&mut node.state, state);
        let (weight, is_up) = (node.weight, state == NodeState::Up);
        if old != state {
            if is_up {
                self.up_count += 1;
                self.adjust_up_weight(weight);
            } else {
                self.up_count -= 1;
                self.adjust_up_weight(-weight);
            }
        }
        self.up[index.as_usize()] = is_up;
        Ok(old)
    }

    /// Sets the tier of the node at `index`; returns the previous tier.
    pub fn set_tier(&mut self, index: NodeIndex, tier: u32) -> Result<u32> {
        let node = self.slot_mut(index)?;
        Ok(std::mem::replace(&mut node.tier, tier))
    }

    /// A table of the nodes `keep` accepts, at the same indices (the other
    /// slots are free), without payloads: what a per-tier placement is
    /// built from, so that its answers need no translation.
    pub(crate) fn subset(&self, keep: impl Fn(&Node<T>) -> bool) -> NodeTable<()> {
        let slots: Vec<Option<Node<()>>> = self
            .slots
            .iter()
            .map(|slot| {
                let n = slot.as_ref().filter(|n| keep(n))?;
                Some(Node {
                    name: n.name.clone(),
                    weight: n.weight,
                    state: n.state,
                    tier: n.tier,
                    payload: (),
                })
            })
            .collect();
        let mut sub = NodeTable::new();
        for (i, slot) in slots.iter().enumerate() {
            let index = NodeIndex(i as u32);
            match slot {
                Some(n) => {
                    sub.by_name.insert(n.name.clone(), index);
                    sub.up.push(n.is_up());
                    if n.is_up() {
                        sub.up_count += 1;
                        sub.up_weight += n.weight;
                    }
                }
                None => {
                    sub.up.push(false);
                    sub.free.push(index.0);
                }
            }
        }
        sub.slots = slots;
        sub
    }

    fn slot_mut(&mut self, index: NodeIndex) -> Result<&mut Node<T>> {
        self.slots
            .get_mut(index.as_usize())
            .and_then(Option::as_mut)
            .ok_or(Error::UnknownNode(Box::default()))
    }
}

impl<T> std::ops::Index<NodeIndex> for NodeTable<T> {
    type Output = Node<T>;

    /// The node at `index`. Panics if there is none; use [`NodeTable::get`] to check.
    fn index(&self, index: NodeIndex) -> &Node<T> {
        self.get(index).expect("no node at this index")
    }
}

impl<T: fmt::Debug> fmt::Debug for NodeTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
