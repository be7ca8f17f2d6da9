//! Consistent-hash routing for tower and tonic clients, over a
//! [`ringroute::router::Router`].
//!
//! [`RingrouteService`] is a `tower::Service<http::Request<tonic::body::Body>>`,
//! so a generated tonic client (or `tonic::client::Grpc`) takes it as its
//! transport. Each request's key comes from a [`RouteKey`] extension set on
//! the request (nothing sent on the wire), a header (default
//! `x-ringroute-key`) or a closure; the key's node on the router's ring gets
//! the request, and its next replicas get it again if that node fails.
//! Requests without a key go to the router's picker (P2C least connections
//! by default).
//!
//! - Membership, weights and health are the router's: set them with its
//!   API (`add`, `remove`, `mark_down`, `replace`), or keep them in sync from
//!   a registry or a [`tower::discover::Discover`] stream ([`discover`]).
//!   The inner service of a node is made by a factory the first time the
//!   node is used (for tonic, [`lazy_channel`]) and dropped after it leaves.
//! - Every attempt holds a router lease until its response body ends:
//!   success, failure and latency feed least connections, peak EWMA and
//!   outlier ejection.
//! - Each backend takes a bounded number of requests in flight; past it a
//!   request fails at once ([`ErrorKind::Overloaded`]). The service is
//!   always ready: a backend that is not ready delays only its own requests.
//! - Failover with replay: request bodies up to 64 KiB are kept and sent
//!   again to the key's next replica after a transport error or an
//!   `UNAVAILABLE` answer; larger or streaming bodies fail over only when
//!   nothing of them was sent. Retries respect the request's `grpc-timeout`
//!   and a retry budget ([`RetryConfig`]).
//! - Optional active health checking with `grpc.health.v1.Health/Check`
//!   ([`HealthChecker`]) feeds the router's heartbeat detector and takes a
//!   backend that stops answering out before requests fail on it.
//! - Errors ([`RouteError`]) name the backend and the cause; an empty or
//!   all-down membership fails at once with a clear message.
//! - Bounded loads: when the router has them
//!   ([`bounded_loads`](ringroute::router::RouterBuilder::bounded_loads)),
//!   a keyed attempt goes to the first node of the key's failover order that
//!   is under its bound `⌈c · (m + 1) · w / W⌉` (`m` requests in flight on
//!   the router), as [`Router::lease`](ringroute::router::Router::lease)
//!   chooses; its lease counts toward the loads until it ends, and failover
//!   goes on along the same order, skipping the nodes tried.
//! - The routing decision is cheap: the router's snapshot and the backends
//!   are found through per-thread caches (no lock, no hashing of names),
//!   and the key is read from the request without a copy.
//!   [`RingrouteService::route`] is the decision alone;
//!   [`RingrouteService::begin`] adds what a call does before it sends
//!   (the backend's in-flight slot and the router lease).
//!
//! Limits: an error that arrives after the response started (a
//! `grpc-status` in trailers, after data) is not retried: part of the
//! answer may have been read. Bounded loads apply where the router applies
//! them: to an untiered ring (another placement, or a tiered router, routes
//! keys plainly). Decisions made at the same moment on several threads read
//! the same loads, so a node may briefly hold a request or two past its
//! bound under a burst. A retry resolves the key's order in the snapshot
//! current at that time (the same order unless the membership changed). The
//! in-flight bound counts the requests of one service (and its clones).
//!
//! ```
//! use ringroute::router::Router;
//! use ringroute_tower::{RetryConfig, RingrouteService, lazy_channel};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let router: Router = Router::builder()
//!     .node("127.0.0.1:50051", 1.0)
//!     .node("127.0.0.1:50052", 1.0)
//!     .node("127.0.0.1:50053", 1.0)
//!     .build()?;
//! let service = RingrouteService::builder(router.clone(), lazy_channel)
//!     .key_header(http::HeaderName::from_static("x-user-id"))
//!     .retry(RetryConfig::default().max_attempts(2))
//!     .max_in_flight(256)
//!     .build();
//! // Hand `service` to a generated client: `KvClient::new(service)`, then
//! // set the key per call: `request.metadata_mut().insert("x-user-id", ..)`.
//! let request = http::Request::builder()
//!     .header("x-user-id", "user:42")
//!     .body(tonic::body::Body::empty())?;
//! let primary = service.route(&request).unwrap();
//! assert_eq!(Some(primary), router.route("user:42"));
//! # Ok(())
//! # }
//! ```

mod body;
pub mod discover;
mod error;
mod health;
mod inflight;
mod key;
mod pool;
mod retry;
mod service;

pub use body::ResponseBody;
pub use error::{BoxError, ErrorKind, RouteError};
pub use health::{HealthChecker, HealthConfig};
pub use inflight::InFlight;
pub use key::{DEFAULT_KEY_HEADER, KeySource, RouteKey};
pub use pool::Factory;
pub use retry::{Failure, RetryConfig, default_retryable};
pub use service::{
    Builder, DEFAULT_MAX_IN_FLIGHT, DEFAULT_REPLAY_LIMIT, RingrouteService, ServiceStats,
};

/// A tonic `Channel` to `http://{name}` that connects on first use (and
/// reconnects after failures): the factory for nodes named `host:port`.
pub fn lazy_channel(name: &str) -> Result<tonic::transport::Channel, BoxError> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{name}"))?;
    Ok(endpoint.connect_lazy())
}
