//! The φ-accrual failure detector: how suspicious is this much silence?
//!
//! From Hayashibara, Défago, Yared and Katayama, *The φ Accrual Failure
//! Detector* (SRDS 2004; JAIST research report IS-RR-2004-010), as
//! implemented by Akka (`akka-remote/.../PhiAccrualFailureDetector.scala`)
//! and, with an exponential instead of a normal model, by Cassandra
//! (`gms/FailureDetector.java`).
//!
//! Instead of a yes/no timeout, the detector keeps the recent inter-arrival
//! times of each node's heartbeats and, given the time `t` since the last
//! one, reports
//!
//! ```text
//! φ(t) = −log10(1 − F(t))
//! ```
//!
//! where `F` is the CDF of a normal distribution with the samples' mean
//! (plus [`acceptable_pause`](PhiConfig::acceptable_pause)) and standard
//! deviation (at least [`min_std_dev`](PhiConfig::min_std_dev)). φ = 1 means
//! a 10 % chance that a live node would have been this quiet, φ = 8 one in
//! 10⁸. A node is *available* while φ < [`threshold`](PhiConfig::threshold).
//! Because the model learns the actual rhythm, a node with jittery heartbeats
//! is given more slack than one that ticks like a metronome.
//!
//! # Details, as in Akka
//!
//! * `F` is the logistic approximation `1 / (1 + e^(−y(1.5976 + 0.070566 y²)))`
//!   with `y = (t − mean) / sd` (maximum error 0.00014). Its tail is lighter
//!   than the normal's, so φ = 8 is reached at `y ≈ 5.23` rather than 5.61:
//!   with regular 1 s heartbeats and the default 100 ms floor on the deviation,
//!   after about 1.52 s of silence.
//! * **Bootstrap.** A node's first heartbeat seeds its history with two
//!   intervals, `mean ± mean/4` where `mean` is
//!   [`first_heartbeat_estimate`](PhiConfig::first_heartbeat_estimate), so a
//!   node that sent one heartbeat and died is still detected. Real intervals
//!   wash the seeds out of the window.
//! * **Bounded window.** At most [`max_samples`](PhiConfig::max_samples)
//!   intervals per node are kept, in a ring buffer; the oldest goes first.
//! * **No learning from outages.** A heartbeat that arrives while the node is
//!   already suspected (φ ≥ threshold) resets the silence but is not added to
//!   the history: one long outage must not teach the detector that long
//!   silences are normal.
//!
//! # Numerics
//!
//! `1 − F` is the logistic function of `−z` with `z = y(1.5976 + 0.070566 y²)`,
//! so φ is computed as `log10(1 + e^z)` in a form that neither overflows nor
//! loses precision. φ is therefore **always finite, never NaN, never
//! negative, and non-decreasing in the silence**: a silence of hours gives a
//! large finite value (about `0.0306 y³`), never `+∞`. Interval sums are kept
//! exactly in integer nanoseconds, so the running mean does not drift; each
//! stored interval is capped at 2⁵³ ns (about 104 days) to keep them exact.

use std::collections::VecDeque;
use std::f64::consts::LN_10;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::node::NodeIndex;

/// Largest accepted [`PhiConfig::max_samples`]. Together with the per-interval
/// cap it keeps the exact sum of squared intervals within a `u128`.
pub const MAX_SAMPLES_LIMIT: usize = 1 << 20;

/// Longest interval stored, in nanoseconds (2⁵³, about 104 days).
const MAX_INTERVAL_NANOS: u64 = 1 << 53;

