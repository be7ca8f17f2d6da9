//! Failure analysis: mark node(s) down in the live cluster (no rebuild, as
//! a health check would), route every key again, then mark them up and
//! check that every key came home.
//!
//! Unlike a removal, a failure must be undone exactly: clients keep their
//! caches warm only if each key returns to the node it left. So the report
//! says where the failed nodes' keys went, that no other key moved, and
//! that all of them returned.

use crate::cluster::ClusterSpec;
use crate::error::CliError;
use crate::experiment::{Baseline, CHUNK};
use crate::progress::Progress;
use crate::router::Algo;
use crate::text::{Labels, count, line, pct};

/// Destinations listed one per line; the rest are summed up, so a large
/// cluster does not print a page per failure.
const MAX_ROWS: usize = 12;

pub struct Failure {
    /// Member ids marked down.
    pub failed: Vec<u32>,
    /// Keys the failed nodes served before the failure.
    pub orphaned: u64,
    pub moved: u64,
    /// Keys that moved although they were not on a failed node.
    pub stray: u64,
    /// Keys still routed to a failed node while it was down.
    pub stuck: u64,
    /// `(id, keys)` of every node that took keys, most keys first.
    pub to: Vec<(u32, u64)>,
    /// Keys not back on their old node once every failed node was up.
    pub not_returned: u64,
}

impl Failure {
    /// Only the failed nodes' keys moved, and all of them did.
    pub fn contained(&self) -> bool {
        self.stray == 0 && self.stuck == 0 && self.moved == self.orphaned
    }
}

/// Resolves `--fail` names to member ids. With none given, the first node
/// fails, when there is another node to take its keys.
pub fn resolve(spec: &ClusterSpec, names: &[String]) -> Result<Vec<u32>, CliError> {
    if names.is_empty() {
        return Ok(if spec.len() > 1 { vec![0] } else { vec![] });
    }
    let mut ids = Vec::new();
    for name in names {
        let id = spec
            .nodes
            .iter()
            .position(|n| &n.name == name)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--fail {name}: no node named \"{name}\" in the cluster"
                ))
            })?;
        if !ids.contains(&(id as u32)) {
            ids.push(id as u32);
        }
    }
    if ids.len() == spec.len() {
        return Err(CliError::usage(
            "--fail names every node: at least one must stay up to take the keys",
        ));
    }
    Ok(ids)
}

/// Marks `failed` down in `base`'s router, routes every key, marks them up
/// and routes again. `base` ends as it started: every node up.
pub fn run(
    base: &mut Baseline<'_>,
    hashes: &[u64],
    failed: &[u32],
    progress: &mut Progress,
) -> Result<Failure, CliError> {
    let n = base.spec.len();
    let mut is_failed = vec![false; n];
    for &id in failed {
        is_failed[id as usize] = true;
    }
    for &id in failed {
        base.router.set_up(id, false)?;
    }
    let mut f = Failure {
        failed: failed.to_vec(),
        orphaned: base
            .owner
            .iter()
            .filter(|&&o| is_failed[o as usize])
            .count() as u64,
        moved: 0,
        stray: 0,
        stuck: 0,
        to: Vec::new(),
        not_returned: 0,
    };
    let mut to = vec![0u64; n];
    let mut scratch = vec![0u32; CHUNK.min(hashes.len())];
    let down = route_all(base, hashes, &mut scratch, progress, |old, new| {
        if is_failed[new as usize] {
            f.stuck += 1;
        }
        if old != new {
            f.moved += 1;
            to[new as usize] += 1;
            if !is_failed[old as usize] {
                f.stray += 1;
            }
        }
    });
    // Up again before any error is returned: the baseline is shared.
    for &id in failed {
        base.router.set_up(id, true)?;
    }
    down?;
    route_all(base, hashes, &mut scratch, progress, |old, new| {
        if old != new {
            f.not_returned += 1;
        }
    })?;
    f.to = (0..n as u32)
        .map(|id| (id, to[id as usize]))
        .filter(|&(_, keys)| keys > 0)
        .collect();
    f.to.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(f)
}

fn route_all(
    base: &Baseline<'_>,
    hashes: &[u64],
    scratch: &mut [u32],
    progress: &mut Progress,
    mut visit: impl FnMut(u32, u32),
) -> Result<(), CliError> {
    for (h, old) in hashes.chunks(CHUNK).zip(base.owner.chunks(CHUNK)) {
        let new = &mut scratch[..h.len()];
        base.router.route_batch(h, new)?;
        for (&o, &n) in old.iter().zip(new.iter()) {
            visit(o, n);
        }
        progress.advance(h.len() as u64);
    }
    Ok(())
}

/// The FAILURE section of a report.
pub fn render(out: &mut String, spec: &ClusterSpec, algo: Algo, f: Option<&Failure>) {
    line!(out);
    let Some(f) = f else {
        line!(
            out,
            "FAILURE: (a one-node cluster has no node to fail over to)"
        );
        return;
    };
    let names: Vec<&str> = f
        .failed
        .iter()
        .map(|&id| spec.nodes[id as usize].name.as_str())
        .collect();
    let what = if names.len() == 1 {
        names[0].to_string()
    } else {
        format!("{} nodes", names.len())
    };
    line!(
        out,
        "FAILURE: {what} marked down ({}, nothing rebuilt), every key routed again",
        algo.name()
    );
    if names.len() > 1 {
        line!(out, "down: {}", names.join(", "));
    }
    line!(out, "{}", algo.failover());
    let (on, keys_of) = if names.len() == 1 {
        ("it", "its")
    } else {
        ("them", "their")
    };
    line!(
        out,
        "{} keys were on {on}: {} moved, to {}",
        count(f.orphaned),
        count(f.moved),
        crate::text::nodes(f.to.len())
    );
    let labels = Labels::new(spec.nodes.iter().map(|n| n.name.as_str()), &[]);
    let w = labels.width;
    let share = format!("of {keys_of} keys");
    line!(out, "{:<w$}  {:>11}  {share:>15}", "went to", "keys");
    for &(id, keys) in f.to.iter().take(MAX_ROWS) {
        line!(
            out,
            "{:<w$}  {:>11}  {:>15}",
            labels.names[id as usize],
            count(keys),
            pct(keys as f64 / f.orphaned.max(1) as f64)
        );
    }
    if f.to.len() > MAX_ROWS {
        let rest: u64 = f.to[MAX_ROWS..].iter().map(|&(_, k)| k).sum();
        let label = format!("{} more nodes", f.to.len() - MAX_ROWS);
        line!(
            out,
            "{label:<w$}  {:>11}  {:>15}",
            count(rest),
            pct(rest as f64 / f.orphaned.max(1) as f64)
        );
    }
    let verdict = if f.contained() {
        "yes".to_string()
    } else {
        format!(
            "NO: {} other keys moved, {} stayed on a down node",
            count(f.stray),
            count(f.stuck)
        )
    };
    line!(out, "only {keys_of} keys moved: {verdict}");
    let back = if f.not_returned == 0 {
        format!("yes, all {} keys returned", count(f.moved))
    } else {
        format!("NO: {} keys did not return", count(f.not_returned))
    };
    line!(out, "marked up again, every key back on its node: {back}");
}
