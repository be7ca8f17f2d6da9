//! Placement algorithms behind one small interface.
//!
//! Subcommands talk to a [`Router`], never to `ringroute::Ring` directly,
//! and routers answer with the caller's member ids rather than the
//! library's node indices. That keeps ids comparable between a cluster and
//! the same cluster minus (or plus) a node, and lets another algorithm
//! (`--algo jump|rendezvous|maglev`) slot in as one more implementation.

use ringroute::{NodeIndex, Ring};

use crate::cluster::Member;
use crate::error::CliError;

/// A placement algorithm over a fixed member list, all members up.
pub trait Router {
    /// The member serving a key hash (`ringroute::hash::key_hash`), or
    /// `None` when no member can serve it.
    fn route_hash(&self, hash: u64) -> Option<u32>;

    /// Up to `n` distinct members for a key hash, primary first, into `out`.
    fn replicas_hash(&self, hash: u64, n: usize, out: &mut Vec<u32>);

    /// The exact share of keys each member gets, when the algorithm can
    /// compute it without sampling; `(id, share)` pairs.
    fn exact_shares(&self) -> Option<Vec<(u32, f64)>>;

    /// One line on how the structure was built, for reports.
    fn describe(&self) -> String;

    /// Routes many hashes at once; one dynamic call per batch keeps the
    /// per-key loop monomorphic. Fails if any hash has no member.
    fn route_batch(&self, hashes: &[u64], out: &mut [u32]) -> Result<(), CliError> {
        for (slot, &hash) in out.iter_mut().zip(hashes) {
            *slot = self.route_hash(hash).ok_or_else(no_member)?;
        }
        Ok(())
    }
}

fn no_member() -> CliError {
    CliError::runtime("no node is up to serve a key")
}

/// Builds the router for `members`; errors (too many points, say) are the
/// user's to fix, hence usage errors.
pub fn build(vnodes: u32, members: &[Member<'_>]) -> Result<Box<dyn Router>, CliError> {
    RingRouter::build(vnodes, members).map(|r| Box::new(r) as Box<dyn Router>)
}

/// The native `ringroute` ring.
pub struct RingRouter {
    ring: Ring<u32>,
    /// Member id by `NodeIndex`: a flat array is cheaper per key than the
    /// ring's node table, and `route_batch` does it millions of times.
    ids: Vec<u32>,
}

impl RingRouter {
    pub fn build(vnodes: u32, members: &[Member<'_>]) -> Result<Self, CliError> {
        // The payload carries the member id through the builder, so no
        // assumption about how the ring numbers its nodes is needed.
        let ring = members
            .iter()
            .fold(Ring::<u32>::builder().vnodes(vnodes), |b, m| {
                b.node_with(m.name, m.weight, m.id)
            })
            .build()
            .map_err(|e| CliError::usage(e.to_string()))?;
        let mut ids = vec![u32::MAX; ring.nodes().capacity()];
        for (index, node) in ring.iter() {
            ids[index.as_usize()] = *node.payload();
        }
        Ok(RingRouter { ring, ids })
    }

    fn id(&self, index: NodeIndex) -> u32 {
        self.ids[index.as_usize()]
    }
}

impl Router for RingRouter {
    #[inline]
    fn route_hash(&self, hash: u64) -> Option<u32> {
        self.ring.route_hash(hash).map(|i| self.id(i))
    }

    fn replicas_hash(&self, hash: u64, n: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.ring.replicas_hash(hash).take(n).map(|i| self.id(i)));
    }

    fn exact_shares(&self) -> Option<Vec<(u32, f64)>> {
        Some(
            self.ring
                .ownership()
                .into_iter()
                .map(|(i, share)| (self.id(i), share))
                .collect(),
        )
    }

    fn describe(&self) -> String {
        format!(
            "ring, {} vnodes per unit weight, {} points",
            self.ring.vnodes(),
            crate::report::count(self.ring.point_count() as u64)
        )
    }
}
