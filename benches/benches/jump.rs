//! ringroute's jump placement against its peers, in one run, with a ratio
//! table at the end.
//!
//! Every contender routes the same 16-byte keys over 1000 buckets, and every
//! one hashes the key with `xxh3_64` (seed 0) inside the timed loop:
//!
//! * `ringroute_jump`: [`ringroute::place::jump::Jump`]`::route`, the whole lookup a
//!   caller makes: key hash, jump, the memento check and the health check.
//! * `ringroute_memento_10pct`: the same after removing 100 nodes from the
//!   middle (every node `i` with `i % 10 == 5`), so a tenth of the keys walk
//!   memento's replacements.
//! * `ringroute_jump_hash`: [`ringroute::place::jump::jump_hash`] alone.
//! * `ringroute_jumpback`: [`ringroute::place::jumpback::JumpBack`]`::route`
//!   (JumpBackHash with memento, nothing removed); `ringroute_jumpback_hash`:
//!   [`ringroute::place::jumpback::jumpback_hash`] alone; `jump_back_hash` 0.1: the
//!   crate's `bucket`, fed SplitMix64 seeded with the same key hash (the same
//!   answers, checked).
//! * `jump_consistent_hash` 0.1: `jump_consistent_hash::hash`, fed the same
//!   key hash.
//! * `jumphash` 0.1: its `CustomJumpHasher` over [`Xxh3OneShot`], so the key
//!   hashes to exactly `xxh3_64(key)`.
//! * `anchorhash` 0.2: AnchorHash (capacity 1000, 1000 resources) through
//!   [`Xxh3Build`], and `anchorhash_10pct` after removing the same 100.
//! * `xxh3_key`: `xxh3_64(key)` alone, the floor of them all.
//!
//! Groups: `jump_lookup` (independent keys) and `jump_latency` (each key
//! depends on the previous answer), then `jump_ops` (removing a middle node
//! from, and adding one to, a fresh copy of the 1000-node cluster).
//!
//! `main` runs the groups, lets criterion print its summary, then reads the
//! files this run wrote and prints, per operation, criterion's estimate and
//! the fastest sample (the least disturbed one on a busy machine), each with
//! its ratio to `ringroute_jump`.

use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use jumphash::CustomJumpHasher;
use ringroute::NodeIndex;
use ringroute::place::jump::{Jump, jump_hash};
use ringroute::place::jumpback::{JumpBack, jumpback_hash};
use ringroute_bench::cputime::CpuTime;
use ringroute_bench::fixtures::{KEYS, Key, Xxh3Build, Xxh3OneShot, keys, name, walk};
use ringroute_bench::report::{criterion_home, measuring};
use xxhash_rust::xxh3::xxh3_64;

/// Buckets (nodes) of every contender.
const NODES: usize = 1000;

const RR_JUMP: &str = "ringroute_jump";
const RR_MEMENTO: &str = "ringroute_memento_10pct";
const RR_JUMP_HASH: &str = "ringroute_jump_hash";
const JCH: &str = "jump_consistent_hash";
const JUMPHASH: &str = "jumphash";
const ANCHOR: &str = "anchorhash";
const ANCHOR_10: &str = "anchorhash_10pct";
const XXH3: &str = "xxh3_key";
const RR_JUMPBACK: &str = "ringroute_jumpback";
const RR_JUMPBACK_HASH: &str = "ringroute_jumpback_hash";
const JBH: &str = "jump_back_hash";

const LOOKUP_CONTENDERS: &[&str] = &[
    RR_JUMP,
    RR_MEMENTO,
    RR_JUMP_HASH,
    RR_JUMPBACK,
    RR_JUMPBACK_HASH,
    JBH,
    JCH,
    JUMPHASH,
    ANCHOR,
    ANCHOR_10,
    XXH3,
];

