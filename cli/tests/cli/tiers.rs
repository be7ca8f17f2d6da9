//! Tiers end to end: `--node NAME=WEIGHT@TIER` and `WEIGHT@TIER` in node
//! files; `route` sends nothing to a backup while the primaries are up and
//! matches the library's tiered router; `analyze` shows what spills.

use ringroute::router::{Router, TierPolicy};

use super::{assert_error, ringroute, stderr, stdout, temp_file};

fn lines(out: &std::process::Output) -> Vec<String> {
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn route_keeps_backups_idle_and_matches_the_library() {
    let keys: Vec<String> = (0..300).map(|i| format!("user:{i}")).collect();
    let mut args = vec![
        "route", "--node", "p1=1", "--node", "p2=2", "--node", "b1=1@1", "-n", "3",
    ];
    args.extend(keys.iter().map(String::as_str));
    let out = ringroute(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let lib: Router = Router::builder()
        .node("p1", 1.0)
        .node("p2", 2.0)
        .node_in_tier("b1", 1.0, 1)
        .build()
        .unwrap();
    let snap = lib.snapshot();
    for (line, key) in lines(&out).iter().zip(&keys) {
        let fields: Vec<&str> = line.split('\t').collect();
        let want: Vec<String> = snap
            .route_n(key, 3)
            .iter()
            .map(|&i| snap.node(i).unwrap().name_lossy().into_owned())
            .collect();
        assert_eq!(fields[1..], want[..], "{key}");
        // Failover order: the primaries first, the backup last.
        assert_eq!(fields[3], "b1");
    }
}

#[test]
fn node_files_take_tiers() {
    let file = temp_file("tiers.txt", "p1 1\np2 1  # primary\nb1 1@1\nb2 2@2\n");
    let out = ringroute(
        &["route", "--nodes", file.to_str().unwrap(), "k1", "k2", "k3"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for line in lines(&out) {
        let node = line.split('\t').nth(1).unwrap();
        assert!(node == "p1" || node == "p2", "{line}");
    }
    let bad = temp_file("bad-tier.txt", "p1 1@x\n");
    let out = ringroute(&["route", "--nodes", bad.to_str().unwrap(), "k"], b"");
    assert_error(&out, 2, "bad-tier.txt:1: invalid tier \"x\"");
    let out = ringroute(&["route", "--node", "p1=1@-1", "k"], b"");
    assert_error(&out, 2, "invalid tier \"-1\"");
}

#[test]
fn analyze_reports_what_spills() {
    let out = ringroute(
        &[
            "analyze",
            "--keys",
            "20000",
            "--node",
            "p1=1",
            "--node",
            "p2=1",
            "--node",
            "p3=1",
            "--node",
            "p4=1",
            "--node",
            "b1=1@1",
            "--tier-policy",
            "proportional",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("TIERS: proportional"), "{text}");
    assert!(text.contains("SPILL: nodes of tier 0"), "{text}");
    assert!(text.contains("every key came back on recovery"), "{text}");
    // The rows: 0..4 of 4 down; policy column max(0, 1 - 1.4 x up share).
    let policy = TierPolicy::proportional();
    for (k, row) in text
        .lines()
        .skip_while(|l| !l.starts_with("SPILL"))
        .skip(2)
        .take(5)
        .enumerate()
    {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(f[0], k.to_string(), "{row}");
        let want = policy.shares(&[((4 - k) as f64, 4.0), (1.0, 1.0)])[1];
        assert_eq!(f[5], format!("{:.2}%", want * 100.0), "{row}");
        let spilled: f64 = f[4].trim_end_matches('%').parse().unwrap();
        assert!((spilled / 100.0 - want).abs() < 0.02, "{row}");
        assert_eq!((f[6], f[7]), ("0", "0"), "{row}");
    }
    // The usual analysis (its tables start each row with a node name)
    // covers the primaries only.
    assert!(text.lines().any(|l| l.starts_with("p1")), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("b1")), "{text}");
}
