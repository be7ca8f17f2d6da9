//! ringroute's non-sticky pickers, and weighted random against its peers, in
//! one run, with a table of ns per pick and ratios at the end.
//!
//! Every contender picks among `n` nodes (10 and 100) weighted
//! `1 + (i % 4)`, all up unless the name says otherwise, `BATCH` picks per
//! criterion iteration, single thread.
//!
//! * `weighted`: ringroute's [`WeightedRandom`] (alias table, one wyrand
//!   draw) against `rand` 0.8's `WeightedIndex` (cumulative weights, binary
//!   search) and `weighted_rand` 0.4's `WalkerTable` (alias method, `f32`
//!   coin, two draws), both fed `rand`'s `SmallRng` (xoshiro256++), the
//!   fastest generator `rand` offers. `rand` 0.8 because `weighted_rand`
//!   is built on it. `wyrand_floor` is one draw of ringroute's [`Rng`]
//!   alone; `ringroute_10pct_down` has every tenth node down (rejection).
//! * `rotation`: [`RoundRobin`] and nginx's smooth weighted round robin
//!   ([`SmoothWeighted`], O(n) under a mutex).
//! * `p2c`: [`LeastConn`] and [`PeakEwma`] over [`NodeLoads`] holding
//!   in-flight counts 0..8 and observed latencies; `_equal` variants give
//!   every node the same weight (uniform candidates, one draw, no weights
//!   read).
//!
//! The ratio in the table is contender / reference (the first of its group):
//! above 1 means the reference is faster.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::SmallRng;
use ringroute::pick::{
    LeastConn, NodeLoads, PeakEwma, Picker, Rng, RoundRobin, SmoothWeighted, WeightedRandom,
};
use ringroute::{NodeIndex, NodeState, NodeTable};
use ringroute_bench::cputime::CpuTime;
use ringroute_bench::report::{criterion_home, measuring};
use weighted_rand::builder::{NewBuilder, WalkerTableBuilder};

/// Picks per criterion iteration.
const BATCH: usize = 1024;
const SIZES: [usize; 2] = [10, 100];
/// The `now` of EWMA picks: one second after the latencies were observed.
const NOW: Duration = Duration::from_secs(1);

fn weights(n: usize) -> Vec<f64> {
    (0..n).map(|i| 1.0 + (i % 4) as f64).collect()
}

fn table(weights: &[f64]) -> NodeTable {
    let mut t = NodeTable::new();
    for (i, w) in weights.iter().enumerate() {
        t.insert(format!("10.0.0.{i}:80").as_bytes(), *w, ())
            .expect("valid node");
    }
    t
}

/// In-flight counts 0..8 and latencies 1..5 ms, the same in every run.
fn loads(t: &NodeTable) -> NodeLoads {
    let loads = NodeLoads::for_table(t);
    let rng = Rng::new(0x10ad);
    for (i, _) in t.iter() {
        (0..rng.below(8)).for_each(|_| loads.start(i));
        let rtt = Duration::from_micros(1000 + rng.below(4000) as u64);
        loads.observe_latency(i, rtt, Duration::ZERO);
    }
    loads
}

/// `BATCH` picks, folded so none can be optimised away.
#[inline]
fn batch(mut pick: impl FnMut() -> u32) -> u32 {
    (0..BATCH).fold(0, |acc, _| acc ^ pick())
}

#[inline]
fn raw(node: Option<NodeIndex>) -> u32 {
    node.map_or(u32::MAX, NodeIndex::get)
}