/// The nodes removed "from the middle": a tenth, none of them the last.
fn removed() -> impl Iterator<Item = usize> {
    (0..NODES).filter(|i| i % 10 == 5)
}

type Anchor = anchorhash::AnchorHash<Key, u32, Xxh3Build>;

/// The `jump-back-hash` crate's random source: SplitMix64 seeded with the
/// key hash, the source ringroute's JumpBackHash documents.
struct SplitMix64(u64);

impl rand_core::RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

struct Fixture {
    jumpback: JumpBack,
    jump: Jump,
    memento: Jump,
    jumphash: CustomJumpHasher<Xxh3OneShot>,
    anchor: Anchor,
    anchor_10: Anchor,
}

fn build_jump() -> Jump {
    let mut c = Jump::new();
    for i in 0..NODES {
        c.add(&name(i), 1.0).expect("new node");
    }
    c
}

fn build_anchor() -> Anchor {
    anchorhash::Builder::with_hasher(Xxh3Build)
        .with_resources(0..NODES as u32)
        .build(NODES as u16)
}

fn fixture() -> &'static Fixture {
    static CELL: OnceLock<Fixture> = OnceLock::new();
    CELL.get_or_init(|| {
        let jump = build_jump();
        let mut memento = jump.clone();
        let mut anchor_10 = build_anchor();
        for i in removed() {
            memento.remove(&name(i)).expect("member");
            anchor_10
                .remove_resource(&(i as u32))
                .expect("anchor member");
        }
        let mut jumpback = JumpBack::new();
        for i in 0..NODES {
            jumpback.add(&name(i), 1.0).expect("new node");
        }
        let f = Fixture {
            jumpback,
            jump,
            memento,
            jumphash: CustomJumpHasher::new(Xxh3OneShot(0)),
            anchor: build_anchor(),
            anchor_10,
        };
        // Same hash, same function: the jump contenders must agree on every
        // key (ringroute's node `i` is bucket `i`: added in order).
        assert_eq!(f.memento.len(), NODES - NODES / 10);
        assert_eq!(f.memento.placement().removed().len(), NODES / 10);
        for k in keys() {
            let h = xxh3_64(&k.0);
            let bucket = jump_hash(h, NODES as u32);
            assert_eq!(f.jump.route(k), Some(NodeIndex::new(bucket)));
            assert_eq!(jump_consistent_hash::hash(h, NODES), bucket);
            let back = jumpback_hash(h, NODES as u32);
            assert_eq!(f.jumpback.route(k), Some(NodeIndex::new(back)));
            assert_eq!(
                jump_back_hash::bucket(&mut SplitMix64(h), NODES as u32),
                back
            );
            assert_eq!(f.jumphash.slot(k, NODES as u32), bucket);
            // Memento moved only the removed nodes' keys, onto kept nodes.
            let m = f.memento.route(k).expect("nodes are up").get();
            assert!(m % 10 != 5);
            assert!(bucket % 10 == 5 || m == bucket);
            assert!(f.anchor.get_resource(*k).is_some());
            assert!(f.anchor_10.get_resource(*k).is_some_and(|r| r % 10 != 5));
        }
        f
    })
}

#[inline]
fn route_jump(c: &Jump, key: &Key) -> u32 {
    c.route(key).map_or(0, NodeIndex::get)
}

#[inline]
fn route_anchor(a: &Anchor, key: &Key) -> u32 {
    a.get_resource(*key).copied().unwrap_or(0)
}

