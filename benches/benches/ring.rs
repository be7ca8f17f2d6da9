//! ringroute against its peers, in one run, with a ratio table at the end.
//!
//! Contenders (all fed the same 16-byte keys and the same node names
//! `10.0.{i/256}.{i%256}:11211`, 160 virtual nodes per node):
//!
//! * `ringroute`: [`ringroute::Ring`]. Key hash `xxh3_64(key)`, point `j` of a
//!   node is `xxh3_64(name ‖ le32(j))` (the native ring spec v2).
//! * `consistent_hash_ring` 0.8: its `RingBuilder::vnodes(160)`. It hashes
//!   through a `BuildHasher` of our choice, so it gets [`Xxh3Build`]: the key
//!   hashes to exactly `xxh3_64(key)`, a node to `xxh3_64(name)` and each
//!   further vnode to `xxh3` of the previous vnode's hash (its own scheme).
//! * `hashring` 0.3: no vnode setting, so each node is added as 160
//!   [`VNode`]s. It also hashes through our [`Xxh3Build`]: the key hashes to
//!   exactly `xxh3_64(key)`, a vnode to `xxh3_64(name ++ j.to_le_bytes())`
//!   (one hash per point, like ringroute).
//! * `split_pp`: the strongest simple ring, the baseline: `xxh3_64` +
//!   `partition_point` over a sorted `Vec<u64>` of points, the owners in a
//!   separate `Vec<u32>`, with ringroute's exact points.
//! * `plain`: the textbook ring written here, `xxh3_64` + a sorted
//!   `Vec<(u64, u32)>` + `partition_point`, with ringroute's exact points.
//! * `xxh3_key`: `xxh3_64(key)` alone, the floor of any hash ring.
//!
//! Groups: `tput_hot` / `tput_cold` (independent keys, the 1 MiB hot set or
//! the 32 MiB cold set), `lat_hot` / `lat_cold` (each key depends on the
//! previous answer), `route_hash` (random `u64` hashes: the structure
//! alone), `build` (1000 nodes from scratch), `ops` (one change to the
//! 1000-node ring), `replicas` (three distinct nodes per key), and
//! `batch_hot` / `batch_cold` (ringroute alone: `route_many` over the whole
//! set against single-key `route`). See `benches/README.md`.
//!
//! `main` is our own: it runs the groups, lets criterion print its summary,
//! then reads criterion's `estimates.json` files written by this run and
//! prints ns per operation and the ratio of each peer to ringroute.

use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use ringroute::hash::point_hash;
use ringroute::{NodeIndex, Ring};
use ringroute_bench::cputime::CpuTime;
use ringroute_bench::fixtures::{
    KEYS, Key, Xxh3Build, cold_keys, hashes, independent, keys, name, walk,
};
use ringroute_bench::report::{criterion_home, human, measuring};
use xxhash_rust::xxh3::xxh3_64;

/// Virtual nodes per node, for every contender.
const VNODES: u32 = 160;
/// Ring sizes of the lookup groups (16,000 and 160,000 points).
const SIZES: [usize; 2] = [100, 1000];
/// The ring the build and ops groups work on.
const BIG: usize = 1000;
/// Names made: the rings' nodes plus the one the `add` op brings.
const NAMES: usize = BIG + 1;

// Contender names, also criterion's function ids and so directory names.
const RINGROUTE: &str = "ringroute";
const CHR: &str = "consistent_hash_ring";
const HASHRING: &str = "hashring";
const PLAIN: &str = "plain";
const SPLIT: &str = "split_pp";
const XXH3: &str = "xxh3_key";
/// `Ring::route_many` (the batch groups; the reference there is single-key
/// `route`).
const MANY: &str = "ringroute_many";
const ROUTE_N: &str = "ringroute_route_n";
const REPLICAS: &str = "ringroute_replicas";
const CHR_REPLICAS: &str = "consistent_hash_ring_replicas";
const ROUTE_N_INTO: &str = "ringroute_route_n_into";

/// Every node name ([`name`]), made once.
fn names() -> &'static [String] {
    static NAMES_CELL: OnceLock<Vec<String>> = OnceLock::new();
    NAMES_CELL.get_or_init(|| (0..NAMES).map(name).collect())
}

/// consistent_hash_ring's node: a 4-byte index, so its ring entries stay
/// small (24 bytes), hashed as the node's name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct PeerNode(u32);

impl Hash for PeerNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(names()[self.0 as usize].as_bytes());
    }
}

