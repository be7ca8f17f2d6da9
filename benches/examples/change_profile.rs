//! One membership change at fleet scale in a loop, for a profiler:
//! `perf record target/release/examples/change_profile 100000 40` (nodes,
//! changes). A node named `extra` is added and removed in turn, as the
//! `update/*/add_or_remove` bench does.

use std::hint::black_box;
use std::time::Instant;

use ringroute::router::Router;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let nodes = args.next().flatten().unwrap_or(100_000);
    let changes = args.next().flatten().unwrap_or(40);
    let router: Router = (0..nodes)
        .fold(Router::builder(), |b, i| b.node(&format!("node-{i}"), 1.0))
        .build()
        .expect("valid nodes");
    let started = Instant::now();
    for i in 0..changes {
        if i % 2 == 0 {
            router.add("extra", 1.0).expect("new node");
        } else {
            router.remove("extra").expect("known node");
        }
        black_box(&router);
    }
    let per = started.elapsed() / changes as u32;
    println!("{per:?} per change at {nodes} nodes");
}
