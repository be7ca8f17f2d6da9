//! Passive outlier detection: take a node out of rotation after a run of
//! failed requests, for longer each time it happens again.
//!
//! This follows Envoy's *consecutive 5xx* outlier detection
//! (`source/common/upstream/outlier_detection_impl.cc` in envoyproxy/envoy,
//! and the "Outlier detection" page of Envoy's architecture overview):
//!
//! 1. The caller counts consecutive failures per node and, when the count
//!    reaches [`OutlierConfig::consecutive_failures`], asks
//!    [`OutlierDetector::try_eject`].
//! 2. **Max ejected share.** The ejection is refused if it would leave more
//!    than `max(1, floor(max_ejected_share × members))` nodes ejected at once.
//!    Envoy's rule is `100 × (ejected + 1) / hosts <= max_ejection_percent`,
//!    with `always_eject_one_host` as an opt-in; here the "at least one" is
//!    always on, so a small cluster can still shed its one bad node.
//! 3. **Ejection time.** The node is out for
//!    `min(base_ejection × k, max_ejection)`, where `k` is its backoff
//!    multiplier *including* this ejection: 30 s, 60 s, 90 s, ... up to
//!    300 s with the defaults. A node that keeps failing therefore spends
//!    ever more of its time out of rotation, which is the point.
//! 4. **Return.** [`OutlierDetector::expire`] puts it back at exactly
//!    `until`, with no health check: the next run of failures ejects it
//!    again, for longer.
//!
//! # Multiplier cap and decay
//!
//! The multiplier stops growing once an ejection already lasts
//! `max_ejection` (at `k = ceil(max / base)`, 10 with the defaults). Envoy
//! caps it one step later; either way, a node that failed a hundred times is
//! not left owing a hundred decay steps.
//!
//! Envoy lowers the multiplier by one on each detection interval (10 s) that
//! a host spends in service. There is no interval timer here, so the rule is
//! expressed in time instead: **the multiplier drops by one for every full
//! `max_ejection` a node spends in service** (counted from the `until` at
//! which it was restored, not from when `expire` happened to run). A node
//! must therefore stay healthy as long as the longest possible ejection to
//! earn one step back, and a node that relapses sooner after each return
//! keeps getting longer ejections. Decay is
//! computed lazily in [`try_eject`](OutlierDetector::try_eject) and
//! [`expire`](OutlierDetector::expire), carrying the remainder forward, so the
//! result does not depend on how often they are called.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::node::NodeIndex;

/// Parameters of the [`OutlierDetector`]; the defaults are Envoy's.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierConfig {
    /// Consecutive failed requests after which the caller should call
    /// [`OutlierDetector::try_eject`] (at least 1; default 5). The detector
    /// itself does not count requests: the caller already sees every
    /// response and can reset the count on a success without a lock.
    pub consecutive_failures: u32,
    /// Duration of a first ejection; the `k`-th lasts `k` times as long
    /// (greater than zero; default 30 s).
    pub base_ejection: Duration,
    /// Longest ejection, and the in-service time that earns one step of
    /// multiplier decay (at least `base_ejection`; default 300 s).
    pub max_ejection: Duration,
    /// Largest share of the members that may be ejected at once, though one
    /// node may always be (finite, in `[0, 1]`; default 0.10).
    pub max_ejected_share: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejected_share: 0.10,
        }
    }
}

impl OutlierConfig {
    /// Checks every field; [`Error::InvalidParameter`] names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.consecutive_failures == 0 {
            return Err(Error::InvalidParameter(
                "outlier consecutive_failures must be at least 1",
            ));
        }
        if self.base_ejection.is_zero() {
            return Err(Error::InvalidParameter(
                "outlier base_ejection must be greater than zero",
            ));
        }
        if self.max_ejection < self.base_ejection {
            return Err(Error::InvalidParameter(
                "outlier max_ejection must be at least base_ejection",
            ));
        }
        let share = self.max_ejected_share;
        if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
            return Err(Error::InvalidParameter(
                "outlier max_ejected_share must be finite and in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// What the detector remembers about one node slot.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// End of the current ejection; `None` while in service.
    until: Option<Duration>,
    /// Backoff multiplier: the next ejection lasts `base × (times + 1)`.
    times: u32,
    /// Start of the in-service stretch not yet turned into decay steps.
    healthy_since: Duration,
}

/// Ejects failing nodes for linearly growing times, never more than a share
/// of the members at once; see the [module docs](self) for the rules.
///
/// A pure state machine: time comes in as `now` (see
/// [`Clock`](super::Clock)), nothing happens between calls, and a node stays
/// ejected until an [`expire`](Self::expire) call at or after its `until`.
/// Per-node state lives in a `Vec` indexed by [`NodeIndex`] that grows on
/// demand; indices never seen cost nothing and read as "in service".
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    config: OutlierConfig,
    /// Multiplier at which an ejection already lasts `max_ejection`.
    times_cap: u32,
    slots: Vec<Slot>,
    ejected: usize,
}

