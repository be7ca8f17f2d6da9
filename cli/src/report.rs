//! Text rendering of an [`Analysis`]: tables and a bar chart sized for an
//! 80–100 column terminal.
//!
//! This output is for people; scripts should use `route`, whose format is
//! stable. Long node names are shortened with `…` so columns stay aligned.

use crate::analyze::Analysis;
use crate::cluster::ClusterSpec;
use crate::experiment::{Balance, Movement};
use crate::failure;
use crate::router::{Algo, Ties};
use crate::text::{Labels, count, duration, line, nodes, opt_pct, pct, weight};

const BAR_WIDTH: usize = 40;
/// Eighth-block glyphs for the fractional end of a bar, 1/8 to 7/8.
const PARTIAL: [char; 7] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉'];

pub fn render(spec: &ClusterSpec, a: &Analysis) -> String {
    let mut out = String::new();
    let names = a.nodes.iter().map(|n| n.name.as_str());
    let added: Vec<&str> = a.addition.iter().map(|m| m.node.as_str()).collect();
    let labels = Labels::new(names, &added);
    header(&mut out, spec, a);
    loads(&mut out, a, &labels);
    balance(&mut out, a);
    removals(&mut out, a, &labels);
    addition(&mut out, a, &labels);
    failure::render(&mut out, spec, a.algo, a.failure.as_ref());
    chart(&mut out, a, &labels);
    out
}

fn header(out: &mut String, spec: &ClusterSpec, a: &Analysis) {
    let source = match (spec.demo, a.algo.unweighted()) {
        (true, true) => format!(
            " (built-in demo, every weight 1 for {}; --node or --nodes for yours)",
            a.algo.name()
        ),
        (true, false) => " (built-in demo cluster: give --node or --nodes to analyze yours)".into(),
        (false, _) => String::new(),
    };
    line!(out, "ringroute analyze: {} nodes{source}", spec.len());
    line!(
        out,
        "structure: {} (built in {})",
        a.structure,
        duration(a.build_time)
    );
    line!(
        out,
        "lookup:    ~{:.1} ns per key (rough: median of timed batches of already-hashed keys)",
        a.lookup_ns
    );
    line!(
        out,
        "keys:      {} (key-0 … key-{}), hashed once and reused by every experiment",
        count(a.keys),
        a.keys - 1
    );
    if let Some(ties) = a.ties {
        tie_warning(out, ties);
    }
}

/// Counts ring points that share a position. Under spec v2 a tie is a
/// 2^-64 event per pair, so any tie is worth a warning (it means a node
/// owns an empty arc); none is stated, so a reader sees it was checked.
pub fn tie_warning(out: &mut String, ties: Ties) {
    if ties.tied == 0 {
        line!(out, "tied points: none of {}", count(ties.points));
        return;
    }
    line!(
        out,
        "warning: {} of {} ring points tie with another point, so their arcs are empty",
        count(ties.tied),
        count(ties.points)
    );
}

fn loads(out: &mut String, a: &Analysis, labels: &Labels) {
    let w = labels.width;
    line!(out);
    line!(out, "LOAD PER NODE");
    line!(
        out,
        "{:<w$}  {:>7}  {:>11}  {:>8}  {:>8}  {:>8}  {:>6}",
        "node",
        "weight",
        "keys",
        "sampled",
        "ideal",
        "exact",
        "load"
    );
    for (n, label) in a.nodes.iter().zip(&labels.names) {
        let sampled = n.share(a.keys);
        line!(
            out,
            "{:<w$}  {:>7}  {:>11}  {:>8}  {:>8}  {:>8}  {:>6.3}",
            label,
            weight(n.weight),
            count(n.keys),
            pct(sampled),
            pct(n.ideal),
            opt_pct(n.exact),
            sampled / n.ideal
        );
    }
    let total_weight: f64 = a.nodes.iter().map(|n| n.weight).sum();
    let exact_total = a.nodes.iter().map(|n| n.exact).sum::<Option<f64>>();
    line!(
        out,
        "{:<w$}  {:>7}  {:>11}  {:>8}  {:>8}  {:>8}",
        "total",
        weight(total_weight),
        count(a.keys),
        pct(1.0),
        pct(1.0),
        opt_pct(exact_total)
    );
    line!(
        out,
        "sampled = share of the keys; ideal = weight / total weight; load = sampled / ideal;"
    );
    match exact_source(a.algo) {
        Some(source) => line!(
            out,
            "exact = share of the hash space the node owns ({source})"
        ),
        None => line!(
            out,
            "exact = -: {} has no exact share to compute",
            a.algo.name()
        ),
    }
}

fn balance(out: &mut String, a: &Analysis) {
    let sampled = a.sampled_balance();
    let exact = a.exact_balance();
    let cell = |f: fn(&Balance) -> String| exact.as_ref().map_or("-".to_string(), f);
    line!(out);
    line!(out, "{:<36}{:>10}{:>10}", "BALANCE", "sampled", "exact");
    line!(
        out,
        "{:<36}{:>10.3}{:>10}",
        "peak-to-mean (highest load)",
        sampled.peak_to_mean,
        cell(|b| format!("{:.3}", b.peak_to_mean))
    );
    line!(
        out,
        "{:<36}{:>10.3}{:>10}",
        "lowest load",
        sampled.min_to_mean,
        cell(|b| format!("{:.3}", b.min_to_mean))
    );
    line!(
        out,
        "{:<36}{:>10}{:>10}",
        "std deviation of load from ideal",
        pct(sampled.stddev),
        cell(|b| pct(b.stddev))
    );
}