/// hashring's element: one virtual node, 8 bytes, so its ring entries are 16
/// bytes like ringroute's. Hashed as `name ++ vnode.to_le_bytes()` in one write.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct VNode {
    node: u32,
    vnode: u32,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let name = names()[self.node as usize].as_bytes();
        let mut buf = [0u8; 32];
        buf[..name.len()].copy_from_slice(name);
        buf[name.len()..name.len() + 4].copy_from_slice(&self.vnode.to_le_bytes());
        state.write(&buf[..name.len() + 4]);
    }
}

type Chr = consistent_hash_ring::Ring<PeerNode, Xxh3Build>;
type HashRing = hashring::HashRing<VNode, Xxh3Build>;

/// The baseline: ringroute's points in a sorted `Vec<(point, node)>`, found
/// with `partition_point` (a binary search).
#[derive(Clone)]
struct Plain {
    points: Vec<(u64, u32)>,
}

impl Plain {
    fn node_points(node: usize, from: u32, to: u32) -> impl Iterator<Item = (u64, u32)> {
        let name = names()[node].as_bytes();
        (from..to).map(move |j| (point_hash(name, j), node as u32))
    }

    fn build(nodes: usize) -> Self {
        let mut points = Vec::with_capacity(nodes * VNODES as usize);
        for node in 0..nodes {
            points.extend(Self::node_points(node, 0, VNODES));
        }
        points.sort_unstable();
        Plain { points }
    }

    fn add_points(&mut self, node: usize, from: u32, to: u32) {
        self.points.extend(Self::node_points(node, from, to));
        self.points.sort_unstable();
    }

    fn remove(&mut self, node: usize) {
        self.points.retain(|p| p.1 != node as u32);
    }

    #[inline]
    fn route(&self, key: &[u8]) -> u32 {
        self.route_hash(xxh3_64(key))
    }

    #[inline]
    fn route_hash(&self, hash: u64) -> u32 {
        let i = self.points.partition_point(|p| p.0 < hash);
        let i = if i == self.points.len() { 0 } else { i };
        self.points[i].1
    }
}

/// The baseline peer, the strongest simple ring: [`Plain`]'s points split
/// into a sorted `Vec<u64>` (the binary search touches only those, 8 bytes
/// per probe) and the owners in a parallel `Vec<u32>`.
struct Split {
    points: Vec<u64>,
    owners: Vec<u32>,
}

impl Split {
    fn from_plain(plain: &Plain) -> Self {
        Split {
            points: plain.points.iter().map(|p| p.0).collect(),
            owners: plain.points.iter().map(|p| p.1).collect(),
        }
    }

    #[inline]
    fn route(&self, key: &[u8]) -> u32 {
        self.route_hash(xxh3_64(key))
    }

    #[inline]
    fn route_hash(&self, hash: u64) -> u32 {
        let i = self.points.partition_point(|&p| p < hash);
        let i = if i == self.points.len() { 0 } else { i };
        self.owners[i]
    }
}

fn build_ringroute(nodes: usize) -> Ring {
    names()[..nodes]
        .iter()
        .fold(Ring::builder(), |b, name| b.node(name, 1.0))
        .build()
        .expect("valid nodes")
}

fn build_chr(nodes: usize) -> Chr {
    consistent_hash_ring::RingBuilder::new(Xxh3Build)
        .vnodes(VNODES as usize)
        .nodes_iter((0..nodes as u32).map(PeerNode))
        .build()
}

fn vnodes_of(node: u32, from: u32, to: u32) -> impl Iterator<Item = VNode> {
    (from..to).map(move |vnode| VNode { node, vnode })
}

fn build_hashring(nodes: usize) -> HashRing {
    let mut ring = HashRing::with_hasher(Xxh3Build);
    ring.batch_add(
        (0..nodes as u32)
            .flat_map(|n| vnodes_of(n, 0, VNODES))
            .collect(),
    );
    ring
}

/// Every contender's ring of one size, built once and shared by the groups.
struct Fixture {
    ringroute: Ring,
    chr: Chr,
    hashring: HashRing,
    plain: Plain,
    split: Split,
}