impl OutlierDetector {
    /// A detector with no node ejected; fails if `config` does not
    /// [`validate`](OutlierConfig::validate).
    pub fn new(config: OutlierConfig) -> Result<Self> {
        config.validate()?;
        let base = config.base_ejection.as_nanos();
        let cap = config.max_ejection.as_nanos().div_ceil(base);
        Ok(OutlierDetector {
            times_cap: u32::try_from(cap).unwrap_or(u32::MAX).max(1),
            config,
            slots: Vec::new(),
            ejected: 0,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    /// How many nodes may be ejected at once out of `members`:
    /// `max(1, floor(max_ejected_share × members))`.
    pub fn max_ejected(&self, members: usize) -> usize {
        let raw = self.config.max_ejected_share * members as f64;
        // 0.29 × 100 evaluates to 28.999999999999996; nudge by a relative
        // epsilon so a share meant exactly is honoured exactly.
        let allowed = (raw + raw * 1e-9).floor() as usize;
        allowed.max(1)
    }

    /// Ejects `node` unless it is already ejected or the ejection would
    /// exceed [`max_ejected`](Self::max_ejected) for `members` nodes
    /// (the whole membership, ejected nodes included).
    ///
    /// Call it when the node's consecutive-failure count reaches
    /// [`OutlierConfig::consecutive_failures`], after [`expire`](Self::expire)
    /// for the same `now` so that nodes whose time is up do not count against
    /// the share. Returns when the ejection ends: `now` plus
    /// `min(base_ejection × times_ejected, max_ejection)`, where
    /// [`times_ejected`](Self::times_ejected) already counts this ejection.
    /// `None` changes nothing.
    pub fn try_eject(
        &mut self,
        node: NodeIndex,
        now: Duration,
        members: usize,
    ) -> Option<Duration> {
        let i = node.as_usize();
        if self.is_ejected(node) || self.ejected >= self.max_ejected(members) {
            return None;
        }
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        let step = self.config.max_ejection;
        let slot = &mut self.slots[i];
        decay(slot, now, step);
        slot.times = slot.times.saturating_add(1).min(self.times_cap);
        let length = self
            .config
            .base_ejection
            .checked_mul(slot.times)
            .map_or(self.config.max_ejection, |d| {
                d.min(self.config.max_ejection)
            });
        let until = now.saturating_add(length);
        slot.until = Some(until);
        self.ejected += 1;
        Some(until)
    }

    /// Whether `node` is ejected (until the [`expire`](Self::expire) call that
    /// restores it).
    pub fn is_ejected(&self, node: NodeIndex) -> bool {
        self.ejected_until(node).is_some()
    }

    /// When the current ejection of `node` ends, if it is ejected.
    pub fn ejected_until(&self, node: NodeIndex) -> Option<Duration> {
        self.slots.get(node.as_usize())?.until
    }

    /// The earliest `until` among ejected nodes: when [`expire`](Self::expire)
    /// next has work to do.
    pub fn next_expiry(&self) -> Option<Duration> {
        self.slots.iter().filter_map(|s| s.until).min()
    }

    /// How many nodes are ejected.
    pub fn ejected_count(&self) -> usize {
        self.ejected
    }

    /// The backoff multiplier of `node`: its ejections so far, capped where
    /// an ejection reaches `max_ejection` and minus decay (see the
    /// [module docs](self)), as of the last [`try_eject`](Self::try_eject) or
    /// [`expire`](Self::expire). 0 for a node never ejected.
    pub fn times_ejected(&self, node: NodeIndex) -> u32 {
        self.slots.get(node.as_usize()).map_or(0, |s| s.times)
    }

    /// Restores every ejected node whose `until` is at or before `now`,
    /// appending each to `restored` in index order, and applies multiplier
    /// decay to every node in service.
    pub fn expire(&mut self, now: Duration, restored: &mut Vec<NodeIndex>) {
        let step = self.config.max_ejection;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(until) = slot.until {
                if until > now {
                    continue;
                }
                slot.until = None;
                // Decay counts from `until`, not `now`: a late `expire` must
                // not cost the node the in-service time it already had.
                slot.healthy_since = until;
                self.ejected -= 1;
                // Slots only exist for indices that came in as a `NodeIndex`.
                restored.push(NodeIndex::new(i as u32));
            }
            decay(slot, now, step);
        }
    }

    /// Forgets `node` entirely, ejection and multiplier included: it left
    /// the membership and its index may be reused by an unrelated node.
    pub fn forget(&mut self, node: NodeIndex) {
        if let Some(slot) = self.slots.get_mut(node.as_usize()) {
            if slot.until.is_some() {
                self.ejected -= 1;
            }
            *slot = Slot::default();
        }
    }
}

/// Lowers the multiplier of an in-service node by one per full `step` spent
/// in service since `healthy_since`, keeping the partial step for later.
fn decay(slot: &mut Slot, now: Duration, step: Duration) {
    if slot.until.is_some() || slot.times == 0 {
        return;
    }
    let steps = now.saturating_sub(slot.healthy_since).as_nanos() / step.as_nanos();
    let steps = u32::try_from(steps).unwrap_or(u32::MAX);
    if steps >= slot.times {
        slot.times = 0;
    } else if steps > 0 {
        slot.times -= steps;
        // steps × step ≤ now − healthy_since, so neither overflows.
        slot.healthy_since += step * steps;
    }
}
