//! `--algo`, `--compare`, `--fail` and the tie warning, end to end.
//!
//! Expected placements and failovers come from the `ringroute` library
//! itself (the same cluster built directly), so these tests fail if the CLI
//! wires any algorithm differently from the crate it wraps.

use std::collections::{HashMap, HashSet};

use ringroute::place::jump::JumpIndex;
use ringroute::place::jumpback::JumpBackIndex;
use ringroute::place::maglev::MaglevTable;
use ringroute::place::rendezvous::RendezvousIndex;
use ringroute::{Cluster, NodeState, Placement, RingIndex};

use super::{NODE_ARGS, NODES, assert_error, ringroute, stderr, stdout};

const ALGOS: [&str; 5] = ["ring", "jump", "jumpback", "rendezvous", "maglev"];

/// What the tests ask of a library cluster, whatever its placement.
trait Lib {
    fn replicas(&self, key: &str, n: usize) -> Vec<String>;
    fn set_down(&mut self, name: &str, down: bool);
}

impl<P: Placement> Lib for Cluster<P> {
    fn replicas(&self, key: &str, n: usize) -> Vec<String> {
        self.route_n(key, n)
            .iter()
            .map(|&i| self[i].name_lossy().into_owned())
            .collect()
    }

    fn set_down(&mut self, name: &str, down: bool) {
        if down {
            self.mark_down(name).unwrap();
        } else {
            self.mark_up(name).unwrap();
        }
    }
}

fn library(algo: &str, nodes: &[(String, f64)]) -> Box<dyn Lib> {
    fn build<P: Placement + 'static>(p: P, nodes: &[(String, f64)]) -> Box<dyn Lib> {
        let nodes = nodes
            .iter()
            .map(|(n, w)| (n.as_str(), *w, NodeState::Up, ()));
        Box::new(Cluster::from_nodes(p, nodes).unwrap())
    }
    match algo {
        "ring" => build(RingIndex::new(160).unwrap(), nodes),
        "jump" => build(JumpIndex::new(), nodes),
        "jumpback" => build(JumpBackIndex::with_bucket_fn(), nodes),
        "rendezvous" => build(RendezvousIndex::new(), nodes),
        "maglev" => build(MaglevTable::new(65_537).unwrap(), nodes),
        _ => unreachable!("{algo}"),
    }
}

/// `node-0` … `node-{n-1}`, weight 1: a cluster every algorithm takes.
fn unit_nodes(n: usize) -> Vec<(String, f64)> {
    (0..n).map(|i| (format!("node-{i}"), 1.0)).collect()
}

fn node_args(nodes: &[(String, f64)]) -> Vec<String> {
    nodes
        .iter()
        .flat_map(|(n, w)| ["--node".to_string(), format!("{n}={w}")])
        .collect()
}

