//! The cluster under study: its nodes, their weights and the vnode count.
//!
//! Everything a placement algorithm needs is gathered and validated here,
//! once, from `--node`, `--nodes FILE` or the built-in demo cluster, so
//! every subcommand (and any algorithm added later) starts from the same
//! checked member list, and every error can say where a node came from.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use ringroute::node::validate_weight;
use ringroute::place::ring::{DEFAULT_VNODES, MAX_POINTS, MAX_VNODES};

use crate::error::CliError;

/// The node options shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Add a node; WEIGHT defaults to 1 (split at the last '='), TIER to 0 (a primary;
    /// 1 = first backup, ...). Repeatable
    #[arg(long = "node", value_name = "NAME[=WEIGHT[@TIER]]", value_parser = parse_node_arg)]
    pub nodes: Vec<NodeArg>,

    /// Read nodes from FILE: "NAME [WEIGHT[@TIER]]" per line, '#' comments. Repeatable
    ///
    /// WEIGHT defaults to 1 and TIER to 0 (a primary; 1 = first backup, ...), '#'
    /// starts a comment anywhere on a line, blank lines are ignored, a byte-order
    /// mark at the start is dropped. Names may not hold whitespace, control
    /// characters or invisible format characters (U+200B, U+FEFF...). All files
    /// and --node options make up one cluster, in which each name may appear only
    /// once.
    #[arg(long = "nodes", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Virtual nodes (ring points) per unit of weight, for the ring
    #[arg(
        long,
        value_name = "V",
        default_value_t = DEFAULT_VNODES,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_VNODES)),
    )]
    pub vnodes: u32,
}

/// A `--node` value, already checked by clap's value parser.
#[derive(Debug, Clone)]
pub struct NodeArg {
    name: String,
    weight: f64,
    tier: u32,
    raw: String,
}

impl NodeArg {
    fn spec(&self) -> NodeSpec {
        NodeSpec {
            name: self.name.clone(),
            weight: self.weight,
            tier: self.tier,
            origin: Origin::Arg(self.raw.clone()),
        }
    }
}

/// Where a node was defined, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Arg(String),
    File { path: PathBuf, line: usize },
    Demo,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Arg(raw) => write!(f, "--node {raw}"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Demo => f.write_str("demo cluster"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub weight: f64,
    /// 0 = primary, 1 = first backup tier, ...
    pub tier: u32,
    pub origin: Origin,
}

/// A validated member list: non-empty names, valid weights, no duplicates.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub nodes: Vec<NodeSpec>,
    pub vnodes: u32,
    /// True when no node was given and the demo cluster stands in.
    pub demo: bool,
}

/// One member as a placement algorithm sees it; `id` is what it answers
/// with, so experiments can drop or add nodes and keep comparable ids.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub id: u32,
    pub name: &'a str,
    pub weight: f64,
}

/// The built-in demo: mixed weights so the analysis has something to show.
const DEMO_WEIGHTS: [f64; 10] = [1.0, 1.0, 1.0, 2.0, 2.0, 0.5, 1.0, 3.0, 1.0, 1.5];

