//! `ringroute route --compat NAME` and `ringroute analyze --from --to`: the
//! binary places keys exactly as the library's compatibility modes do.

use std::process::{Command, Output};

use ringroute::place::compat::{Libmemcached, Mode, Twemproxy};
use ringroute::router::{Algorithm, Router};

fn ringroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringroute"))
        .args(args)
        .output()
        .expect("run ringroute")
}

const NODES: [(&str, f64); 4] = [
    ("10.0.0.1:11211", 1.0),
    ("10.0.0.2:11212", 3.0),
    ("10.0.0.3:11211", 2.0),
    ("cache-4:11213", 1.0),
];

fn expected(mode: Mode, keys: &[String]) -> String {
    let mut b = Router::<()>::builder().algorithm(Algorithm::Compat(mode));
    for (n, w) in NODES {
        b = b.node(n, w);
    }
    let r = b.build().unwrap();
    let s = r.snapshot();
    keys.iter()
        .map(|k| {
            let node = s.node(s.route(k).unwrap()).unwrap();
            format!("{k}\t{}\n", node.name_lossy())
        })
        .collect()
}

fn node_args() -> Vec<String> {
    NODES
        .iter()
        .flat_map(|(n, w)| ["--node".to_owned(), format!("{n}={w}")])
        .collect()
}

#[test]
fn route_compat_matches_the_library() {
    let keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    let cases = [
        (
            vec!["libmemcached"],
            Mode::Libmemcached(Libmemcached::weighted()),
        ),
        (
            vec!["twemproxy", "--hash", "md5", "--hash-tag", "{}"],
            Mode::Twemproxy(Twemproxy {
                hash: ringroute::place::compat::HashKind::Md5,
                hash_tag: Some(*b"{}"),
            }),
        ),
        (vec!["nginx"], Mode::Nginx),
        (
            vec!["envoy-ring-hash"],
            Mode::from_name("envoy-ring-hash").unwrap(),
        ),
        (
            vec!["grpc-ring-hash"],
            Mode::from_name("grpc-ring-hash").unwrap(),
        ),
        (
            vec!["envoy-maglev"],
            Mode::from_name("envoy-maglev").unwrap(),
        ),
        (vec!["uhashring"], Mode::from_name("uhashring").unwrap()),
    ];
    for (opts, mode) in cases {
        let mut args = vec!["route".to_owned(), "--compat".to_owned()];
        args.extend(opts.iter().map(|s| s.to_string()));
        args.extend(node_args());
        args.extend(keys.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ringroute(&refs);
        assert!(
            out.status.success(),
            "{opts:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected(mode, &keys),
            "{opts:?}"
        );
    }
}

#[test]
fn bad_compat_input_is_a_usage_error() {
    let out = ringroute(&["route", "--compat", "memcache", "--node", "a:1", "k"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ringroute(&[
        "route",
        "--compat",
        "libmemcached",
        "--node",
        "a:1=1.5",
        "k",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1.5"));
    let out = ringroute(&[
        "route",
        "--compat",
        "twemproxy",
        "--hash-tag",
        "{",
        "--node",
        "a",
        "k",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn jump_variants_differ_on_the_documented_key() {
    let mut args = vec!["route".to_owned(), "--compat".to_owned(), String::new()];
    for i in 0..10_000 {
        args.push("--node".into());
        args.push(format!("n{i}"));
    }
    args.push("17383871170317656123".into());
    for (name, want) in [("go-jump", "n8191"), ("guava-jump", "n8192")] {
        args[2] = name.into();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ringroute(&refs);
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("17383871170317656123\t{want}\n")
        );
    }
}

#[test]
fn analyze_from_to_reports_moved_keys() {
    let mut args: Vec<String> = [
        "analyze",
        "--from",
        "libmemcached",
        "--to",
        "libmemcached",
        "--keys",
        "2000",
    ]
    .map(String::from)
    .to_vec();
    args.extend(node_args());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = String::from_utf8(ringroute(&refs).stdout).unwrap();
    assert!(text.contains("0 of 2,000 keys move (0.00%)"), "{text}");
    args[4] = "ring".into();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = String::from_utf8(ringroute(&refs).stdout).unwrap();
    assert!(
        text.starts_with("Migration from libmemcached to ring: "),
        "{text}"
    );
    assert!(!text.contains("keys move (0.00%)"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(":1121")).count(),
        NODES.len()
    );
}