fn run(args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ringroute(&args, b"");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn route_every_algorithm_gives_members_and_distinct_replicas() {
    let weighted: Vec<(String, f64)> = NODES.iter().map(|&(n, w)| (n.into(), w)).collect();
    let input: String = (0..300).map(|i| format!("user:{i}\n")).collect();
    for algo in ALGOS {
        let nodes = if algo.starts_with("jump") {
            unit_nodes(5)
        } else {
            weighted.clone()
        };
        let names: HashSet<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
        let lib = library(algo, &nodes);
        let mut args = vec!["route", "--algo", algo, "-n", "3"];
        let extra = node_args(&nodes);
        args.extend(extra.iter().map(String::as_str));
        let out = ringroute(&args, input.as_bytes());
        assert!(out.status.success(), "{algo}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 300, "{algo}");
        let mut primaries = HashSet::new();
        for (line, key) in text.lines().zip(input.lines()) {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields[0], key, "{algo}: {line}");
            let replicas = &fields[1..];
            assert_eq!(replicas.len(), 3, "{algo}: {line}");
            assert!(replicas.iter().all(|r| names.contains(r)), "{algo}: {line}");
            let distinct: HashSet<_> = replicas.iter().collect();
            assert_eq!(distinct.len(), 3, "{algo}: replicas not distinct: {line}");
            assert_eq!(replicas, lib.replicas(key, 3), "{algo}: {line}");
            primaries.insert(replicas[0]);
        }
        assert!(primaries.len() >= 3, "{algo}: {primaries:?}");

        // Without -n, the primary alone, in the stable KEY<TAB>NODE format.
        let mut args = vec!["route", "--algo", algo];
        args.extend(extra.iter().map(String::as_str));
        args.push("user:7");
        let out = ringroute(&args, b"");
        let primary = &lib.replicas("user:7", 1)[0];
        assert_eq!(stdout(&out), format!("user:7\t{primary}\n"), "{algo}");
    }
}

#[test]
fn jump_refuses_weights_other_than_one() {
    let out = ringroute(
        &[
            "route", "--algo", "jump", "--node", "a", "--node", "b=2", "k",
        ],
        b"",
    );
    assert_error(&out, 2, "--algo jump is unweighted");
    assert!(
        stderr(&out).contains("every node needs weight 1, but \"b\" has weight 2"),
        "{}",
        stderr(&out)
    );
    let mut args = vec!["analyze", "--algo", "jump", "--keys", "100"];
    args.extend(NODE_ARGS);
    assert_error(&ringroute(&args, b""), 2, "--algo jump is unweighted");
}

#[test]
fn bad_table_size_and_fail_names_are_usage_errors() {
    let out = ringroute(
        &[
            "route",
            "--algo",
            "maglev",
            "--table-size",
            "100",
            "--node",
            "a",
            "k",
        ],
        b"",
    );
    assert_error(&out, 2, "not a prime");
    let out = ringroute(&["analyze", "--keys", "100", "--fail", "nope"], b"");
    assert_error(&out, 2, "--fail nope: no node named \"nope\"");
    let out = ringroute(
        &[
            "analyze", "--keys", "100", "--node", "a", "--node", "b", "--fail", "a", "--fail", "b",
        ],
        b"",
    );
    assert_error(&out, 2, "at least one must stay up");
}

/// The cells of the comparison row labelled `label`: ideal, then one per
/// algorithm. The table is fixed-width (`cli/src/compare.rs`): a 36-column
/// label, two spaces, a 7-column ideal, then a space and 10 columns per
/// algorithm; cells may hold a space ("1.2 ms").
fn compare_row(text: &str, label: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{text}"));
    let chars: Vec<char> = line.chars().collect();
    let cell = |from: usize, width: usize| -> String {
        chars[from.min(chars.len())..(from + width).min(chars.len())]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    };
    let mut cells = vec![cell(38, 7)];
    cells.extend((0..ALGOS.len()).map(|i| cell(45 + 11 * i + 1, 10)));
    assert_eq!(cells.len(), ALGOS.len() + 1, "{line}");
    cells
}

#[test]
fn compare_prints_every_algorithm() {
    let text = run(&["analyze", "--compare", "--keys", "20000"].map(String::from));
    let header = text
        .lines()
        .find(|l| l.trim_start().starts_with("ideal"))
        .unwrap_or_else(|| panic!("no header in:\n{text}"));
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["ideal", "ring", "jump", "jumpback", "rendezvous", "maglev"]
    );
    for algo in ALGOS {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{algo:<12}"))),
            "no {algo} line in:\n{text}"
        );
    }
    // The demo is weighted: jump is skipped, not an error.
    assert!(text.contains("jump        n/a: unweighted"), "{text}");
    assert!(text.contains("jumpback    n/a: unweighted"), "{text}");
    let only = compare_row(&text, "only the removed node's keys moved");
    assert_eq!(only, ["yes", "yes", "n/a", "n/a", "yes", "no"], "{text}");
    let extra = compare_row(&text, "others' keys moved too, max");
    assert_eq!(
        &extra[..5],
        ["0.00%", "0.00%", "n/a", "n/a", "0.00%"],
        "{text}"
    );
    assert_ne!(extra[5], "0.00%", "maglev moves a few other keys:\n{text}");
    let back = compare_row(&text, "all back when marked up again");
    assert_eq!(back, ["yes", "yes", "n/a", "n/a", "yes", "yes"], "{text}");
    for label in ["peak-to-mean, sampled", "build time", "lookup, ns per"] {
        let row = compare_row(&text, label);
        assert!(row[1..].iter().all(|c| !c.is_empty()), "{row:?}");
    }
    assert!(text.contains("rough"), "{text}");
    assert!(
        text.lines().all(|l| l.chars().count() <= 100),
        "lines wider than 100 columns:\n{text}"
    );

    // On an unweighted cluster jump runs, and memento removals are clean.
    let mut args: Vec<String> = ["analyze", "--compare", "--keys", "20000"]
        .map(String::from)
        .into();
    args.extend(node_args(&unit_nodes(8)));
    let text = run(&args);
    assert!(!text.contains("n/a"), "{text}");
    let only = compare_row(&text, "only the removed node's keys moved");
    assert_eq!(only, ["yes", "yes", "yes", "yes", "yes", "no"], "{text}");
    let moved = compare_row(&text, "moved, mean");
    assert_eq!(moved[0], "12.50%", "{text}");
}

