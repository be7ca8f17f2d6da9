//! The writer side of a router: the authoritative membership and health
//! state, changed only under the router's lock, and turned into snapshots.
//!
//! What a publication copies, and why it stays cheap at fleet scale:
//! * a health change (manual up/down, ejection, heartbeat verdict) builds
//!   only a new [`HealthView`] (one byte per slot) and reuses the membership
//!   (`Arc<Members>`): no point and no node is copied;
//! * a membership change copies the node table (names and payloads, small
//!   beside the points) and writes the next placement into the buffers of
//!   the placement before last when no reader holds it any more, so that a
//!   change at 10,000 nodes rewrites warm memory instead of faulting in
//!   fresh pages. Snapshots share the placement through an `Arc`: two
//!   snapshots of one membership cost one placement.
//!
//! Manual state is kept here and published in the health view only: in a
//! router, [`Snapshot::nodes`](super::Snapshot::nodes) lists every member as
//! up, and [`Snapshot::health`](super::Snapshot::health) says which are down.

use std::sync::Arc;
use std::time::Duration;

use super::algorithm::AnyPlacement;
use super::lease::NodeStats;
use super::picker::PickerKind;
use super::snapshot::{Members, Snapshot};
use super::tiers::TierCache;
use super::view::{HealthView, NodeHealth};
use crate::error::{Error, Result};
use crate::health::{OutlierDetector, PhiDetector};
use crate::node::{NodeIndex, NodeState, NodeTable};
use crate::place::Cluster;

pub(crate) struct Control<T> {
    /// The members, every one of them `Up` in the table: manual state lives
    /// in `down`.
    pub nodes: NodeTable<T>,
    /// Marked down by hand, per slot.
    down: Vec<bool>,
    pub stats: Vec<Option<Arc<NodeStats>>>,
    pub outlier: Option<OutlierDetector>,
    pub phi: Option<PhiDetector>,
    pub unreachable: Vec<bool>,
    picker: PickerKind,
    pub tiers: TierCache,
    /// The current placement, shared with the published membership.
    placement: Arc<AnyPlacement>,
    /// The placement before it: its buffers are recycled by the next change
    /// once no snapshot holds it.
    spare: Option<Arc<AnyPlacement>>,
    members: Option<Arc<Members<T>>>,
    /// The table changed since `members` was built.
    table_changed: bool,
    version: u64,
}

impl<T: Clone> Control<T> {
    pub fn new(
        cluster: Cluster<AnyPlacement, T>,
        outlier: Option<OutlierDetector>,
        phi: Option<PhiDetector>,
        picker: PickerKind,
    ) -> Self {
        let Cluster {
            nodes: mut table,
            placement,
        } = cluster;
        let mut down = vec![false; table.capacity()];
        let indices: Vec<NodeIndex> = table.iter().map(|(i, _)| i).collect();
        for &node in &indices {
            if table[node].state() == NodeState::Down {
                down[node.as_usize()] = true;
                table.set_state(node, NodeState::Up).expect("member");
            }
        }
        let mut control = Control {
            nodes: table,
            down,
            stats: Vec::new(),
            outlier,
            phi,
            unreachable: Vec::new(),
            picker,
            tiers: TierCache::default(),
            placement: Arc::new(placement),
            spare: None,
            members: None,
            table_changed: true,
            version: 0,
        };
        for node in indices {
            control.joined(node);
        }
        control
    }

    pub(super) fn joined(&mut self, node: NodeIndex) {
        let i = node.as_usize();
        if self.stats.len() <= i {
            self.stats.resize(i + 1, None);
            self.unreachable.resize(i + 1, false);
            self.down.resize(i + 1, false);
        }
        let stats = NodeStats::new(self.picker.reads_log_load());
        self.stats[i] = Some(Arc::new(stats));
        self.unreachable[i] = false;
        self.down[i] = false;
    }

