//! End-to-end tests of the real `ringroute` binary: output formats, node
//! files, error messages and exit codes, and the analysis report.
//!
//! Expected placements come from the `ringroute` library itself, so these
//! tests fail if the CLI routes differently from the crate it wraps.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ringroute::Ring;

/// Tests of `--algo`, `--compare`, `--fail` and the tie warning.
#[path = "cli/algorithms.rs"]
mod algorithms;
#[path = "cli/tiers.rs"]
mod tiers;

/// Byte-order marks, invisible names, unprintable keys, skipped experiments.
#[path = "cli/hostile.rs"]
mod hostile;

fn ringroute(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringroute"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringroute");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // A writer thread, so a large stdin cannot deadlock against stdout.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for ringroute");
    writer.join().unwrap();
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// A fresh file under Cargo's per-target temp dir.
fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn ring(nodes: &[(&str, f64)]) -> Ring {
    nodes
        .iter()
        .copied()
        .collect::<ringroute::RingBuilder>()
        .build()
        .unwrap()
}

fn expected_primary(ring: &Ring, key: &str) -> String {
    ring[ring.route(key).unwrap()].name_lossy().into_owned()
}

/// `1234567` as `1,234,567`, as reports print counts.
fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Asserts a one-line error, the exit code, and no panic output.
fn assert_error(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err}"
    );
    assert!(out.stdout.is_empty(), "no stdout on error");
}

const NODES: [(&str, f64); 4] = [
    ("alpha", 1.0),
    ("beta", 2.0),
    ("gamma", 1.0),
    ("delta", 0.5),
];
const NODE_ARGS: [&str; 8] = [
    "--node",
    "alpha",
    "--node",
    "beta=2",
    "--node",
    "gamma=1",
    "--node",
    "delta=0.5",
];

#[test]
fn route_keys_from_args_one_line_each_in_order() {
    let keys: Vec<String> = (0..50).map(|i| format!("user:{i}")).collect();
    let mut args = vec!["route"];
    args.extend(NODE_ARGS);
    args.extend(keys.iter().map(String::as_str));
    let out = ringroute(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let ring = ring(&NODES);
    let expected: String = keys
        .iter()
        .map(|k| format!("{k}\t{}\n", expected_primary(&ring, k)))
        .collect();
    assert_eq!(stdout(&out), expected);
    // Weighted nodes all get some of 50 keys; guards against a constant answer.
    let distinct: std::collections::HashSet<_> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert!(distinct.len() >= 3, "{distinct:?}");
}

#[test]
fn route_keys_from_stdin_matches_args_and_keeps_empty_lines() {
    let mut args = vec!["route"];
    args.extend(NODE_ARGS);
    let out = ringroute(&args, b"a\r\nb\n\nlast-without-newline");
    assert!(out.status.success(), "{}", stderr(&out));
    let ring = ring(&NODES);
    let expected: String = ["a", "b", "", "last-without-newline"]
        .iter()
        .map(|k| format!("{k}\t{}\n", expected_primary(&ring, k)))
        .collect();
    assert_eq!(stdout(&out), expected);
}

#[test]
fn replicas_are_distinct_and_in_failover_order() {
    let mut args = vec!["route", "-n", "3"];
    args.extend(NODE_ARGS);
    let input: String = (0..200).map(|i| format!("k{i}\n")).collect();
    let out = ringroute(&args, input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let ring = ring(&NODES);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 200);
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line}");
        let replicas = &fields[1..];
        let unique: std::collections::HashSet<_> = replicas.iter().collect();
        assert_eq!(unique.len(), 3, "replicas not distinct: {line}");
        let want: Vec<String> = ring
            .route_n(fields[0], 3)
            .iter()
            .map(|&i| ring[i].name_lossy().into_owned())
            .collect();
        assert_eq!(replicas, want, "{line}");
    }
}

