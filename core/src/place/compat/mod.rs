//! Compatibility modes: place keys bit for bit like the rings existing
//! stacks already use, so a client moved onto ringroute keeps every key on
//! the backend it is on today.
//!
//! Each [`Mode`] names a peer and its settings; [`Compat`] is the
//! [`Placement`] that builds and answers like that peer, so the router's
//! health, failover, leases and ejection work over it:
//!
//! ```
//! use ringroute::place::compat::{Libmemcached, Mode};
//! use ringroute::router::{Algorithm, Router};
//!
//! let router: Router = Router::builder()
//!     .algorithm(Algorithm::Compat(Mode::Libmemcached(Libmemcached::weighted())))
//!     .node("10.0.1.1:11211", 600.0)
//!     .node("10.0.1.2:11211", 300.0)
//!     .build()?;
//! let node = router.route("foo").unwrap();
//! # let _ = node;
//! # Ok::<(), ringroute::Error>(())
//! ```
//!
//! # What a node is to a mode
//!
//! A node's name is the peer's server string: `host:port` for libmemcached
//! (port 11211 left out of the point names, as libmemcached does),
//! twemproxy (`host:port name` or `name@host:port` gives the server an
//! explicit name), nginx
//! and Dubbo; the host key (address or hostname) for Envoy, the endpoint's
//! hash key for gRPC; the node name as given for uhashring. Weights must be
//! whole numbers (the peers take integers); jump and Dubbo take no weights
//! (each node's must be 1). Server order is node index order (insertion
//! order while nothing is removed).
//!
//! # Down nodes
//!
//! Peer parity: where the peer rebuilds its structure over the live
//! servers when it ejects one (libmemcached and twemproxy with auto-eject,
//! uhashring, Envoy, Dubbo, and jump over a live list), the mode does the
//! same, so other keys move exactly as they would there. It builds that
//! structure on the first lookup that sees a new set of up nodes and
//! caches it (that lookup allocates; later ones compare the up set, O(n),
//! and do not). Where the peer walks on (nginx, gRPC), the mode walks on
//! from the key's point to the next up node and never rebuilds.
//!
//! See `docs/compat.md` for what each mode was checked against.

mod dubbo;
mod envoy;
#[cfg(test)]
mod fixtures;
pub mod hashes;
mod jump;
mod ketama;
mod nginx;
mod table;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

pub use envoy::{
    ENVOY_MAGLEV_SIZE, ENVOY_MAX_RING, ENVOY_MIN_RING, GRPC_MAX_RING, GRPC_MIN_RING, GRPC_RING_CAP,
};
pub use hashes::HashKind;
pub use jump::{go_jump, guava as guava_jump};
pub use ketama::{Libmemcached, Twemproxy, Uhashring};

use crate::error::{Error, Result};
use crate::node::{NodeIndex, NodeTable};
use crate::place::maglev::is_prime;
use crate::place::{Liveness, Placement};
use table::{Member, Table};

/// A peer's placement and its settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Mode {
    /// libmemcached 1.1 ketama (`memcached_generate_hash`).
    Libmemcached(Libmemcached),
    /// twemproxy (nutcracker) `distribution: ketama`.
    Twemproxy(Twemproxy),
    /// uhashring 2.5 `HashRing`.
    Uhashring(Uhashring),
    /// Envoy `ring_hash` with its ring sizes.
    EnvoyRingHash {
        /// `minimum_ring_size` (default 1024).
        min_ring_size: u64,
        /// `maximum_ring_size` (default 8388608).
        max_ring_size: u64,
    },
    /// gRPC `ring_hash` (gRFC A42, as grpc-go builds it).
    GrpcRingHash {
        /// `min_ring_size` (default 1024; capped at 4096).
        min_ring_size: u64,
        /// `max_ring_size` (default 4096; capped at 4096).
        max_ring_size: u64,
    },
    /// Envoy `maglev` with its table size (a prime, default 65537).
    EnvoyMaglev {
        /// `table_size`.
        table_size: u32,
    },
    /// nginx `hash $key consistent`.
    Nginx,
    /// Dubbo `ConsistentHashLoadBalance`.
    Dubbo,
    /// Guava `Hashing.consistentHash`.
    GuavaJump,
    /// go-jump (dgryski/go-jump, the paper's code).
    GoJump,
}

