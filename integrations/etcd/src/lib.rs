//! Membership from etcd v3: many clients on many machines share one live
//! view of the cluster.
//!
//! - [`Watcher`] keeps a [`ringroute::router::Router`] in sync with the nodes
//!   registered under a prefix (a directory: `svc/` never matches `svc2/`).
//!   One listing at revision R publishes one snapshot; a watch from R+1
//!   then applies puts and deletes, one snapshot per batch of revisions that
//!   arrived together and never part of a revision. It reconnects with
//!   jittered backoff and resumes from the last revision read, lists again
//!   after a compaction, exposes the applied revision and the connection
//!   state ([`Watcher::status`]), and holds back a batch that would remove
//!   more than a share of the nodes (default 50%) until the next listing
//!   confirms it.
//! - [`Registration`] puts a serving process's entry under a lease (TTL
//!   default 10 s), keeps it alive, grants a new lease and puts again if the
//!   lease is lost, and revokes it on a graceful stop.
//! - [`mod@format`]: etcd's `endpoints` manager JSON (what grpc-go's `etcd:///`
//!   resolver reads), the Kitex registry JSON and a plain
//!   `{"weight":…,"state":"up"|"down"}`; pluggable through [`ValueFormat`].
//!   Bad values are logged with `tracing`, counted, and skipped.
//!
//! # Why etcd's JSON gateway, not gRPC
//!
//! The client speaks etcd's documented JSON gateway (`/v3/kv/range`,
//! `/v3/watch`, `/v3/lease/*`, served by every etcd ≥ 3.4 on its client
//! port) through `reqwest` with rustls. The gRPC route (`etcd-client` on
//! tonic) needs `protoc` at build time and Rust ≥ 1.88; the gateway needs
//! neither, so this crate builds everywhere the workspace builds, and the
//! CLI's `watch` and `register` subcommands stay in the default build. The
//! protocol surface used here is small (six unary calls and one stream),
//! and the Python module (`ringroute.etcd`) speaks the very same calls with
//! the standard library alone. The cost: JSON and base64 instead of
//! protobuf, and one HTTP request per lease renewal instead of one shared
//! stream, both negligible at registry rates.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ringroute::router::Router;
//! use ringroute_etcd::{Watcher, WatchConfig};
//!
//! let router: Router = Router::builder().build()?;
//! let watcher = Watcher::start(router, WatchConfig::new("http://127.0.0.1:2379", "svc/"))?;
//! // Never blocks: routing answers "no nodes yet" until etcd answers.
//! match watcher.route("user:42") {
//!     Ok(node) => println!("{:?}", watcher.router().snapshot().node(node).map(|n| n.name_lossy().into_owned())),
//!     Err(e) => println!("{e}"),
//! }
//! # Ok(()) }
//! ```

pub mod client;
mod error;
pub mod format;
mod membership;
mod register;
mod watcher;

pub use client::{Client, ClientConfig, TlsConfig};
pub use error::{Error, Result};
pub use format::{AutoFormat, EndpointsFormat, Entry, KitexFormat, PlainFormat, ValueFormat};
pub use membership::MemberChange;
pub use register::Registration;
pub use watcher::{
    ConnectionState, RouteError, Status, Update, WatchConfig, Watcher, directory, router_members,
};
