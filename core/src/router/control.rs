//! The writer side of a router: the authoritative membership and health
//! state, changed only under the router's lock, and turned into snapshots.

use std::sync::Arc;
use std::time::Duration;

use super::algorithm::AnyPlacement;
use super::lease::NodeStats;
use super::picker::PickerKind;
use super::snapshot::{HealthView, Members, NodeHealth, Snapshot};
use super::tiers::TierCache;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::health::{OutlierDetector, PhiDetector};
use crate::node::{NodeIndex, NodeState};

pub(crate) struct Control<T> {
    pub cluster: Cluster<AnyPlacement, T>,
    pub stats: Vec<Option<Arc<NodeStats>>>,
    pub outlier: Option<OutlierDetector>,
    pub phi: Option<PhiDetector>,
    pub unreachable: Vec<bool>,
    picker: PickerKind,
    pub tiers: TierCache,
    members: Option<Arc<Members<T>>>,
    version: u64,
}

impl<T: Clone> Control<T> {
    pub fn new(
        cluster: Cluster<AnyPlacement, T>,
        outlier: Option<OutlierDetector>,
        phi: Option<PhiDetector>,
        picker: PickerKind,
    ) -> Self {
        let mut control = Control {
            cluster,
            stats: Vec::new(),
            outlier,
            phi,
            unreachable: Vec::new(),
            picker,
            tiers: TierCache::default(),
            members: None,
            version: 0,
        };
        let nodes: Vec<NodeIndex> = control.cluster.iter().map(|(i, _)| i).collect();
        for node in nodes {
            control.joined(node);
        }
        control
    }

    pub(super) fn joined(&mut self, node: NodeIndex) {
        let i = node.as_usize();
        if self.stats.len() <= i {
            self.stats.resize(i + 1, None);
            self.unreachable.resize(i + 1, false);
        }
        self.stats[i] = Some(Arc::new(NodeStats::default()));
        self.unreachable[i] = false;
    }

    pub(super) fn left(&mut self, node: NodeIndex) {
        self.stats[node.as_usize()] = None;
        self.unreachable[node.as_usize()] = false;
        if let Some(o) = &mut self.outlier {
            o.forget(node);
        }
        if let Some(p) = &mut self.phi {
            p.forget(node);
        }
    }

    /// Health of every slot, as lookups will see it.
    fn health(&self) -> HealthView {
        let table = &self.cluster.nodes;
        let states = (0..table.capacity())
            .map(|i| {
                let node = NodeIndex::new(i as u32);
                match table.get(node) {
                    None => NodeHealth::Down,
                    Some(n) if n.state() == NodeState::Down => NodeHealth::Down,
                    Some(_) if self.outlier.as_ref().is_some_and(|o| o.is_ejected(node)) => {
                        NodeHealth::Ejected
                    }
                    Some(_) if self.unreachable[i] => NodeHealth::Unreachable,
                    Some(_) => NodeHealth::Up,
                }
            })
            .collect();
        HealthView::new(states, table)
    }

    /// A snapshot with the current membership copied afresh.
    pub fn publish_members(&mut self) -> Snapshot<T> {
        let tiers = self
            .tiers
            .get(&self.cluster.nodes, &self.cluster.placement, &self.picker);
        self.members = Some(Arc::new(Members {
            table: self.cluster.nodes.clone(),
            placement: super::tiers::stand_in(&tiers, &self.cluster.placement),
            picker: self.picker.build(&self.cluster.nodes),
            stats: self.stats.clone(),
            tiers,
        }));
        self.publish_health()
    }

    /// A snapshot that reuses the last membership with fresh health.
    pub fn publish_health(&mut self) -> Snapshot<T> {
        self.version += 1;
        let members = match &self.members {
            Some(m) => Arc::clone(m),
            None => return self.publish_members(),
        };
        let health = self.health();
        let tiers = members.tiers.as_ref().map(|t| Box::new(t.view(&health)));
        Snapshot {
            members,
            health,
            version: self.version,
            tiers,
        }
    }

    pub fn add(&mut self, name: &[u8], weight: f64, payload: T) -> Result<NodeIndex> {
        let node = self.cluster.add_with(name, weight, payload)?;
        self.joined(node);
        Ok(node)
    }

    pub fn remove(&mut self, name: &[u8]) -> Result<()> {
        let node = self.cluster.nodes.require(name)?;
        self.cluster.remove(name)?;
        self.left(node);
        Ok(())
    }

    /// Makes the membership exactly `nodes`, all or nothing. Nodes that stay
    /// keep their counters, health history and manual state.
    pub fn replace(&mut self, nodes: Vec<(Box<[u8]>, f64, T)>) -> Result<()> {
        let mut keep = std::collections::HashSet::new();
        for (name, _, _) in &nodes {
            if !keep.insert(&name[..]) {
                return Err(Error::DuplicateNode(name.clone()));
            }
        }
        let mut next = self.cluster.clone();
        let gone: Vec<(NodeIndex, Box<[u8]>)> = next
            .iter()
            .filter(|(_, n)| !keep.contains(n.name()))
            .map(|(i, n)| (i, n.name().into()))
            .collect();
        for (_, name) in &gone {
            next.remove(name)?;
        }
        let mut joined = Vec::new();
        for (name, weight, payload) in nodes {
            match next.index_of(&name) {
                Some(i) => {
                    if next[i].weight() != weight {
                        next.set_weight(&name, weight)?;
                    }
                    *next.payload_mut(&name).expect("member") = payload;
                }
                None => joined.push(next.add_with(&name, weight, payload)?),
            }
        }
        self.cluster = next;
        for (node, _) in gone {
            self.left(node);
        }
        for node in joined {
            self.joined(node);
        }
        Ok(())
    }

    /// `node` reached the consecutive-failure threshold: eject it if the
    /// detector allows. True when any node's health changed.
    pub fn eject(&mut self, node: NodeIndex, stats: &Arc<NodeStats>, now: Duration) -> bool {
        // The slot may have been reused since the request started.
        if !self.stats[node.as_usize()]
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, stats))
        {
            return false;
        }
        let members = self.cluster.len();
        let Some(outlier) = &mut self.outlier else {
            return false;
        };
        // Ejections already over must not count against the share.
        let mut restored = Vec::new();
        outlier.expire(now, &mut restored);
        let ejected = outlier.try_eject(node, now, members).is_some();
        if ejected {
            // Envoy resets the counter on ejection: the node starts afresh.
            stats.reset_failures();
        }
        ejected || !restored.is_empty()
    }

    pub fn heartbeat(&mut self, node: NodeIndex, now: Duration) -> bool {
        let Some(phi) = &mut self.phi else {
            return false;
        };
        phi.heartbeat(node, now);
        std::mem::replace(&mut self.unreachable[node.as_usize()], false)
    }

    /// Ends ejections whose time is up and re-evaluates heartbeats. True
    /// when any node's health changed.
    pub fn tick(&mut self, now: Duration) -> bool {
        let mut changed = false;
        if let Some(outlier) = &mut self.outlier {
            let mut restored = Vec::new();
            outlier.expire(now, &mut restored);
            changed |= !restored.is_empty();
        }
        if let Some(phi) = &self.phi {
            for (node, _) in self.cluster.nodes.iter() {
                if !phi.monitored(node) {
                    continue;
                }
                let unreachable = !phi.is_available(node, now);
                let slot = &mut self.unreachable[node.as_usize()];
                changed |= *slot != unreachable;
                *slot = unreachable;
            }
        }
        changed
    }
}