impl Mode {
    /// Every mode by its CLI name, with default settings.
    pub fn names() -> &'static [&'static str] {
        &[
            "libmemcached",
            "twemproxy",
            "uhashring",
            "envoy-ring-hash",
            "grpc-ring-hash",
            "envoy-maglev",
            "nginx",
            "dubbo",
            "guava-jump",
            "go-jump",
        ]
    }

    /// The mode named `name` (see [`names`](Mode::names)) with its
    /// peer's defaults.
    pub fn from_name(name: &str) -> Option<Mode> {
        Some(match name {
            "libmemcached" => Mode::Libmemcached(Libmemcached::default()),
            "twemproxy" => Mode::Twemproxy(Twemproxy::default()),
            "uhashring" => Mode::Uhashring(Uhashring::default()),
            "envoy-ring-hash" => Mode::EnvoyRingHash {
                min_ring_size: ENVOY_MIN_RING,
                max_ring_size: ENVOY_MAX_RING,
            },
            "grpc-ring-hash" => Mode::GrpcRingHash {
                min_ring_size: GRPC_MIN_RING,
                max_ring_size: GRPC_MAX_RING,
            },
            "envoy-maglev" => Mode::EnvoyMaglev {
                table_size: ENVOY_MAGLEV_SIZE,
            },
            "nginx" => Mode::Nginx,
            "dubbo" => Mode::Dubbo,
            "guava-jump" => Mode::GuavaJump,
            "go-jump" => Mode::GoJump,
            _ => return None,
        })
    }

    /// The CLI name of this mode.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Libmemcached(_) => "libmemcached",
            Mode::Twemproxy(_) => "twemproxy",
            Mode::Uhashring(_) => "uhashring",
            Mode::EnvoyRingHash { .. } => "envoy-ring-hash",
            Mode::GrpcRingHash { .. } => "grpc-ring-hash",
            Mode::EnvoyMaglev { .. } => "envoy-maglev",
            Mode::Nginx => "nginx",
            Mode::Dubbo => "dubbo",
            Mode::GuavaJump => "guava-jump",
            Mode::GoJump => "go-jump",
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Mode::Uhashring(u) => {
                if u.vnodes == 0 {
                    return Err(Error::InvalidParameter(
                        "uhashring vnodes must be at least 1",
                    ));
                }
                if u.ketama && !(1..=4).contains(&u.replicas) {
                    return Err(Error::InvalidParameter(
                        "uhashring ketama replicas must be in 1..=4",
                    ));
                }
                Ok(())
            }
            Mode::EnvoyRingHash {
                min_ring_size,
                max_ring_size,
            }
            | Mode::GrpcRingHash {
                min_ring_size,
                max_ring_size,
            } => envoy::check_ring_sizes(min_ring_size, max_ring_size),
            Mode::EnvoyMaglev { table_size } => {
                if is_prime(table_size) {
                    Ok(())
                } else {
                    Err(Error::InvalidParameter("maglev table size must be prime"))
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether this mode rebuilds over the up nodes (its peer ejects them)
    /// rather than walking on past a down node.
    pub fn rebuilds_on_down(&self) -> bool {
        !matches!(self, Mode::Nginx | Mode::GrpcRingHash { .. })
    }

    /// Whether nodes of this mode must all weigh 1.
    fn unweighted(&self) -> bool {
        matches!(self, Mode::Dubbo | Mode::GuavaJump | Mode::GoJump)
    }

    /// The hash a key is looked up by, as the peer computes it.
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        match self {
            Mode::Libmemcached(l) => u64::from(l.key_hash.hash(key)),
            Mode::Twemproxy(t) => u64::from(t.hash.hash(t.tagged(key))),
            Mode::Uhashring(u) => ketama::uhashring_key(u, key),
            Mode::EnvoyRingHash { .. } | Mode::GrpcRingHash { .. } | Mode::EnvoyMaglev { .. } => {
                xxhash_rust::xxh64::xxh64(key, 0)
            }
            Mode::Nginx => u64::from(hashes::crc32(key)),
            Mode::Dubbo => u64::from(hashes::md5_le32(key)),
            Mode::GuavaJump | Mode::GoJump => jump::key_u64(key),
        }
    }

    fn build(&self, members: &[Member]) -> Table {
        if members.is_empty() {
            return Table::Empty;
        }
        match self {
            Mode::Libmemcached(l) => ketama::libmemcached(l, members),
            Mode::Twemproxy(_) => ketama::twemproxy(members),
            Mode::Uhashring(u) => ketama::uhashring(u, members),
            Mode::EnvoyRingHash {
                min_ring_size,
                max_ring_size,
            } => envoy::envoy_ring(members, *min_ring_size, *max_ring_size),
            Mode::GrpcRingHash {
                min_ring_size,
                max_ring_size,
            } => envoy::grpc_ring(members, *min_ring_size, *max_ring_size),
            // Checked before: a prime table larger than the member count.
            Mode::EnvoyMaglev { table_size } => {
                envoy::envoy_maglev(members, *table_size).unwrap_or_default()
            }
            Mode::Nginx => nginx::build(members),
            Mode::Dubbo => dubbo::build(members),
            Mode::GuavaJump | Mode::GoJump => Table::Jump {
                members: members.iter().map(|m| m.index).collect(),
                guava: matches!(self, Mode::GuavaJump),
            },
        }
    }

    /// Whether failover takes the next server in order (libmemcached's
    /// replicas, and jump) rather than the next point of the structure.
    fn fails_over_by_order(&self) -> bool {
        matches!(self, Mode::Libmemcached(_) | Mode::GuavaJump | Mode::GoJump)
    }
}

