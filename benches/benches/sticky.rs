//! Maglev and rendezvous against their peers, in one run, with a ratio table
//! at the end.
//!
//! Contenders (all fed the same 16-byte keys and the same node names
//! `10.0.{i/256}.{i%256}:11211`):
//!
//! * `ringroute`: [`ringroute::place::maglev::Maglev`] (`M = 65537`, native v1:
//!   key hash `xxh3_64(key)`, slot `(hash × M) >> 64`) and
//!   [`ringroute::place::rendezvous::Rendezvous`] (weighted, `−w / ln(u)` scores,
//!   all weights 1 here).
//! * `maglev` 0.2 (crates.io): `Maglev::with_capacity_and_hasher(nodes,
//!   65537, Xxh3Build)`. It hashes through our [`Xxh3Build`]: a lookup
//!   writes its 4-byte seed and then the key, so it costs two xxh3 calls
//!   (its own scheme); slot `hash % M`.
//! * `hrw` 0.1 (crates.io): unweighted rendezvous, `Rendezvous::
//!   from_nodes_and_hasher(nodes, Xxh3Build)`. A score hashes the key then
//!   the node's name with one hasher per node: `xxh3(name, seed =
//!   xxh3(key))`, the largest wins.
//! * `xxh3_key`: `xxh3_64(key)` alone, the floor of any of them.
//!
//! Groups: `maglev_lookup` (1000 nodes, independent keys), `maglev_build`
//! (1000 nodes from scratch, names in hand; `ringroute_fill` is the table
//! fill alone, without the node table), `rendezvous_lookup` (10, 100 and
//! 1000 nodes: rendezvous is O(n) per lookup, and this group shows it).
//!
//! `main` is our own: it runs the groups, then reads criterion's
//! `estimates.json` files written by this run and prints ns per operation
//! and the ratio of each contender to ringroute.

use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use maglev::ConsistentHasher;
use ringroute::NodeState;
use ringroute::place::maglev::{FillEntry, Maglev, MaglevTable, fill};
use ringroute::place::rendezvous::Rendezvous;
use ringroute_bench::fixtures::{KEYS, Key, Xxh3Build, independent, keys, name};
use ringroute_bench::report::{Table, measuring, print_table};
use xxhash_rust::xxh3::xxh3_64;

/// Maglev's table size, for every contender.
const M: u32 = 65_537;
/// The Maglev cluster size.
const BIG: usize = 1000;
/// Rendezvous cluster sizes.
const SIZES: [usize; 3] = [10, 100, 1000];

// Contender names, also criterion's function ids and so directory names.
const RINGROUTE: &str = "ringroute";
const FILL: &str = "ringroute_fill";
const MAGLEV: &str = "maglev";
const HRW: &str = "hrw";
const XXH3: &str = "xxh3_key";

/// Every node name ([`name`]), made once.
fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| (0..BIG).map(name).collect())
}

/// A peer's node: a 4-byte index, hashed as the node's name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PeerNode(u32);

impl Hash for PeerNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(names()[self.0 as usize].as_bytes());
    }
}

type PeerMaglev = maglev::Maglev<PeerNode, Xxh3Build>;
type PeerHrw = hrw::Rendezvous<PeerNode, Xxh3Build>;

fn build_maglev(n: usize) -> Maglev {
    let nodes = names()[..n]
        .iter()
        .map(|name| (name.as_str(), 1.0, NodeState::Up, ()));
    Maglev::from_nodes(MaglevTable::new(M).expect("prime"), nodes).expect("valid nodes")
}

fn build_peer_maglev(n: usize) -> PeerMaglev {
    PeerMaglev::with_capacity_and_hasher((0..n as u32).map(PeerNode), M as usize, Xxh3Build)
}

/// The fill alone: native permutations of the sorted names, no node table.
fn fill_only(n: usize) -> Vec<u32> {
    let mut sorted: Vec<&str> = names()[..n].iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let entries: Vec<FillEntry> = sorted
        .iter()
        .enumerate()
        .map(|(i, name)| FillEntry::native(i as u32, name.as_bytes(), 1.0, M))
        .collect();
    fill(M, &entries).expect("valid entries")
}

fn build_rendezvous(n: usize) -> Rendezvous {
    let nodes = names()[..n]
        .iter()
        .map(|name| (name.as_str(), 1.0, NodeState::Up, ()));
    Rendezvous::from_nodes(Default::default(), nodes).expect("valid nodes")
}

fn build_hrw(n: usize) -> PeerHrw {
    PeerHrw::from_nodes_and_hasher((0..n as u32).map(PeerNode), Xxh3Build)
}

