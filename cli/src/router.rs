//! Placement algorithms behind one small interface.
//!
//! Subcommands talk to a [`Router`], never to a `ringroute` cluster
//! directly, and routers answer with the caller's member ids rather than
//! the library's node indices. That keeps ids comparable between a cluster
//! and the same cluster minus (or plus) a node, and across algorithms.
//!
//! `--algo` and `--compat` name one of the library's own
//! [`Algorithm`]s, and every router is a `Cluster<AnyPlacement, u32>` built
//! from it (the payload is the member id): a placement the library adds
//! routes here through the same code, with no dispatch of the CLI's own.
//! Membership changes go through the cluster's own `remove`, `add_with`
//! and `set_state`, so experiments see exactly what a client of the
//! library would: memento removals for jump, table refills for Maglev.

use clap::{Args, ValueEnum};
use ringroute::place::maglev::{DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, is_prime};
use ringroute::router::{Algorithm, AnyPlacement};
use ringroute::{Cluster, NodeIndex, NodeState, Placement};

use crate::cluster::Member;
use crate::error::CliError;
use crate::text::{count, weight};

/// The sticky algorithms the CLI can route with.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// Native hash ring (spec v2): weighted virtual nodes
    Ring,
    /// Jump hash with MementoHash removals: unweighted, every weight must be 1;
    /// a node's bucket is its position in the node list
    Jump,
    /// JumpBackHash (Ertl 2024) with MementoHash removals: integer-only jump,
    /// unweighted like jump, but not jump's placement
    Jumpback,
    /// Weighted rendezvous (highest random weight): scores every node per key
    Rendezvous,
    /// Maglev lookup table of --table-size slots, weighted
    Maglev,
}

impl Algo {
    pub const ALL: [Algo; 5] = [
        Algo::Ring,
        Algo::Jump,
        Algo::Jumpback,
        Algo::Rendezvous,
        Algo::Maglev,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algo::Ring => "ring",
            Algo::Jump => "jump",
            Algo::Jumpback => "jumpback",
            Algo::Rendezvous => "rendezvous",
            Algo::Maglev => "maglev",
        }
    }

    /// Whether the algorithm ignores weights (every node must have weight 1).
    pub fn unweighted(self) -> bool {
        matches!(self, Algo::Jump | Algo::Jumpback)
    }

    /// Where a down node's keys go, for failure reports.
    pub fn failover(self) -> &'static str {
        match self {
            Algo::Ring => "each key goes to the next up node clockwise (its second replica)",
            Algo::Jump | Algo::Jumpback => "each key is re-hashed until it lands on an up node",
            Algo::Rendezvous => "each key goes to the up node with its next-highest score",
            Algo::Maglev => "each key walks the table to the next slot of an up node",
        }
    }
}

/// The algorithm options shared by `route` and `analyze`.
#[derive(Args, Debug, Clone)]
pub struct AlgoArgs {
    /// Placement algorithm
    #[arg(long, value_enum, value_name = "ALGO", default_value_t = Algo::Ring)]
    pub algo: Algo,

    /// Maglev table size: a prime larger than the node count (ideally 100 × nodes or more)
    #[arg(
        long = "table-size",
        value_name = "M",
        default_value_t = DEFAULT_TABLE_SIZE,
        value_parser = parse_table_size,
    )]
    pub table_size: u32,
}

fn parse_table_size(text: &str) -> Result<u32, String> {
    let size: u32 = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a whole number"))?;
    if size > MAX_TABLE_SIZE {
        Err(format!(
            "{size} is larger than the maximum, {MAX_TABLE_SIZE}"
        ))
    } else if !is_prime(size) {
        Err(format!("{size} is not a prime number (65537 is)"))
    } else {
        Ok(size)
    }
}

/// Everything a router needs besides its members.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub algo: Algo,
    pub vnodes: u32,
    pub table_size: u32,
}

impl Config {
    /// The library's name for this algorithm and its parameters.
    pub fn algorithm(&self) -> Algorithm {
        match self.algo {
            Algo::Ring => Algorithm::Ring {
                vnodes: self.vnodes,
            },
            Algo::Jump => Algorithm::Jump,
            Algo::Jumpback => Algorithm::JumpBack,
            Algo::Rendezvous => Algorithm::Rendezvous,
            Algo::Maglev => Algorithm::Maglev {
                table_size: self.table_size,
            },
        }
    }
}

/// A placement algorithm over a member list.
pub trait Router {
    /// The hash `route_hash` expects for `key`: the placement's own
    /// (`ringroute::hash::key_hash` for the native algorithms).
    fn key_hash(&self, key: &[u8]) -> u64 {
        ringroute::hash::key_hash(key)
    }

    /// The member serving a key hash (see [`Router::key_hash`]), or
    /// `None` when no member can serve it.
    fn route_hash(&self, hash: u64) -> Option<u32>;

