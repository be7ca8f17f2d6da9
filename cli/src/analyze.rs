//! `ringroute analyze`: how evenly a cluster spreads keys, and how many
//! keys move when it changes.
//!
//! Balance is measured on a fixed, reproducible key set (`key-0`,
//! `key-1`, ...) and set against the exact hash-space ownership. Movement
//! is measured, not derived: the structure is really rebuilt without each
//! node (and with one extra node) and every key is routed again, so a
//! placement bug that moves bystander keys shows up in the report.
//!
//! Keys are hashed once; every experiment routes the same hashes.

use std::fmt::Write as _;

use ringroute::hash::key_hash;

use crate::cluster::{ClusterSpec, Member};
use crate::error::CliError;
use crate::progress::Progress;
use crate::router::{self, Router};

/// Keys routed per batch: large enough to amortise a dynamic call, small
/// enough for a scratch buffer that stays in cache and smooth progress.
const CHUNK: usize = 1 << 14;

/// Name of the node the addition experiment adds, unless a member has it.
const ADDED_NAME: &str = "added-node";

pub struct Analysis {
    /// How the router was built, e.g. "ring, 160 vnodes per unit weight".
    pub structure: String,
    pub keys: u64,
    pub nodes: Vec<NodeLoad>,
    /// One per node; empty for a one-node cluster, which cannot lose one.
    pub removals: Vec<Movement>,
    pub addition: Movement,
}

pub struct NodeLoad {
    pub name: String,
    pub weight: f64,
    pub keys: u64,
    /// Weight over total weight: what a perfect algorithm would give.
    pub ideal: f64,
    /// Exact hash-space share, when the algorithm can compute one.
    pub exact: Option<f64>,
}

/// The result of one membership change.
pub struct Movement {
    pub node: String,
    pub weight: f64,
    pub moved: u64,
    /// The share that must move at the least: the changed node's share by
    /// weight (of the cluster that includes it).
    pub ideal: f64,
    /// The exact hash-space share that moves, when known.
    pub exact: Option<f64>,
    /// Keys that moved although neither end was the changed node: zero for
    /// a consistent algorithm.
    pub stray: u64,
    /// How many nodes received keys (removal) or gave keys (addition).
    pub counterparts: usize,
}

/// Peak, trough and spread of per-node load against the ideal.
pub struct Balance {
    /// Max over nodes of actual / ideal share.
    pub peak_to_mean: f64,
    pub min_to_mean: f64,
    /// Root mean square of (actual / ideal - 1) over nodes.
    pub stddev: f64,
}

impl NodeLoad {
    pub fn share(&self, total_keys: u64) -> f64 {
        self.keys as f64 / total_keys as f64
    }
}

impl Analysis {
    pub fn sampled_balance(&self) -> Balance {
        Balance::of(self.nodes.iter().map(|n| (n.share(self.keys), n.ideal)))
    }

    pub fn exact_balance(&self) -> Option<Balance> {
        let pairs: Option<Vec<_>> = self
            .nodes
            .iter()
            .map(|n| n.exact.map(|e| (e, n.ideal)))
            .collect();
        Some(Balance::of(pairs?.into_iter()))
    }
}

impl Balance {
    fn of(shares: impl Iterator<Item = (f64, f64)>) -> Balance {
        let ratios: Vec<f64> = shares.map(|(actual, ideal)| actual / ideal).collect();
        let n = ratios.len().max(1) as f64;
        Balance {
            peak_to_mean: ratios.iter().copied().fold(0.0, f64::max),
            min_to_mean: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            stddev: (ratios.iter().map(|r| (r - 1.0).powi(2)).sum::<f64>() / n).sqrt(),
        }
    }
}

pub fn run(spec: &ClusterSpec, keys: u64) -> Result<Analysis, CliError> {
    if spec.nodes.is_empty() {
        return Err(CliError::usage("no nodes to analyze"));
    }
    let len = usize::try_from(keys)
        .map_err(|_| CliError::usage(format!("--keys {keys} is too large for this machine")))?;
    let n = spec.len();
    let removals = if n > 1 { n } else { 0 };
    // Work units: hashing, base routing, the removals and one addition.
    let mut progress = Progress::new("analyze", keys * (3 + removals as u64));

    let members = spec.members();
    let base = router::build(spec.vnodes, &members)?;
    let hashes = hash_keys(len, &mut progress);
    let mut owner = vec![0u32; len];
    for (h, o) in hashes.chunks(CHUNK).zip(owner.chunks_mut(CHUNK)) {
        base.route_batch(h, o)?;
        progress.advance(h.len() as u64);
    }
    let exact = exact_by_id(base.as_ref(), n);
    let runs = Runs {
        spec,
        members: &members,
        hashes: &hashes,
        owner: &owner,
    };

    let nodes = runs.loads(exact.as_deref());
    let removed = (0..removals)
        .map(|i| runs.remove(i, exact.as_deref(), &mut progress))
        .collect::<Result<_, _>>()?;
    let addition = runs.add(&mut progress)?;
    progress.finish();

    Ok(Analysis {
        structure: base.describe(),
        keys,
        nodes,
        removals: removed,
        addition,
    })
}