impl ClusterArgs {
    /// Reads the node files and merges them with `--node`: files first, in
    /// the order given, then the `--node` options.
    pub fn load(&self) -> Result<ClusterSpec, CliError> {
        let mut nodes = Vec::new();
        for path in &self.files {
            let bytes = std::fs::read(path).map_err(|e| {
                CliError::runtime(format!("cannot read node file {}: {e}", path.display()))
            })?;
            nodes.extend(parse_node_file(&bytes, path)?);
        }
        nodes.extend(self.nodes.iter().map(NodeArg::spec));
        check_duplicates(&nodes)?;
        Ok(ClusterSpec {
            nodes,
            vnodes: self.vnodes,
            demo: false,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.files.is_empty()
    }
}

impl ClusterSpec {
    pub fn demo(vnodes: u32) -> Self {
        let nodes = DEMO_WEIGHTS
            .iter()
            .enumerate()
            .map(|(i, &weight)| NodeSpec {
                tier: 0,
                name: format!("cache-{:02}.demo:11211", i + 1),
                weight,
                origin: Origin::Demo,
            })
            .collect();
        ClusterSpec {
            nodes,
            vnodes,
            demo: true,
        }
    }

    /// The demo with every weight 1, for algorithms that cannot weigh nodes.
    pub fn demo_unweighted(vnodes: u32) -> Self {
        let mut demo = Self::demo(vnodes);
        for node in &mut demo.nodes {
            node.weight = 1.0;
        }
        demo
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn total_weight(&self) -> f64 {
        self.nodes.iter().map(|n| n.weight).sum()
    }

    /// For the ring: refuses a cluster of more than the ring's maximum of
    /// points, naming the node that crosses it and where it was defined
    /// (the library only knows the total).
    pub fn check_ring_points(&self, vnodes: u32) -> Result<(), CliError> {
        let mut total: u64 = 0;
        for node in &self.nodes {
            let points =
                ringroute::place::ring::points_for(vnodes, node.weight).map_or(u64::MAX, u64::from);
            total = total.saturating_add(points);
            if total > MAX_POINTS {
                return Err(CliError::usage(format!(
                    "{}: too many ring points: node \"{}\" (weight {}, {} vnodes per unit) \
                     brings the ring over its maximum of {MAX_POINTS} points",
                    node.origin,
                    node.name,
                    crate::text::weight(node.weight),
                    vnodes
                )));
            }
        }
        Ok(())
    }

    /// Every node, with its position in `nodes` as its id.
    pub fn members(&self) -> Vec<Member<'_>> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Member {
                id: i as u32,
                name: &n.name,
                weight: n.weight,
            })
            .collect()
    }
}

fn check_duplicates(nodes: &[NodeSpec]) -> Result<(), CliError> {
    let mut seen: HashMap<&str, &Origin> = HashMap::with_capacity(nodes.len());
    for node in nodes {
        if let Some(first) = seen.insert(&node.name, &node.origin) {
            return Err(CliError::usage(format!(
                "{}: duplicate node \"{}\" (first defined at {first})",
                node.origin, node.name
            )));
        }
    }
    Ok(())
}

/// Parses a weight as written by a user: a finite number greater than 0.
pub fn parse_weight(text: &str) -> Result<f64, String> {
    let weight: f64 = text
        .parse()
        .map_err(|_| format!("invalid weight \"{text}\": not a number"))?;
    // The core's own check, so the CLI never accepts what the ring refuses.
    validate_weight(weight)
        .map_err(|_| format!("invalid weight \"{text}\": must be finite and greater than 0"))
}

/// Names are printed in tab-separated output and written in whitespace-
/// separated node files, so whitespace would make them ambiguous; NUL,
/// control and invisible format characters (a stray byte-order mark, a
/// zero-width space) would make a node that looks like another but routes
/// differently. See [`ringroute::names`].
fn check_name(name: &str) -> Result<(), String> {
    ringroute::names::text_name_problem(name).map_or(Ok(()), Err)
}

/// Parses `WEIGHT[@TIER]`.
pub fn parse_weight_tier(text: &str) -> Result<(f64, u32), String> {
    match text.split_once('@') {
        None => Ok((parse_weight(text)?, 0)),
        Some((weight, tier)) => {
            let tier = tier.parse().map_err(|_| {
                format!("invalid tier \"{tier}\": must be a whole number from 0 (primary) up")
            })?;
            Ok((parse_weight(weight)?, tier))
        }
    }
}

/// clap value parser for `--node NAME[=WEIGHT[@TIER]]`.
fn parse_node_arg(raw: &str) -> Result<NodeArg, String> {
    // Text pasted from a file that began with a byte-order mark.
    let raw = ringroute::names::strip_bom(raw);
    // The last '=' so that names may contain '=' when a weight is given.
    let (name, (weight, tier)) = match raw.rsplit_once('=') {
        Some((name, weight)) => (name, parse_weight_tier(weight)?),
        None => (raw, (1.0, 0)),
    };
    check_name(name)?;
    Ok(NodeArg {
        name: name.to_string(),
        weight,
        tier,
        raw: raw.to_string(),
    })
}

