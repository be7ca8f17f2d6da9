//! The measurements every report is made of: route a fixed key set once,
//! change the cluster, route it again and count what moved.
//!
//! Movement is measured, not derived: the change is really applied to the
//! library's cluster and every key is routed again, so a placement bug that
//! moves bystander keys shows up. Keys (`key-0`, `key-1`, ...) are hashed
//! once; every experiment, and every algorithm in a comparison, routes the
//! same hashes.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ringroute::hash::key_hash;

use crate::cluster::{ClusterSpec, Member};
use crate::error::CliError;
use crate::progress::Progress;
use crate::router::{self, Config, Router};

/// Keys routed per batch: large enough to amortise a dynamic call, small
/// enough for a scratch buffer that stays in cache and smooth progress.
pub const CHUNK: usize = 1 << 14;

/// Name of the node the addition experiment adds, unless a member has it.
const ADDED_NAME: &str = "added-node";

pub fn hash_keys(len: usize, progress: &mut Progress) -> Vec<u64> {
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

/// One algorithm on the unchanged cluster, and where each key lives in it.
pub struct Baseline<'a> {
    pub spec: &'a ClusterSpec,
    pub router: Box<dyn Router>,
    pub build_time: Duration,
    /// Member id serving each key of the hashes it was routed with.
    pub owner: Vec<u32>,
    /// Exact shares by member id, when the algorithm knows them.
    pub exact: Option<Vec<f64>>,
}

impl<'a> Baseline<'a> {
    pub fn new(
        spec: &'a ClusterSpec,
        config: Config,
        hashes: &[u64],
        progress: &mut Progress,
    ) -> Result<Self, CliError> {
        let members = spec.members();
        let start = Instant::now();
        let router = router::build(config, &members)?;
        let build_time = start.elapsed();
        let mut owner = vec![0u32; hashes.len()];
        for (h, o) in hashes.chunks(CHUNK).zip(owner.chunks_mut(CHUNK)) {
            router.route_batch(h, o)?;
            progress.advance(h.len() as u64);
        }
        let exact = exact_by_id(router.as_ref(), spec.len());
        Ok(Baseline {
            spec,
            router,
            build_time,
            owner,
            exact,
        })
    }

    /// Keys per member id.
    pub fn counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.spec.len()];
        for &o in &self.owner {
            counts[o as usize] += 1;
        }
        counts
    }

    /// Removes member `i` from the cluster: only the keys it served may move.
    pub fn remove(
        &self,
        i: usize,
        hashes: &[u64],
        progress: &mut Progress,
    ) -> Result<Movement, CliError> {
        let id = i as u32;
        let changed = self.router.without(id)?;
        let tally = compare(
            &self.owner,
            hashes,
            changed.as_ref(),
            self.spec.len(),
            progress,
        )?;
        let node = &self.spec.nodes[i];
        Ok(Movement {
            node: node.name.clone(),
            weight: node.weight,
            moved: tally.moved,
            ideal: node.weight / self.spec.total_weight(),
            // The share a node owns is exactly what its removal hands on,
            // for an algorithm that moves nothing else.
            exact: self.exact.as_ref().map(|e| e[i]),
            stray: tally.moved - tally.from[i],
            counterparts: tally.to.iter().filter(|&&c| c > 0).count(),
        })
    }

    /// Adds one node of mean weight: keys may only move to it.
    pub fn add(&self, hashes: &[u64], progress: &mut Progress) -> Result<Movement, CliError> {
        let n = self.spec.len();
        let name = unused_name(self.spec);
        let total_weight = self.spec.total_weight();
        let weight = total_weight / n as f64;
        let id = n as u32;
        let changed = self.router.with(Member {
            id,
            name: &name,
            weight,
        })?;
        let tally = compare(&self.owner, hashes, changed.as_ref(), n + 1, progress)?;
        Ok(Movement {
            exact: exact_by_id(changed.as_ref(), n + 1).map(|e| e[n]),
            node: name,
            weight,
            moved: tally.moved,
            ideal: weight / (total_weight + weight),
            stray: tally.moved - tally.to[n],
            counterparts: tally.from.iter().filter(|&&c| c > 0).count(),
        })
    }

    /// Nanoseconds per lookup over `hashes`: each batch is timed on its
    /// own and the median batch wins, so a batch the scheduler interrupted
    /// (the machine may be busy) does not skew the figure. Still rough: one
    /// run, through the CLI's id mapping, on whatever else this machine does.
    pub fn lookup_ns(&self, hashes: &[u64], progress: &mut Progress) -> Result<f64, CliError> {
        let mut scratch = vec![0u32; CHUNK.min(hashes.len())];
        let mut per_key = Vec::with_capacity(hashes.len().div_ceil(CHUNK));
        for h in hashes.chunks(CHUNK) {
            let start = Instant::now();
            self.router.route_batch(h, &mut scratch[..h.len()])?;
            black_box(&scratch);
            per_key.push(start.elapsed().as_nanos() as f64 / h.len() as f64);
        }
        progress.advance(hashes.len() as u64);
        per_key.sort_by(f64::total_cmp);
        Ok(per_key.get(per_key.len() / 2).copied().unwrap_or(0.0))
    }
}

/// The result of one membership change.
pub struct Movement {
    pub node: String,
    pub weight: f64,
    pub moved: u64,
    /// The share that must move at the least: the changed node's share by
    /// weight (of the cluster that includes it).
    pub ideal: f64,
    /// The changed node's exact hash-space share, when known.
    pub exact: Option<f64>,
    /// Keys that moved although neither end was the changed node: zero for
    /// a consistent algorithm, a little for Maglev.
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

impl Balance {
    /// From `(actual, ideal)` share pairs.
    pub fn of(shares: impl Iterator<Item = (f64, f64)>) -> Balance {
        let ratios: Vec<f64> = shares.map(|(actual, ideal)| actual / ideal).collect();
        let n = ratios.len().max(1) as f64;
        Balance {
            peak_to_mean: ratios.iter().copied().fold(0.0, f64::max),
            min_to_mean: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            stddev: (ratios.iter().map(|r| (r - 1.0).powi(2)).sum::<f64>() / n).sqrt(),
        }
    }
}

pub struct Tally {
    pub moved: u64,
    /// Moved keys by their new owner.
    pub to: Vec<u64>,
    /// Moved keys by their old owner.
    pub from: Vec<u64>,
}

/// Routes every hash through `changed` and compares with `owner`. `ids`
/// bounds the member ids `changed` may answer with.
pub fn compare(
    owner: &[u32],
    hashes: &[u64],
    changed: &dyn Router,
    ids: usize,
    progress: &mut Progress,
) -> Result<Tally, CliError> {
    let mut tally = Tally {
        moved: 0,
        to: vec![0; ids],
        from: vec![0; ids],
    };
    let mut scratch = vec![0u32; CHUNK.min(hashes.len())];
    for (h, old) in hashes.chunks(CHUNK).zip(owner.chunks(CHUNK)) {
        let new = &mut scratch[..h.len()];
        changed.route_batch(h, new)?;
        for (&o, &n) in old.iter().zip(new.iter()) {
            if o != n {
                tally.moved += 1;
                tally.to[n as usize] += 1;
                tally.from[o as usize] += 1;
            }
        }
        progress.advance(h.len() as u64);
    }
    Ok(tally)
}

/// Exact shares indexed by member id, for ids `0..n`.
fn exact_by_id(router: &dyn Router, n: usize) -> Option<Vec<f64>> {
    let mut by_id = vec![0.0; n];
    for (id, share) in router.exact_shares()? {
        by_id[id as usize] = share;
    }
    Some(by_id)
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
