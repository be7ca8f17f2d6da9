//! `ringroute analyze --compare`: every algorithm on the same cluster and
//! the same hashed keys, side by side.
//!
//! Each algorithm goes through exactly the experiments of a single
//! analysis (balance, each removal, one addition, a failure), so the
//! columns differ only by algorithm. Jump cannot weigh nodes; on a weighted
//! cluster its column says so instead of failing the whole comparison.

use std::time::Duration;

use crate::analyze::{Skippable, key_len, skippable};
use crate::cluster::ClusterSpec;
use crate::error::CliError;
use crate::experiment::{self, Balance, Baseline, Movement};
use crate::failure::{self, Failure};
use crate::progress::Progress;
use crate::report::tie_warning;
use crate::router::{self, Algo, Config, Ties};
use crate::text::{count, duration, line, pct, weight};

// Five algorithms beside the ideal fit in 100 columns.
const LABEL: usize = 36;
const IDEAL: usize = 7;
const CELL: usize = 10;
const NA: &str = "n/a";

pub struct Comparison {
    pub keys: u64,
    pub failed: Vec<u32>,
    pub columns: Vec<Column>,
}

pub struct Column {
    pub algo: Algo,
    /// Why the algorithm cannot run on this cluster, e.g. "n/a: unweighted".
    pub outcome: Result<Measures, String>,
}

pub struct Measures {
    pub structure: String,
    pub build_time: Duration,
    pub lookup_ns: f64,
    pub sampled: Balance,
    pub exact: Option<Balance>,
    pub removals: Vec<Movement>,
    /// `Err(why)` when this algorithm cannot grow the cluster (skipped).
    pub addition: Skippable<Movement>,
    pub failure: Option<Failure>,
    pub ties: Option<Ties>,
}

pub fn run(
    spec: &ClusterSpec,
    config: Config,
    keys: u64,
    failed: &[u32],
) -> Result<Comparison, CliError> {
    if spec.nodes.is_empty() {
        return Err(CliError::usage("no nodes to analyze"));
    }
    let len = key_len(keys)?;
    let n = spec.len();
    let removals = if n > 1 { n } else { 0 };
    let failures = if failed.is_empty() { 0 } else { 2 };
    // Per algorithm: base routing, timing, removals, addition, failure.
    let per_algo = 3 + removals + failures;
    let passes = 1 + Algo::ALL.len() * per_algo;
    let mut progress = Progress::new("compare", keys * passes as u64);
    let hashes = experiment::hash_keys(len, &mut progress);

    let members = spec.members();
    let mut columns = Vec::new();
    for algo in Algo::ALL {
        let outcome = if algo.unweighted() && router::unweighted_conflict(&members).is_some() {
            progress.advance(keys * per_algo as u64);
            Err(format!(
                "{NA}: unweighted ({} needs weight 1 on every node; weights here go up to {})",
                algo.name(),
                weight(spec.nodes.iter().map(|n| n.weight).fold(0.0, f64::max))
            ))
        } else {
            let config = Config { algo, ..config };
            Ok(measure(spec, config, &hashes, failed, &mut progress)?)
        };
        columns.push(Column { algo, outcome });
    }
    progress.finish();
    Ok(Comparison {
        keys,
        failed: failed.to_vec(),
        columns,
    })
}

fn measure(
    spec: &ClusterSpec,
    config: Config,
    hashes: &[u64],
    failed: &[u32],
    progress: &mut Progress,
) -> Result<Measures, CliError> {
    let mut base = Baseline::new(spec, config, hashes, progress)?;
    let lookup_ns = base.lookup_ns(hashes, progress)?;
    let total_weight = spec.total_weight();
    let ideal = |i: usize| spec.nodes[i].weight / total_weight;
    let keys = hashes.len() as f64;
    let counts = base.counts();
    let sampled = Balance::of((0..spec.len()).map(|i| (counts[i] as f64 / keys, ideal(i))));
    let exact = base
        .exact
        .as_ref()
        .map(|e| Balance::of(e.iter().enumerate().map(|(i, &s)| (s, ideal(i)))));
    let removals = if spec.len() > 1 { spec.len() } else { 0 };
    let removals = (0..removals)
        .map(|i| base.remove(i, hashes, progress))
        .collect::<Result<_, _>>()?;
    let addition = skippable(base.add(hashes, progress))?;
    let failure = if failed.is_empty() {
        None
    } else {
        Some(failure::run(&mut base, hashes, failed, progress)?)
    };
    Ok(Measures {
        structure: base.router.describe(),
        build_time: base.build_time,
        lookup_ns,
        sampled,
        exact,
        removals,
        addition,
        failure,
        ties: base.router.ties(),
    })
}

pub fn render(spec: &ClusterSpec, c: &Comparison) -> String {
    let mut out = String::new();
    let source = if spec.demo {
        " (built-in demo cluster; give --node or --nodes for yours)"
    } else {
        ""
    };
    line!(
        &mut out,
        "ringroute analyze --compare: {} nodes{source}",
        spec.len()
    );
    line!(
        &mut out,
        "keys: {} (key-0 … key-{}), hashed once; every algorithm routes the same hashes",
        count(c.keys),
        c.keys - 1
    );
    line!(&mut out);
    for col in &c.columns {
        let text = match &col.outcome {
            Ok(m) => format!("{}; built in {}", m.structure, duration(m.build_time)),
            Err(why) => why.clone(),
        };
        line!(&mut out, "{:<12}{text}", col.algo.name());
    }
    let ties = c
        .columns
        .iter()
        .find_map(|col| col.outcome.as_ref().ok()?.ties);
    if let Some(ties) = ties {
        tie_warning(&mut out, ties);
    }
    Table { out: &mut out, c }.render(spec);
    out
}

