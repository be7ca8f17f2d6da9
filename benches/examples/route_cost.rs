//! Routes 1,000,000 keys through one path, for instruction counting under
//! `valgrind --tool=callgrind` (repeatable whatever else the machine does,
//! unlike wall-clock timings on a shared 2-core box):
//!
//! ```sh
//! cargo build --release -p ringroute-bench --example route_cost
//! for m in none ring router reader snapshot tiered; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/route_cost $m 2>&1 | grep refs; done
//! ```
//!
//! Subtract the `none` run (setup only) and divide by 1,000,000.

use std::hint::black_box;

use ringroute::Ring;
use ringroute::router::Router;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "ring".into());
    let n = 100;
    let name = |i: usize| format!("10.0.{}.{}:11211", i / 256, i % 256);
    let ring: Ring = (0..n)
        .fold(Ring::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .unwrap();
    let router: Router = (0..n)
        .fold(Router::builder(), |b, i| b.node(&name(i), 1.0))
        .build()
        .unwrap();
    // The same primaries plus two backups (all primaries up): the tiered path.
    let tiered: Router = (0..n)
        .fold(Router::builder(), |b, i| b.node(&name(i), 1.0))
        .node_in_tier("backup-0:11211", 1.0, 1)
        .node_in_tier("backup-1:11211", 1.0, 1)
        .build()
        .unwrap();
    let keys: Vec<[u8; 16]> = (0..4096u64)
        .map(|i| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            k[8..].copy_from_slice(&(!i).to_le_bytes());
            k
        })
        .collect();
    let snapshot = router.snapshot();
    let mut reader = router.reader();
    let mut acc = 0u32;
    for round in 0..1_000_000 / keys.len() + 1 {
        let take = if round == 1_000_000 / keys.len() {
            1_000_000 % keys.len()
        } else {
            keys.len()
        };
        for k in &keys[..take] {
            let k = black_box(k);
            acc = acc.wrapping_add(match mode.as_str() {
                "ring" => ring.route(k).unwrap().get(),
                "router" => router.route(k).unwrap().get(),
                "reader" => reader.route(k).unwrap().get(),
                "snapshot" => snapshot.route(k).unwrap().get(),
                "tiered" => tiered.route(k).unwrap().get(),
                _ => 0,
            });
        }
    }
    println!("{acc}");
}