/// A table built over the up members, for the up set it was built for.
#[derive(Debug)]
struct LiveTable {
    up: Vec<bool>,
    order: Vec<NodeIndex>,
    table: Table,
}

/// A [`Placement`] that routes as a peer does; see the [module docs](self).
#[derive(Debug)]
pub struct Compat {
    mode: Mode,
    /// `mode` as the members make it: libmemcached turns weighting on for
    /// good once a server weighs more than 1, also for rebuilds over the
    /// live servers.
    built: Mode,
    members: Vec<Member>,
    order: Vec<NodeIndex>,
    table: Table,
    live: ArcSwapOption<LiveTable>,
}

impl Clone for Compat {
    fn clone(&self) -> Self {
        Compat {
            mode: self.mode.clone(),
            built: self.built.clone(),
            members: self.members.clone(),
            order: self.order.clone(),
            table: self.table.clone(),
            live: ArcSwapOption::empty(),
        }
    }
}

impl Compat {
    /// An empty placement of `mode` (settings validated).
    pub fn new(mode: Mode) -> Result<Self> {
        mode.validate()?;
        Ok(Compat {
            built: mode.clone(),
            mode,
            members: Vec::new(),
            order: Vec::new(),
            table: Table::Empty,
            live: ArcSwapOption::empty(),
        })
    }

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Points (or slots) each node holds with every node up.
    pub fn shares(&self) -> Vec<(NodeIndex, usize)> {
        self.table.shares()
    }

