//! ringroute-tower on loopback, in one run.
//!
//! * `route_decision`: the routing decision alone, with 3 and 100 nodes:
//!   `header_key` is the key read from the request's header, hashed and
//!   looked up on the router's ring (`RingrouteService::route`); `begin` is
//!   all a call does before it sends (`RingrouteService::begin`: that, plus
//!   the backend's in-flight slot and the router lease, released again);
//!   `begin_held` is `begin` with the guards dropped outside the timing (the
//!   bookkeeping's start without its end); `router_route` is
//!   `Router::route` on the key's bytes (the reference).
//!   Goal: under 50 ns. The router's clock is a manual one, so no clock
//!   read is measured. On a busy machine prefer instruction counts:
//!   `examples/decision_cost.rs`, asserted by `scripts/test-instructions`.
//! * Loopback comparison (printed, not a criterion group): requests/s and
//!   p50/p99 latency of unary calls through `RingrouteService` against
//!   tonic's own `Channel::balance_channel` over the same 3 servers, with
//!   32 callers in flight. Rounds interleave the two (and alternate which
//!   goes first); the medians over rounds are reported. Goal: ≥ 0.95× the
//!   throughput and ≤ 1.05× the latency of `balance_channel`.
//!
//! `cargo bench -p ringroute-tower --bench tower` (`-- route_decision` for
//! the decision alone); in test mode each part runs once, briefly.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use http::uri::PathAndQuery;
use ringroute::health::ManualClock;
use ringroute::router::Router;
use ringroute_tower::{RingrouteService, lazy_channel};
use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

use common::{GetReply, GetRequest, Log};

fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list")
}

fn route_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_decision");
    for n in [3usize, 100] {
        let router: Router = (0..n)
            .fold(Router::builder(), |b, i| {
                b.node(&format!("10.0.{}.{}:50051", i / 256, i % 256), 1.0)
            })
            .clock(Arc::new(ManualClock::default()))
            .build()
            .unwrap();
        // No in-flight bound in the way: `begin_held` keeps every guard of a
        // sample until the sample ends.
        let service = RingrouteService::builder(router, lazy_channel)
            .max_in_flight(u32::MAX)
            .build();
        let requests: Vec<http::Request<Body>> = (0..64)
            .map(|i| {
                // As tonic hands them over: metadata, then its own headers.
                http::Request::builder()
                    .method("POST")
                    .uri("http://10.0.0.1:50051/kv.Kv/Get")
                    .header("x-ringroute-key", format!("user:{i:08}"))
                    .header("te", "trailers")
                    .header("content-type", "application/grpc")
                    .body(Body::empty())
                    .unwrap()
            })
            .collect();
        // The reference: the router's own lookup on the key's bytes.
        let keys: Vec<String> = (0..64).map(|i| format!("user:{i:08}")).collect();
        let router = service.router().clone();
        group.bench_with_input(BenchmarkId::new("router_route", n), &keys, |b, keys| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 63;
                black_box(router.route(black_box(&keys[i])))
            })
        });
        group.bench_with_input(BenchmarkId::new("header_key", n), &requests, |b, reqs| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 63;
                black_box(service.route(black_box(&reqs[i])))
            })
        });
        // Lazy channels spawn their worker: a runtime must exist (it never
        // runs them here).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        group.bench_with_input(BenchmarkId::new("begin", n), &requests, |b, reqs| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 63;
                black_box(service.begin(black_box(&reqs[i])).map(|g| g.node()))
            })
        });
        // The decision and the start of the bookkeeping, without its end:
        // the guards are dropped after the timed part.
        group.bench_with_input(BenchmarkId::new("begin_held", n), &requests, |b, reqs| {
            let mut i = 0;
            b.iter_with_large_drop(|| {
                i = (i + 1) & 63;
                service.begin(black_box(&reqs[i]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, route_decision);

/// One round: `callers` tasks, each making `per_caller` unary calls.
/// Returns (requests/s, sorted latencies).
async fn round<S>(service: S, callers: usize, per_caller: usize) -> (f64, Vec<Duration>)
where
    S: GrpcService<Body> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let mut grpc = tonic::client::Grpc::new(service);
            let mut latencies = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                let key = format!("user:{}", (c * per_caller + i) % 1000);
                let mut req = tonic::Request::new(GetRequest {
                    key: key.clone(),
                    id: i as u64,
                });
                req.metadata_mut()
                    .insert("x-ringroute-key", key.parse().unwrap());
                let t = Instant::now();
                grpc.ready().await.map_err(Into::into).unwrap();
                let codec = ProstCodec::<GetRequest, GetReply>::default();
                grpc.unary(req, PathAndQuery::from_static("/kv.Kv/Get"), codec)
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(callers * per_caller);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rps, all)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn loopback(measure: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = Log::default();
        let mut servers = common::servers(3, &log).await;
        let names: Vec<String> = servers.iter().map(|s| s.name()).collect();

        let router: Router = names.iter().fold(Router::builder(), |b, n| b.node(n, 1.0)).build().unwrap();
        let ours = RingrouteService::builder(router, lazy_channel).build();
        let (theirs, tx) = Channel::balance_channel::<String>(1024);
        for n in &names {
            let endpoint = Endpoint::from_shared(format!("http://{n}")).unwrap();
            tx.send(Change::Insert(n.clone(), endpoint)).await.unwrap();
        }

        let (rounds, callers, per_caller) = if measure { (7, 32, 500) } else { (1, 4, 10) };
        // Warm both up (connections, allocator).
        round(ours.clone(), callers, per_caller / 5 + 1).await;
        round(theirs.clone(), callers, per_caller / 5 + 1).await;

        let mut stats: [Vec<(f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for r in 0..rounds {
            for which in [r % 2, 1 - r % 2] {
                let (rps, lat) = if which == 0 {
                    round(ours.clone(), callers, per_caller).await
                } else {
                    round(theirs.clone(), callers, per_caller).await
                };
                let us = |d: Duration| d.as_secs_f64() * 1e6;
                stats[which].push((rps, us(quantile(&lat, 0.5)), us(quantile(&lat, 0.99))));
            }
        }
        let med = |w: usize, f: fn(&(f64, f64, f64)) -> f64| median(stats[w].iter().map(f).collect());
        let row = |label: &str, w: usize| {
            println!(
                "{label:<32} {:>10.0} {:>10.1} {:>10.1}",
                med(w, |s| s.0),
                med(w, |s| s.1),
                med(w, |s| s.2)
            )
        };
        println!("\nloopback unary calls: 3 servers, {callers} callers, {rounds} interleaved rounds of {} calls, medians", callers * per_caller);
        println!("{:<32} {:>10} {:>10} {:>10}", "client", "req/s", "p50 µs", "p99 µs");
        row("ringroute-tower (keyed)", 0);
        row("tonic balance_channel (P2C)", 1);
        println!(
            "ratio ours/theirs: throughput {:.3}×, p50 {:.3}×, p99 {:.3}×",
            med(0, |s| s.0) / med(1, |s| s.0),
            med(0, |s| s.1) / med(1, |s| s.1),
            med(0, |s| s.2) / med(1, |s| s.2),
        );
        for s in &mut servers {
            s.stop().await;
        }
    });
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench ... -- route_decision` measures the decision alone.
    let decision_only = std::env::args().any(|a| a.starts_with("route_decision"));
    if !decision_only {
        loopback(measuring());
    }
}
