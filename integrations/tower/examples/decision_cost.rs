//! Makes 1,000,000 routing decisions through one path, for instruction
//! counting under `valgrind --tool=callgrind` (repeatable on a shared
//! machine, unlike wall-clock timings):
//!
//! ```sh
//! cargo build --release -p ringroute-tower --example decision_cost
//! for m in none router service; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/decision_cost $m 2>&1 | grep refs; done
//! ```
//!
//! Subtract the `none` run (setup only) and divide by 1,000,000. `router` is
//! `Router::route` on the key's bytes; `service` is
//! `RingrouteService::route` on a request: the header read, then the same.

use std::hint::black_box;

use ringroute::router::Router;
use ringroute_tower::{RingrouteService, lazy_channel};
use tonic::body::Body;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "service".into());
    let router: Router = (0..100)
        .fold(Router::builder(), |b, i| {
            b.node(&format!("10.0.{}.{}:50051", i / 256, i % 256), 1.0)
        })
        .build()
        .unwrap();
    let service = RingrouteService::builder(router.clone(), lazy_channel).build();
    let requests: Vec<http::Request<Body>> = (0..64)
        .map(|i| {
            http::Request::builder()
                .uri("/kv.Kv/Get")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header("x-ringroute-key", format!("user:{i:08}"))
                .body(Body::empty())
                .unwrap()
        })
        .collect();
    let keys: Vec<String> = (0..64).map(|i| format!("user:{i:08}")).collect();
    let mut hits = 0u64;
    for i in 0..1_000_000usize {
        let node = match mode.as_str() {
            "router" => router.route(black_box(&keys[i & 63])),
            "service" => service.route(black_box(&requests[i & 63])),
            _ => None,
        };
        hits += black_box(node).is_some() as u64;
    }
    println!("{mode}: {hits}");
}
