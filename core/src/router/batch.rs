//! Batch membership updates: many joins, leaves, reweights and manual state
//! changes validated together and published as one snapshot.
//!
//! A membership source (a registry watch, a node file reload) sees changes
//! in groups: one registry revision may add three nodes and drop two. Applied
//! one by one, every change would rebuild the placement and publish a
//! snapshot that shows part of the group; applied as a batch, the placement
//! is rebuilt at most once and readers see the whole group or none of it.

use super::algorithm::AnyPlacement;
use super::control::Control;
use crate::error::Result;
use crate::node::{NodeIndex, NodeState, NodeTable};
use crate::place::Placement;

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
    /// does the placement change, once, by an edit of the changed nodes'
    /// points (or a build into recycled buffers when many changed). A batch
    /// of state changes alone copies nothing: it changes the health view.
    pub fn apply(&mut self, changes: Vec<Change<T>>) -> Result<()> {
        if changes.iter().all(|c| matches!(c, Change::SetState { .. })) {
            let marks = changes
                .iter()
                .map(|c| match c {
                    Change::SetState { name, state } => {
                        Ok((self.nodes.require(name)?, *state == NodeState::Down))
                    }
                    _ => unreachable!("only state changes"),
                })
                .collect::<Result<Vec<_>>>()?;
            for (node, down) in marks {
                self.set_down(node, down);
            }
            return Ok(());
        }
        // Replayed on the writer's table in place: the published table is an
        // exact copy of it (every membership change publishes), so it serves
        // as the "before" of the diff, and as the way back on an error.
        let Some(published) = self.published_members() else {
            let mut table = self.nodes.clone();
            let replayed = replay(&mut table, changes, self.placement())?;
            self.placement().check_table(&table)?;
            let old = std::mem::replace(&mut self.nodes, table);
            self.placed_from(&old, Some(&replayed.slots));
            return self.mark(replayed.marks);
        };
        let placement = self.shared_placement();
        let replayed = match replay(&mut self.nodes, changes, &placement)
            .and_then(|r| self.placement().check_table(&self.nodes).map(|()| r))
        {
            Ok(replayed) => replayed,
            Err(e) => {
                self.nodes = published.table.clone();
                return Err(e);
            }
        };
        self.placed_from(&published.table, Some(&replayed.slots));
        self.mark(replayed.marks)
    }

    fn mark(&mut self, marks: Vec<(NodeIndex, bool)>) -> Result<()> {
        for (node, down) in marks {
            self.set_down(node, down);
        }
        Ok(())
    }

    /// Adds one node (a batch of one); its index.
    pub fn add(&mut self, name: &[u8], weight: f64, payload: T) -> Result<NodeIndex> {
        self.apply(vec![Change::add(name, weight, payload)])?;
        Ok(self.nodes.index_of(name).expect("just added"))
    }

    /// Makes `table` (a changed copy of the members, every node up) current
    /// if the placement accepts it, and updates the placement and per-slot
    /// state to match. Nothing changes on an error.
    pub(super) fn commit(&mut self, table: NodeTable<T>) -> Result<()> {
        self.placement().check_table(&table)?;
        let old = std::mem::replace(&mut self.nodes, table);
        self.placed_from(&old, None);
        Ok(())
    }

    /// Brings the placement and per-slot state from the table `old` to the
    /// current (checked) table.
    ///
    /// `events`: the slots that lost (`false`) or gained (`true`) a node, in
    /// the order of the changes, when known: MementoHash's placement
    /// depends on the order of removals and restorations, so jump replays
    /// them exactly; without them (a whole new table) leaves go first.
    fn placed_from(&mut self, old: &NodeTable<T>, events: Option<&[(NodeIndex, bool)]>) {
        // A slot whose occupant changed (left, or left and was reused) lost
        // its counters and health history; a fresh occupant gets new ones.
        let mut placed = false;
        let slots = old.capacity().max(self.nodes.capacity());
        for i in 0..slots {
            let node = NodeIndex::new(i as u32);
            let (was, is) = match (old.get(node), self.nodes.get(node)) {
                (Some(a), Some(b)) if a.name() == b.name() => {
                    placed |= a.weight() != b.weight();
                    continue;
                }
                (a, b) => (a.is_some(), b.is_some()),
            };
            placed |= was || is;
            if was {
                self.left(node);
            }
            if is {
                self.joined(node);
            }
        }
        if !placed {
            // Payloads only.
            self.table_changed();
            return;
        }
        let next = if matches!(self.placement(), AnyPlacement::Ring(_)) {
            let spare = match self.take_spare() {
                Some(AnyPlacement::Ring(r)) => Some(r),
                _ => None,
            };
            let AnyPlacement::Ring(current) = self.placement() else {
                unreachable!("a ring")
            };
            AnyPlacement::Ring(current.updated(old, &self.nodes, spare))
        } else if matches!(
            self.placement(),
            AnyPlacement::Jump(_) | AnyPlacement::JumpBack(_)
        ) {
            // MementoHash's placement depends on the order buckets were
            // removed in: a rebuild from the table would forget it and move
            // keys that must stay. Tell it change by change when the order
            // is known, else slot by slot, leaves first.
            let mut next = self.placement().clone();
            let slots = old.capacity().max(self.nodes.capacity());
            let same = |i: usize| {
                let node = NodeIndex::new(i as u32);
                matches!((old.get(node), self.nodes.get(node)), (Some(a), Some(b)) if a.name() == b.name())
            };
            if let Some(events) = events {
                for &(node, added) in events {
                    if added {
                        next.node_added(&self.nodes, node);
                    } else {
                        next.node_removed(&self.nodes, node);
                    }
                }
                return self.set_placement(next);
            }
            for i in (0..slots).filter(|&i| !same(i)) {
                if old.get(NodeIndex::new(i as u32)).is_some() {
                    next.node_removed(&self.nodes, NodeIndex::new(i as u32));
                }
            }
            for i in (0..slots).filter(|&i| !same(i)) {
                if self.nodes.get(NodeIndex::new(i as u32)).is_some() {
                    next.node_added(&self.nodes, NodeIndex::new(i as u32));
                }
            }
            next
        } else {
            let mut next = self.placement().clone();
            next.rebuild(&self.nodes);
            next
        };
        self.set_placement(next);
    }
}

