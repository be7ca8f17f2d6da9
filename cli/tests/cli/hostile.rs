//! Hostile and careless input, end to end (issue 10): node files with a
//! byte-order mark, names with invisible characters, keys that would break
//! the `KEY<TAB>NODE` format, clusters `analyze` must not refuse when
//! `route` accepts them, and errors that say where they come from.

use super::{assert_error, ringroute, stderr, stdout, temp_file};

fn routes(args: &[&str], keys: &[&str]) -> String {
    let mut all: Vec<&str> = vec!["route"];
    all.extend_from_slice(args);
    all.extend_from_slice(keys);
    let out = ringroute(&all, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

const KEYS: [&str; 6] = ["k1", "k2", "user:42", "session-x", "", "z"];

#[test]
fn a_bom_in_a_node_file_or_argument_is_dropped() {
    let plain = routes(&["--node", "alpha", "--node", "beta=2"], &KEYS);
    let file = temp_file("bom-nodes.txt", "\u{feff}alpha\nbeta 2\n");
    let file = file.to_str().unwrap();
    assert_eq!(routes(&["--nodes", file], &KEYS), plain);
    assert_eq!(
        routes(&["--node", "\u{feff}alpha", "--node", "beta=2"], &KEYS),
        plain
    );
}

#[test]
fn invisible_and_control_characters_in_names_are_refused() {
    for (name, needle) in [
        ("al\u{200b}pha", "invisible format character (U+200B)"),
        ("alpha\u{feff}", "invisible format character (U+FEFF)"),
        ("a\u{2060}b", "invisible format character (U+2060)"),
        ("a\u{7}b", "control character (U+0007)"),
    ] {
        let out = ringroute(&["route", "--node", name, "k"], b"");
        assert_eq!(out.status.code(), Some(2), "{name:?}");
        assert!(stderr(&out).contains(needle), "{name:?}: {}", stderr(&out));
        // The name is shown escaped, never raw.
        assert!(stderr(&out).contains("\\u{"), "{}", stderr(&out));
    }
    // In a file, with the line; a NUL is called a NUL, not whitespace.
    let file = temp_file("nul-nodes.txt", "alpha\nbe\0ta\n");
    let out = ringroute(&["route", "--nodes", file.to_str().unwrap(), "k"], b"");
    assert_error(
        &out,
        2,
        "nul-nodes.txt:2: invalid node name \"be\\0ta\": contains a NUL byte",
    );
    let file = temp_file("zw-nodes.txt", "alpha\n# a comment\nbe\u{200b}ta 2\n");
    let out = ringroute(&["route", "--nodes", file.to_str().unwrap(), "k"], b"");
    assert_error(&out, 2, "zw-nodes.txt:3: invalid node name");
}

#[test]
fn keys_with_tabs_or_line_breaks_are_refused_before_any_output() {
    for (key, what) in [
        ("a\tb", "tab"),
        ("a\nb", "line feed"),
        ("a\rb", "carriage return"),
    ] {
        let out = ringroute(&["route", "--node", "alpha", "fine", key], b"");
        assert_error(&out, 2, "key argument 2 ");
        assert!(stderr(&out).contains(what), "{}", stderr(&out));
        assert!(stderr(&out).contains("KEY<TAB>NODE"), "{}", stderr(&out));
    }
    // On stdin, a tab stops the run at its line; earlier lines stand.
    let out = ringroute(&["route", "--node", "alpha"], b"one\ntw\to\nthree\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "one\talpha\n");
    assert!(stderr(&out).contains("stdin line 2: key \"tw\\to\" contains a tab"));
}

#[test]
fn analyze_skips_an_addition_the_algorithm_cannot_build() {
    let nodes = ["--node", "a", "--node", "b", "--node", "c", "--node", "d"];
    let mut route = vec!["route", "--algo", "maglev", "--table-size", "5"];
    route.extend_from_slice(&nodes);
    route.push("k");
    assert_eq!(ringroute(&route, b"").status.code(), Some(0));

    let mut analyze = vec![
        "analyze",
        "--algo",
        "maglev",
        "--table-size",
        "5",
        "--keys",
        "3000",
    ];
    analyze.extend_from_slice(&nodes);
    let out = ringroute(&analyze, b"");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        text.contains("ADDING ONE NODE: skipped, the grown cluster is not valid"),
        "{text}"
    );
    // The rest of the report stands.
    for section in ["REMOVING", "FAILURE", "KEYS PER NODE"] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
}

#[test]
fn too_many_ring_points_names_the_node_and_where_it_was_given() {
    let file = temp_file("heavy-nodes.txt", "small 1\n\nheavy 200000\nlast\n");
    let out = ringroute(&["route", "--nodes", file.to_str().unwrap(), "k"], b"");
    assert_error(
        &out,
        2,
        "heavy-nodes.txt:3: too many ring points: node \"heavy\"",
    );
    let out = ringroute(
        &[
            "analyze", "--node", "a", "--node", "b=1e6", "--vnodes", "20",
        ],
        b"",
    );
    assert_error(&out, 2, "--node b=1e6: too many ring points: node \"b\"");
}