/// What every experiment compares against: the cluster and where each
/// key lives in it.
struct Runs<'a> {
    spec: &'a ClusterSpec,
    members: &'a [Member<'a>],
    hashes: &'a [u64],
    /// Member id serving each key of `hashes` in the unchanged cluster.
    owner: &'a [u32],
}

impl Runs<'_> {
    fn loads(&self, exact: Option<&[f64]>) -> Vec<NodeLoad> {
        let mut counts = vec![0u64; self.spec.len()];
        for &o in self.owner {
            counts[o as usize] += 1;
        }
        let total_weight = self.spec.total_weight();
        self.spec
            .nodes
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (node, keys))| NodeLoad {
                name: node.name.clone(),
                weight: node.weight,
                keys,
                ideal: node.weight / total_weight,
                exact: exact.map(|e| e[i]),
            })
            .collect()
    }

    /// Rebuilds without node `i`: only the keys it served may move.
    fn remove(
        &self,
        i: usize,
        exact: Option<&[f64]>,
        progress: &mut Progress,
    ) -> Result<Movement, CliError> {
        let id = i as u32;
        let without: Vec<Member<'_>> = self
            .members
            .iter()
            .filter(|m| m.id != id)
            .copied()
            .collect();
        let changed = router::build(self.spec.vnodes, &without)?;
        let tally = self.compare(changed.as_ref(), self.spec.len(), progress, |old, _| {
            old == id
        })?;
        let node = &self.spec.nodes[i];
        Ok(Movement {
            node: node.name.clone(),
            weight: node.weight,
            moved: tally.moved,
            ideal: node.weight / self.spec.total_weight(),
            // The arcs a node owns are exactly what its removal hands on.
            exact: exact.map(|e| e[i]),
            stray: tally.stray,
            counterparts: tally.to.iter().filter(|&&c| c > 0).count(),
        })
    }

    /// Rebuilds with one more node of mean weight: keys may only move to it.
    fn add(&self, progress: &mut Progress) -> Result<Movement, CliError> {
        let n = self.spec.len();
        let name = unused_name(self.spec);
        let total_weight = self.spec.total_weight();
        let weight = total_weight / n as f64;
        let id = n as u32;
        let mut with = self.members.to_vec();
        with.push(Member {
            id,
            name: &name,
            weight,
        });
        let changed = router::build(self.spec.vnodes, &with)?;
        let tally = self.compare(changed.as_ref(), n + 1, progress, |_, new| new == id)?;
        Ok(Movement {
            exact: exact_by_id(changed.as_ref(), n + 1).map(|e| e[n]),
            node: name,
            weight,
            moved: tally.moved,
            ideal: weight / (total_weight + weight),
            stray: tally.stray,
            counterparts: tally.from.iter().filter(|&&c| c > 0).count(),
        })
    }

    /// Routes every hash through `changed` and compares with `owner`;
    /// `expected(old, new)` says whether a move is one the change explains.
    /// `ids` bounds the member ids `changed` may answer with.
    fn compare(
        &self,
        changed: &dyn Router,
        ids: usize,
        progress: &mut Progress,
        expected: impl Fn(u32, u32) -> bool,
    ) -> Result<Tally, CliError> {
        let mut tally = Tally {
            moved: 0,
            stray: 0,
            to: vec![0; ids],
            from: vec![0; ids],
        };
        let mut scratch = vec![0u32; CHUNK.min(self.hashes.len())];
        for (h, old) in self.hashes.chunks(CHUNK).zip(self.owner.chunks(CHUNK)) {
            let new = &mut scratch[..h.len()];
            changed.route_batch(h, new)?;
            for (&o, &n) in old.iter().zip(new.iter()) {
                if o != n {
                    tally.moved += 1;
                    tally.to[n as usize] += 1;
                    tally.from[o as usize] += 1;
                    if !expected(o, n) {
                        tally.stray += 1;
                    }
                }
            }
            progress.advance(h.len() as u64);
        }
        Ok(tally)
    }
}

fn hash_keys(len: usize, progress: &mut Progress) -> Vec<u64> {
    let mut hashes = Vec::with_capacity(len);
    let mut key = String::with_capacity(24);
    for i in 0..len {
        key.clear();
        let _ = write!(key, "key-{i}");
        hashes.push(key_hash(key.as_bytes()));
        if (i + 1) % CHUNK == 0 {
            progress.advance(CHUNK as u64);
        }
    }
    progress.advance((len % CHUNK) as u64);
    hashes
}

/// Exact shares indexed by member id, for ids `0..n`.
fn exact_by_id(router: &dyn Router, n: usize) -> Option<Vec<f64>> {
    let mut by_id = vec![0.0; n];
    for (id, share) in router.exact_shares()? {
        by_id[id as usize] = share;
    }
    Some(by_id)
}

struct Tally {
    moved: u64,
    stray: u64,
    /// Moved keys by their new owner.
    to: Vec<u64>,
    /// Moved keys by their old owner.
    from: Vec<u64>,
}

fn unused_name(spec: &ClusterSpec) -> String {
    let taken = |name: &str| spec.nodes.iter().any(|n| n.name == name);
    if !taken(ADDED_NAME) {
        return ADDED_NAME.to_string();
    }
    (2..)
        .map(|k| format!("{ADDED_NAME}-{k}"))
        .find(|name| !taken(name))
        .expect("finitely many nodes leave some suffix free")
}