/// Parses a node file: one `NAME [WEIGHT[@TIER]]` per line, `#` to end of line is
/// a comment, blank lines are skipped. Errors read `FILE:LINE: message`.
pub fn parse_node_file(bytes: &[u8], path: &Path) -> Result<Vec<NodeSpec>, CliError> {
    let at = |line: usize, msg: &str| CliError::usage(format!("{}:{line}: {msg}", path.display()));
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        at(line, "not valid UTF-8")
    })?;
    // Editors on some systems start UTF-8 files with a byte-order mark.
    let text = ringroute::names::strip_bom(text);
    let mut nodes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let content = line.split_once('#').map_or(line, |(before, _)| before);
        let fields: Vec<&str> = content.split_whitespace().collect();
        let (name, (weight, tier)) = match fields[..] {
            [] => continue,
            [name] => (name, (1.0, 0)),
            [name, weight] => (
                name,
                parse_weight_tier(weight).map_err(|m| at(line_no, &m))?,
            ),
            _ => {
                return Err(at(
                    line_no,
                    &format!(
                        "expected \"NAME [WEIGHT[@TIER]]\", found {} fields",
                        fields.len()
                    ),
                ));
            }
        };
        check_name(name).map_err(|m| at(line_no, &m))?;
        nodes.push(NodeSpec {
            name: name.to_string(),
            weight,
            tier,
            origin: Origin::File {
                path: path.to_path_buf(),
                line: line_no,
            },
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, f64)>, String> {
        parse_node_file(text.as_bytes(), Path::new("nodes.txt"))
            .map(|nodes| nodes.into_iter().map(|n| (n.name, n.weight)).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn names_weights_comments_and_blank_lines() {
        let text = "# cluster\n\na 2\n  b   # default weight\nc 0.5# tight comment\r\n\t\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                ("a".to_string(), 2.0),
                ("b".to_string(), 1.0),
                ("c".to_string(), 0.5)
            ]
        );
    }

    #[test]
    fn records_the_line_of_each_node() {
        let nodes = parse_node_file(b"\n# x\nalpha 3\n", Path::new("n.txt")).unwrap();
        assert_eq!(
            nodes[0].origin,
            Origin::File {
                path: PathBuf::from("n.txt"),
                line: 3
            }
        );
    }

    #[test]
    fn bad_weights_name_file_and_line() {
        assert_eq!(
            parse("a 1\nb 2\nc abc\n").unwrap_err(),
            "nodes.txt:3: invalid weight \"abc\": not a number"
        );
        for bad in ["0", "-1", "NaN", "inf", "-inf", "1e999"] {
            let err = parse(&format!("a {bad}")).unwrap_err();
            assert_eq!(
                err,
                format!("nodes.txt:1: invalid weight \"{bad}\": must be finite and greater than 0")
            );
        }
    }

    #[test]
    fn too_many_fields_and_bad_utf8() {
        assert_eq!(
            parse("a 1 extra").unwrap_err(),
            "nodes.txt:1: expected \"NAME [WEIGHT[@TIER]]\", found 3 fields"
        );
        let err = parse_node_file(b"a\nb\n\xff\n", Path::new("nodes.txt")).unwrap_err();
        assert_eq!(err.to_string(), "nodes.txt:3: not valid UTF-8");
    }

    #[test]
    fn empty_file_has_no_nodes() {
        assert_eq!(parse("# nothing\n\n").unwrap(), vec![]);
    }

    #[test]
    fn node_arg_weight_and_name_rules() {
        let a = parse_node_arg("x=y=2.5").unwrap();
        assert_eq!((a.name.as_str(), a.weight), ("x=y", 2.5));
        assert_eq!(parse_node_arg("solo").unwrap().weight, 1.0);
        assert!(
            parse_node_arg("=2")
                .unwrap_err()
                .contains("empty node name")
        );
        assert!(parse_node_arg("a b=2").unwrap_err().contains("whitespace"));
        assert!(
            parse_node_arg("a=0")
                .unwrap_err()
                .contains("invalid weight \"0\"")
        );
        assert!(
            parse_node_arg("a=")
                .unwrap_err()
                .contains("invalid weight \"\"")
        );
    }

    #[test]
    fn duplicates_name_both_places() {
        let mut nodes = parse_node_file(b"b\na\n", Path::new("f.txt")).unwrap();
        nodes.push(parse_node_arg("a=2").unwrap().spec());
        let err = check_duplicates(&nodes).unwrap_err().to_string();
        assert_eq!(
            err,
            "--node a=2: duplicate node \"a\" (first defined at f.txt:2)"
        );
    }

    #[test]
    fn demo_cluster_is_valid() {
        let demo = ClusterSpec::demo(DEFAULT_VNODES);
        assert_eq!(demo.len(), 10);
        assert_eq!(demo.total_weight(), 14.0);
        assert!(check_duplicates(&demo.nodes).is_ok());
        assert_eq!(demo.nodes[0].name, "cache-01.demo:11211");
    }
}