fn per_key_group<const DEPENDENT: bool>(c: &mut Criterion<CpuTime>, group: &str) {
    let keys = keys();
    let f = fixture();
    let n = NODES;
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function(BenchmarkId::new(RR_JUMP, n), |b| {
        b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_jump(&f.jump, k)))
    });
    g.bench_function(BenchmarkId::new(RR_MEMENTO, n), |b| {
        b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_jump(&f.memento, k)))
    });
    g.bench_function(BenchmarkId::new(RR_JUMP_HASH, n), |b| {
        b.iter(|| {
            walk::<DEPENDENT, _>(black_box(keys), |k| {
                jump_hash(xxh3_64(&k.0), black_box(NODES as u32))
            })
        })
    });
    g.bench_function(BenchmarkId::new(RR_JUMPBACK, n), |b| {
        b.iter(|| {
            walk::<DEPENDENT, _>(black_box(keys), |k| {
                f.jumpback.route(k).map_or(0, NodeIndex::get)
            })
        })
    });
    g.bench_function(BenchmarkId::new(RR_JUMPBACK_HASH, n), |b| {
        b.iter(|| {
            walk::<DEPENDENT, _>(black_box(keys), |k| {
                jumpback_hash(xxh3_64(&k.0), black_box(NODES as u32))
            })
        })
    });
    g.bench_function(BenchmarkId::new(JBH, n), |b| {
        b.iter(|| {
            walk::<DEPENDENT, _>(black_box(keys), |k| {
                jump_back_hash::bucket(&mut SplitMix64(xxh3_64(&k.0)), black_box(NODES as u32))
            })
        })
    });
    g.bench_function(BenchmarkId::new(JCH, n), |b| {
        b.iter(|| {
            walk::<DEPENDENT, _>(black_box(keys), |k| {
                jump_consistent_hash::hash(xxh3_64(&k.0), black_box(NODES))
            })
        })
    });
    g.bench_function(BenchmarkId::new(JUMPHASH, n), |b| {
        b.iter(|| {
            walk::<DEPENDENT, _>(black_box(keys), |k| {
                f.jumphash.slot(k, black_box(NODES as u32))
            })
        })
    });
    g.bench_function(BenchmarkId::new(ANCHOR, n), |b| {
        b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_anchor(&f.anchor, k)))
    });
    g.bench_function(BenchmarkId::new(ANCHOR_10, n), |b| {
        b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_anchor(&f.anchor_10, k)))
    });
    g.bench_function(BenchmarkId::new(XXH3, n), |b| {
        b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| xxh3_64(&k.0) as u32))
    });
    g.finish();
}

fn lookup(c: &mut Criterion<CpuTime>) {
    per_key_group::<false>(c, "jump_lookup");
}

fn latency(c: &mut Criterion<CpuTime>) {
    per_key_group::<true>(c, "jump_latency");
}

