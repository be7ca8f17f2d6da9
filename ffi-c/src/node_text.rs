//! The node-list text of `ringroute_router_new_from_text()`: the CLI's
//! node-file format, checked line by line so that every error names its
//! line.

use std::collections::HashMap;

use ringroute::names::{strip_bom, text_name_problem};
use ringroute::node::validate_weight;
use ringroute::place::ring::{MAX_POINTS, MAX_VNODES, points_for};

use crate::config::{RINGROUTE_ALGORITHM_RING, ringroute_config};
use crate::status::{Failure, Result, ringroute_status};

/// Parses a node list in the CLI's node-file format: one `NAME [WEIGHT]`
/// per line (whitespace-separated; the weight defaults to 1 and may carry a
/// tier as `WEIGHT@TIER`, default 0), `#` starts a
/// comment that runs to the end of the line, blank lines are skipped, one
/// leading byte-order mark is dropped.
///
/// Every error names its line: a malformed line, a name with a control or
/// invisible format character (a NUL cannot occur in a C string), a bad
/// weight, a name given twice, and, for the ring of `config`, the node that
/// takes the ring over its maximum number of points.
pub(crate) fn parse_node_text<'a>(
    text: &'a str,
    config: &ringroute_config,
) -> Result<Vec<(&'a str, f64, u32)>> {
    let ring_vnodes = (config.algorithm == RINGROUTE_ALGORITHM_RING
        && (1..=MAX_VNODES).contains(&config.vnodes))
    .then_some(config.vnodes);
    let mut points: u64 = 0;
    let mut first_line: HashMap<&str, usize> = HashMap::new();
    let mut nodes = Vec::new();
    for (i, line) in strip_bom(text).lines().enumerate() {
        let line_no = i + 1;
        let at =
            |status, message: String| Failure::new(status, format!("line {line_no}: {message}"));
        let invalid = |message| at(ringroute_status::RINGROUTE_INVALID_ARGUMENT, message);
        let content = line.split_once('#').map_or(line, |(before, _)| before);
        let fields: Vec<&str> = content.split_whitespace().collect();
        let (name, weight, tier) = match fields[..] {
            [] => continue,
            [name] => (name, 1.0, 0),
            [name, weight] => {
                let (weight, tier) = match weight.split_once('@') {
                    Some((w, t)) => {
                        let tier = t.parse().map_err(|_| {
                            invalid(format!("invalid tier \"{t}\": not a whole number"))
                        })?;
                        (w, tier)
                    }
                    None => (weight, 0),
                };
                let parsed: f64 = weight
                    .parse()
                    .map_err(|_| invalid(format!("invalid weight \"{weight}\": not a number")))?;
                validate_weight(parsed).map_err(|_| {
                    at(
                        ringroute_status::RINGROUTE_INVALID_WEIGHT,
                        format!("invalid weight \"{weight}\": must be finite and greater than 0"),
                    )
                })?;
                (name, parsed, tier)
            }
            _ => {
                return Err(invalid(format!(
                    "expected \"NAME [WEIGHT]\", found {} fields",
                    fields.len()
                )));
            }
        };
        if let Some(problem) = text_name_problem(name) {
            return Err(invalid(problem));
        }
        if let Some(first) = first_line.insert(name, line_no) {
            return Err(at(
                ringroute_status::RINGROUTE_DUPLICATE_NODE,
                format!("duplicate node {name:?} (first on line {first})"),
            ));
        }
        if let Some(vnodes) = ring_vnodes {
            let own = points_for(vnodes, weight).map_or(u64::MAX, u64::from);
            points = points.saturating_add(own);
            if points > MAX_POINTS {
                return Err(at(
                    ringroute_status::RINGROUTE_LIMIT_EXCEEDED,
                    format!(
                        "too many ring points: node {name:?} (weight {weight}) brings the ring \
                         over its maximum of {MAX_POINTS} points"
                    ),
                ));
            }
        }
        nodes.push((name, weight, tier));
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed<'a> = std::result::Result<Vec<(&'a str, f64, u32)>, (ringroute_status, String)>;

    fn parse(text: &str) -> Parsed<'_> {
        parse_node_text(text, &ringroute_config::default())
            .map_err(|f| (f.status(), f.message().to_string()))
    }

    #[test]
    fn bom_is_dropped_and_invisible_names_refused() {
        assert_eq!(
            parse("\u{feff}alpha\nbeta 2\n").unwrap(),
            vec![("alpha", 1.0, 0), ("beta", 2.0, 0)]
        );
        let (status, msg) = parse("a\nb\u{200b}\n").unwrap_err();
        assert_eq!(status, ringroute_status::RINGROUTE_INVALID_ARGUMENT);
        assert!(msg.starts_with("line 2: invalid node name"), "{msg}");
        assert!(msg.contains("U+200B"), "{msg}");
        // A mark anywhere but the very start is part of a name: refused.
        assert!(parse("a\n\u{feff}b\n").unwrap_err().1.contains("U+FEFF"));
    }

    #[test]
    fn weights_and_duplicates_carry_their_line() {
        let (status, msg) = parse("a\n\nb 0\n").unwrap_err();
        assert_eq!(status, ringroute_status::RINGROUTE_INVALID_WEIGHT);
        assert_eq!(
            msg,
            "line 3: invalid weight \"0\": must be finite and greater than 0"
        );
        let (status, msg) = parse("a\nb\n# c\na 2\n").unwrap_err();
        assert_eq!(status, ringroute_status::RINGROUTE_DUPLICATE_NODE);
        assert_eq!(msg, "line 4: duplicate node \"a\" (first on line 1)");
    }

    #[test]
    fn too_many_points_names_the_node_and_line() {
        let (status, msg) = parse("small 1\nhuge 200000\nlater\n").unwrap_err();
        assert_eq!(status, ringroute_status::RINGROUTE_LIMIT_EXCEEDED);
        assert!(
            msg.starts_with("line 2: too many ring points: node \"huge\""),
            "{msg}"
        );
        // Other algorithms have no points: no such limit.
        let jump = ringroute_config {
            algorithm: crate::config::RINGROUTE_ALGORITHM_JUMP,
            ..ringroute_config::default()
        };
        assert!(parse_node_text("a\nb\n", &jump).is_ok());
    }
}
