//! What a snapshot knows of each node's health, apart from the snapshot:
//! [`NodeHealth`] per node, and the [`HealthView`] lookups consult as their
//! [`Liveness`]. Tiers read it as well as snapshots, so it sits below both.

use crate::node::{NodeIndex, NodeTable};
use crate::place::Liveness;

/// Why a node does or does not take traffic.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeHealth {
    /// Takes traffic.
    Up,
    /// Marked down by hand (or by the membership source).
    Down,
    /// Ejected by passive outlier detection until its ejection time is up.
    Ejected,
    /// Its heartbeats stopped: the phi-accrual detector suspects it.
    Unreachable,
}

/// Per-node health as lookups see it.
#[derive(Clone, Debug)]
pub(crate) struct HealthView {
    states: Vec<NodeHealth>,
    up: usize,
    members: usize,
    /// Total weight of the up nodes, for bounded-load capacities.
    pub up_weight: f64,
}

impl HealthView {
    pub fn new<T>(states: Vec<NodeHealth>, table: &NodeTable<T>) -> Self {
        let is_up = |i: &NodeIndex| states.get(i.as_usize()) == Some(&NodeHealth::Up);
        let up = table.iter().filter(|(i, _)| is_up(i)).count();
        let up_weight = table
            .iter()
            .filter(|(i, _)| is_up(i))
            .map(|(_, n)| n.weight())
            .sum();
        HealthView {
            states,
            up,
            members: table.len(),
            up_weight,
        }
    }

    pub fn get(&self, node: NodeIndex) -> Option<NodeHealth> {
        self.states.get(node.as_usize()).copied()
    }
}

impl Liveness for HealthView {
    #[inline]
    fn is_up(&self, node: NodeIndex) -> bool {
        self.states.get(node.as_usize()) == Some(&NodeHealth::Up)
    }

    #[inline]
    fn up_count(&self) -> usize {
        self.up
    }

    #[inline]
    fn all_up(&self) -> bool {
        self.up == self.members
    }
}