/// Parameters of the [`PhiDetector`]; the defaults are those of Akka's
/// cluster failure detector, except the acceptable pause (3 s there, 0 here:
/// a pause budget depends on the workload, so it is opt-in).
#[derive(Clone, Debug, PartialEq)]
pub struct PhiConfig {
    /// φ at and above which a node is suspected (finite, > 0; default 8.0).
    /// Lower detects a crash sooner and is wrong more often.
    pub threshold: f64,
    /// Intervals remembered per node (1 to [`MAX_SAMPLES_LIMIT`]; default 1000).
    pub max_samples: usize,
    /// Floor on the standard deviation (> 0; default 100 ms), so a node with
    /// perfectly regular heartbeats is not suspected after a few ms of delay.
    pub min_std_dev: Duration,
    /// Extra silence tolerated on top of the mean interval (default 0), for
    /// expected pauses such as garbage collection.
    pub acceptable_pause: Duration,
    /// Assumed mean interval before any is measured (> 0; default 1 s).
    pub first_heartbeat_estimate: Duration,
}

impl Default for PhiConfig {
    fn default() -> Self {
        PhiConfig {
            threshold: 8.0,
            max_samples: 1000,
            min_std_dev: Duration::from_millis(100),
            acceptable_pause: Duration::ZERO,
            first_heartbeat_estimate: Duration::from_secs(1),
        }
    }
}

impl PhiConfig {
    /// Checks every field; [`Error::InvalidParameter`] names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::InvalidParameter(
                "phi threshold must be finite and greater than zero",
            ));
        }
        if !(1..=MAX_SAMPLES_LIMIT).contains(&self.max_samples) {
            return Err(Error::InvalidParameter(
                "phi max_samples must be in 1..=MAX_SAMPLES_LIMIT",
            ));
        }
        if self.min_std_dev.is_zero() {
            return Err(Error::InvalidParameter(
                "phi min_std_dev must be greater than zero",
            ));
        }
        if self.first_heartbeat_estimate.is_zero() {
            return Err(Error::InvalidParameter(
                "phi first_heartbeat_estimate must be greater than zero",
            ));
        }
        Ok(())
    }
}

/// The heartbeat record of one monitored node.
#[derive(Clone, Debug)]
struct History {
    last: Duration,
    /// Inter-arrival times in nanoseconds, oldest first.
    intervals: VecDeque<u64>,
    sum: u128,
    sum_sq: u128,
}

impl History {
    fn push(&mut self, interval: u64, max_samples: usize) {
        if self.intervals.len() >= max_samples {
            if let Some(old) = self.intervals.pop_front() {
                self.sum -= u128::from(old);
                self.sum_sq -= u128::from(old) * u128::from(old);
            }
        }
        let x = interval.min(MAX_INTERVAL_NANOS);
        self.intervals.push_back(x);
        self.sum += u128::from(x);
        self.sum_sq += u128::from(x) * u128::from(x);
    }

    /// Mean and standard deviation of the window, in nanoseconds.
    fn stats(&self) -> (f64, f64) {
        // Never empty: the bootstrap puts samples in before anything reads.
        let n = self.intervals.len().max(1) as f64;
        let mean = self.sum as f64 / n;
        // E[x²] − mean² can come out a hair below zero in floating point.
        let variance = (self.sum_sq as f64 / n - mean * mean).max(0.0);
        (mean, variance.sqrt())
    }
}

/// Per-node φ-accrual failure detector; see the [module docs](self).
///
/// A pure state machine: time comes in as `now` (see
/// [`Clock`](super::Clock)). A node is *monitored* from its first
/// [`heartbeat`](Self::heartbeat) until [`forget`](Self::forget); a node never
/// heard from has φ = 0 and counts as available, because there is no rhythm
/// yet to be late against; whoever adds a node should send or await its
/// first heartbeat. Per-node state lives in a `Vec` indexed by [`NodeIndex`]
/// that grows on demand.
#[derive(Clone, Debug)]
pub struct PhiDetector {
    config: PhiConfig,
    nodes: Vec<Option<History>>,
}

