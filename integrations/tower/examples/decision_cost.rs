//! Makes `CALLS` routing decisions through one path, for instruction
//! counting under `valgrind --tool=callgrind` (repeatable on a shared
//! machine, unlike wall-clock timings). `scripts/test-instructions` runs it
//! with `CALLS` and `2 × CALLS` and divides the difference by `CALLS`, so
//! the setup cancels out:
//!
//! ```sh
//! cargo build --release -p ringroute-tower --example decision_cost
//! target/release/examples/decision_cost begin 100000
//! ```
//!
//! Paths: `router` (`Router::route` on the key's bytes, the reference),
//! `route` (`RingrouteService::route` on a request: the header read, then
//! the same lookup), `begin` (`RingrouteService::begin`: the whole decision
//! of a call's first attempt, key to lease and in-flight slot, then the
//! guard dropped), `begin_bounded` (the same with bounded loads on the
//! router), `none` (the loop alone). 100 nodes; requests carry the headers
//! a tonic unary call has. The router's clock is a manual one, so that no
//! clock read is counted.

use std::hint::black_box;
use std::sync::Arc;

use ringroute::NodeIndex;
use ringroute::health::ManualClock;
use ringroute::router::Router;
use ringroute_tower::{RingrouteService, lazy_channel};
use tonic::body::Body;

const NODES: usize = 100;
const KEYS: usize = 64;

fn router(bounded: bool) -> Router {
    let builder = (0..NODES).fold(Router::builder(), |b, i| {
        b.node(&format!("10.0.{}.{}:50051", i / 256, i % 256), 1.0)
    });
    let builder = builder.clock(Arc::new(ManualClock::default()));
    let builder = if bounded {
        builder.bounded_loads(1.25)
    } else {
        builder
    };
    builder.build().expect("valid nodes")
}

/// The request a generated tonic client hands its transport for a unary
/// call, keyed: the call's metadata first, then the headers tonic adds
/// (`Grpc::prepare_request`), and the method's extension generated clients
/// insert (so the key's extension lookup finds a map to search).
fn request(i: usize) -> http::Request<Body> {
    http::Request::builder()
        .method("POST")
        .uri("http://10.0.0.1:50051/kv.Kv/Get")
        .header("x-ringroute-key", format!("user:{i:08}"))
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .extension(tonic::GrpcMethod::new("kv.Kv", "Get"))
        .body(Body::empty())
        .expect("a valid request")
}

/// `calls` calls of `path` over the keys in turn, folded so none is
/// optimised away.
#[inline(never)]
fn run(calls: usize, path: &mut dyn FnMut(usize) -> u32) -> u64 {
    let mut acc = 0u64;
    for i in 0..calls {
        acc += u64::from(path(black_box(i % KEYS)));
    }
    acc
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "begin".into());
    let calls: usize = args
        .next()
        .map_or(1_000_000, |c| c.parse().expect("a call count"));
    let router = router(mode == "begin_bounded");
    let service = RingrouteService::builder(router.clone(), lazy_channel).build();
    let requests: Vec<http::Request<Body>> = (0..KEYS).map(request).collect();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user:{i:08}")).collect();
    let get = |n: Option<NodeIndex>| n.map_or(0, NodeIndex::get);
    // A first decision outside the count makes the backends' channels (a
    // lazy channel spawns nothing until used, but needs a runtime to exist).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let _entered = runtime.enter();
    for r in &requests {
        drop(service.begin(r));
    }
    // One loop per path, the path chosen outside it: only the call is
    // counted.
    let acc = match mode.as_str() {
        "router" => run(calls, &mut |k| get(router.route(&keys[k]))),
        "route" => run(calls, &mut |k| get(service.route(&requests[k]))),
        "begin" | "begin_bounded" => run(calls, &mut |k| match service.begin(&requests[k]) {
            Ok(guard) => black_box(&guard).node().get(),
            Err(_) => 0,
        }),
        "none" => run(calls, &mut |k| u32::from(keys[k].as_bytes()[5])),
        other => panic!("unknown path {other}"),
    };
    println!("{mode}: {acc}");
}
