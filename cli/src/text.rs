//! Small formatting helpers shared by every report, so that numbers, shares
//! and node names read the same in `analyze`, `--compare` and `--fail`.
//!
//! Reports are for people; scripts should use `route`, whose format is
//! stable.

use std::time::Duration;

/// Widest node column; longer names are cut so rows fit 100 columns.
pub const MAX_NAME: usize = 24;

/// Appends one formatted line to a `String`. Writing to a `String` cannot
/// fail, so this keeps the many report lines terse.
macro_rules! line {
    ($out:expr) => { $out.push('\n') };
    ($out:expr, $($arg:tt)*) => {{
        let out: &mut String = &mut *$out;
        let _ = ::std::fmt::Write::write_fmt(out, format_args!($($arg)*));
        out.push('\n');
    }};
}
pub(crate) use line;

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

pub fn pct(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

pub fn opt_pct(share: Option<f64>) -> String {
    share.map_or("-".to_string(), pct)
}

/// Up to three decimals, trailing zeros dropped: `1`, `0.5`, `1.333`.
pub fn weight(w: f64) -> String {
    let s = format!("{w:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

pub fn nodes(k: usize) -> String {
    if k == 1 {
        "1 node".to_string()
    } else {
        format!("{k} nodes")
    }
}

/// A build or run time with a unit that keeps three significant figures.
pub fn duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Fits each name into `width` characters. Long names in real clusters
/// usually share a long prefix (a naming scheme, a domain) and differ in a
/// few characters after it, and often end in a telling suffix (a port), so
/// a name that is too long loses the prefix all names share, then its
/// middle; names that fit are left whole.
pub fn shorten(names: &[&str], width: usize) -> Vec<String> {
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

/// Node names as tables show them: short enough for the name column, yet
/// still telling the nodes apart, plus the column width they need.
pub struct Labels {
    /// In the order the names were given.
    pub names: Vec<String>,
    pub width: usize,
}

impl Labels {
    /// `extra` names (a node added by an experiment) are shortened on their
    /// own: they need not share the members' naming scheme.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, extra: &[&str]) -> Self {
        let names: Vec<&str> = names.into_iter().collect();
        let mut labels = shorten(&names, MAX_NAME);
        for name in extra {
            labels.extend(shorten(&[name], MAX_NAME));
        }
        let width = labels
            .iter()
            .map(|l| l.chars().count())
            .chain(["node".len()])
            .max()
            .unwrap_or(0);
        Labels {
            names: labels,
            width,
        }
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
    fn durations_pick_a_unit() {
        assert_eq!(duration(Duration::from_nanos(41_700)), "42 µs");
        assert_eq!(duration(Duration::from_micros(1_340)), "1.3 ms");
        assert_eq!(duration(Duration::from_millis(2_500)), "2.50 s");
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

    #[test]
    fn labels_keep_extra_names_apart() {
        let labels = Labels::new(["a", "bb"], &["added-node"]);
        assert_eq!(labels.names, ["a", "bb", "added-node"]);
        assert_eq!(labels.width, 10);
    }
}
