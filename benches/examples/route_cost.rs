//! Calls one hot path `CALLS` times, for instruction counting under
//! `valgrind --tool=callgrind` (repeatable whatever else the machine does,
//! unlike wall-clock timings on a shared 2-core box). `scripts/test-instructions`
//! runs it twice, with `CALLS` and `2 × CALLS`, and divides the difference
//! by `CALLS`, so the setup (building the ring, making the keys) cancels out:
//!
//! ```sh
//! cargo build --release -p ringroute-bench --example route_cost
//! target/release/examples/route_cost ring 100000
//! ```
//!
//! Paths: `ring` (`Ring::route`), `ring_dyn` (the same with a key length
//! the compiler cannot see, as a C caller's), `router` (`Router::route`), `reader`
//! (`RouterReader::route`), `snapshot` (`Snapshot::route`), `route_n`
//! (`Ring::route_n(key, 3)`), `route_n_into` (`Ring::route_n_into`, 3
//! slots), `peak_ewma` and `least_conn` (a P2C pick over 100 nodes weighted
//! `1 + i % 4` with in-flight counts and observed latencies, `now` given),
//! `snapshot_many` (`Snapshot::route_many` over blocks of 256 keys; `CALLS`
//! counts keys, and the figure is per key with its loop, nothing
//! subtracted), `none` (the loop alone). 100 nodes, 160 vnodes, the benches'
//! 65,536 distinct keys in storage order.

use std::hint::black_box;

use std::time::Duration;

use ringroute::pick::{LeastConn, NodeLoads, PeakEwma, Picker, Rng};
use ringroute::router::Router;
use ringroute::{NodeIndex, NodeTable, Ring};
use ringroute_bench::fixtures::{KEYS, Key, keys, name};

const NODES: usize = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "ring".into());
    let calls: usize = args
        .next()
        .map_or(1_000_000, |c| c.parse().expect("a call count"));
    let ring: Ring = (0..NODES)
        .fold(Ring::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .expect("valid nodes");
    let router: Router = (0..NODES)
        .fold(Router::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .expect("valid nodes");
    let snapshot = router.snapshot();
    let mut reader = router.reader();
    let get = |n: Option<NodeIndex>| n.map_or(0, NodeIndex::get);
    let (table, loads) = pick_fixture();
    let now = Duration::from_secs(1);
    let (ewma, least) = (
        PeakEwma::with_seed(&table, 1),
        LeastConn::with_seed(&table, 1),
    );
    // One loop per path, the path chosen outside it: only the call is counted.
    let acc = match mode.as_str() {
        "ring" => run(calls, &mut |k| get(ring.route(k))),
        // The key's length unknown to the compiler, as through the C ABI.
        "ring_dyn" => run(calls, &mut |k| get(ring.route(&k.0[..black_box(16)]))),
        "router" => run(calls, &mut |k| get(router.route(k))),
        "reader" => run(calls, &mut |k| get(reader.route(k))),
        "snapshot" => run(calls, &mut |k| get(snapshot.route(k))),
        "route_n" => run(calls, &mut |k| {
            let r = ring.route_n(k, 3);
            r[0].get() ^ r[1].get() ^ r[2].get()
        }),
        "route_n_into" => run(calls, &mut |k| {
            let mut out = [NodeIndex::new(0); 3];
            ring.route_n_into(k, &mut out);
            out[0].get() ^ out[1].get() ^ out[2].get()
        }),
        "peak_ewma" => run(calls, &mut |_| get(ewma.pick(&table, &loads, now))),
        "least_conn" => run(calls, &mut |_| get(least.pick(&table, &loads, now))),
        "snapshot_many" => run_many(calls, &mut |keys, out| snapshot.route_many(keys, out)),
        "none" => run(calls, &mut |k| u32::from(k.0[0])),
        other => panic!("unknown path {other}"),
    };
    println!("{acc}");
}

/// `calls` calls of `route` over the keys in storage order, folded so none
/// is optimised away. `route` is called through `dyn`: each path is then
/// compiled as its own function with one call site, so what the compiler
/// inlines into it does not depend on how many other paths this binary has
/// (the indirect call is in `none` too, and subtracted).
#[inline(never)]
fn run(calls: usize, route: &mut dyn FnMut(&Key) -> u32) -> u32 {
    let keys = keys();
    let mut acc = 0u32;
    for i in 0..calls {
        acc = acc.wrapping_add(route(black_box(&keys[i & (KEYS - 1)])));
    }
    acc
}

/// Keys per batch call of [`run_many`].
const BLOCK: usize = 256;

/// A batch lookup: routes the keys into the answers.
type RouteMany<'a> = dyn FnMut(&[Key], &mut [Option<NodeIndex>]) + 'a;

/// `calls` keys routed by `route_many` in blocks of [`BLOCK`], in storage
/// order (wrapping), folded so none is optimised away.
#[inline(never)]
fn run_many(calls: usize, route_many: &mut RouteMany<'_>) -> u32 {
    let keys = keys();
    let mut out = [None; BLOCK];
    let mut acc = 0u32;
    let mut done = 0;
    while done < calls {
        let at = done & (KEYS - 1);
        let n = BLOCK.min(calls - done).min(KEYS - at);
        route_many(black_box(&keys[at..at + n]), &mut out[..n]);
        for node in &out[..n] {
            acc = acc.wrapping_add(node.map_or(0, NodeIndex::get));
        }
        done += n;
    }
    acc
}

/// 100 nodes weighted `1 + i % 4`, in-flight counts 0..8 and latencies
/// 1..5 ms observed at time 0 (as the pick bench).
fn pick_fixture() -> (NodeTable, NodeLoads) {
    let mut table = NodeTable::new();
    for i in 0..NODES {
        table
            .insert(name(i).as_bytes(), 1.0 + (i % 4) as f64, ())
            .expect("valid node");
    }
    let loads = NodeLoads::for_table(&table);
    let rng = Rng::new(0x10ad);
    for (i, _) in table.iter() {
        (0..rng.below(8)).for_each(|_| loads.start(i));
        let rtt = Duration::from_micros(1000 + rng.below(4000) as u64);
        loads.observe_latency(i, rtt, Duration::ZERO);
    }
    (table, loads)
}
