//! `--compat NAME`: route like an existing stack (libmemcached, twemproxy,
//! uhashring, Envoy, gRPC, nginx, Dubbo, Guava or go-jump), and
//! `analyze --from MODE --to MODE`: the share of keys a migration between
//! two placements of the same nodes would move, per node.

use std::fmt::Write as _;

use clap::Args;
use ringroute::place::compat::{
    ENVOY_MAX_RING, ENVOY_MIN_RING, GRPC_MAX_RING, GRPC_MIN_RING, HashKind, Libmemcached, Mode,
    Twemproxy, Uhashring,
};

use crate::cluster::ClusterSpec;
use crate::error::CliError;
use crate::router::{self, Algo, Config, Router};
use crate::text::count;

/// The compatibility options of `route` (and the modes of `analyze --from/--to`).
#[derive(Args, Debug, Clone, Default)]
pub struct CompatArgs {
    /// Route as this peer does: libmemcached, twemproxy, uhashring, envoy-ring-hash,
    /// grpc-ring-hash, envoy-maglev, nginx, dubbo, guava-jump, go-jump (replaces --algo)
    #[arg(long, value_name = "NAME", value_parser = parse_mode_name, conflicts_with = "algo")]
    pub compat: Option<String>,

    /// Key hash for libmemcached/twemproxy: md5, one_at_a_time, fnv1_32, fnv1a_32, fnv1_64,
    /// fnv1a_64, crc32, crc32a, murmur, jenkins (default: md5 for libmemcached, or
    /// one_at_a_time with --ketama-unweighted; fnv1a_64 for twemproxy)
    #[arg(long = "hash", value_name = "HASH", value_parser = parse_hash)]
    pub hash: Option<HashKind>,

    /// libmemcached: MEMCACHED_BEHAVIOR_KETAMA alone (100 points per server) instead of
    /// KETAMA_WEIGHTED; any weight above 1 still turns weighting on, as in libmemcached
    #[arg(long = "ketama-unweighted")]
    pub ketama_unweighted: bool,

    /// libmemcached: MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY point names
    #[arg(long = "ketama-spy")]
    pub ketama_spy: bool,

    /// twemproxy hash_tag, two characters such as "{}"
    #[arg(long = "hash-tag", value_name = "XY", value_parser = parse_tag)]
    pub hash_tag: Option<[u8; 2]>,

    /// uhashring: hash_fn="ketama" instead of its default md5 ring
    #[arg(long = "uhashring-ketama")]
    pub uhashring_ketama: bool,

    /// uhashring vnodes (default 160, or 40 with --uhashring-ketama)
    #[arg(long = "uhashring-vnodes", value_name = "N")]
    pub uhashring_vnodes: Option<u32>,

    /// uhashring replicas with --uhashring-ketama (default 4)
    #[arg(long = "uhashring-replicas", value_name = "N")]
    pub uhashring_replicas: Option<u32>,

    /// Envoy/gRPC minimum ring size (default 1024)
    #[arg(long = "min-ring-size", value_name = "N")]
    pub min_ring_size: Option<u64>,

    /// Envoy/gRPC maximum ring size (default 8388608 for Envoy, 4096 for gRPC)
    #[arg(long = "max-ring-size", value_name = "N")]
    pub max_ring_size: Option<u64>,
}

fn parse_mode_name(text: &str) -> Result<String, String> {
    if Mode::from_name(text).is_some() {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "unknown compatibility mode \"{text}\" (one of: {})",
            Mode::names().join(", ")
        ))
    }
}

fn parse_hash(text: &str) -> Result<HashKind, String> {
    HashKind::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = HashKind::ALL.iter().map(|(n, _)| *n).collect();
        format!("unknown hash \"{text}\" (one of: {})", names.join(", "))
    })
}

fn parse_tag(text: &str) -> Result<[u8; 2], String> {
    <[u8; 2]>::try_from(text.as_bytes())
        .map_err(|_| format!("hash tag \"{text}\" must be exactly two characters, such as {{}}"))
}