fn fixture(nodes: usize) -> &'static Fixture {
    static CELLS: [OnceLock<Fixture>; SIZES.len()] = [OnceLock::new(), OnceLock::new()];
    let slot = SIZES
        .iter()
        .position(|&n| n == nodes)
        .expect("a known size");
    CELLS[slot].get_or_init(|| {
        let plain = Plain::build(nodes);
        let f = Fixture {
            ringroute: build_ringroute(nodes),
            chr: build_chr(nodes),
            hashring: build_hashring(nodes),
            split: Split::from_plain(&plain),
            plain,
        };
        // Same points, same answers: ringroute and the baseline must agree on
        // every key (node indices are insertion order in both).
        assert_eq!(f.ringroute.point_count(), nodes * VNODES as usize);
        assert_eq!(f.hashring.len(), nodes * VNODES as usize);
        assert_eq!(f.chr.len(), nodes);
        for k in keys() {
            assert_eq!(
                f.ringroute.route(k).map(NodeIndex::get),
                Some(f.plain.route(&k.0))
            );
            assert_eq!(f.split.route(&k.0), f.plain.route(&k.0));
        }
        f
    })
}

#[inline]
fn route_ringroute(ring: &Ring, key: &Key) -> u32 {
    ring.route(key).map_or(0, NodeIndex::get)
}

#[inline]
fn route_chr(ring: &Chr, key: &Key) -> u32 {
    ring.try_get(key).map_or(0, |n| n.0)
}

#[inline]
fn route_hashring(ring: &HashRing, key: &Key) -> u32 {
    ring.get(key).map_or(0, |v| v.node)
}

#[inline]
fn xxh3_key(key: &Key) -> u32 {
    xxh3_64(&key.0) as u32
}

/// One lookup group: every contender at every size, every key of `keys`
/// once per iteration, in storage order (throughput) or in a dependent
/// pseudo-random order (latency). Cold groups take 10 flat samples: one
/// iteration is milliseconds.
fn per_key_group<const DEPENDENT: bool>(c: &mut Criterion<CpuTime>, group: &str, keys: &[Key]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(keys.len() as u64));
    if keys.len() > KEYS {
        g.sample_size(10).sampling_mode(SamplingMode::Flat);
    }
    for &n in &SIZES {
        let f = fixture(n);
        g.bench_function(BenchmarkId::new(RINGROUTE, n), |b| {
            b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_ringroute(&f.ringroute, k)))
        });
        g.bench_function(BenchmarkId::new(SPLIT, n), |b| {
            b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| f.split.route(&k.0)))
        });
        g.bench_function(BenchmarkId::new(PLAIN, n), |b| {
            b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| f.plain.route(&k.0)))
        });
        g.bench_function(BenchmarkId::new(CHR, n), |b| {
            b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_chr(&f.chr, k)))
        });
        g.bench_function(BenchmarkId::new(HASHRING, n), |b| {
            b.iter(|| walk::<DEPENDENT, _>(black_box(keys), |k| route_hashring(&f.hashring, k)))
        });
        g.bench_function(BenchmarkId::new(XXH3, n), |b| {
            b.iter(|| walk::<DEPENDENT, _>(black_box(keys), xxh3_key))
        });
    }
    g.finish();
}

fn lookup(c: &mut Criterion<CpuTime>) {
    per_key_group::<false>(c, "tput_hot", keys());
    per_key_group::<true>(c, "lat_hot", keys());
    per_key_group::<false>(c, "tput_cold", cold_keys());
    per_key_group::<true>(c, "lat_cold", cold_keys());
    batch_group(c, "batch_hot", keys());
    batch_group(c, "batch_cold", cold_keys());
}