/// The failure section: keys on the failed node, moved keys, and the
/// destination table as `name → keys`.
fn failure_section(text: &str) -> (u64, u64, HashMap<String, u64>) {
    let num = |s: &str| s.replace(',', "").parse::<u64>().unwrap();
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("FAILURE"))
        .take_while(|l| !l.is_empty())
        .collect();
    let summary = lines
        .iter()
        .find(|l| l.contains(" keys were on "))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    let words: Vec<&str> = summary.split_whitespace().collect();
    let (on, moved) = (num(words[0]), num(words[5]));
    let to = lines
        .iter()
        .skip_while(|l| !l.starts_with("went to"))
        .skip(1)
        .take_while(|l| !l.starts_with("only"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), num(f[1]))
        })
        .collect();
    (on, moved, to)
}

#[test]
fn fail_moves_only_the_failed_nodes_keys_and_all_return() {
    let nodes = unit_nodes(6);
    let keys: Vec<String> = (0..20_000).map(|i| format!("key-{i}")).collect();
    for algo in ALGOS {
        let mut args: Vec<String> = [
            "analyze", "--algo", algo, "--keys", "20000", "--fail", "node-2",
        ]
        .map(String::from)
        .into();
        args.extend(node_args(&nodes));
        let text = run(&args);
        assert!(
            text.contains(&format!("FAILURE: node-2 marked down ({algo}")),
            "{text}"
        );
        assert!(text.contains("only its keys moved: yes"), "{algo}:\n{text}");
        assert!(
            text.contains("every key back on its node: yes, all "),
            "{algo}:\n{text}"
        );

        let mut lib = library(algo, &nodes);
        let before: Vec<String> = keys.iter().map(|k| lib.replicas(k, 1).remove(0)).collect();
        lib.set_down("node-2", true);
        let mut expected: HashMap<String, u64> = HashMap::new();
        let mut on = 0;
        for (key, old) in keys.iter().zip(&before) {
            let new = lib.replicas(key, 1).remove(0);
            if old == "node-2" {
                on += 1;
                *expected.entry(new).or_default() += 1;
            } else {
                assert_eq!(&new, old, "{algo}: library moved a bystander");
            }
        }
        let (cli_on, cli_moved, cli_to) = failure_section(&text);
        assert_eq!((cli_on, cli_moved), (on, on), "{algo}:\n{text}");
        assert_eq!(cli_to, expected, "{algo}:\n{text}");
    }
}

/// The cluster spec v1 broke: 26 one-letter names. Under v2 the report
/// states that no point ties, and the exact peak-to-mean stays under 1.35.
#[test]
fn one_letter_names_tie_nothing_and_balance() {
    let nodes: Vec<(String, f64)> = (b'a'..=b'z')
        .map(|c| (char::from(c).to_string(), 1.0))
        .collect();
    let mut args: Vec<String> = ["analyze", "--keys", "20000"].map(String::from).into();
    args.extend(node_args(&nodes));
    let text = run(&args);
    assert!(text.contains("tied points: none of 4,160"), "{text}");
    assert!(!text.contains("warning"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("peak-to-mean (highest load)"))
        .expect("a balance row");
    let exact: f64 = row.split_whitespace().last().unwrap().parse().unwrap();
    assert!(exact < 1.35, "exact peak/mean {exact}:\n{text}");

    // Only the ring has points to tie (or to count).
    args.extend(["--algo", "rendezvous"].map(String::from));
    assert!(!run(&args).contains("tied points"));
}

#[test]
fn jump_on_the_demo_uses_unit_weights() {
    let text = run(&["analyze", "--algo", "jump", "--keys", "5000"].map(String::from));
    assert!(text.contains("every weight 1 for jump"), "{text}");
    assert!(
        text.contains("structure: jump with memento removals"),
        "{text}"
    );
    assert!(
        !text.contains("no: +"),
        "a memento removal moved other keys:\n{text}"
    );
}
