//! Choosing the sticky algorithm by configuration: [`Algorithm`] names it,
//! [`AnyPlacement`] dispatches to it with a `match` (no virtual calls on the
//! lookup path).

use crate::error::Result;
use crate::node::{NodeIndex, NodeTable};
use crate::place::compat::{Compat, Mode};
use crate::place::jump::JumpIndex;
use crate::place::jumpback::JumpBackIndex;
use crate::place::maglev::MaglevTable;
use crate::place::rendezvous::RendezvousIndex;
use crate::place::ring::{DEFAULT_VNODES, RingIndex};
use crate::place::{Liveness, Placement};

/// Which sticky algorithm a router places keys with, and its parameters.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// The native hash ring (spec v2) with `vnodes` points per unit weight.
    Ring {
        /// Virtual nodes per unit weight.
        vnodes: u32,
    },
    /// Jump consistent hash with MementoHash removals (unweighted: every
    /// node must have weight 1).
    Jump,
    /// JumpBackHash (Ertl 2024) with MementoHash removals: jump's
    /// properties, integer-only, expected O(1); a placement of its own
    /// (unweighted).
    JumpBack,
    /// Weighted rendezvous hashing (highest random weight, log method).
    Rendezvous,
    /// Maglev with a prime lookup table of `table_size` entries.
    Maglev {
        /// Entries in the lookup table: a prime larger than the node count.
        table_size: u32,
    },
    /// A compatibility mode: route as libmemcached, twemproxy, Envoy, ...
    /// do (see [`compat`](crate::place::compat)).
    Compat(Mode),
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Ring {
            vnodes: DEFAULT_VNODES,
        }
    }
}

impl Algorithm {
    /// An empty placement of this kind (parameters validated).
    pub fn placement(&self) -> Result<AnyPlacement> {
        Ok(match *self {
            Algorithm::Ring { vnodes } => AnyPlacement::Ring(RingIndex::new(vnodes)?),
            Algorithm::Jump => AnyPlacement::Jump(JumpIndex::new()),
            Algorithm::JumpBack => AnyPlacement::JumpBack(JumpBackIndex::with_bucket_fn()),
            Algorithm::Rendezvous => AnyPlacement::Rendezvous(RendezvousIndex::new()),
            Algorithm::Maglev { table_size } => AnyPlacement::Maglev(MaglevTable::new(table_size)?),
            Algorithm::Compat(ref mode) => {
                AnyPlacement::Compat(Box::new(Compat::new(mode.clone())?))
            }
        })
    }
}

/// One of the crate's sticky placements, chosen at run time.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyPlacement {
    /// The native ring.
    Ring(RingIndex),
    /// Jump with MementoHash.
    Jump(JumpIndex),
    /// JumpBackHash with MementoHash.
    JumpBack(JumpBackIndex),
    /// Weighted rendezvous.
    Rendezvous(RendezvousIndex),
    /// Maglev.
    Maglev(MaglevTable),
    /// A compatibility mode (boxed: it is much larger than the others).
    Compat(Box<Compat>),
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $e:expr) => {
        match $self {
            AnyPlacement::Ring($p) => $e,
            AnyPlacement::Jump($p) => $e,
            AnyPlacement::JumpBack($p) => $e,
            AnyPlacement::Rendezvous($p) => $e,
            AnyPlacement::Maglev($p) => $e,
            AnyPlacement::Compat($p) => $e,
        }
    };
}

impl AnyPlacement {
    /// The ring, when this is one (bounded loads and replica walks need it).
    pub fn as_ring(&self) -> Option<&RingIndex> {
        match self {
            AnyPlacement::Ring(r) => Some(r),
            _ => None,
        }
    }

    /// Jump with memento, when this is it: its removal history is part of
    /// the placement (bindings save it to copy a cluster exactly).
    pub fn as_jump(&self) -> Option<&JumpIndex> {
        match self {
            AnyPlacement::Jump(j) => Some(j),
            _ => None,
        }
    }

    /// [`route_keys`](crate::place::route_keys) with the placement chosen
    /// once per call, not once per key: for the ring (the default) the key
    /// hash is then xxh3 inlined into the hashing loop instead of a call
    /// that matches on the placement for every key.
    pub(crate) fn route_keys<L, K>(&self, live: &L, keys: &[K], out: &mut [Option<NodeIndex>])
    where
        L: Liveness + ?Sized,
        K: AsRef<[u8]>,
    {
        match self {
            AnyPlacement::Ring(ring) => crate::place::route_keys(ring, live, keys, out),
            other => crate::place::route_keys(other, live, keys, out),
        }
    }
}

impl Placement for AnyPlacement {
    #[inline]
    fn key_hash(&self, key: &[u8]) -> u64 {
        dispatch!(self, p => p.key_hash(key))
    }

    fn check_add<T>(&self, nodes: &NodeTable<T>, weight: f64) -> Result<()> {
        dispatch!(self, p => p.check_add(nodes, weight))
    }

    fn check_weight<T>(&self, nodes: &NodeTable<T>, node: NodeIndex, weight: f64) -> Result<()> {
        dispatch!(self, p => p.check_weight(nodes, node, weight))
    }

    fn check_table<T>(&self, nodes: &NodeTable<T>) -> Result<()> {
        dispatch!(self, p => p.check_table(nodes))
    }

    fn rebuild<T>(&mut self, nodes: &NodeTable<T>) {
        dispatch!(self, p => p.rebuild(nodes))
    }

    fn node_added<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        dispatch!(self, p => p.node_added(nodes, node))
    }

    fn node_removed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex) {
        dispatch!(self, p => p.node_removed(nodes, node))
    }

    fn weight_changed<T>(&mut self, nodes: &NodeTable<T>, node: NodeIndex, old: f64) {
        dispatch!(self, p => p.weight_changed(nodes, node, old))
    }

    #[inline]
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        dispatch!(self, p => p.route(hash, live))
    }

    fn route_hashes<L: Liveness + ?Sized>(
        &self,
        hashes: &[u64],
        live: &L,
        out: &mut [Option<NodeIndex>],
    ) {
        dispatch!(self, p => p.route_hashes(hashes, live, out))
    }

    #[inline]
    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize {
        dispatch!(self, p => p.route_n(hash, live, out))
    }
}
