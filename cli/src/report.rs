//! Text rendering of an [`Analysis`]: tables and a bar chart sized for an
//! 80–100 column terminal.
//!
//! This output is for people; scripts should use `route`, whose format is
//! stable. Long node names are shortened with `…` so columns stay aligned.

use std::fmt::Write as _;

use crate::analyze::{Analysis, Balance, Movement};
use crate::cluster::ClusterSpec;

/// Widest node column; longer names are cut so rows fit 100 columns.
const MAX_NAME: usize = 24;
const BAR_WIDTH: usize = 40;
/// Eighth-block glyphs for the fractional end of a bar, 1/8 to 7/8.
const PARTIAL: [char; 7] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// Writing to a `String` cannot fail; this keeps the `writeln!`s terse.
macro_rules! line {
    ($out:expr) => { $out.push('\n') };
    ($out:expr, $($arg:tt)*) => {{ let _ = writeln!($out, $($arg)*); }};
}

pub fn render(spec: &ClusterSpec, a: &Analysis) -> String {
    let mut out = String::new();
    let labels = Labels::new(a);
    header(&mut out, spec, a);
    loads(&mut out, a, &labels);
    balance(&mut out, a);
    removals(&mut out, a, &labels);
    addition(&mut out, a, &labels);
    chart(&mut out, a, &labels);
    out
}

fn header(out: &mut String, spec: &ClusterSpec, a: &Analysis) {
    let source = if spec.demo {
        " (built-in demo cluster: give --node or --nodes to analyze yours)"
    } else {
        ""
    };
    line!(out, "ringroute analyze: {} nodes{source}", spec.len());
    line!(out, "structure: {}", a.structure);
    line!(
        out,
        "keys:      {} (key-0 … key-{}), hashed once and reused by every experiment",
        count(a.keys),
        a.keys - 1
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
    for (n, label) in a.nodes.iter().zip(&labels.nodes) {
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
    line!(
        out,
        "exact = share of the hash space the node owns (Ring::ownership), no sampling"
    );
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

fn removals(out: &mut String, a: &Analysis, labels: &Labels) {
    let w = labels.width;
    line!(out);
    line!(
        out,
        "REMOVING ONE NODE (rebuilt without it, every key routed again)"
    );
    if a.removals.is_empty() {
        line!(out, "(a one-node cluster cannot lose a node)");
        return;
    }
    movement_header(out, w, "went to", "only its keys moved");
    for (m, label) in a.removals.iter().zip(&labels.nodes) {
        movement_row(out, m, label, w, a.keys);
    }
    line!(
        out,
        "ideal = the node's weight share, what a perfect balance would move; exact = its hash space"
    );
}

fn addition(out: &mut String, a: &Analysis, labels: &Labels) {
    let w = labels.width;
    let m = &a.addition;
    line!(out);
    line!(
        out,
        "ADDING ONE NODE: {} with weight {} (the mean), every key routed again",
        m.node,
        weight(m.weight)
    );
    movement_header(out, w, "came from", "only keys to it moved");
    movement_row(out, m, &labels.added, w, a.keys);
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
        format!("NO: {} others", count(m.stray))
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
    for (n, label) in a.nodes.iter().zip(&labels.nodes) {
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

/// Node names as the tables show them: short enough for the name column,
/// yet still telling the nodes apart.
struct Labels {
    /// In node order, like `Analysis::nodes` and `Analysis::removals`.
    nodes: Vec<String>,
    added: String,
    width: usize,
}

impl Labels {
    fn new(a: &Analysis) -> Self {
        let names: Vec<&str> = a.nodes.iter().map(|n| n.name.as_str()).collect();
        let nodes = shorten(&names, MAX_NAME);
        let added = shorten(&[a.addition.node.as_str()], MAX_NAME).remove(0);
        let width = nodes
            .iter()
            .chain([&added])
            .map(|l| l.chars().count())
            .chain(["node".len()])
            .max()
            .unwrap_or(0);
        Labels {
            nodes,
            added,
            width,
        }
    }
}

/// Fits each name into `width` characters. Long names in real clusters
/// usually share a long prefix (a naming scheme, a domain) and differ in a
/// few characters after it, and often end in a telling suffix (a port), so
/// a name that is too long loses the prefix all names share, then its
/// middle; names that fit are left whole.
fn shorten(names: &[&str], width: usize) -> Vec<String> {
    let shared = if names.len() > 1 {
        common_prefix(names)
    } else {
        0
    };
    names
        .iter()
        .map(|name| {
            let mut chars: Vec<char> = name.chars().collect();
            if chars.len() <= width {
                return name.to_string();
            }
            if shared > 1 {
                chars.splice(..shared, ['…']);
            }
            if chars.len() > width {
                let head = (width - 1) / 2;
                let tail = width - 1 - head;
                chars.splice(head..chars.len() - tail, ['…']);
            }
            chars.into_iter().collect()
        })
        .collect()
}

/// Characters all `names` start with, short of the shortest name, so that
/// every name keeps at least one character of its own.
fn common_prefix(names: &[&str]) -> usize {
    let shortest = names.iter().map(|n| n.chars().count()).min().unwrap_or(0);
    let first: Vec<char> = names[0].chars().collect();
    (0..shortest.saturating_sub(1))
        .take_while(|&i| names.iter().all(|n| n.chars().nth(i) == Some(first[i])))
        .count()
}

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

fn opt_pct(share: Option<f64>) -> String {
    share.map_or("-".to_string(), pct)
}

/// Up to three decimals, trailing zeros dropped: `1`, `0.5`, `1.333`.
fn weight(w: f64) -> String {
    let s = format!("{w:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn nodes(k: usize) -> String {
    if k == 1 {
        "1 node".to_string()
    } else {
        format!("{k} nodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn weights_are_short() {
        assert_eq!(weight(1.0), "1");
        assert_eq!(weight(0.5), "0.5");
        assert_eq!(weight(14.0 / 3.0), "4.667");
        assert_eq!(weight(10.0), "10");
    }

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

    #[test]
    fn long_names_are_cut_but_stay_distinct() {
        assert_eq!(shorten(&["abcd", "abcdefgh"], 6), ["abcd", "…defgh"]);
        assert_eq!(shorten(&["abcdefgh"], 5), ["ab…gh"]);
        let names: Vec<String> = (0..100)
            .map(|i| format!("very-long-hostname-{i:03}.eu-west-1.internal:6379"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let short = shorten(&names, 24);
        assert_eq!(short[7], "…07.eu-west…nternal:6379");
        assert!(short.iter().all(|s| s.chars().count() <= 24));
        let distinct: std::collections::HashSet<_> = short.iter().collect();
        assert_eq!(distinct.len(), 100);
    }
}
