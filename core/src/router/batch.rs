//! Batch membership updates: many joins, leaves, reweights and manual state
//! changes validated together and published as one snapshot.
//!
//! A membership source (a registry watch, a node file reload) sees changes
//! in groups: one registry revision may add three nodes and drop two. Applied
//! one by one, every change would rebuild the placement and publish a
//! snapshot that shows part of the group; applied as a batch, the placement
//! is rebuilt at most once and readers see the whole group or none of it.

use super::control::Control;
use crate::error::Result;
use crate::node::NodeState;
use crate::placement::Placement;

/// One membership change, for [`Router::apply`](super::Router::apply).
///
/// Names are bytes (any `AsRef<[u8]>` converts through the constructors).
#[derive(Clone, Debug, PartialEq)]
pub enum Change<T> {
    /// A node joins with `weight`, carrying `payload`; it is up.
    Add {
        /// The node's name (its hashed identity).
        name: Box<[u8]>,
        /// Its weight (finite, > 0).
        weight: f64,
        /// What the caller keeps with the node (a connection, an address).
        payload: T,
    },
    /// A node leaves.
    Remove {
        /// The node's name.
        name: Box<[u8]>,
    },
    /// A node's weight changes.
    SetWeight {
        /// The node's name.
        name: Box<[u8]>,
        /// The new weight (finite, > 0).
        weight: f64,
    },
    /// A node is marked up or down by hand.
    SetState {
        /// The node's name.
        name: Box<[u8]>,
        /// [`NodeState::Up`] or [`NodeState::Down`].
        state: NodeState,
    },
    /// A node moves to another tier (0 = primary, 1 = first backup, ...).
    /// To add a node straight into a backup tier, follow its
    /// [`Change::add`] with this in the same batch.
    SetTier {
        /// The node's name.
        name: Box<[u8]>,
        /// The new tier.
        tier: u32,
    },
}

impl<T> Change<T> {
    /// `name` joins with `weight`, carrying `payload`.
    pub fn add<N: AsRef<[u8]> + ?Sized>(name: &N, weight: f64, payload: T) -> Self {
        Change::Add {
            name: name.as_ref().into(),
            weight,
            payload,
        }
    }

    /// `name` leaves.
    pub fn remove<N: AsRef<[u8]> + ?Sized>(name: &N) -> Self {
        Change::Remove {
            name: name.as_ref().into(),
        }
    }

    /// `name` takes `weight`.
    pub fn set_weight<N: AsRef<[u8]> + ?Sized>(name: &N, weight: f64) -> Self {
        Change::SetWeight {
            name: name.as_ref().into(),
            weight,
        }
    }

    /// `name` is marked down by hand.
    pub fn mark_down<N: AsRef<[u8]> + ?Sized>(name: &N) -> Self {
        Change::SetState {
            name: name.as_ref().into(),
            state: NodeState::Down,
        }
    }

    /// `name` is marked up by hand.
    pub fn mark_up<N: AsRef<[u8]> + ?Sized>(name: &N) -> Self {
        Change::SetState {
            name: name.as_ref().into(),
            state: NodeState::Up,
        }
    }

    /// `name` moves to `tier`.
    pub fn set_tier<N: AsRef<[u8]> + ?Sized>(name: &N, tier: u32) -> Self {
        Change::SetTier {
            name: name.as_ref().into(),
            tier,
        }
    }

    /// The name of the node this change is about.
    pub fn name(&self) -> &[u8] {
        match self {
            Change::Add { name, .. }
            | Change::Remove { name }
            | Change::SetWeight { name, .. }
            | Change::SetState { name, .. }
            | Change::SetTier { name, .. } => name,
        }
    }
}

impl<T: Clone> Control<T> {
    /// Applies `changes` in order, all or nothing: they are replayed on a
    /// copy of the node table, the copy is checked as a whole, and only then
    /// does the placement rebuild, once (a batch of state changes alone
    /// rebuilds nothing).
    pub fn apply(&mut self, changes: Vec<Change<T>>) -> Result<()> {
        let mut table = self.cluster.nodes.clone();
        let mut placed = false;
        for change in changes {
            match change {
                Change::Add {
                    name,
                    weight,
                    payload,
                } => {
                    table.insert(&name, weight, payload)?;
                    placed = true;
                }
                Change::Remove { name } => {
                    let node = table.require(&name)?;
                    table.remove(node);
                    placed = true;
                }
                Change::SetWeight { name, weight } => {
                    let node = table.require(&name)?;
                    table.set_weight(node, weight)?;
                    placed = true;
                }
                Change::SetState { name, state } => {
                    let node = table.require(&name)?;
                    table.set_state(node, state)?;
                }
                // Tiers are built afresh with every membership snapshot;
                // the router-wide placement does not depend on them.
                Change::SetTier { name, tier } => {
                    let node = table.require(&name)?;
                    table.set_tier(node, tier)?;
                }
            }
        }
        if placed {
            self.cluster.placement.check_table(&table)?;
        }
        let before: Vec<Option<Box<[u8]>>> = (0..self.cluster.nodes.capacity())
            .map(|i| self.node_name(i))
            .collect();
        self.cluster.nodes = table;
        if placed {
            self.cluster.placement.rebuild(&self.cluster.nodes);
        }
        // A slot whose occupant changed (left, or left and was reused) lost
        // its counters and health history; a fresh occupant gets new ones.
        let slots = before.len().max(self.cluster.nodes.capacity());
        for i in 0..slots {
            let old = before.get(i).cloned().flatten();
            let new = self.node_name(i);
            if old != new {
                let node = crate::node::NodeIndex::new(i as u32);
                if old.is_some() {
                    self.left(node);
                }
                if new.is_some() {
                    self.joined(node);
                }
            }
        }
        Ok(())
    }

    fn node_name(&self, slot: usize) -> Option<Box<[u8]>> {
        let node = crate::node::NodeIndex::new(slot as u32);
        self.cluster.nodes.get(node).map(|n| n.name().into())
    }
}