struct MaglevFixture {
    ringroute: Maglev,
    peer: PeerMaglev,
}

fn maglev_fixture() -> &'static MaglevFixture {
    static CELL: OnceLock<MaglevFixture> = OnceLock::new();
    CELL.get_or_init(|| {
        let f = MaglevFixture {
            ringroute: build_maglev(BIG),
            peer: build_peer_maglev(BIG),
        };
        assert_eq!(f.ringroute.table_size(), M);
        assert_eq!(f.peer.capacity(), M as usize);
        f
    })
}

struct RendezvousFixture {
    ringroute: Rendezvous,
    peer: PeerHrw,
}

fn rendezvous_fixture(n: usize) -> &'static RendezvousFixture {
    static CELLS: [OnceLock<RendezvousFixture>; SIZES.len()] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = SIZES.iter().position(|&s| s == n).expect("a known size");
    CELLS[slot].get_or_init(|| RendezvousFixture {
        ringroute: build_rendezvous(n),
        peer: build_hrw(n),
    })
}

#[inline]
fn xxh3_key(key: &Key) -> u32 {
    xxh3_64(&key.0) as u32
}

fn maglev_lookup(c: &mut Criterion) {
    let keys = keys();
    let f = maglev_fixture();
    let mut g = c.benchmark_group("maglev_lookup");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function(BenchmarkId::new(RINGROUTE, BIG), |b| {
        b.iter(|| {
            independent(black_box(keys), |k| {
                f.ringroute.route(k).map_or(0, |i| i.get())
            })
        })
    });
    g.bench_function(BenchmarkId::new(MAGLEV, BIG), |b| {
        b.iter(|| independent(black_box(keys), |k| f.peer.get(k).map_or(0, |n| n.0)))
    });
    g.bench_function(BenchmarkId::new(XXH3, BIG), |b| {
        b.iter(|| independent(black_box(keys), xxh3_key))
    });
    g.finish();
}

fn maglev_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_build");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.bench_function(BenchmarkId::new(RINGROUTE, BIG), |b| {
        b.iter(|| build_maglev(black_box(BIG)))
    });
    g.bench_function(BenchmarkId::new(FILL, BIG), |b| {
        b.iter(|| fill_only(black_box(BIG)))
    });
    g.bench_function(BenchmarkId::new(MAGLEV, BIG), |b| {
        b.iter(|| build_peer_maglev(black_box(BIG)))
    });
    g.finish();
}

/// Keys per iteration of the rendezvous group at `n` nodes: a power of two
/// dividing [`KEYS`], smaller as a lookup costs more.
fn rendezvous_chunk(n: usize) -> usize {
    KEYS / (n / 10).max(1).next_power_of_two()
}

fn rendezvous_lookup(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("rendezvous_lookup");
    for &n in &SIZES {
        let f = rendezvous_fixture(n);
        // Fewer keys per iteration at 1000 nodes keeps an iteration short;
        // each iteration takes the next chunk, so all 65,536 keys are seen.
        let len = rendezvous_chunk(n);
        g.throughput(Throughput::Elements(len as u64));
        let mut at = 0;
        let mut chunk = move || {
            at = (at + len) % KEYS;
            &keys[at..at + len]
        };
        g.bench_function(BenchmarkId::new(RINGROUTE, n), |b| {
            b.iter(|| {
                independent(black_box(chunk()), |k| {
                    f.ringroute.route(k).map_or(0, |i| i.get())
                })
            })
        });
        g.bench_function(BenchmarkId::new(HRW, n), |b| {
            b.iter(|| {
                independent(black_box(chunk()), |k| {
                    f.peer.pick_top(k).map_or(0, |p| p.0)
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, maglev_lookup, maglev_build, rendezvous_lookup);

const TABLES: &[Table] = &[
    Table {
        group: "maglev_lookup",
        contenders: &[RINGROUTE, MAGLEV, XXH3],
        params: &[BIG],
        ops_per_iter: |_| KEYS as f64,
    },
    Table {
        group: "maglev_build",
        contenders: &[RINGROUTE, FILL, MAGLEV],
        params: &[BIG],
        ops_per_iter: |_| 1.0,
    },
    Table {
        group: "rendezvous_lookup",
        contenders: &[RINGROUTE, HRW],
        params: &SIZES,
        ops_per_iter: |n| rendezvous_chunk(n) as f64,
    },
];

fn main() {
    let since = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        print_table(TABLES, since);
    }
    let table = &maglev_fixture().ringroute;
    println!(
        "ringroute Maglev table memory at {BIG} nodes: {} bytes for M = {M}",
        table.placement().memory_bytes()
    );
}