/// One change to a fresh copy of the 1000-node cluster (the copy is not
/// timed): `remove` node 500, `add` a 1001st node.
fn ops(c: &mut Criterion<CpuTime>) {
    let f = fixture();
    let middle = name(NODES / 2);
    let added = name(NODES);
    let per = BatchSize::PerIteration;
    let mut g = c.benchmark_group("jump_ops");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.bench_function(BenchmarkId::new(RR_JUMP, "remove"), |b| {
        b.iter_batched(
            || f.jump.clone(),
            |mut j| {
                j.remove(&middle).expect("member");
                j
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(RR_JUMP, "add"), |b| {
        b.iter_batched(
            || f.jump.clone(),
            |mut j| {
                j.add(&added, 1.0).expect("new node");
                j
            },
            per,
        )
    });
    // AnchorHash needs spare capacity to add: build it with 1001.
    let roomy = anchorhash::Builder::with_hasher(Xxh3Build)
        .with_resources(0..NODES as u32)
        .build::<Key>(NODES as u16 + 1);
    g.bench_function(BenchmarkId::new(ANCHOR, "remove"), |b| {
        b.iter_batched(
            || roomy.clone(),
            |mut a| {
                a.remove_resource(&(NODES as u32 / 2)).expect("member");
                a
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(ANCHOR, "add"), |b| {
        b.iter_batched(
            || roomy.clone(),
            |mut a| {
                a.add_resource(NODES as u32).expect("capacity");
                a
            },
            per,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // The benchmarking thread's CPU time: see `ringroute_bench::cputime`.
    config = Criterion::default().with_measurement(CpuTime);
    targets = lookup, latency, ops
}

/// A group of the ratio table: its contenders (the first is the reference),
/// its parameters, and how many operations one iteration performs.
struct Table {
    group: &'static str,
    contenders: &'static [&'static str],
    params: &'static [&'static str],
    ops_per_iter: f64,
}

const TABLES: &[Table] = &[
    Table {
        group: "jump_lookup",
        contenders: LOOKUP_CONTENDERS,
        params: &["1000"],
        ops_per_iter: KEYS as f64,
    },
    Table {
        group: "jump_latency",
        contenders: LOOKUP_CONTENDERS,
        params: &["1000"],
        ops_per_iter: KEYS as f64,
    },
    Table {
        group: "jump_ops",
        contenders: &[RR_JUMP, ANCHOR],
        params: &["remove", "add"],
        ops_per_iter: 1.0,
    },
];

/// Criterion's headline time per iteration in ns (the slope when it has one,
/// else the mean), if this run wrote the estimate (not an older run).
fn estimate_ns(
    home: &Path,
    group: &str,
    contender: &str,
    param: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = home
        .join(group)
        .join(contender)
        .join(param)
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

/// The fastest sample of this run, in ns per iteration: on a shared machine
/// the least disturbed sample is the better estimate of what the code costs,
/// so it is printed beside criterion's headline number.
fn best_sample_ns(
    home: &Path,
    group: &str,
    contender: &str,
    param: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = home
        .join(group)
        .join(contender)
        .join(param)
        .join("new")
        .join("sample.json");
    let written = std::fs::metadata(&path).ok()?.modified().ok()?;
    if written < since {
        return None;
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    let iters = doc["iters"].as_array()?;
    let times = doc["times"].as_array()?;
    iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
        .min_by(f64::total_cmp)
}

fn print_table(since: SystemTime) {
    let home = criterion_home();
    println!();
    println!("ratio table (ratio = contender / {RR_JUMP}; > 1 means ringroute is faster)");
    println!("criterion data: {}", home.display());
    println!(
        "{:<13} {:<7} {:<24} {:>10} {:>7} {:>10} {:>7}",
        "group", "param", "contender", "ns/op", "ratio", "best ns/op", "ratio"
    );
    let mut printed = 0;
    for t in TABLES {
        for param in t.params {
            let per_op = |ns: f64| ns / t.ops_per_iter;
            let rows: Vec<(Option<f64>, Option<f64>)> = t
                .contenders
                .iter()
                .map(|c| {
                    (
                        estimate_ns(&home, t.group, c, param, since).map(per_op),
                        best_sample_ns(&home, t.group, c, param, since).map(per_op),
                    )
                })
                .collect();
            let (reference, best_reference) = rows[0];
            let ratio =
                |ns: f64, r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.2}x", ns / r));
            for (c, &(time, best)) in t.contenders.iter().zip(&rows) {
                let Some(ns) = time else { continue };
                let best = best.map_or(("-".to_string(), "-".to_string()), |b| {
                    (format!("{b:.2}"), ratio(b, best_reference))
                });
                println!(
                    "{:<13} {:<7} {:<24} {:>10.2} {:>7} {:>10} {:>7}",
                    t.group,
                    param,
                    c,
                    ns,
                    ratio(ns, reference),
                    best.0,
                    best.1
                );
                printed += 1;
            }
        }
    }
    if printed == 0 {
        println!("(no estimates written by this run: filtered out?)");
    }
}

fn main() {
    let since = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        print_table(since);
    }
    let f = fixture();
    println!(
        "ringroute jump index memory at {NODES} nodes: {} bytes; after removing {}: {} bytes",
        f.jump.placement().memory_bytes(),
        NODES / 10,
        f.memento.placement().memory_bytes()
    );
}