/// What replaying a batch on a table found.
struct Replayed {
    /// The manual marks to apply afterwards, by slot of the final table (a
    /// node that leaves drops its mark).
    marks: Vec<(NodeIndex, bool)>,
    /// Slots that lost (`false`) or gained (`true`) a node, in order.
    slots: Vec<(NodeIndex, bool)>,
}

/// Replays `changes` on `table`.
///
/// Each change is checked as it comes (a name that exists, a weight the
/// placement takes: jump refuses any weight but 1 even if a later change of
/// the batch removes the node), so a batch fails exactly where the same
/// changes one by one would; limits on the whole (the ring's point total)
/// are checked on the result.
fn replay<T>(
    table: &mut NodeTable<T>,
    changes: Vec<Change<T>>,
    placement: &AnyPlacement,
) -> Result<Replayed> {
    let mut marks: Vec<(NodeIndex, bool)> = Vec::new();
    let mut slots = Vec::new();
    for change in changes {
        match change {
            Change::Add {
                name,
                weight,
                payload,
            } => {
                table.check_insert(&name, weight)?;
                placement.check_add(table, weight)?;
                slots.push((table.insert(&name, weight, payload)?, true));
            }
            Change::Remove { name } => {
                let node = table.require(&name)?;
                table.remove(node);
                marks.retain(|&(n, _)| n != node);
                slots.push((node, false));
            }
            Change::SetWeight { name, weight } => {
                let node = table.require(&name)?;
                placement.check_weight(table, node, weight)?;
                table.set_weight(node, weight)?;
            }
            Change::SetState { name, state } => {
                let node = table.require(&name)?;
                marks.retain(|&(n, _)| n != node);
                marks.push((node, state == NodeState::Down));
            }
            // Tiers are rebuilt with the next membership snapshot (see
            // `TierCache`); the router-wide placement does not depend on them.
            Change::SetTier { name, tier } => {
                let node = table.require(&name)?;
                table.set_tier(node, tier)?;
            }
        }
    }
    Ok(Replayed { marks, slots })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Change;
    use crate::place::Placement;
    use crate::place::ring::RingIndex;
    use crate::router::Router;

    fn ring_points(router: &Router) -> Vec<(u64, u32)> {
        let snap = router.snapshot();
        let ring = snap.members.placement.as_ring().expect("a ring");
        ring.points().map(|(p, o)| (p, o.get())).collect()
    }

    fn fresh_points(router: &Router) -> Vec<(u64, u32)> {
        let snap = router.snapshot();
        let mut ring = RingIndex::new(snap.members.placement.as_ring().unwrap().vnodes()).unwrap();
        ring.rebuild(snap.nodes());
        ring.points().map(|(p, o)| (p, o.get())).collect()
    }

    #[test]
    fn health_changes_share_the_membership() {
        let router: Router = (0..50)
            .fold(Router::builder(), |b, i| b.node(&format!("n{i}"), 1.0))
            .build()
            .unwrap();
        let before = router.snapshot();
        router.mark_down("n3").unwrap();
        router
            .apply([Change::mark_up("n3"), Change::mark_down("n4")])
            .unwrap();
        let after = router.snapshot();
        assert!(Arc::ptr_eq(&before.members, &after.members));
        assert_eq!(after.version(), before.version() + 2);
        assert_eq!(router.health("n4"), Some(crate::router::NodeHealth::Down));
        // A membership change publishes a new placement, and the old
        // snapshot keeps its own.
        router.add("n50", 1.0).unwrap();
        let grown = router.snapshot();
        assert!(!Arc::ptr_eq(
            &before.members.placement,
            &grown.members.placement
        ));
        assert_eq!(before.members.placement.as_ring().unwrap().len(), 50 * 160);
        assert_eq!(grown.members.placement.as_ring().unwrap().len(), 51 * 160);
        // The manual mark survives the membership change.
        assert_eq!(router.health("n4"), Some(crate::router::NodeHealth::Down));
    }

    #[test]
    fn a_refused_batch_leaves_the_writer_table_as_it_was() {
        let router: Router = (0..10)
            .fold(Router::builder(), |b, i| b.node(&format!("n{i}"), 1.0))
            .build()
            .unwrap();
        router.remove("n3").unwrap(); // a free slot, reused by the next add
        let before = ring_points(&router);
        let refused = router.apply([
            Change::add("x", 1.0, ()),
            Change::remove("n4"),
            Change::set_weight("n5", 2.0),
            Change::remove("nobody"),
        ]);
        assert!(refused.is_err());
        assert!(router.apply([Change::add("y", f64::NAN, ())]).is_err());
        assert_eq!(ring_points(&router), before);
        // The free slot is still the next one, n4 still a member.
        assert_eq!(router.add("z", 1.0).unwrap().get(), 3);
        assert!(router.snapshot().index_of("n4").is_some());
        assert_eq!(ring_points(&router), fresh_points(&router));
    }

    #[test]
    fn incremental_changes_equal_a_fresh_build() {
        let router: Router = (0..40)
            .fold(Router::builder(), |b, i| b.node(&format!("n{i}"), 1.0))
            .build()
            .unwrap();
        let mut state = 1u64;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for round in 0..120 {
            let name = format!("n{}", next(60));
            let weight = [0.25, 1.0, 1.5, 3.0][next(4) as usize];
            let _ = match next(5) {
                0 => router.add(&name, weight).map(drop),
                1 => router.remove(&name),
                2 => router.set_weight(&name, weight),
                3 => router.apply([
                    Change::add(&format!("m{round}"), weight, ()),
                    Change::remove(&name),
                    Change::set_weight(&format!("n{}", next(60)), weight),
                ]),
                _ => router.replace(
                    (0..next(50) + 1).map(|i| (format!("n{}", (i * 7 + round) % 60), 1.0, ())),
                ),
            };
            assert_eq!(ring_points(&router), fresh_points(&router), "round {round}");
        }
    }
}