/// As `route_n`: more replicas than nodes gives every node, in failover
/// order, and a huge R reserves nothing.
#[test]
fn more_replicas_than_nodes_prints_every_node() {
    let ring = ring(&[("a", 1.0), ("b", 1.0)]);
    let want: Vec<String> = ring
        .route_n("k", 2)
        .iter()
        .map(|&i| ring[i].name_lossy().into_owned())
        .collect();
    for r in ["3", "4294967295"] {
        let out = ringroute(&["route", "-n", r, "--node", "a", "--node", "b", "k"], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("k\t{}\n", want.join("\t")));
    }
}

#[test]
fn version_names_the_ring_spec() {
    let out = ringroute(&["--version"], b"");
    assert!(out.status.success());
    let want = format!("native ring spec v{}", ringroute::hash::SPEC_VERSION);
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));
}

#[test]
fn node_file_with_comments_combines_with_node_options() {
    let file = temp_file(
        "combined.txt",
        concat!(
            "# production cache\n",
            "\n",
            "alpha          # weight defaults to 1\n",
            "beta 2\n",
            "   \n",
            "\tgamma 1 # trailing\n",
        ),
    );
    let keys: Vec<String> = (0..100).map(|i| format!("session-{i}")).collect();
    let mut args = vec![
        "route",
        "--nodes",
        file.to_str().unwrap(),
        "--node",
        "delta=0.5",
    ];
    args.extend(keys.iter().map(String::as_str));
    let out = ringroute(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let ring = ring(&NODES);
    let expected: String = keys
        .iter()
        .map(|k| format!("{k}\t{}\n", expected_primary(&ring, k)))
        .collect();
    assert_eq!(stdout(&out), expected);
}

#[test]
fn node_file_error_names_file_and_line() {
    let file = temp_file("nodes.txt", "a 1\n# fine\nc abc\n");
    let out = ringroute(&["route", "--nodes", file.to_str().unwrap(), "k"], b"");
    assert_error(&out, 2, "nodes.txt:3: invalid weight \"abc\"");
}

#[test]
fn invalid_weights_are_usage_errors() {
    for bad in ["0", "-1", "NaN", "inf", "abc"] {
        let node = format!("a={bad}");
        let out = ringroute(&["route", "--node", &node, "k"], b"");
        assert_error(&out, 2, &format!("invalid weight \"{bad}\""));
    }
    let file = temp_file("zero.txt", "a 1\nb 0\n");
    let out = ringroute(&["analyze", "--nodes", file.to_str().unwrap()], b"");
    assert_error(&out, 2, "zero.txt:2: invalid weight \"0\"");
}

#[test]
fn duplicate_nodes_are_usage_errors() {
    let out = ringroute(&["route", "--node", "a", "--node", "a=2", "k"], b"");
    assert_error(&out, 2, "duplicate node \"a\"");
    let file = temp_file("dup.txt", "a\nb\n");
    let out = ringroute(
        &["analyze", "--nodes", file.to_str().unwrap(), "--node", "b"],
        b"",
    );
    assert_error(&out, 2, "duplicate node \"b\" (first defined at ");
    assert!(stderr(&out).contains("dup.txt:2"), "{}", stderr(&out));
}

#[test]
fn bad_vnodes_are_usage_errors() {
    for bad in ["0", "-3", "65537", "many"] {
        let out = ringroute(&["route", "--node", "a", "--vnodes", bad, "k"], b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "--vnodes {bad}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--vnodes"), "{}", stderr(&out));
    }
}

#[test]
fn missing_node_file_is_a_runtime_error() {
    let out = ringroute(&["route", "--nodes", "/nonexistent/nodes.txt", "k"], b"");
    assert_error(&out, 1, "/nonexistent/nodes.txt");
}