impl CompatArgs {
    /// The mode named `name` with these options applied.
    pub fn mode_named(&self, name: &str, table_size: u32) -> Result<Mode, CliError> {
        let mode = Mode::from_name(name).ok_or_else(|| {
            CliError::usage(format!(
                "unknown mode \"{name}\" (one of: ring, jump, rendezvous, maglev, {})",
                Mode::names().join(", ")
            ))
        })?;
        let mode = match mode {
            Mode::Libmemcached(_) => {
                let base = if self.ketama_unweighted {
                    Libmemcached::unweighted()
                } else {
                    Libmemcached::weighted()
                };
                Mode::Libmemcached(Libmemcached {
                    spy: self.ketama_spy,
                    key_hash: self.hash.unwrap_or(base.key_hash),
                    ..base
                })
            }
            Mode::Twemproxy(_) => Mode::Twemproxy(Twemproxy {
                hash: self.hash.unwrap_or(HashKind::Fnv1a64),
                hash_tag: self.hash_tag,
            }),
            Mode::Uhashring(_) => {
                let base = if self.uhashring_ketama {
                    Uhashring::ketama()
                } else {
                    Uhashring::md5()
                };
                Mode::Uhashring(Uhashring {
                    vnodes: self.uhashring_vnodes.unwrap_or(base.vnodes),
                    replicas: self.uhashring_replicas.unwrap_or(base.replicas),
                    ..base
                })
            }
            Mode::EnvoyRingHash { .. } => Mode::EnvoyRingHash {
                min_ring_size: self.min_ring_size.unwrap_or(ENVOY_MIN_RING),
                max_ring_size: self.max_ring_size.unwrap_or(ENVOY_MAX_RING),
            },
            Mode::GrpcRingHash { .. } => Mode::GrpcRingHash {
                min_ring_size: self.min_ring_size.unwrap_or(GRPC_MIN_RING),
                max_ring_size: self.max_ring_size.unwrap_or(GRPC_MAX_RING),
            },
            Mode::EnvoyMaglev { .. } => Mode::EnvoyMaglev { table_size },
            other => other,
        };
        mode.validate()
            .map_err(|e| CliError::usage(format!("--compat {name}: {e}")))?;
        Ok(mode)
    }

    /// The mode `--compat` asks for, if any.
    pub fn mode(&self, table_size: u32) -> Result<Option<Mode>, CliError> {
        self.compat
            .as_deref()
            .map(|name| self.mode_named(name, table_size))
            .transpose()
    }
}

/// A router for `name`: a native algorithm (ring, jump, rendezvous,
/// maglev) or a compatibility mode.
pub fn build_named(
    name: &str,
    args: &CompatArgs,
    config: Config,
    spec: &ClusterSpec,
) -> Result<Box<dyn Router>, CliError> {
    if let Some(algo) = Algo::ALL.iter().find(|a| a.name() == name) {
        let config = Config {
            algo: *algo,
            ..config
        };
        return router::build(config, &spec.members());
    }
    let mode = args.mode_named(name, config.table_size)?;
    router::build_compat(mode, &spec.members())
}

/// What a migration from one placement to another moves.
pub struct Migration {
    pub from: String,
    pub to: String,
    pub keys: u64,
    pub moved: u64,
    /// Per node: `(name, keys before, keys after, keys that leave it)`.
    pub nodes: Vec<(String, u64, u64, u64)>,
}

/// Routes `keys` keys (`key-0`, `key-1`, ...) with both placements.
pub fn migration(
    spec: &ClusterSpec,
    from: &dyn Router,
    to: &dyn Router,
    names: (&str, &str),
    keys: u64,
) -> Result<Migration, CliError> {
    let n = spec.nodes.len();
    let (mut before, mut after, mut leave) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    let mut moved = 0;
    let mut key = String::new();
    let none = || CliError::runtime("no node is up to serve a key");
    for i in 0..keys {
        key.clear();
        let _ = write!(key, "key-{i}");
        let a = from
            .route_hash(from.key_hash(key.as_bytes()))
            .ok_or_else(none)? as usize;
        let b = to
            .route_hash(to.key_hash(key.as_bytes()))
            .ok_or_else(none)? as usize;
        before[a] += 1;
        after[b] += 1;
        if a != b {
            moved += 1;
            leave[a] += 1;
        }
    }
    Ok(Migration {
        from: names.0.to_owned(),
        to: names.1.to_owned(),
        keys,
        moved,
        nodes: spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.name.clone(), before[i], after[i], leave[i]))
            .collect(),
    })
}

/// The migration report.
pub fn render(m: &Migration) -> String {
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Migration from {} to {}: {} of {} keys move ({:.2}%)",
        m.from,
        m.to,
        count(m.moved),
        count(m.keys),
        pct(m.moved, m.keys)
    );
    let width = m.nodes.iter().map(|n| n.0.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:>10}  {:>10}  {:>10}  {:>8}",
        "node", "before", "after", "leave", "leave %"
    );
    for (name, before, after, leave) in &m.nodes {
        let _ = writeln!(
            out,
            "{name:<width$}  {before:>10}  {after:>10}  {leave:>10}  {:>7.2}%",
            pct(*leave, *before)
        );
    }
    out
}
