//! Deciding which nodes are healthy: passive outlier ejection and
//! φ-accrual failure detection.
//!
//! Two independent detectors, each a pure, deterministic state machine over
//! per-node state indexed by [`NodeIndex`](crate::NodeIndex):
//!
//! * [`OutlierDetector`] watches *requests*: after a run of consecutive
//!   failures a node is ejected for `30 s × k` (capped at 300 s) on its
//!   `k`-th ejection, never more than 10 % of the members at once but always
//!   at least one (all figures are configurable defaults). After Envoy's consecutive-5xx outlier detection; see
//!   [`outlier`].
//! * [`PhiDetector`] watches *heartbeats*: it learns each node's
//!   inter-arrival times and turns the current silence into a suspicion
//!   level φ, the negated log10 of the probability that a live node would
//!   have stayed silent this long. After Hayashibara et al. (2004) as
//!   implemented by Akka; see [`phi`].
//!
//! Neither detector reads a clock, spawns a thread or uses atomics: every
//! call takes `now: Duration` from a [`Clock`], and the owner (a router,
//! under its writer lock) decides when to call. Tests drive them with a
//! [`ManualClock`] and get exact answers; production uses a
//! [`MonotonicClock`].
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ringroute::NodeIndex;
//! use ringroute::health::{
//!     Clock, ManualClock, OutlierConfig, OutlierDetector, PhiConfig, PhiDetector,
//! };
//!
//! let clock = ManualClock::new(Duration::ZERO);
//! let node = NodeIndex::new(0);
//!
//! // Outlier ejection: 30 s the first time, then back in service.
//! let mut outliers = OutlierDetector::new(OutlierConfig::default())?;
//! let until = outliers.try_eject(node, clock.now(), 3).expect("one may be ejected");
//! assert_eq!(until, Duration::from_secs(30));
//! assert!(outliers.is_ejected(node));
//!
//! let mut restored = Vec::new();
//! clock.advance(Duration::from_secs(30));
//! outliers.expire(clock.now(), &mut restored);
//! assert_eq!(restored, [node]);
//! assert_eq!(outliers.times_ejected(node), 1); // the next ejection lasts 60 s
//!
//! // φ-accrual: regular heartbeats keep φ low, silence raises it.
//! let mut phi = PhiDetector::new(PhiConfig::default())?;
//! for _ in 0..10 {
//!     phi.heartbeat(node, clock.now());
//!     clock.advance(Duration::from_secs(1));
//! }
//! assert!(phi.is_available(node, clock.now()));
//! clock.advance(Duration::from_secs(2));
//! assert!(phi.phi(node, clock.now()) >= 8.0);
//! assert!(!phi.is_available(node, clock.now()));
//! # Ok::<(), ringroute::Error>(())
//! ```

pub mod clock;
pub mod outlier;
pub mod phi;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use outlier::{OutlierConfig, OutlierDetector};
pub use phi::{MAX_SAMPLES_LIMIT, PhiConfig, PhiDetector};
