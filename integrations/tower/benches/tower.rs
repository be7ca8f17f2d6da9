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
//!   tonic's own `Channel::balance_channel` over the same 3 servers, with 1
//!   caller (a call's own latency) and with 32 in flight (the two cores
//!   saturated). Every call has a key of its own. Rows: the key as a
//!   `RouteKey` extension, as the `x-ringroute-key` header, the extension
//!   with bounded loads, keyless requests (the router's P2C), and
//!   `balance_channel` with and without the key header (what the header
//!   itself costs). Rounds interleave the clients (each round starts with
//!   another one); the medians over rounds are reported, and the median of
//!   each round's ratio to `balance_channel`. Goal: ≥ 0.95× the
//!   throughput and ≤ 1.05× the latency of `balance_channel`.
//!   `RINGROUTE_LOOPBACK_ONLY=<row>` runs one row only, to profile it.
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
use ringroute_tower::{RingrouteService, RouteKey, lazy_channel};
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
                    .extension(tonic::GrpcMethod::new("kv.Kv", "Get"))
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

/// How a round's requests carry their key.
#[derive(Clone, Copy)]
enum Key {
    /// A [`RouteKey`] extension (nothing on the wire).
    Extension,
    /// The `x-ringroute-key` header.
    Header,
    /// No key.
    None,
}

/// One round: `callers` tasks, each making `per_caller` unary calls, every
/// call with a key of its own. Returns (requests/s, sorted latencies).
async fn round<S>(service: S, how: Key, callers: usize, per_caller: usize) -> (f64, Vec<Duration>)
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
                let key = format!("user:{}", c * per_caller + i);
                let mut req = tonic::Request::new(GetRequest {
                    key: key.clone(),
                    id: i as u64,
                });
                // As a generated client does.
                req.extensions_mut()
                    .insert(tonic::GrpcMethod::new("kv.Kv", "Get"));
                match how {
                    Key::Extension => {
                        req.extensions_mut().insert(RouteKey::new(key));
                    }
                    Key::Header => {
                        req.metadata_mut()
                            .insert("x-ringroute-key", key.parse().unwrap());
                    }
                    Key::None => {}
                }
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
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The clients compared on loopback, in the order printed; the last is the
/// reference the ratios are to.
const CLIENTS: [&str; 6] = [
    "ringroute-tower, RouteKey extension",
    "ringroute-tower, key header",
    "ringroute-tower, extension, bounded 1.25",
    "ringroute-tower, keyless (P2C)",
    "balance_channel, key header sent",
    "tonic balance_channel (P2C)",
];

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

        let router = |bounded: bool| -> Router {
            let b = names.iter().fold(Router::builder(), |b, n| b.node(n, 1.0));
            if bounded { b.bounded_loads(1.25) } else { b }.build().unwrap()
        };
        let ours = RingrouteService::builder(router(false), lazy_channel).build();
        let bounded = RingrouteService::builder(router(true), lazy_channel).build();
        let (theirs, tx) = Channel::balance_channel::<String>(1024);
        for n in &names {
            let endpoint = Endpoint::from_shared(format!("http://{n}")).unwrap();
            tx.send(Change::Insert(n.clone(), endpoint)).await.unwrap();
        }
        let run = |which: usize, callers: usize, per_caller: usize| {
            let (ours, bounded, theirs) = (ours.clone(), bounded.clone(), theirs.clone());
            async move {
                match which {
                    0 => round(ours, Key::Extension, callers, per_caller).await,
                    1 => round(ours, Key::Header, callers, per_caller).await,
                    2 => round(bounded, Key::Extension, callers, per_caller).await,
                    3 => round(ours, Key::None, callers, per_caller).await,
                    4 => round(theirs, Key::Header, callers, per_caller).await,
                    _ => round(theirs, Key::None, callers, per_caller).await,
                }
            }
        };
        // RINGROUTE_LOOPBACK_ONLY=<row> runs one client only (to profile it).
        let only: Option<usize> = std::env::var("RINGROUTE_LOOPBACK_ONLY")
            .ok()
            .and_then(|v| v.parse().ok());
        let chosen: Vec<usize> = (0..CLIENTS.len())
            .filter(|w| only.is_none_or(|o| o == *w))
            .collect();

        // One caller: a call's own latency. 32: the two cores saturated.
        let levels: &[(usize, usize)] = if measure { &[(1, 4000), (32, 500)] } else { &[(4, 10)] };
        let rounds = if measure { 21 } else { 1 };
        for &(callers, per_caller) in levels {
            // Warm each up (connections, allocator).
            for &w in &chosen {
                run(w, callers, per_caller / 5 + 1).await;
            }
            let mut stats: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); CLIENTS.len()];
            for r in 0..rounds {
                // Each round starts with another client.
                for i in 0..chosen.len() {
                    let w = chosen[(r + i) % chosen.len()];
                    let (rps, lat) = run(w, callers, per_caller).await;
                    let us = |d: Duration| d.as_secs_f64() * 1e6;
                    stats[w].push((rps, us(quantile(&lat, 0.5)), us(quantile(&lat, 0.99))));
                }
            }
            let med = |w: usize, f: fn(&(f64, f64, f64)) -> f64| median(stats[w].iter().map(f).collect());
            println!(
                "\nloopback unary calls: 3 servers, {callers} caller(s), {rounds} interleaved rounds of {} calls (a key each), medians",
                callers * per_caller
            );
            println!(
                "{:<42} {:>8} {:>8} {:>8}   ratio to balance_channel",
                "client", "req/s", "p50 µs", "p99 µs"
            );
            let base = CLIENTS.len() - 1;
            for &w in &chosen {
                // The median of each round's ratio: a round's clients run
                // within a few seconds, so the machine's slower drifts cancel.
                let ratio = |f: fn(&(f64, f64, f64)) -> f64| {
                    median(stats[w].iter().zip(&stats[base]).map(|(a, b)| f(a) / f(b)).collect())
                };
                println!(
                    "{:<42} {:>8.0} {:>8.1} {:>8.1}   {:.3}× {:.3}× {:.3}×",
                    CLIENTS[w],
                    med(w, |s| s.0),
                    med(w, |s| s.1),
                    med(w, |s| s.2),
                    ratio(|s| s.0),
                    ratio(|s| s.1),
                    ratio(|s| s.2),
                );
            }
        }
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
