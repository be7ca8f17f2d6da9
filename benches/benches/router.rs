//! The concurrent `Router` against a bare `Ring`, in one run.
//!
//! * `router_overhead`: `Ring::route` (the reference) vs `Router::route` (an
//!   arc-swap load per call) vs `RouterReader::route` (a per-thread cache:
//!   one atomic pointer read per call) vs `Snapshot::route` on a snapshot
//!   held by the caller. Goal: ≤ 1.3× the ring.
//! * `reader_under_writes`: `Router::route` while another thread publishes
//!   1,000 membership updates a second (`set_weight` back and forth), vs quiet.
//! * `swap_strategy`: how readers reach the current table: `ArcSwap::load`
//!   vs `parking_lot::RwLock<Arc<_>>::read`, alone and with a second thread
//!   reading the same structure at the same time (on this 2-core machine that
//!   is the other core), which is where a lock's shared counter hurts.
//!
//! 100 and 1000 nodes, 160 vnodes, the shared 65,536 16-byte keys per
//! iteration (`ringroute_bench::fixtures`).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use parking_lot::RwLock;
use ringroute::Ring;
use ringroute::router::Router;
use ringroute_bench::cputime::CpuTime;
use ringroute_bench::fixtures::{self, KEYS, name};
use ringroute_bench::report::{Table, measuring, print_table};

const SIZES: [usize; 2] = [100, 1000];

/// The shared hot set (65,536 distinct keys, 1 MiB), as byte arrays.
fn keys() -> Vec<[u8; 16]> {
    fixtures::keys().iter().map(|k| k.0).collect()
}

fn ring(n: usize) -> Ring {
    (0..n)
        .fold(Ring::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .unwrap()
}

fn router(n: usize) -> Router {
    (0..n)
        .fold(Router::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .unwrap()
}

fn sum(keys: &[[u8; 16]], route: impl Fn(&[u8; 16]) -> u32) -> u32 {
    keys.iter()
        .fold(0u32, |acc, k| acc.wrapping_add(route(black_box(k))))
}

fn overhead(c: &mut Criterion<CpuTime>) {
    let keys = keys();
    let mut g = c.benchmark_group("router_overhead");
    g.throughput(Throughput::Elements(KEYS as u64));
    for n in SIZES {
        let (ring, router) = (ring(n), router(n));
        let snapshot = router.snapshot();
        g.bench_with_input(BenchmarkId::new("ring", n), &n, |b, _| {
            b.iter(|| sum(&keys, |k| ring.route(k).unwrap().get()))
        });
        g.bench_with_input(BenchmarkId::new("router", n), &n, |b, _| {
            b.iter(|| sum(&keys, |k| router.route(k).unwrap().get()))
        });
        g.bench_with_input(BenchmarkId::new("snapshot", n), &n, |b, _| {
            b.iter(|| sum(&keys, |k| snapshot.route(k).unwrap().get()))
        });
        let mut reader = router.reader();
        g.bench_with_input(BenchmarkId::new("reader", n), &n, |b, _| {
            b.iter(|| {
                keys.iter().fold(0u32, |acc, k| {
                    acc.wrapping_add(reader.route(black_box(k)).unwrap().get())
                })
            })
        });
    }
    g.finish();
}

/// A thread that runs `work` until the returned flag is set.
fn background(mut work: impl FnMut() + Send + 'static) -> (Arc<AtomicBool>, JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut rounds = 0;
        while !flag.load(Ordering::Relaxed) {
            work();
            rounds += 1;
        }
        rounds
    });
    (stop, handle)
}

