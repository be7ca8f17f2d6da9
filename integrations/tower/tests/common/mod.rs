//! A small key-value gRPC service, defined by hand (prost messages, tonic's
//! server and client APIs, no protoc), run on loopback ports for the tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::{Status, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_prost::ProstCodec;

use ringroute_tower::RingrouteService;

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetRequest {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(uint64, tag = "2")]
    pub id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetReply {
    #[prost(string, tag = "1")]
    pub server: String,
    #[prost(string, tag = "2")]
    pub key: String,
    #[prost(uint64, tag = "3")]
    pub id: u64,
}

/// How a server answers `Get`.
pub const OK: u8 = 0;
pub const UNAVAILABLE: u8 = 1;
pub const SLOW: u8 = 2;
/// Waits for [`State::hold`] permits (see [`Server::release`]).
pub const HOLD: u8 = 3;

/// Request ids served successfully, across every server of a test.
pub type Log = Arc<Mutex<HashMap<u64, u32>>>;

pub struct State {
    pub name: Mutex<String>,
    pub mode: AtomicU8,
    /// Health checks never answer while set.
    pub health_hangs: AtomicBool,
    /// `Get` calls received (answered or not).
    pub hits: AtomicU64,
    /// `Get` calls being handled now, and the most there ever were.
    pub active: AtomicU64,
    pub peak: AtomicU64,
    /// In `HOLD` mode each `Get` takes a permit first.
    pub hold: tokio::sync::Semaphore,
    pub log: Log,
}

/// Counts a `Get` as active while it lives.
struct Active<'a>(&'a State);

impl<'a> Active<'a> {
    fn new(state: &'a State) -> Self {
        let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak.fetch_max(now, Ordering::SeqCst);
        Active(state)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Kv(Arc<State>);

impl NamedService for Kv {
    const NAME: &'static str = "kv.Kv";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

struct Get(Arc<State>);

impl UnaryService<GetRequest> for Get {
    type Response = GetReply;
    type Future = BoxFuture<Result<tonic::Response<GetReply>, Status>>;

    fn call(&mut self, request: tonic::Request<GetRequest>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            state.hits.fetch_add(1, Ordering::Relaxed);
            let _active = Active::new(&state);
            let req = request.into_inner();
            match state.mode.load(Ordering::Relaxed) {
                UNAVAILABLE => return Err(Status::unavailable("test server refuses")),
                SLOW => tokio::time::sleep(Duration::from_millis(300)).await,
                HOLD => drop(state.hold.acquire().await),
                _ => {}
            }
            *state.log.lock().entry(req.id).or_insert(0) += 1;
            Ok(tonic::Response::new(GetReply {
                server: state.name.lock().clone(),
                key: req.key,
                id: req.id,
            }))
        })
    }
}

struct Check(Arc<State>);

impl UnaryService<HealthCheckRequest> for Check {
    type Response = HealthCheckResponse;
    type Future = BoxFuture<Result<tonic::Response<HealthCheckResponse>, Status>>;

    fn call(&mut self, _: tonic::Request<HealthCheckRequest>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            if state.health_hangs.load(Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            Ok(tonic::Response::new(HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            }))
        })
    }
}

impl tower::Service<http::Request<Body>> for Kv {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            Ok(match req.uri().path() {
                "/kv.Kv/Get" => {
                    let mut grpc =
                        tonic::server::Grpc::new(ProstCodec::<GetReply, GetRequest>::default());
                    grpc.unary(Get(state), req).await
                }
                "/grpc.health.v1.Health/Check" => {
                    let mut grpc = tonic::server::Grpc::new(ProstCodec::<
                        HealthCheckResponse,
                        HealthCheckRequest,
                    >::default());
                    grpc.unary(Check(state), req).await
                }
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// One server on a loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server on `addr` (port 0: any free port).
    pub async fn start(addr: SocketAddr, log: Log) -> Server {
        let state = Arc::new(State {
            name: Mutex::new(String::new()),
            mode: AtomicU8::new(OK),
            health_hangs: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            active: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            hold: tokio::sync::Semaphore::new(0),
            log,
        });
        let mut server = Server {
            addr,
            state,
            stop: None,
            task: None,
        };
        server.restart().await;
        server
    }

    /// Serves again on the same address (after [`stop`](Server::stop)).
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("bind loopback");
        self.addr = listener.local_addr().unwrap();
        *self.state.name.lock() = self.addr.to_string();
        let (tx, rx) = oneshot::channel();
        let kv = Kv(Arc::clone(&self.state));
        // As `Server::serve` sets it: a listener handed over keeps Nagle's
        // algorithm on, and a response's frames then wait for the client's
        // delayed ACK (40 ms stalls at low concurrency).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        self.task = Some(tokio::spawn(async move {
            tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(kv, incoming, async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        }));
        self.stop = Some(tx);
    }

    /// Stops serving: open connections are told to go away and closed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(5), task).await;
            assert!(stopped.is_ok(), "server {} did not stop", self.addr);
        }
    }

    pub fn name(&self) -> String {
        self.addr.to_string()
    }

    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::Relaxed)
    }

    /// `Get` calls being handled now.
    pub fn active(&self) -> u64 {
        self.state.active.load(Ordering::SeqCst)
    }

    /// Lets every held `Get` (and every later one) through.
    pub fn release(&self) {
        self.state.hold.add_permits(1 << 20);
    }
}

/// `n` servers on free loopback ports, sharing one log.
pub async fn servers(n: usize, log: &Log) -> Vec<Server> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Server::start("127.0.0.1:0".parse().unwrap(), Arc::clone(log)).await);
    }
    out
}

pub type Routed = RingrouteService<Channel>;

/// A service over `router` whose retry budget never runs dry in a test
/// (every failed attempt may be retried).
pub fn routed(router: &ringroute::router::Router) -> Routed {
    RingrouteService::builder(router.clone(), ringroute_tower::lazy_channel)
        .retry(ringroute_tower::RetryConfig::default().budget(Duration::from_secs(10), 100, 1.0))
        .build()
}

/// One `Get` through `service`, keyed by `key` (or keyless).
pub async fn get(service: &Routed, key: Option<&str>, id: u64) -> Result<GetReply, Status> {
    let mut req = tonic::Request::new(GetRequest {
        key: key.unwrap_or_default().to_string(),
        id,
    });
    if let Some(k) = key {
        req.metadata_mut()
            .insert("x-ringroute-key", k.parse().unwrap());
    }
    call(service, req).await
}

/// One `Get` through `service`, as the caller made it.
pub async fn call(service: &Routed, req: tonic::Request<GetRequest>) -> Result<GetReply, Status> {
    let mut grpc = tonic::client::Grpc::new(service.clone());
    grpc.ready().await.map_err(Status::from_error)?;
    let codec = ProstCodec::<GetRequest, GetReply>::default();
    grpc.unary(req, PathAndQuery::from_static("/kv.Kv/Get"), codec)
        .await
        .map(tonic::Response::into_inner)
}

pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user:{i}")).collect()
}