/// Where exact shares come from, for algorithms that have them.
fn exact_source(algo: Algo) -> Option<&'static str> {
    match algo {
        Algo::Ring => Some("Ring::ownership, summed arcs, no sampling"),
        Algo::Maglev => Some("its table slots / M, no sampling"),
        Algo::Jump | Algo::Jumpback | Algo::Rendezvous => None,
    }
}

fn removals(out: &mut String, a: &Analysis, labels: &Labels) {
    let w = labels.width;
    line!(out);
    line!(
        out,
        "REMOVING ONE NODE (Cluster::remove, every key routed again)"
    );
    if a.removals.is_empty() {
        line!(out, "(a one-node cluster cannot lose a node)");
        return;
    }
    movement_header(out, w, "went to", "only its keys moved");
    for (m, label) in a.removals.iter().zip(&labels.names) {
        movement_row(out, m, label, w, a.keys);
    }
    line!(
        out,
        "ideal = the node's weight share, what a perfect balance would move; exact = its hash space"
    );
}

fn addition(out: &mut String, a: &Analysis, labels: &Labels) {
    let w = labels.width;
    let m = match &a.addition {
        Ok(m) => m,
        Err(why) => {
            line!(out);
            line!(
                out,
                "ADDING ONE NODE: skipped, the grown cluster is not valid: {why}"
            );
            return;
        }
    };
    line!(out);
    line!(
        out,
        "ADDING ONE NODE: {} with weight {} (the mean), every key routed again",
        m.node,
        weight(m.weight)
    );
    movement_header(out, w, "came from", "only keys to it moved");
    movement_row(out, m, &labels.names[a.nodes.len()], w, a.keys);
    line!(
        out,
        "ideal = the new node's weight share of the grown cluster; exact = its hash space"
    );
}

fn movement_header(out: &mut String, w: usize, counterpart: &str, verdict: &str) {
    line!(
        out,
        "{:<w$}  {:>11}  {:>7}  {:>7}  {:>7}  {:>9}  {verdict}",
        "node",
        "moved keys",
        "moved",
        "exact",
        "ideal",
        counterpart
    );
}

fn movement_row(out: &mut String, m: &Movement, label: &str, w: usize, keys: u64) {
    let verdict = if m.stray == 0 {
        "yes".to_string()
    } else {
        // Maglev refills its table, so a few bystanders move: say how many.
        format!(
            "no: +{} others ({})",
            count(m.stray),
            pct(m.stray as f64 / keys as f64)
        )
    };
    line!(
        out,
        "{:<w$}  {:>11}  {:>7}  {:>7}  {:>7}  {:>9}  {verdict}",
        label,
        count(m.moved),
        pct(m.moved as f64 / keys as f64),
        opt_pct(m.exact),
        pct(m.ideal),
        nodes(m.counterparts)
    );
}

fn chart(out: &mut String, a: &Analysis, labels: &Labels) {
    let w = labels.width;
    let ideal_keys = |ideal: f64| ideal * a.keys as f64;
    // Scaled to the ideals too, so a node short of a larger ideal still
    // shows its mark.
    let max = a
        .nodes
        .iter()
        .map(|n| (n.keys as f64).max(ideal_keys(n.ideal)))
        .fold(1.0, f64::max);
    line!(out);
    line!(
        out,
        "KEYS PER NODE (a full bar is {} keys; │ marks the ideal when a bar falls short)",
        count(max.round() as u64)
    );
    for (n, label) in a.nodes.iter().zip(&labels.names) {
        line!(
            out,
            "{:<w$}  {}  {:>11}  {:>7}",
            label,
            bar(n.keys as f64, ideal_keys(n.ideal), max, BAR_WIDTH),
            count(n.keys),
            pct(n.share(a.keys))
        );
    }
}

/// A bar of `value` out of `max` in `width` cells, eighth-cell resolution,
/// with `│` in the cell where a bar of `mark` would end, when that cell is
/// past this bar's end: a short bar then shows how far it falls short.
fn bar(value: f64, mark: f64, max: f64, width: usize) -> String {
    let to_eighths =
        |v: f64| (((v / max) * (width * 8) as f64).round().max(0.0) as usize).min(width * 8);
    let eighths = to_eighths(value);
    let mut cells: Vec<char> = vec!['█'; eighths / 8];
    if eighths % 8 > 0 {
        cells.push(PARTIAL[eighths % 8 - 1]);
    }
    cells.resize(width, ' ');
    let mark_end = to_eighths(mark).div_ceil(8);
    if let Some(cell) = mark_end.checked_sub(1).map(|i| &mut cells[i]) {
        if *cell == ' ' {
            *cell = '│';
        }
    }
    cells.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_with_eighths_and_mark_the_ideal() {
        assert_eq!(bar(10.0, 10.0, 10.0, 4), "████");
        assert_eq!(bar(5.0, 5.0, 10.0, 4), "██  ");
        assert_eq!(bar(5.0, 9.0, 10.0, 4), "██ │");
        assert_eq!(bar(1.0, 0.0, 8.0, 1), "▏");
        assert_eq!(bar(0.0, 0.0, 10.0, 3), "   ");
        assert_eq!(bar(0.0, 1.0, 10.0, 3), "│  ");
        assert!(bar(5.0, 5.0, 10.0, 40).chars().count() == 40);
    }
}
