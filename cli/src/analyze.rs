//! `ringroute analyze` for one algorithm: how evenly it spreads keys, how
//! many keys move when the cluster changes, and what a failure does.
//!
//! Balance is measured on a fixed, reproducible key set and set against
//! the exact hash-space shares where the algorithm can compute them.

use std::time::Duration;

use crate::cluster::ClusterSpec;
use crate::error::CliError;
use crate::experiment::{self, Balance, Baseline, Movement};
use crate::failure::{self, Failure};
use crate::progress::Progress;
use crate::router::{Algo, Config, Ties};

pub struct Analysis {
    pub algo: Algo,
    /// How the router was built, e.g. "ring, 160 vnodes per unit weight".
    pub structure: String,
    pub build_time: Duration,
    pub lookup_ns: f64,
    pub keys: u64,
    pub nodes: Vec<NodeLoad>,
    /// One per node; empty for a one-node cluster, which cannot lose one.
    pub removals: Vec<Movement>,
    /// `Err(why)` when the grown cluster cannot be built (a Maglev table
    /// too small for one more node, too many ring points): skipped.
    pub addition: Skippable<Movement>,
    /// `None` when no node can fail (a one-node cluster).
    pub failure: Option<Failure>,
    pub ties: Option<Ties>,
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

/// An experiment's result, or why it was skipped.
pub type Skippable<T> = Result<T, String>;

/// An experiment that changes the cluster (adding a node) may produce one
/// the algorithm refuses although the cluster under study is valid: that
/// experiment is skipped with the reason, and the rest of the report
/// stands. Other failures (I/O) still end the run.
pub fn skippable<T>(result: Result<T, CliError>) -> Result<Skippable<T>, CliError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(CliError::Usage(why)) => Ok(Err(why)),
        Err(e) => Err(e),
    }
}

/// `--keys` as a length, refusing what this machine cannot index.
pub fn key_len(keys: u64) -> Result<usize, CliError> {
    usize::try_from(keys)
        .map_err(|_| CliError::usage(format!("--keys {keys} is too large for this machine")))
}

pub fn run(
    spec: &ClusterSpec,
    config: Config,
    keys: u64,
    failed: &[u32],
) -> Result<Analysis, CliError> {
    if spec.nodes.is_empty() {
        return Err(CliError::usage("no nodes to analyze"));
    }
    let len = key_len(keys)?;
    let n = spec.len();
    let removals = if n > 1 { n } else { 0 };
    let failures = if failed.is_empty() { 0 } else { 2 };
    // Work units: hashing, base routing, timing, removals, one addition
    // and the failure's two passes, each over every key.
    let passes = 4 + removals + failures;
    let mut progress = Progress::new("analyze", keys * passes as u64);

    let hashes = experiment::hash_keys(len, &mut progress);
    let mut base = Baseline::new(spec, config, &hashes, &mut progress)?;
    let lookup_ns = base.lookup_ns(&hashes, &mut progress)?;
    let counts = base.counts();
    let total_weight = spec.total_weight();
    let nodes = spec
        .nodes
        .iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (node, keys))| NodeLoad {
            name: node.name.clone(),
            weight: node.weight,
            keys,
            ideal: node.weight / total_weight,
            exact: base.exact.as_ref().map(|e| e[i]),
        })
        .collect();
    let removed = (0..removals)
        .map(|i| base.remove(i, &hashes, &mut progress))
        .collect::<Result<_, _>>()?;
    let addition = skippable(base.add(&hashes, &mut progress))?;
    let failure = if failed.is_empty() {
        None
    } else {
        Some(failure::run(&mut base, &hashes, failed, &mut progress)?)
    };
    progress.finish();

    Ok(Analysis {
        algo: config.algo,
        structure: base.router.describe(),
        build_time: base.build_time,
        lookup_ns,
        keys,
        nodes,
        removals: removed,
        addition,
        failure,
        ties: base.router.ties(),
    })
}