    pub(super) fn left(&mut self, node: NodeIndex) {
        self.stats[node.as_usize()] = None;
        self.unreachable[node.as_usize()] = false;
        self.down[node.as_usize()] = false;
        if let Some(o) = &mut self.outlier {
            o.forget(node);
        }
        if let Some(p) = &mut self.phi {
            p.forget(node);
        }
    }

    /// The current placement.
    pub(super) fn placement(&self) -> &AnyPlacement {
        &self.placement
    }

    /// The current placement, shared (to consult while the table changes).
    pub(super) fn shared_placement(&self) -> Arc<AnyPlacement> {
        Arc::clone(&self.placement)
    }

    /// Installs the next placement; the current one becomes the spare.
    pub(super) fn set_placement(&mut self, next: AnyPlacement) {
        self.spare = Some(std::mem::replace(&mut self.placement, Arc::new(next)));
        self.table_changed = true;
    }

    /// The spare placement, if no snapshot holds it any more.
    pub(super) fn take_spare(&mut self) -> Option<AnyPlacement> {
        Arc::try_unwrap(self.spare.take()?).ok()
    }

    /// The last published membership, when it is still the current one
    /// (its table equals `nodes`).
    pub(super) fn published_members(&self) -> Option<Arc<Members<T>>> {
        self.members
            .as_ref()
            .filter(|_| !self.table_changed)
            .map(Arc::clone)
    }

    /// The table changed without the placement (a payload).
    pub(super) fn table_changed(&mut self) {
        self.table_changed = true;
    }

    /// Marks `node` (a member) up or down by hand; true if that changed it.
    pub(super) fn set_down(&mut self, node: NodeIndex, down: bool) -> bool {
        std::mem::replace(&mut self.down[node.as_usize()], down) != down
    }

    /// Health of every slot, as lookups will see it.
    fn health(&self) -> HealthView {
        let table = &self.nodes;
        let states = (0..table.capacity())
            .map(|i| {
                let node = NodeIndex::new(i as u32);
                match table.get(node) {
                    None => NodeHealth::Down,
                    Some(_) if self.down[i] => NodeHealth::Down,
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

    /// A snapshot with the membership republished if it changed (else the
    /// same as [`publish_health`](Control::publish_health)).
    pub fn publish_members(&mut self) -> Snapshot<T> {
        if self.table_changed || self.members.is_none() {
            let tiers = self.tiers.get(&self.nodes, &self.placement, &self.picker);
            // A tiered router routes through its tiers; the router-wide
            // placement it publishes is a stand-in no lookup consults.
            let placement = match &tiers {
                Some(_) => Arc::new(super::tiers::stand_in(&tiers, &self.placement)),
                None => Arc::clone(&self.placement),
            };
            self.members = Some(Arc::new(Members {
                table: self.nodes.clone(),
                placement,
                picker: self.picker.build(&self.nodes),
                stats: self.stats.clone(),
                tiers,
            }));
            self.table_changed = false;
        }
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
            placement: Arc::clone(&members.placement),
            members,
            health,
            version: self.version,
            tiers,
        }
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
        // Leaves first (their slots are then reused by the joins), then
        // reweights and joins: the same table the old one-by-one path made.
        let mut table = self.nodes.clone();
        let gone: Vec<NodeIndex> = table
            .iter()
            .filter(|(_, n)| !keep.contains(n.name()))
            .map(|(i, _)| i)
            .collect();
        for &node in &gone {
            table.remove(node);
        }
        for (name, weight, payload) in nodes {
            match table.index_of(&name) {
                Some(i) => {
                    if table[i].weight() != weight {
                        table.set_weight(i, weight)?;
                    }
                    *table.payload_mut(i).expect("member") = payload;
                }
                None => {
                    table.insert(&name, weight, payload)?;
                }
            }
        }
        self.commit(table)
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
        let members = self.nodes.len();
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
            for (node, _) in self.nodes.iter() {
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