    /// Up to `n` distinct members for a key hash, primary first, into `out`.
    fn replicas_hash(&self, hash: u64, n: usize, out: &mut Vec<u32>);

    /// The exact share of keys each member gets, when the algorithm can
    /// compute it without sampling; `(id, share)` pairs.
    fn exact_shares(&self) -> Option<Vec<(u32, f64)>>;

    /// One line on how the structure was built, for reports.
    fn describe(&self) -> String;

    /// Ring points that share their position with another point; `None`
    /// for algorithms without points.
    fn ties(&self) -> Option<Ties>;

    /// The same cluster after removing member `id` (as a client would).
    fn without(&self, id: u32) -> Result<Box<dyn Router>, CliError>;

    /// The same cluster after adding `member` (as a client would).
    fn with(&self, member: Member<'_>) -> Result<Box<dyn Router>, CliError>;

    /// Marks member `id` up or down; nothing is rebuilt.
    fn set_up(&mut self, id: u32, up: bool) -> Result<(), CliError>;

    /// Routes many hashes at once; one dynamic call per batch keeps the
    /// per-key loop monomorphic. Fails if any hash has no member.
    fn route_batch(&self, hashes: &[u64], out: &mut [u32]) -> Result<(), CliError> {
        for (slot, &hash) in out.iter_mut().zip(hashes) {
            *slot = self.route_hash(hash).ok_or_else(no_member)?;
        }
        Ok(())
    }
}

/// Ring points at the same position as a neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ties {
    /// Points equal to the point before them: each one is an arc of length
    /// zero, so its node gets no keys from it.
    pub tied: u64,
    pub points: u64,
}

fn no_member() -> CliError {
    CliError::runtime("no node is up to serve a key")
}

/// The first member jump cannot take: jump has no notion of weight.
pub fn unweighted_conflict<'a>(members: &[Member<'a>]) -> Option<Member<'a>> {
    members.iter().copied().find(|m| m.weight != 1.0)
}