fn under_writes(c: &mut Criterion<CpuTime>) {
    let keys = keys();
    let mut g = c.benchmark_group("reader_under_writes");
    g.throughput(Throughput::Elements(KEYS as u64));
    let n = 100;
    let router = router(n);
    g.bench_with_input(BenchmarkId::new("quiet", n), &n, |b, _| {
        b.iter(|| sum(&keys, |k| router.route(k).unwrap().get()))
    });
    // 1,000 publications a second: one every millisecond, paced by deadline
    // so a slow publication does not lower the rate.
    let writer = router.clone();
    let start = Instant::now();
    let mut published = 0u64;
    let (stop, handle) = background(move || {
        published += 1;
        let w = if published.is_multiple_of(2) {
            1.0
        } else {
            1.5
        };
        writer.set_weight(&name(7), w).unwrap();
        let due = start + Duration::from_millis(published);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    });
    let before = router.snapshot().version();
    let measured = Instant::now();
    g.bench_with_input(BenchmarkId::new("writer_1000_per_s", n), &n, |b, _| {
        b.iter(|| sum(&keys, |k| router.route(k).unwrap().get()))
    });
    let mut reader = router.reader();
    g.bench_with_input(
        BenchmarkId::new("reader_writer_1000_per_s", n),
        &n,
        |b, _| {
            b.iter(|| {
                keys.iter().fold(0u32, |acc, k| {
                    acc.wrapping_add(reader.route(black_box(k)).unwrap().get())
                })
            })
        },
    );
    let rate = (router.snapshot().version() - before) as f64 / measured.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    g.finish();
    if measuring() {
        println!("reader_under_writes: the writer published {rate:.0} snapshots/s");
    }
}

fn swap_strategy(c: &mut Criterion<CpuTime>) {
    let keys = Arc::new(keys());
    let mut g = c.benchmark_group("swap_strategy");
    g.throughput(Throughput::Elements(KEYS as u64));
    let n = 100;
    let swap = Arc::new(ArcSwap::from_pointee(ring(n)));
    let lock = Arc::new(RwLock::new(Arc::new(ring(n))));
    g.bench_with_input(BenchmarkId::new("arc_swap", n), &n, |b, _| {
        b.iter(|| sum(&keys, |k| swap.load().route(k).unwrap().get()))
    });
    g.bench_with_input(BenchmarkId::new("rwlock", n), &n, |b, _| {
        b.iter(|| sum(&keys, |k| lock.read().route(k).unwrap().get()))
    });
    {
        let (s, k) = (swap.clone(), keys.clone());
        let (stop, handle) = background(move || {
            black_box(sum(&k, |key| s.load().route(key).unwrap().get()));
        });
        g.bench_with_input(BenchmarkId::new("arc_swap_contended", n), &n, |b, _| {
            b.iter(|| sum(&keys, |k| swap.load().route(k).unwrap().get()))
        });
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }
    {
        let (l, k) = (lock.clone(), keys.clone());
        let (stop, handle) = background(move || {
            black_box(sum(&k, |key| l.read().route(key).unwrap().get()));
        });
        g.bench_with_input(BenchmarkId::new("rwlock_contended", n), &n, |b, _| {
            b.iter(|| sum(&keys, |k| lock.read().route(k).unwrap().get()))
        });
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }
    g.finish();
}

const TABLES: &[Table] = &[
    Table {
        group: "router_overhead",
        contenders: &["ring", "router", "reader", "snapshot"],
        params: &SIZES,
        ops_per_iter: |_| KEYS as f64,
    },
    Table {
        group: "reader_under_writes",
        contenders: &["quiet", "writer_1000_per_s", "reader_writer_1000_per_s"],
        params: &[100],
        ops_per_iter: |_| KEYS as f64,
    },
    Table {
        group: "swap_strategy",
        contenders: &[
            "arc_swap",
            "rwlock",
            "arc_swap_contended",
            "rwlock_contended",
        ],
        params: &[100],
        ops_per_iter: |_| KEYS as f64,
    },
];

criterion_group! {
    name = benches;
    // The benchmarking thread's CPU time: see `ringroute_bench::cputime`.
    config = Criterion::default().with_measurement(CpuTime);
    targets = overhead, under_writes, swap_strategy
}

fn main() {
    let since = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if measuring() {
        print_table(TABLES, since);
    }
}