#[test]
fn no_nodes_is_a_usage_error() {
    let out = ringroute(&["route", "k"], b"");
    assert_error(&out, 2, "no nodes");
    let empty = temp_file("empty.txt", "# nobody here\n");
    let out = ringroute(&["route", "--nodes", empty.to_str().unwrap(), "k"], b"");
    assert_error(&out, 2, "no nodes");
    let out = ringroute(&["analyze", "--nodes", empty.to_str().unwrap()], b"");
    assert_error(&out, 2, "no nodes");
}

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringroute"))
        .args(["route", "--node", "a", "--node", "b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..2_000_000 {
            if writeln!(input, "key-{i}").is_err() {
                break;
            }
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    writer.join().unwrap();
    assert!(status.success(), "status {status:?}, stderr: {err}");
    assert!(err.is_empty(), "stderr: {err}");
}

#[test]
fn analyze_demo_cluster_prints_every_section() {
    let out = ringroute(&["analyze"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for section in [
        "built-in demo cluster",
        "1,000,000 (key-0 … key-999999)",
        "LOAD PER NODE",
        "BALANCE",
        "peak-to-mean",
        "std deviation",
        "REMOVING ONE NODE",
        "ADDING ONE NODE: added-node with weight 1.4",
        "FAILURE",
        "lookup:",
        "KEYS PER NODE",
        "█",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }
    for i in 1..=10 {
        let name = format!("cache-{i:02}.demo:11211");
        // Load table, removal table, failure section (the failed node or a
        // destination of its keys) and chart.
        assert_eq!(text.matches(&name).count(), 4, "{name} in:\n{text}");
    }
    assert!(
        text.contains("FAILURE: cache-01.demo:11211 marked down (ring"),
        "{text}"
    );
    assert!(
        !text.contains("no: +"),
        "a removal moved other keys:\n{text}"
    );
    assert!(
        !text.contains("NO:"),
        "the failure moved other keys:\n{text}"
    );
    // Under ring spec v2 no point ties.
    assert!(!text.contains("warning"), "{text}");
    assert!(
        text.lines().all(|l| l.chars().count() <= 100),
        "lines wider than 100 columns:\n{text}"
    );
}

/// The rows of the table that follows the line starting with `title`.
fn table<'a>(text: &'a str, title: &str) -> Vec<Vec<&'a str>> {
    text.lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(2)
        .take_while(|l| !l.is_empty() && !l.starts_with("total") && !l.contains('='))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn analyze_removal_moves_only_the_removed_nodes_keys() {
    let mut args = vec!["analyze", "--keys", "10000"];
    args.extend(NODE_ARGS);
    let out = ringroute(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);

    let ring = ring(&NODES);
    let mut counts = std::collections::HashMap::new();
    for i in 0..10_000 {
        *counts
            .entry(expected_primary(&ring, &format!("key-{i}")))
            .or_insert(0u64) += 1;
    }
    let fmt = format_count;

    let loads = table(&text, "LOAD PER NODE");
    assert_eq!(loads.len(), 4, "{loads:?}");
    for row in &loads {
        assert_eq!(row[2], fmt(counts[row[0]]), "keys of {}: {row:?}", row[0]);
    }
    let removals = table(&text, "REMOVING ONE NODE");
    assert_eq!(removals.len(), 4, "{removals:?}");
    for row in &removals {
        // Moved keys equal the node's own keys, and nothing else moved.
        assert_eq!(row[1], fmt(counts[row[0]]), "{row:?}");
        assert_eq!(row.last(), Some(&"yes"), "{row:?}");
    }
    let added = table(&text, "ADDING ONE NODE");
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0][0], "added-node");
    assert_eq!(added[0].last(), Some(&"yes"), "{added:?}");
}

#[test]
fn analyze_single_node_and_name_clash() {
    let out = ringroute(
        &["analyze", "--keys", "1000", "--node", "added-node=2"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("cannot lose a node"), "{text}");
    assert!(
        text.contains("ADDING ONE NODE: added-node-2 with weight 2"),
        "{text}"
    );
}
