//! Fleet scale and the ring index: membership changes at 10,000 and 100,000
//! nodes with a fresh build beside them, and lookups on 65,536 distinct keys
//! in random order (single keys, dependent keys, batches) against the
//! strongest simple ring (xxh3 + `partition_point` over separate arrays).
//!
//! * `index/{100,1000}`: `Ring::route` per key (throughput: independent
//!   keys), `latency` (each key chosen by the previous answer), `route_many`
//!   (batches), the `partition_point` baseline, and `Snapshot::route_many`.
//! * `update/10000`: one `add` or `remove` (alternating), one `set_weight`
//!   (1 ↔ 2), `mark_down`/`mark_up`, `replace` of 10% of the nodes, `apply`
//!   of 100 changes (50 joins + 50 leaves), and `fresh_build`.
//! * `update/100000`: `add`/`remove` and `fresh_build` (few samples); the
//!   resident memory with two snapshots alive is printed.
//! * `readers/10000`: `RouterReader::route_many` quiet, and while another
//!   thread applies 100 changes a second.
//!
//! Under `cargo test --benches` everything runs once at small sizes, so the
//! setup stays cheap.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ringroute::router::{Change, Router};
use ringroute::{NodeIndex, Ring};
use ringroute_bench::report::measuring;

fn full() -> bool {
    measuring()
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` distinct random 16-byte keys, stored contiguously.
fn keys(n: usize) -> Vec<[u8; 16]> {
    let mut state = 42;
    (0..n)
        .map(|_| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&splitmix(&mut state).to_le_bytes());
            key[8..].copy_from_slice(&splitmix(&mut state).to_le_bytes());
            key
        })
        .collect()
}

fn name(i: usize) -> String {
    format!("node-{i}")
}

fn router(range: std::ops::Range<usize>) -> Router {
    range
        .fold(Router::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .unwrap()
}

/// The baseline: xxh3 + `partition_point` over separate point and owner arrays.
struct Plain {
    points: Vec<u64>,
    owners: Vec<u32>,
}

impl Plain {
    fn of(ring: &Ring) -> Self {
        let (points, owners) = ring.points().map(|(p, o)| (p, o.get())).unzip();
        Plain { points, owners }
    }

    #[inline]
    fn route(&self, key: &[u8]) -> u32 {
        let h = xxhash_rust::xxh3::xxh3_64(key);
        let i = self.points.partition_point(|&p| p < h);
        self.owners[if i == self.points.len() { 0 } else { i }]
    }
}

fn index(c: &mut Criterion) {
    let keys = keys(if full() { 65_536 } else { 1024 });
    for nodes in [100usize, 1000] {
        let ring: Ring = (0..nodes)
            .fold(Ring::builder(), |b, i| b.node(&name(i), 1.0))
            .build()
            .unwrap();
        let plain = Plain::of(&ring);
        let router = router(0..nodes);
        let snapshot = router.snapshot();
        let mut out = vec![None; keys.len()];
        let mut g = c.benchmark_group(format!("index/{nodes}"));
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function("ring_route", |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(ring.route(k));
                }
            })
        });
        g.bench_function("ring_latency", |b| {
            b.iter(|| {
                // Each key is chosen by the previous answer.
                let mut at = 0usize;
                for _ in 0..keys.len() {
                    let node = ring.route(&keys[at]).map_or(0, NodeIndex::as_usize);
                    at = (at + 1 + node) & (keys.len() - 1);
                }
                black_box(at)
            })
        });
        g.bench_function("ring_route_many", |b| {
            b.iter(|| {
                ring.route_many(&keys, &mut out);
                black_box(&out);
            })
        });
        g.bench_function("snapshot_route_many", |b| {
            b.iter(|| {
                snapshot.route_many(&keys, &mut out);
                black_box(&out);
            })
        });
        g.bench_function("plain_partition_point", |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(plain.route(k));
                }
            })
        });
        g.bench_function("plain_latency", |b| {
            b.iter(|| {
                let mut at = 0usize;
                for _ in 0..keys.len() {
                    let node = plain.route(&keys[at]) as usize;
                    at = (at + 1 + node) & (keys.len() - 1);
                }
                black_box(at)
            })
        });
        g.bench_function(BenchmarkId::new("ring_build", nodes), |b| {
            b.iter(|| {
                let ring: Ring = (0..nodes)
                    .fold(Ring::builder(), |b, i| b.node(&name(i), 1.0))
                    .build()
                    .unwrap();
                black_box(ring.point_count())
            })
        });
        g.finish();
    }
}

/// Times `f(i)` for `i` in `0..iters`: alternating changes that undo each
/// other, so the router returns to where it was.
fn alternating(iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    start.elapsed()
}

fn updates(c: &mut Criterion, nodes: usize, heavy: bool) {
    let mut g = c.benchmark_group(format!("update/{nodes}"));
    if heavy {
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(20));
    }
    g.bench_function("fresh_build", |b| b.iter(|| black_box(router(0..nodes))));
    let r = router(0..nodes);
    g.bench_function("add_or_remove", |b| {
        b.iter_custom(|iters| {
            let t = alternating(iters, |i| {
                if i & 1 == 0 {
                    r.add("extra", 1.0).unwrap();
                } else {
                    r.remove("extra").unwrap();
                }
            });
            let _ = r.remove("extra");
            t
        })
    });
    if !heavy {
        g.bench_function("set_weight", |b| {
            b.iter_custom(|iters| {
                alternating(iters, |i| {
                    r.set_weight(&name(7), if i & 1 == 0 { 2.0 } else { 1.0 })
                        .unwrap()
                })
            })
        });
        g.bench_function("mark_down_or_up", |b| {
            b.iter_custom(|iters| {
                let t = alternating(iters, |i| {
                    if i & 1 == 0 {
                        r.mark_down(&name(7)).unwrap();
                    } else {
                        r.mark_up(&name(7)).unwrap();
                    }
                });
                r.mark_up(&name(7)).unwrap();
                t
            })
        });
        // 10% of the nodes leave and as many join, then back.
        let tenth = nodes / 10;
        let list = |from: usize| -> Vec<(String, f64, ())> {
            (from..from + nodes).map(|i| (name(i), 1.0, ())).collect()
        };
        let (a, b_) = (list(0), list(tenth));
        g.bench_function("replace_10pct", |b| {
            b.iter_custom(|iters| {
                let t = alternating(iters, |i| {
                    let to = if i & 1 == 0 { &b_ } else { &a };
                    r.replace(to.iter().cloned()).unwrap();
                });
                r.replace(a.iter().cloned()).unwrap();
                t
            })
        });
        // 50 joins and 50 leaves in one batch, then back.
        let batch = |forward: bool| -> Vec<Change<()>> {
            (0..50)
                .flat_map(|i| {
                    let (joining, leaving) = (name(nodes + 100 + i), name(i));
                    let (joining, leaving) = if forward {
                        (joining, leaving)
                    } else {
                        (leaving, joining)
                    };
                    [Change::add(&joining, 1.0, ()), Change::remove(&leaving)]
                })
                .collect()
        };
        g.bench_function("apply_100", |b| {
            b.iter_custom(|iters| {
                alternating(iters, |i| r.apply(batch(i & 1 == 0)).unwrap()) + {
                    if iters & 1 == 1 {
                        r.apply(batch(false)).unwrap();
                    }
                    Duration::ZERO
                }
            })
        });
    }
    g.finish();
    if heavy && full() {
        // Two snapshots alive: the one before a change and the one after.
        let before = r.snapshot();
        r.add("extra-2", 1.0).unwrap();
        let after = r.snapshot();
        eprintln!(
            "update/{nodes}: resident memory with two snapshots alive (versions {} and {}): {} (peak {})",
            before.version(),
            after.version(),
            status("VmRSS"),
            status("VmHWM"),
        );
    }
}

/// A line of `/proc/self/status` (Linux), for memory figures.
fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len() + 1..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn update(c: &mut Criterion) {
    if full() {
        updates(c, 10_000, false);
        updates(c, 100_000, true);
    } else {
        updates(c, 100, false);
        updates(c, 1000, true);
    }
}

fn readers(c: &mut Criterion) {
    let nodes = if full() { 10_000 } else { 100 };
    let keys = keys(if full() { 65_536 } else { 1024 });
    let r = router(0..nodes);
    let mut g = c.benchmark_group(format!("readers/{nodes}"));
    g.throughput(Throughput::Elements(keys.len() as u64));
    let mut out = vec![None; keys.len()];
    let mut reader = r.reader();
    g.bench_function("quiet", |b| {
        b.iter(|| {
            reader.route_many(&keys, &mut out);
            black_box(&out);
        })
    });
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (r, stop) = (r.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if i & 1 == 0 {
                    r.add("extra", 1.0).unwrap();
                } else {
                    r.remove("extra").unwrap();
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            i
        })
    };
    g.bench_function("writer_100_per_s", |b| {
        b.iter(|| {
            reader.route_many(&keys, &mut out);
            black_box(&out);
        })
    });
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().unwrap();
    g.finish();
    if full() {
        eprintln!("readers/{nodes}: the writer applied {changes} changes");
    }
}

criterion::criterion_group!(benches, index, update, readers);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
