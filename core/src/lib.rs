//! Consistent-hashing routing for RPC clients: which node serves this key?
//!
//! `ringroute` answers that question millions of times a second with a
//! weighted hash ring of virtual nodes. The ring follows one documented spec
//! (`docs/ring-spec.md`), so the Rust crate, the C library and the Python
//! package place every key on the same node.
//!
//! * **Sticky keys** go through a [`Ring`]: [`Ring::route`] for the primary,
//!   [`Ring::route_n`] / [`Ring::replicas`] for distinct replicas in
//!   failover order.
//! * **Membership changes move few keys**: adding a node moves keys only to
//!   it, removing one moves only its keys, reweighting moves keys only to or
//!   from it, and a node marked down hands its keys to the next node until it
//!   is up again.
//! * **Lookups never allocate** and cost a hash plus one or two cache lines,
//!   thanks to a bucket index over the top bits of the hash.
//!
//! # Modules
//!
//! Each module uses only those below it here (and [`Error`]):
//!
//! | module | what |
//! | --- | --- |
//! | [`router`] | the concurrent [`Router`](router::Router): snapshots, leases, tiers, the algorithm chosen by configuration |
//! | [`pick`] | non-sticky pickers (request → node): least connections, peak EWMA, weighted random, round robin, smooth weighted |
//! | [`place`] | sticky placements (key → node) behind the [`Placement`] trait, and [`Cluster`]: [`ring`](place::ring), [`jump`](place::jump), [`jumpback`](place::jumpback), [`rendezvous`](place::rendezvous), [`maglev`](place::maglev), [`compat`](place::compat) |
//! | [`health`] | outlier ejection and the phi-accrual heartbeat detector |
//! | [`many`] | routing many keys at once and grouping them by node |
//! | [`node`] | the node table: names, weights, states, tiers and payloads behind dense [`NodeIndex`]es |
//! | [`hash`] | the key and point hashes of the native spec |
//! | [`names`] | node names as text: escaping, checks for file and command-line input |
//!
//! No two modules import each other, directly or around a loop, here or
//! inside any folder: `core/tests/layout.rs` fails on a cycle and names it.
//!
//! # Example
//!
//! ```
//! use ringroute::{NodeState, Ring};
//!
//! // Build once from a member list: the points are sorted a single time.
//! let mut ring: Ring = Ring::builder()
//!     .node("10.0.0.1:6379", 1.0)
//!     .node("10.0.0.2:6379", 1.0)
//!     .node("10.0.0.3:6379", 2.0) // twice the keys
//!     .build()?;
//!
//! let primary = ring.route("session:7f3a").expect("nodes are up");
//! println!("session:7f3a -> {}", ring[primary].name_lossy());
//!
//! // A failed node hands its keys to the next replica, and gets them back.
//! let name = ring[primary].name().to_vec();
//! ring.set_state(&name, NodeState::Down)?;
//! let fallback = ring.route("session:7f3a").unwrap();
//! assert_ne!(fallback, primary);
//! assert_eq!(ring.route_n("session:7f3a", 3)[0], fallback);
//! ring.set_state(&name, NodeState::Up)?;
//! assert_eq!(ring.route("session:7f3a"), Some(primary));
//!
//! // Bad input is an error, and the ring is unchanged.
//! assert!(ring.add("10.0.0.4:6379", f64::NAN).is_err());
//! assert_eq!(ring.len(), 3);
//! # Ok::<(), ringroute::Error>(())
//! ```
#![warn(missing_docs)]

mod error;
pub mod hash;
pub mod health;
mod limits;
pub mod many;
pub mod names;
pub mod node;
pub mod pick;
pub mod place;
pub mod router;

pub use error::{Error, Result};
pub use many::{GroupBy, KeyGroups};
pub use node::{Node, NodeIndex, NodeState, NodeTable};
pub use place::ring::{ReplicaIter, Ring, RingBuilder, RingIndex};
pub use place::{Cluster, Liveness, Placement, Replicas};

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
