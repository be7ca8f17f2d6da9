//! The ratio table printed at the end of each bench binary.
//!
//! Criterion writes `<home>/<group>/<function>/<param>/new/estimates.json`;
//! we read the ones written by this run (older files are ignored, so a
//! filtered run does not print stale figures), divide by the operations one
//! iteration performs, and compare every contender with the first one.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One group of the table: its contenders (the first is the reference), the
/// parameters it ran with, and how many operations one iteration performs.
pub struct Table {
    /// Criterion group name.
    pub group: &'static str,
    /// Criterion function ids; the first is the reference (ringroute).
    pub contenders: &'static [&'static str],
    /// Criterion parameter ids.
    pub params: &'static [usize],
    /// Operations per iteration for a parameter.
    pub ops_per_iter: fn(usize) -> f64,
}

/// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else the target directory `cargo metadata` reports, else `target/criterion`
/// (the order criterion itself uses).
pub fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    let from_metadata = std::env::var_os("CARGO").and_then(|cargo| {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(PathBuf::from(doc["target_directory"].as_str()?))
    });
    match from_metadata {
        Some(target) => target.join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

/// Criterion's headline time per iteration in ns (the slope when it has one,
/// else the mean), if this run wrote the estimate.
pub fn estimate_ns(
    home: &Path,
    group: &str,
    contender: &str,
    param: usize,
    since: SystemTime,
) -> Option<f64> {
    let path = home
        .join(group)
        .join(contender)
        .join(param.to_string())
        .join("new")
        .join("estimates.json");
    let written = std::fs::metadata(&path).ok()?.modified().ok()?;
    if written < since {
        return None;
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    doc["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| doc["mean"]["point_estimate"].as_f64())
}

/// `ns` with a readable unit.
pub fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

/// Prints the ratio table for `tables` from estimates written since `since`.
pub fn print_table(tables: &[Table], since: SystemTime) {
    let home = criterion_home();
    println!();
    println!(
        "ratio table (ratio = contender ns/op / reference ns/op; > 1 means the reference is faster)"
    );
    println!("criterion data: {}", home.display());
    println!(
        "{:<22} {:<6} {:<30} {:>12} {:>11} {:>8}",
        "group", "param", "contender", "ns/op", "time/op", "ratio"
    );
    let mut printed = 0;
    for t in tables {
        for &param in t.params {
            let per_iter = (t.ops_per_iter)(param);
            let times: Vec<Option<f64>> = t
                .contenders
                .iter()
                .map(|c| estimate_ns(&home, t.group, c, param, since).map(|ns| ns / per_iter))
                .collect();
            let reference = times[0];
            for (c, time) in t.contenders.iter().zip(&times) {
                let Some(ns) = time else { continue };
                let ratio = reference.map_or("-".to_string(), |r| format!("{:.2}x", ns / r));
                println!(
                    "{:<22} {:<6} {:<30} {:>12.2} {:>11} {:>8}",
                    t.group,
                    param,
                    c,
                    ns,
                    human(*ns),
                    ratio
                );
                printed += 1;
            }
        }
    }
    if printed == 0 {
        println!("(no estimates written by this run: filtered out?)");
    }
}

/// Criterion measures (and writes estimates) only with `--bench` and none of
/// `--test`, `--list`, `--profile-time`; `cargo test --benches` passes none.
pub fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}