/// The side-by-side table: one row per figure, an ideal column, then one
/// column per algorithm.
struct Table<'a> {
    out: &'a mut String,
    c: &'a Comparison,
}

impl Table<'_> {
    fn render(&mut self, spec: &ClusterSpec) {
        let total_weight = spec.total_weight();
        let shares: Vec<f64> = spec.nodes.iter().map(|n| n.weight / total_weight).collect();
        let keys = self.c.keys as f64;
        let share = |k: u64| k as f64 / keys;

        line!(self.out);
        let mut head = format!("{:<LABEL$}  {:>IDEAL$}", "", "ideal");
        for col in &self.c.columns {
            head += &format!(" {:>CELL$}", col.algo.name());
        }
        line!(self.out, "{head}");

        self.title("BALANCE (load = a node's share of the keys / its weight share)");
        self.row("peak-to-mean, sampled", "1.000", |m| {
            format!("{:.3}", m.sampled.peak_to_mean)
        });
        self.row("peak-to-mean, exact hash space", "1.000", |m| {
            m.exact
                .as_ref()
                .map_or("-".into(), |b| format!("{:.3}", b.peak_to_mean))
        });
        self.row("lowest load, sampled", "1.000", |m| {
            format!("{:.3}", m.sampled.min_to_mean)
        });
        self.row("std dev of load vs ideal, sampled", "0.00%", |m| {
            pct(m.sampled.stddev)
        });

        if spec.len() == 1 {
            self.title(
                "REMOVING OR MARKING DOWN A NODE: n/a, a one-node cluster has none to spare",
            );
        } else {
            let n = spec.len();
            self.title(&format!(
                "REMOVING EACH NODE IN TURN ({n} removals, % of all keys moved)"
            ));
            let mean_ideal = shares.iter().sum::<f64>() / n as f64;
            let max_ideal = shares.iter().copied().fold(0.0, f64::max);
            self.row("moved, mean", &pct(mean_ideal), |m| {
                pct(mean(m.removals.iter().map(|r| share(r.moved))))
            });
            self.row("moved, max", &pct(max_ideal), |m| {
                pct(max(m.removals.iter().map(|r| share(r.moved))))
            });
            self.row("only the removed node's keys moved", "yes", |m| {
                yes_no(m.removals.iter().all(|r| r.stray == 0))
            });
            self.row("others' keys moved too, mean", "0.00%", |m| {
                pct(mean(m.removals.iter().map(|r| share(r.stray))))
            });
            self.row("others' keys moved too, max", "0.00%", |m| {
                pct(max(m.removals.iter().map(|r| share(r.stray))))
            });
        }

        let added = self.c.columns.iter().find_map(|c| c.outcome.as_ref().ok());
        if let Some(a) = added.and_then(grown) {
            self.title(&format!(
                "ADDING ONE NODE ({}, weight {}: the mean)",
                a.node,
                weight(a.weight)
            ));
            self.row("moved", &pct(a.ideal), |m| {
                grown(m).map_or_else(|| "skipped".to_owned(), |a| pct(share(a.moved)))
            });
            self.row("only keys to the new node moved", "yes", |m| {
                grown(m).map_or_else(|| "skipped".to_owned(), |a| yes_no(a.stray == 0))
            });
        }

        if !self.c.failed.is_empty() {
            let names: Vec<&str> = self
                .c
                .failed
                .iter()
                .map(|&id| spec.nodes[id as usize].name.as_str())
                .collect();
            let down: f64 = self.c.failed.iter().map(|&id| shares[id as usize]).sum();
            self.title(&format!("MARKING {} DOWN (no rebuild)", names.join(", ")));
            self.row("moved", &pct(down), |m| pct(share(fail(m).moved)));
            let only = if names.len() == 1 {
                "only its keys moved"
            } else {
                "only their keys moved"
            };
            self.row(only, "yes", |m| yes_no(fail(m).contained()));
            self.row("all back when marked up again", "yes", |m| {
                yes_no(fail(m).not_returned == 0)
            });
        }

        self.title("COST (rough: one run on this machine, while it does other work)");
        self.row("build time", "-", |m| duration(m.build_time));
        self.row("lookup, ns per already-hashed key", "-", |m| {
            format!("{:.1}", m.lookup_ns)
        });
    }

    fn title(&mut self, title: &str) {
        line!(self.out, "{title}");
    }

    fn row(&mut self, label: &str, ideal: &str, cell: impl Fn(&Measures) -> String) {
        let mut text = format!("  {:<w$}  {ideal:>IDEAL$}", label, w = LABEL - 2);
        for col in &self.c.columns {
            let value = col.outcome.as_ref().map_or_else(|_| NA.to_string(), &cell);
            text += &format!(" {value:>CELL$}");
        }
        line!(self.out, "{text}");
    }
}

fn fail(m: &Measures) -> &Failure {
    m.failure
        .as_ref()
        .expect("a failure is measured whenever nodes fail")
}

/// The addition experiment of `m`, unless it was skipped.
fn grown(m: &Measures) -> Option<&Movement> {
    m.addition.as_ref().ok()
}

fn yes_no(yes: bool) -> String {
    if yes { "yes" } else { "no" }.to_string()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n.max(1) as f64
}

fn max(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max)
}