/// Builds the router for `members`; errors (a weight jump cannot honour,
/// too many points, a table too small) are the user's to fix, hence usage
/// errors.
pub fn build(config: Config, members: &[Member<'_>]) -> Result<Box<dyn Router>, CliError> {
    match config.algo {
        Algo::Jump | Algo::Jumpback => {
            if let Some(m) = unweighted_conflict(members) {
                // Jump would refuse it anyway; saying which node and what to
                // use instead saves a round trip.
                return Err(CliError::usage(format!(
                    "--algo {} is unweighted: every node needs weight 1, but \"{}\" has weight {} \
                     (use ring, rendezvous or maglev for weighted nodes)",
                    config.algo.name(),
                    m.name,
                    weight(m.weight)
                )));
            }
        }
        Algo::Maglev => check_table_size(config.table_size, members.len())?,
        Algo::Ring | Algo::Rendezvous => {}
    }
    build_algorithm(&config.algorithm(), members)
}

/// A router placing keys as a peer does (`ringroute::place::compat`).
pub fn build_compat(
    mode: ringroute::place::compat::Mode,
    members: &[Member<'_>],
) -> Result<Box<dyn Router>, CliError> {
    build_algorithm(&Algorithm::Compat(mode), members)
}

/// The library's placement for `algorithm` over `members`.
fn build_algorithm(
    algorithm: &Algorithm,
    members: &[Member<'_>],
) -> Result<Box<dyn Router>, CliError> {
    let placement = algorithm.placement().map_err(usage)?;
    // The payload carries the member id through the library, so no
    // assumption about how it numbers its nodes is needed.
    let nodes = members
        .iter()
        .map(|m| (m.name, m.weight, NodeState::Up, m.id));
    let cluster = Cluster::from_nodes(placement, nodes).map_err(usage)?;
    Ok(Placed::boxed(cluster))
}

fn check_table_size(size: u32, nodes: usize) -> Result<(), CliError> {
    if nodes as u64 >= u64::from(size) {
        return Err(CliError::usage(format!(
            "--table-size {size} is too small for {nodes} nodes: maglev needs a prime larger \
             than the node count"
        )));
    }
    Ok(())
}

fn usage(e: ringroute::Error) -> CliError {
    CliError::usage(e.to_string())
}

/// Hashes routed per call into the library in [`Router::route_batch`].
const BATCH: usize = 256;

/// A `ringroute` cluster whose payloads are member ids.
struct Placed {
    cluster: Cluster<AnyPlacement, u32>,
    /// Member id by `NodeIndex`: a flat array is cheaper per key than the
    /// cluster's node table, and `route_batch` does it millions of times.
    ids: Vec<u32>,
}

impl Placed {
    fn boxed(cluster: Cluster<AnyPlacement, u32>) -> Box<dyn Router> {
        let mut ids = vec![u32::MAX; cluster.nodes().capacity()];
        for (index, node) in cluster.iter() {
            ids[index.as_usize()] = *node.payload();
        }
        Box::new(Placed { cluster, ids })
    }

    fn name_of(&self, id: u32) -> Result<&[u8], CliError> {
        self.cluster
            .iter()
            .find(|(_, node)| *node.payload() == id)
            .map(|(_, node)| node.name())
            .ok_or_else(|| CliError::runtime(format!("internal error: no member with id {id}")))
    }

    #[inline]
    fn id(&self, index: NodeIndex) -> u32 {
        self.ids[index.as_usize()]
    }

    /// The exact share of keys per node, for placements that can say it
    /// without sampling.
    fn exact(&self) -> Option<Vec<(NodeIndex, f64)>> {
        let nodes = self.cluster.nodes();
        match self.cluster.placement() {
            AnyPlacement::Ring(ring) => Some(ring.ownership(nodes)),
            AnyPlacement::Maglev(maglev) => {
                let size = f64::from(maglev.table_size());
                let entries = maglev.entries_per_node(nodes);
                Some(
                    entries
                        .into_iter()
                        .map(|(i, slots)| (i, slots as f64 / size))
                        .collect(),
                )
            }
            _ => None,
        }
    }
}

impl Router for Placed {
    #[inline]
    fn key_hash(&self, key: &[u8]) -> u64 {
        self.cluster.placement().key_hash(key)
    }

    #[inline]
    fn route_hash(&self, hash: u64) -> Option<u32> {
        self.cluster.route_hash(hash).map(|i| self.id(i))
    }

    fn replicas_hash(&self, hash: u64, n: usize, out: &mut Vec<u32>) {
        out.clear();
        let replicas = self.cluster.route_n_hash(hash, n);
        out.extend(replicas.iter().map(|&i| self.id(i)));
    }

    fn exact_shares(&self) -> Option<Vec<(u32, f64)>> {
        let shares = self.exact()?;
        Some(shares.into_iter().map(|(i, s)| (self.id(i), s)).collect())
    }

    fn describe(&self) -> String {
        let c = &self.cluster;
        match c.placement() {
            AnyPlacement::Ring(ring) => format!(
                "ring, {} vnodes per unit weight, {} points",
                ring.vnodes(),
                count(ring.len() as u64)
            ),
            AnyPlacement::Jump(jump) => format!(
                "jump with memento removals, {} buckets, unweighted",
                jump.buckets()
            ),
            AnyPlacement::JumpBack(jump) => format!(
                "jumpback with memento removals, {} buckets, unweighted",
                jump.buckets()
            ),
            AnyPlacement::Rendezvous(_) => format!(
                "weighted rendezvous (log method), {} scored per key",
                crate::text::nodes(c.len())
            ),
            AnyPlacement::Maglev(maglev) => format!(
                "maglev, table of {} slots",
                count(u64::from(maglev.table_size()))
            ),
            AnyPlacement::Compat(compat) => format!(
                "{} compatibility mode, {} lookup entries",
                compat.mode().name(),
                count(compat.shares().iter().map(|s| s.1 as u64).sum())
            ),
            // A placement newer than this text: it routes all the same.
            _ => format!("a ringroute placement of {}", crate::text::nodes(c.len())),
        }
    }

    fn ties(&self) -> Option<Ties> {
        let ring = self.cluster.placement().as_ring()?;
        let mut tied = 0;
        let mut previous = None;
        // Points come sorted, so equal points are adjacent.
        for (point, _) in ring.points() {
            if previous == Some(point) {
                tied += 1;
            }
            previous = Some(point);
        }
        Some(Ties {
            tied,
            points: ring.len() as u64,
        })
    }

    fn without(&self, id: u32) -> Result<Box<dyn Router>, CliError> {
        let mut cluster = self.cluster.clone();
        cluster.remove(self.name_of(id)?).map_err(usage)?;
        Ok(Self::boxed(cluster))
    }

    fn with(&self, member: Member<'_>) -> Result<Box<dyn Router>, CliError> {
        let mut cluster = self.cluster.clone();
        cluster
            .add_with(member.name, member.weight, member.id)
            .map_err(usage)?;
        Ok(Self::boxed(cluster))
    }

    fn set_up(&mut self, id: u32, up: bool) -> Result<(), CliError> {
        let name = self.name_of(id)?.to_vec();
        let state = if up { NodeState::Up } else { NodeState::Down };
        self.cluster.set_state(&name, state).map_err(usage)?;
        Ok(())
    }

    fn route_batch(&self, hashes: &[u64], out: &mut [u32]) -> Result<(), CliError> {
        // The library's batch lookup: one dispatch over the placement per
        // batch, and the batch's cache misses overlapped.
        let mut found = [None; BATCH];
        for (hashes, out) in hashes.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            let found = &mut found[..hashes.len()];
            self.cluster.route_many_hashes(hashes, found);
            for (slot, node) in out.iter_mut().zip(found.iter()) {
                *slot = self.id(node.ok_or_else(no_member)?);
            }
        }
        Ok(())
    }
}
