//! Lookup speed of every compatibility mode, beside the peer's own Rust
//! implementation where one is a crate: `pingora-ketama` (nginx's
//! `hash ... consistent` ketama) next to the `nginx` mode, and the `maglev`
//! crate next to `envoy-maglev` (a different Maglev, for scale only).
//!
//! Each contender routes the same 4096 16-byte keys over 100 nodes of weight
//! 1, hashing each key itself (md5 for the ketama family, crc32 for nginx,
//! xxh64 for Envoy/gRPC, ...). The fixture also checks that pingora-ketama
//! and the nginx mode agree on every key.

use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::OnceLock;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use ringroute::place::compat::{Compat, Mode};
use ringroute::{Cluster, NodeState};
use ringroute_bench::fixtures::{Key, Xxh3Build, keys, name};
use ringroute_bench::report::{Table, measuring, print_table};

/// Nodes in every contender.
const N: usize = 100;
const KEYS: usize = 4096;
const PINGORA: &str = "pingora_ketama";
const MAGLEV: &str = "maglev_crate";

fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| (0..N).map(name).collect())
}

fn mode_cluster(mode: &str) -> Cluster<Compat, ()> {
    let mode = Mode::from_name(mode).expect("a mode");
    let nodes = names().iter().map(|n| (n.as_str(), 1.0, NodeState::Up, ()));
    Cluster::from_nodes(Compat::new(mode).expect("valid mode"), nodes).expect("valid nodes")
}

fn clusters() -> &'static Vec<(&'static str, Cluster<Compat, ()>)> {
    static CELL: OnceLock<Vec<(&'static str, Cluster<Compat, ()>)>> = OnceLock::new();
    CELL.get_or_init(|| {
        Mode::names()
            .iter()
            .map(|m| (*m, mode_cluster(m)))
            .collect()
    })
}

fn pingora() -> &'static pingora_ketama::Continuum {
    static CELL: OnceLock<pingora_ketama::Continuum> = OnceLock::new();
    CELL.get_or_init(|| {
        let buckets: Vec<pingora_ketama::Bucket> = names()
            .iter()
            .map(|n| pingora_ketama::Bucket::new(n.parse::<SocketAddr>().expect("ip:port"), 1))
            .collect();
        let continuum = pingora_ketama::Continuum::new(&buckets);
        // Same nodes, same keys: pingora-ketama and the nginx mode agree.
        let nginx = mode_cluster("nginx");
        for k in keys() {
            let ours = nginx.route_node(k).expect("up").name_str().expect("text");
            let theirs = continuum.node(&k.0).expect("a node").to_string();
            assert_eq!(ours, theirs, "pingora-ketama and the nginx mode disagree");
        }
        continuum
    })
}

#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PeerNode(u32);

impl Hash for PeerNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(names()[self.0 as usize].as_bytes());
    }
}

fn peer_maglev() -> &'static maglev::Maglev<PeerNode, Xxh3Build> {
    static CELL: OnceLock<maglev::Maglev<PeerNode, Xxh3Build>> = OnceLock::new();
    CELL.get_or_init(|| {
        maglev::Maglev::with_capacity_and_hasher((0..N as u32).map(PeerNode), 65_537, Xxh3Build)
    })
}

#[inline]
fn sum(keys: &[Key], mut route: impl FnMut(&Key) -> u32) -> u32 {
    keys.iter().fold(0u32, |acc, k| acc.wrapping_add(route(k)))
}

fn compat_lookup(c: &mut Criterion) {
    use maglev::ConsistentHasher;
    let keys = keys();
    let mut g = c.benchmark_group("compat_lookup");
    g.throughput(Throughput::Elements(KEYS as u64));
    for (mode, cluster) in clusters() {
        g.bench_function(BenchmarkId::new(*mode, N), |b| {
            b.iter(|| sum(black_box(keys), |k| cluster.route(k).map_or(0, |i| i.get())))
        });
    }
    let continuum = pingora();
    g.bench_function(BenchmarkId::new(PINGORA, N), |b| {
        b.iter(|| sum(black_box(keys), |k| continuum.node_idx(&k.0) as u32))
    });
    let peer = peer_maglev();
    g.bench_function(BenchmarkId::new(MAGLEV, N), |b| {
        b.iter(|| sum(black_box(keys), |k| peer.get(k).map_or(0, |n| n.0)))
    });
    g.finish();
}

criterion_group!(benches, compat_lookup);

const CONTENDERS: &[&str] = &[
    "libmemcached",
    "twemproxy",
    "uhashring",
    "envoy-ring-hash",
    "grpc-ring-hash",
    "envoy-maglev",
    "nginx",
    "dubbo",
    "guava-jump",
    "go-jump",
    PINGORA,
    MAGLEV,
];

const TABLES: &[Table] = &[Table {
    group: "compat_lookup",
    contenders: CONTENDERS,
    params: &[N],
    ops_per_iter: |_| KEYS as f64,
}];

fn main() {
    let since = std::time::SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        print_table(TABLES, since);
    }
}