    /// Bytes held by the lookup structure.
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes()
    }

    fn check_weight_value(&self, weight: f64) -> Result<()> {
        let whole = weight.is_finite() && weight >= 1.0 && weight.fract() == 0.0;
        if !whole || weight > f64::from(u32::MAX) || (self.mode.unweighted() && weight != 1.0) {
            return Err(Error::InvalidWeight(weight));
        }
        Ok(())
    }

    /// The table over the up members, built on first use for this up set.
    #[cold]
    fn live_table<L: Liveness + ?Sized>(&self, live: &L) -> Option<Arc<LiveTable>> {
        let cached = self.live.load_full();
        if let Some(t) = &cached {
            let same = t.up.len() == self.members.len()
                && self
                    .members
                    .iter()
                    .zip(&t.up)
                    .all(|(m, &up)| live.is_up(m.index) == up);
            if same {
                return cached;
            }
        }
        let up: Vec<bool> = self.members.iter().map(|m| live.is_up(m.index)).collect();
        let members: Vec<Member> = self
            .members
            .iter()
            .zip(&up)
            .filter(|(_, u)| **u)
            .map(|(m, _)| m.clone())
            .collect();
        let built = Arc::new(LiveTable {
            order: members.iter().map(|m| m.index).collect(),
            table: self.built.build(&members),
            up,
        });
        self.live.store(Some(Arc::clone(&built)));
        Some(built)
    }
}

impl Placement for Compat {
    #[inline]
    fn key_hash(&self, key: &[u8]) -> u64 {
        self.mode.key_hash(key)
    }

    fn check_add<T>(&self, nodes: &NodeTable<T>, weight: f64) -> Result<()> {
        self.check_weight_value(weight)?;
        if let Mode::EnvoyMaglev { table_size } = self.mode
            && nodes.len() + 1 >= table_size as usize
        {
            return Err(Error::InvalidParameter(
                "maglev table size must be larger than the node count",
            ));
        }
        Ok(())
    }

    fn check_weight<T>(&self, _nodes: &NodeTable<T>, _node: NodeIndex, weight: f64) -> Result<()> {
        self.check_weight_value(weight)
    }

    fn check_table<T>(&self, nodes: &NodeTable<T>) -> Result<()> {
        for (_, n) in nodes.iter() {
            self.check_weight_value(n.weight())?;
        }
        if let Mode::EnvoyMaglev { table_size } = self.mode
            && nodes.len() >= table_size as usize
        {
            return Err(Error::InvalidParameter(
                "maglev table size must be larger than the node count",
            ));
        }
        Ok(())
    }

    fn rebuild<T>(&mut self, nodes: &NodeTable<T>) {
        self.members = nodes
            .iter()
            .map(|(index, n)| Member {
                index,
                name: n.name().into(),
                weight: n.weight() as u32,
            })
            .collect();
        self.order = self.members.iter().map(|m| m.index).collect();
        self.built = self.mode.clone();
        if let Mode::Libmemcached(l) = &mut self.built {
            l.weighted |= self.members.iter().any(|m| m.weight > 1);
        }
        self.table = self.built.build(&self.members);
        self.live = ArcSwapOption::empty();
    }

    #[inline]
    fn route<L: Liveness + ?Sized>(&self, hash: u64, live: &L) -> Option<NodeIndex> {
        if live.all_up() || !self.mode.rebuilds_on_down() {
            return self.table.route(hash, live);
        }
        if live.up_count() == 0 {
            return None;
        }
        let t = self.live_table(live)?;
        t.table.route(hash, live)
    }

    fn route_n<L: Liveness + ?Sized>(&self, hash: u64, live: &L, out: &mut [NodeIndex]) -> usize {
        if live.up_count() == 0 {
            return 0;
        }
        let by_order = self.mode.fails_over_by_order();
        if live.all_up() || !self.mode.rebuilds_on_down() {
            return if by_order {
                self.table.route_n_by_order(&self.order, hash, live, out)
            } else {
                self.table.route_n(hash, live, out)
            };
        }
        let Some(t) = self.live_table(live) else {
            return 0;
        };
        if by_order {
            t.table.route_n_by_order(&t.order, hash, live, out)
        } else {
            t.table.route_n(hash, live, out)
        }
    }
}