fn weighted(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("weighted");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in SIZES {
        let w = weights(n);
        let t = table(&w);
        let ours = WeightedRandom::with_seed(&t, 1);
        g.bench_function(BenchmarkId::new("ringroute", n), |b| {
            b.iter(|| batch(|| raw(ours.choose(black_box(&t)))))
        });
        let mut down = t.clone();
        for i in (0..n).step_by(10) {
            down.set_state(NodeIndex::new(i as u32), NodeState::Down)
                .expect("member");
        }
        g.bench_function(BenchmarkId::new("ringroute_10pct_down", n), |b| {
            b.iter(|| batch(|| raw(ours.choose(black_box(&down)))))
        });
        let index = WeightedIndex::new(&w).expect("valid weights");
        let mut rng = SmallRng::seed_from_u64(1);
        g.bench_function(BenchmarkId::new("rand_weighted_index", n), |b| {
            b.iter(|| batch(|| black_box(&index).sample(&mut rng) as u32))
        });
        let walker =
            WalkerTableBuilder::new(&w.iter().map(|&x| x as f32).collect::<Vec<_>>()).build();
        let mut rng = SmallRng::seed_from_u64(1);
        g.bench_function(BenchmarkId::new("weighted_rand", n), |b| {
            b.iter(|| batch(|| black_box(&walker).next_rng(&mut rng) as u32))
        });
        let wy = Rng::new(1);
        g.bench_function(BenchmarkId::new("wyrand_floor", n), |b| {
            b.iter(|| batch(|| black_box(&wy).next_u64() as u32))
        });
    }
    g.finish();
}

fn rotation(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("rotation");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in SIZES {
        let t = table(&weights(n));
        let rr = RoundRobin::new(&t);
        g.bench_function(BenchmarkId::new("round_robin", n), |b| {
            b.iter(|| batch(|| raw(rr.choose(black_box(&t)))))
        });
        let swrr = SmoothWeighted::new(&t);
        g.bench_function(BenchmarkId::new("smooth_weighted", n), |b| {
            b.iter(|| batch(|| raw(swrr.choose(black_box(&t)))))
        });
    }
    g.finish();
}

fn p2c(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("p2c");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in SIZES {
        for (suffix, w) in [("", weights(n)), ("_equal", vec![1.0; n])] {
            let t = table(&w);
            let l = loads(&t);
            let lc = LeastConn::with_seed(&t, 1);
            g.bench_function(BenchmarkId::new(format!("least_conn{suffix}"), n), |b| {
                b.iter(|| batch(|| raw(lc.pick(black_box(&t), &l, NOW))))
            });
            let pe = PeakEwma::with_seed(&t, 1);
            g.bench_function(BenchmarkId::new(format!("peak_ewma{suffix}"), n), |b| {
                b.iter(|| batch(|| raw(pe.pick(black_box(&t), &l, NOW))))
            });
        }
    }
    g.finish();
}

/// A group of the table: its contenders, the first being the reference.
const TABLES: &[(&str, &[&str])] = &[
    (
        "weighted",
        &[
            "ringroute",
            "ringroute_10pct_down",
            "rand_weighted_index",
            "weighted_rand",
            "wyrand_floor",
        ],
    ),
    ("rotation", &["round_robin", "smooth_weighted"]),
    (
        "p2c",
        &[
            "least_conn",
            "least_conn_equal",
            "peak_ewma",
            "peak_ewma_equal",
        ],
    ),
];

/// ns per pick from this run's estimate (slope, else mean), if it wrote one.
fn ns_per_pick(home: &Path, group: &str, who: &str, n: usize, since: SystemTime) -> Option<f64> {
    let path = home
        .join(group)
        .join(who)
        .join(n.to_string())
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    let ns = doc["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| doc["mean"]["point_estimate"].as_f64())?;
    Some(ns / BATCH as f64)
}

fn print_table(since: SystemTime) {
    let home = criterion_home();
    println!("\nns per pick (ratio = contender / first of its group)");
    println!(
        "{:<9} {:>5} {:<22} {:>9} {:>7}",
        "group", "nodes", "contender", "ns/pick", "ratio"
    );
    for (group, who) in TABLES {
        for n in SIZES {
            let reference = ns_per_pick(&home, group, who[0], n, since);
            for c in *who {
                let Some(ns) = ns_per_pick(&home, group, c, n, since) else {
                    continue;
                };
                let ratio = reference.map_or("-".into(), |r| format!("{:.2}x", ns / r));
                println!("{group:<9} {n:>5} {c:<22} {ns:>9.2} {ratio:>7}");
            }
        }
    }
}

fn main() {
    let since = SystemTime::now();
    // The benchmarking thread's CPU time: see `ringroute_bench::cputime`.
    let mut c = Criterion::default()
        .with_measurement(CpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    weighted(&mut c);
    rotation(&mut c);
    p2c(&mut c);
    c.final_summary();
    if measuring() {
        print_table(since);
    }
}