/// `route_many` over every key of `keys` into one answer buffer, against
/// single-key `route` over the same keys in the same order, in one group.
fn batch_group(c: &mut Criterion<CpuTime>, group: &str, keys: &[Key]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(keys.len() as u64));
    if keys.len() > KEYS {
        g.sample_size(10).sampling_mode(SamplingMode::Flat);
    }
    let mut out = vec![None; keys.len()];
    for &n in &SIZES {
        let f = fixture(n);
        g.bench_function(BenchmarkId::new(RINGROUTE, n), |b| {
            b.iter(|| walk::<false, _>(black_box(keys), |k| route_ringroute(&f.ringroute, k)))
        });
        g.bench_function(BenchmarkId::new(MANY, n), |b| {
            b.iter(|| {
                f.ringroute.route_many(black_box(keys), &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

/// The structure alone: random `u64` hashes, no key hashing, throughput.
fn route_hash(c: &mut Criterion<CpuTime>) {
    let hashes = hashes();
    let mut g = c.benchmark_group("route_hash");
    g.throughput(Throughput::Elements(hashes.len() as u64));
    for &n in &SIZES {
        let f = fixture(n);
        g.bench_function(BenchmarkId::new(RINGROUTE, n), |b| {
            b.iter(|| {
                independent(black_box(hashes), |&h| {
                    f.ringroute.route_hash(h).map_or(0, NodeIndex::get)
                })
            })
        });
        g.bench_function(BenchmarkId::new(SPLIT, n), |b| {
            b.iter(|| independent(black_box(hashes), |&h| f.split.route_hash(h)))
        });
        g.bench_function(BenchmarkId::new(PLAIN, n), |b| {
            b.iter(|| independent(black_box(hashes), |&h| f.plain.route_hash(h)))
        });
    }
    g.finish();
}

/// Building the 1000-node ring from scratch, names in hand.
fn build(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("build");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.bench_function(BenchmarkId::new(RINGROUTE, BIG), |b| {
        b.iter(|| build_ringroute(black_box(BIG)))
    });
    g.bench_function(BenchmarkId::new(HASHRING, BIG), |b| {
        b.iter(|| build_hashring(black_box(BIG)))
    });
    g.bench_function(BenchmarkId::new(PLAIN, BIG), |b| {
        b.iter(|| Plain::build(black_box(BIG)))
    });
    g.bench_function(BenchmarkId::new(SPLIT, BIG), |b| {
        b.iter(|| Split::from_plain(&Plain::build(black_box(BIG))))
    });
    g.bench_function(BenchmarkId::new(CHR, BIG), |b| {
        b.iter(|| build_chr(black_box(BIG)))
    });
    g.finish();
}

/// One change to a fresh copy of the 1000-node ring (the copy is not timed):
/// `add` a 1001st node, `remove` node 500, `set_weight` of node 500 from 1 to
/// 2 (160 more points). Peers do the nearest thing their API offers.
fn ops(c: &mut Criterion<CpuTime>) {
    let f = fixture(BIG);
    let added = &names()[BIG];
    let changed = &names()[BIG / 2];
    let mut g = c.benchmark_group("ops");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    let per = BatchSize::PerIteration;

    g.bench_function(BenchmarkId::new(RINGROUTE, "add"), |b| {
        b.iter_batched(
            || f.ringroute.clone(),
            |mut r| {
                r.add(added, 1.0).expect("new node");
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(RINGROUTE, "remove"), |b| {
        b.iter_batched(
            || f.ringroute.clone(),
            |mut r| {
                r.remove(changed).expect("member");
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(RINGROUTE, "set_weight"), |b| {
        b.iter_batched(
            || f.ringroute.clone(),
            |mut r| {
                r.set_weight(changed, 2.0).expect("member");
                r
            },
            per,
        )
    });

    g.bench_function(BenchmarkId::new(CHR, "add"), |b| {
        b.iter_batched(
            || f.chr.clone(),
            |mut r| {
                r.insert(PeerNode(BIG as u32));
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(CHR, "remove"), |b| {
        b.iter_batched(
            || f.chr.clone(),
            |mut r| {
                r.remove(&PeerNode(BIG as u32 / 2));
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(CHR, "set_weight"), |b| {
        b.iter_batched(
            || f.chr.clone(),
            |mut r| {
                r.insert_weight(PeerNode(BIG as u32 / 2), 2 * VNODES as usize);
                r
            },
            per,
        )
    });

    // hashring: a node is 160 elements; adding sorts the whole ring once,
    // removing is one binary search and Vec::remove per element.
    g.bench_function(BenchmarkId::new(HASHRING, "add"), |b| {
        b.iter_batched(
            || f.hashring.clone(),
            |mut r| {
                r.batch_add(vnodes_of(BIG as u32, 0, VNODES).collect());
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(HASHRING, "remove"), |b| {
        b.iter_batched(
            || f.hashring.clone(),
            |mut r| {
                for v in vnodes_of(BIG as u32 / 2, 0, VNODES) {
                    r.remove(&v);
                }
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(HASHRING, "set_weight"), |b| {
        b.iter_batched(
            || f.hashring.clone(),
            |mut r| {
                r.batch_add(vnodes_of(BIG as u32 / 2, VNODES, 2 * VNODES).collect());
                r
            },
            per,
        )
    });

    g.bench_function(BenchmarkId::new(PLAIN, "add"), |b| {
        b.iter_batched(
            || f.plain.clone(),
            |mut r| {
                r.add_points(BIG, 0, VNODES);
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(PLAIN, "remove"), |b| {
        b.iter_batched(
            || f.plain.clone(),
            |mut r| {
                r.remove(BIG / 2);
                r
            },
            per,
        )
    });
    g.bench_function(BenchmarkId::new(PLAIN, "set_weight"), |b| {
        b.iter_batched(
            || f.plain.clone(),
            |mut r| {
                r.add_points(BIG / 2, VNODES, 2 * VNODES);
                r
            },
            per,
        )
    });
    g.finish();
}

/// Three distinct nodes per key, `KEYS` independent keys per iteration.
/// hashring's `get_with_replicas` clones its whole ring per call, so it is
/// left out.
fn replicas(c: &mut Criterion<CpuTime>) {
    let keys = keys();
    let mut g = c.benchmark_group("replicas");
    g.throughput(Throughput::Elements(KEYS as u64));
    for &n in &SIZES {
        let f = fixture(n);
        g.bench_function(BenchmarkId::new(ROUTE_N, n), |b| {
            b.iter(|| {
                independent(black_box(keys), |k| {
                    let r = f.ringroute.route_n(k, 3);
                    r[0].get() ^ r[1].get() ^ r[2].get()
                })
            })
        });
        g.bench_function(BenchmarkId::new(ROUTE_N_INTO, n), |b| {
            b.iter(|| {
                independent(black_box(keys), |k| {
                    let mut out = [NodeIndex::new(0); 3];
                    f.ringroute.route_n_into(k, &mut out);
                    out[0].get() ^ out[1].get() ^ out[2].get()
                })
            })
        });
        g.bench_function(BenchmarkId::new(REPLICAS, n), |b| {
            b.iter(|| {
                independent(black_box(keys), |k| {
                    f.ringroute.replicas(k).take(3).fold(0, |a, i| a ^ i.get())
                })
            })
        });
        g.bench_function(BenchmarkId::new(CHR_REPLICAS, n), |b| {
            b.iter(|| {
                independent(black_box(keys), |k| {
                    f.chr.replicas(k).take(3).fold(0, |a, p| a ^ p.0)
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // CPU time of the benchmarking thread, not wall time: on this shared
    // machine the scheduler's time for other processes would dominate.
    config = Criterion::default().with_measurement(CpuTime);
    targets = lookup, route_hash, build, ops, replicas
}

/// A group of the ratio table: its contenders (the first is the reference),
/// its parameters, and how many operations one iteration performs.
struct Table {
    group: &'static str,
    contenders: &'static [&'static str],
    params: &'static [&'static str],
    ops_per_iter: fn() -> f64,
}

const PER_KEY: &[&str] = &[RINGROUTE, SPLIT, PLAIN, CHR, HASHRING, XXH3];

const TABLES: &[Table] = &[
    Table {
        group: "tput_hot",
        contenders: PER_KEY,
        params: &["100", "1000"],
        ops_per_iter: || KEYS as f64,
    },
    Table {
        group: "tput_cold",
        contenders: PER_KEY,
        params: &["100", "1000"],
        ops_per_iter: || cold_keys().len() as f64,
    },
    Table {
        group: "lat_hot",
        contenders: PER_KEY,
        params: &["100", "1000"],
        ops_per_iter: || KEYS as f64,
    },
    Table {
        group: "lat_cold",
        contenders: PER_KEY,
        params: &["100", "1000"],
        ops_per_iter: || cold_keys().len() as f64,
    },
    Table {
        group: "batch_hot",
        contenders: &[RINGROUTE, MANY],
        params: &["100", "1000"],
        ops_per_iter: || KEYS as f64,
    },
    Table {
        group: "batch_cold",
        contenders: &[RINGROUTE, MANY],
        params: &["100", "1000"],
        ops_per_iter: || cold_keys().len() as f64,
    },
    Table {
        group: "route_hash",
        contenders: &[RINGROUTE, SPLIT, PLAIN],
        params: &["100", "1000"],
        ops_per_iter: || KEYS as f64,
    },
    Table {
        group: "build",
        contenders: &[RINGROUTE, SPLIT, CHR, HASHRING, PLAIN],
        params: &["1000"],
        ops_per_iter: || 1.0,
    },
    Table {
        group: "ops",
        contenders: &[RINGROUTE, CHR, HASHRING, PLAIN],
        params: &["add", "remove", "set_weight"],
        ops_per_iter: || 1.0,
    },
    Table {
        group: "replicas",
        contenders: &[ROUTE_N, ROUTE_N_INTO, REPLICAS, CHR_REPLICAS],
        params: &["100", "1000"],
        ops_per_iter: || KEYS as f64,
    },
];

/// Criterion's estimates of one benchmark, in ns per iteration.
#[derive(Copy, Clone)]
struct Estimate {
    /// The headline figure criterion prints: the slope when it has one,
    /// else the mean.
    typical: f64,
    /// The median of the samples' per-iteration times.
    median: f64,
    /// The fastest sample's per-iteration time: on a shared machine, the
    /// figure least moved by the neighbours' work (every sample lasts many
    /// iterations, so this is not one lucky lookup).
    best: f64,
}

/// The estimates of `group/contender/param`, if this run wrote them (an
/// older run's file is ignored).
fn estimate(
    home: &Path,
    group: &str,
    contender: &str,
    param: &str,
    since: SystemTime,
) -> Option<Estimate> {
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
    let median = doc["median"]["point_estimate"].as_f64()?;
    let typical = doc["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| doc["mean"]["point_estimate"].as_f64())?;
    let samples: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_file_name("sample.json")).ok()?)
            .ok()?;
    let best = samples["iters"]
        .as_array()?
        .iter()
        .zip(samples["times"].as_array()?)
        .filter_map(|(iters, time)| Some(time.as_f64()? / iters.as_f64()?))
        .fold(f64::INFINITY, f64::min);
    Some(Estimate {
        typical,
        median,
        best,
    })
}

/// The goals set for ringroute, in ns per operation: `(group, param, goal)`.
const GOALS: &[(&str, &str, f64)] = &[
    ("tput_hot", "100", 5.0),
    ("tput_hot", "1000", 10.0),
    ("tput_cold", "100", 5.0),
    ("tput_cold", "1000", 10.0),
    ("build", "1000", 2.5e6),
];

fn print_table(since: SystemTime) {
    let home = criterion_home();
    println!();
    println!("ratio table, per operation (a key, a build, a change):");
    println!("  ns/op  criterion's headline estimate (its slope, else its mean)");
    println!("  median the median sample;  best: the fastest sample (least moved by other work)");
    println!("  ratio  contender / ringroute, on ns/op and on best (> 1: ringroute is faster)");
    println!("criterion data: {}", home.display());
    println!(
        "{:<9} {:<10} {:<30} {:>14} {:>14} {:>14} {:>11} {:>9} {:>10}  goal (on ns/op; on best)",
        "group", "param", "contender", "ns/op", "median", "best", "time/op", "ratio", "best ratio"
    );
    let mut printed = 0;
    for t in TABLES {
        for param in t.params {
            let per_op: Vec<Option<Estimate>> = t
                .contenders
                .iter()
                .map(|c| {
                    estimate(&home, t.group, c, param, since).map(|e| Estimate {
                        typical: e.typical / (t.ops_per_iter)(),
                        median: e.median / (t.ops_per_iter)(),
                        best: e.best / (t.ops_per_iter)(),
                    })
                })
                .collect();
            let reference = per_op[0];
            for (k, (c, e)) in t.contenders.iter().zip(&per_op).enumerate() {
                let Some(e) = e else { continue };
                let (ratio, best_ratio) = reference.map_or(("-".into(), "-".into()), |r| {
                    (
                        format!("{:.2}x", e.typical / r.typical),
                        format!("{:.2}x", e.best / r.best),
                    )
                });
                let goal = GOALS
                    .iter()
                    .find(|g| k == 0 && g.0 == t.group && g.1 == *param)
                    .map_or(String::new(), |g| {
                        let verdict = |ns: f64| if ns <= g.2 { "met" } else { "MISSED" };
                        format!(
                            "<= {}: {}; {}",
                            human(g.2),
                            verdict(e.typical),
                            verdict(e.best)
                        )
                    });
                println!(
                    "{:<9} {:<10} {:<30} {:>14.2} {:>14.2} {:>14.2} {:>11} {:>9} {:>10}  {goal}",
                    t.group,
                    param,
                    c,
                    e.typical,
                    e.median,
                    e.best,
                    human(e.typical),
                    ratio,
                    best_ratio
                );
                printed += 1;
            }
        }
    }
    if printed == 0 {
        println!("(no estimates written by this run: filtered out?)");
    }
}

fn print_memory() {
    for &n in &SIZES {
        let ring = &fixture(n).ringroute;
        println!(
            "ringroute index memory at {n} nodes: {} bytes for {} points = {:.2} bytes/point",
            ring.index_memory_bytes(),
            ring.point_count(),
            ring.index_memory_bytes() as f64 / ring.point_count() as f64
        );
    }
}

fn main() {
    let since = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        print_table(since);
    }
    print_memory();
}