impl PhiDetector {
    /// A detector monitoring no node; fails if `config` does not
    /// [`validate`](PhiConfig::validate).
    pub fn new(config: PhiConfig) -> Result<Self> {
        config.validate()?;
        Ok(PhiDetector {
            config,
            nodes: Vec::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// Records a heartbeat from `node` at `now`.
    ///
    /// The first one starts monitoring with the bootstrap history. Later ones
    /// add the interval since the previous heartbeat, unless the node was
    /// already suspected at `now` (see the module docs). A heartbeat older
    /// than the last one recorded is ignored: out-of-order delivery must not
    /// move the timestamp back and hide a silence.
    pub fn heartbeat(&mut self, node: NodeIndex, now: Duration) {
        let i = node.as_usize();
        if self.nodes.len() <= i {
            self.nodes.resize_with(i + 1, || None);
        }
        let config = &self.config;
        match &mut self.nodes[i] {
            slot @ None => *slot = Some(bootstrap(config, now)),
            Some(history) => {
                let Some(interval) = now.checked_sub(history.last) else {
                    return;
                };
                if phi_of(config, history, now) < config.threshold {
                    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
                    history.push(nanos, config.max_samples);
                }
                history.last = now;
            }
        }
    }

    /// The suspicion level of `node` at `now`: finite and `>= 0`, growing
    /// with the silence since its last heartbeat; 0.0 for a node that is not
    /// [`monitored`](Self::monitored).
    pub fn phi(&self, node: NodeIndex, now: Duration) -> f64 {
        self.history(node)
            .map_or(0.0, |h| phi_of(&self.config, h, now))
    }

    /// Whether `node` is trusted at `now`: φ below the threshold. True for a
    /// node that is not monitored.
    pub fn is_available(&self, node: NodeIndex, now: Duration) -> bool {
        self.phi(node, now) < self.config.threshold
    }

    /// Whether `node` has sent a heartbeat since it was last forgotten.
    pub fn monitored(&self, node: NodeIndex) -> bool {
        self.history(node).is_some()
    }

    /// When the last heartbeat of `node` arrived, if it is monitored.
    pub fn last_heartbeat(&self, node: NodeIndex) -> Option<Duration> {
        self.history(node).map(|h| h.last)
    }

    /// How many intervals the history of `node` holds (bootstrap seeds
    /// included): at most [`PhiConfig::max_samples`], 0 if not monitored.
    pub fn sample_count(&self, node: NodeIndex) -> usize {
        self.history(node).map_or(0, |h| h.intervals.len())
    }

    /// Stops monitoring `node` and drops its history: it left the membership,
    /// and a node that reuses its index must not inherit its rhythm.
    pub fn forget(&mut self, node: NodeIndex) {
        if let Some(slot) = self.nodes.get_mut(node.as_usize()) {
            *slot = None;
        }
    }

    fn history(&self, node: NodeIndex) -> Option<&History> {
        self.nodes.get(node.as_usize())?.as_ref()
    }
}

/// A fresh history whose window holds Akka's two seed intervals.
fn bootstrap(config: &PhiConfig, now: Duration) -> History {
    let mean = u64::try_from(config.first_heartbeat_estimate.as_nanos())
        .unwrap_or(u64::MAX)
        .min(MAX_INTERVAL_NANOS);
    let sd = mean / 4;
    let mut history = History {
        last: now,
        intervals: VecDeque::with_capacity(config.max_samples.min(16)),
        sum: 0,
        sum_sq: 0,
    };
    history.push(mean - sd, config.max_samples);
    history.push(mean + sd, config.max_samples);
    history
}

fn phi_of(config: &PhiConfig, history: &History, now: Duration) -> f64 {
    let silence = now.saturating_sub(history.last).as_nanos() as f64;
    let (mean, sd) = history.stats();
    let mean = mean + config.acceptable_pause.as_nanos() as f64;
    let sd = sd.max(config.min_std_dev.as_nanos() as f64);
    // sd >= 1 ns and every input is below 2^64 ns, so y and z stay finite.
    let y = (silence - mean) / sd;
    let z = y * (1.5976 + 0.070566 * y * y);
    softplus(z) / LN_10
}

/// `ln(1 + e^z)` without overflow for large `z` or cancellation for small.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}
