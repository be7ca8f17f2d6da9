//! Primary and backup tiers: a node's tier (0 = primary, 1 = first backup,
//! ...) decides when it takes traffic, and a [`TierPolicy`] decides how much
//! spills from a tier to the next as its nodes fail.
//!
//! Each tier has its own placement (the router's algorithm over that tier's
//! nodes alone) and its own picker. A key's tier is chosen from an
//! independent remix of its hash against the tiers' shares: keys whose remix
//! falls below tier 0's share stay in tier 0, the next slice goes to tier 1,
//! and so on. So while the tiers' health does not change no key changes
//! tier, when primaries fail only the keys above the new (smaller) share
//! spill, and when they recover exactly those keys come back. Inside its
//! tier a key is placed by its plain hash, as an untiered router of that
//! tier's nodes would place it.
//!
//! A router whose nodes are all in one tier builds none of this: it routes
//! exactly as before, on the same fast path.

use std::sync::Arc;
use std::time::Duration;

use super::algorithm::AnyPlacement;
use super::picker::{AnyPicker, PickerKind};
use super::view::HealthView;
use crate::error::{Error, Result};
use crate::node::{NodeIndex, NodeTable};
use crate::pick::{Loads, Rng};
use crate::place::{Liveness, Placement};

/// How traffic spills from a tier to the next as the tier's nodes go down.
/// Chosen when the router is built ([`RouterBuilder::tier_policy`](super::RouterBuilder::tier_policy)).
#[derive(Copy, Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum TierPolicy {
    /// nginx's `backup`: a tier takes all the traffic once no node of any
    /// tier above it is up, and none before. The default.
    #[default]
    Strict,
    /// Envoy's priority levels: a tier's health is its up weight share
    /// times `overprovisioning`, capped at 100%; the traffic a tier cannot
    /// take spills to the next. With the default factor 1.4 a tier keeps all
    /// its traffic until less than 1/1.4 ≈ 71.4% of its weight is up; with
    /// a share `u` up it keeps `1.4 × u` and spills `1 − 1.4 × u`.
    Proportional {
        /// Envoy's overprovisioning factor (finite, > 0; Envoy's default 1.4).
        overprovisioning: f64,
    },
}

impl TierPolicy {
    /// Envoy's default overprovisioning factor.
    pub const DEFAULT_OVERPROVISIONING: f64 = 1.4;

    /// [`TierPolicy::Proportional`] with the default factor 1.4.
    pub const fn proportional() -> Self {
        TierPolicy::Proportional {
            overprovisioning: Self::DEFAULT_OVERPROVISIONING,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match *self {
            TierPolicy::Proportional { overprovisioning }
                if !(overprovisioning.is_finite() && overprovisioning > 0.0) =>
            {
                Err(Error::InvalidParameter(
                    "the overprovisioning factor must be finite and greater than zero",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The share of traffic each tier takes, from each tier's
    /// `(up_weight, total_weight)`, highest priority first. The shares sum
    /// to 1; when no node of any tier is up, the first tier gets it all (as
    /// in Envoy: nothing is routed anyway).
    ///
    /// ```
    /// use ringroute::router::TierPolicy;
    ///
    /// // Two of four equal primaries up, backups all up.
    /// let tiers = [(2.0, 4.0), (2.0, 2.0)];
    /// assert_eq!(TierPolicy::Strict.shares(&tiers), vec![1.0, 0.0]);
    /// let shares = TierPolicy::proportional().shares(&tiers);
    /// assert!((shares[1] - (1.0 - 1.4 * 0.5)).abs() < 1e-12);
    /// ```
    pub fn shares(&self, tiers: &[(f64, f64)]) -> Vec<f64> {
        let mut shares = vec![0.0; tiers.len()];
        if tiers.is_empty() {
            return shares;
        }
        let first_up = tiers.iter().position(|&(up, _)| up > 0.0);
        match *self {
            TierPolicy::Strict => shares[first_up.unwrap_or(0)] = 1.0,
            TierPolicy::Proportional { overprovisioning } => {
                // Envoy's recalculatePerPriorityState and distributeLoad, in
                // reals rather than whole percents.
                let health: Vec<f64> = tiers
                    .iter()
                    .map(|&(up, total)| {
                        if total > 0.0 {
                            (overprovisioning * up / total).min(1.0)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let normalized = health.iter().sum::<f64>().min(1.0);
                let Some(first) = first_up.filter(|_| normalized > 0.0) else {
                    shares[0] = 1.0;
                    return shares;
                };
                let mut left = 1.0f64;
                for (share, h) in shares.iter_mut().zip(&health) {
                    *share = (h / normalized).min(left);
                    left -= *share;
                }
                // Rounding leftovers go to the first tier with a node up.
                shares[first] += left.max(0.0);
            }
        }
        shares
    }
}

/// One tier as a snapshot sees it; see [`Snapshot::tiers`](super::Snapshot::tiers).
#[derive(Clone, Debug, PartialEq)]
pub struct TierShare {
    /// The tier number (0 = primary).
    pub tier: u32,
    /// The share of keys and picks it takes now, in `[0, 1]`.
    pub share: f64,
    /// Its nodes that take traffic now.
    pub up: usize,
    /// Its nodes.
    pub nodes: usize,
    /// The sum of the weights of its up nodes.
    pub up_weight: f64,
    /// The sum of the weights of its nodes.
    pub weight: f64,
}

/// The tier-choice hash: an avalanche remix (murmur3's fmix64 of the key
/// hash xor a constant), so that which tier a key goes to is independent of
/// where its plain hash places it inside the tier.
#[inline]
pub(crate) fn tier_hash(hash: u64) -> u64 {
    let mut h = hash ^ 0x9e37_79b9_7f4a_7c15;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One tier's lookup structures, built from a table of its nodes alone
/// (at their router-wide indices, so answers need no translation).
#[derive(Debug)]
struct Level {
    tier: u32,
    table: NodeTable<()>,
    placement: AnyPlacement,
    picker: AnyPicker,
}

/// The router-wide placement a snapshot keeps: the real one, or for a
/// tiered router (which routes through its tiers) an empty jump index that
/// no lookup consults. It must not be a ring: the untiered ring's inlined
/// fast path then needs no test for tiers.
pub(crate) fn stand_in(tiers: &Option<Arc<Tiers>>, placement: &AnyPlacement) -> AnyPlacement {
    match tiers {
        Some(_) => AnyPlacement::Jump(crate::place::jump::JumpIndex::new()),
        None => placement.clone(),
    }
}

/// The membership part of tiering: one [`Level`] per non-empty tier,
/// highest priority first. Built only when the nodes span two tiers or more.
#[derive(Debug)]
pub(crate) struct Tiers {
    levels: Vec<Level>,
    policy: TierPolicy,
    rng: Rng,
}

/// The health part: each level's share as a threshold on the tier hash,
/// and its up count for the level's lookups.
#[derive(Clone, Debug)]
pub(crate) struct TierView {
    /// Cumulative share of levels `0..=i`, scaled to `2^64`.
    bounds: Vec<u64>,
    /// The last level with a share: it takes whatever the bounds miss.
    last: usize,
    shares: Vec<f64>,
    up: Vec<usize>,
    up_weight: Vec<f64>,
    all_up: Vec<bool>,
}

/// Liveness inside one level: the router's health, with the level's counts.
struct LevelLive<'a> {
    health: &'a HealthView,
    up: usize,
    all_up: bool,
}

impl Liveness for LevelLive<'_> {
    #[inline]
    fn is_up(&self, node: NodeIndex) -> bool {
        self.health.is_up(node)
    }

    #[inline]
    fn up_count(&self) -> usize {
        self.up
    }

    #[inline]
    fn all_up(&self) -> bool {
        self.all_up
    }
}

/// What the tiers' structures are built from: each node's slot, name,
/// weight (bits) and tier. Health is not in it: it is read at lookup time.
type TierKey = Vec<(u32, Box<[u8]>, u64, u32)>;

/// The writer's copy of the tiers: rebuilt only when a node joins, leaves,
/// changes weight or tier, so that marking a node up or down by hand (a
/// membership publication too) does not rebuild every tier's placement.
#[derive(Debug, Default)]
pub(crate) struct TierCache {
    /// The spill policy, fixed when the router is built.
    pub policy: TierPolicy,
    key: TierKey,
    tiers: Option<Arc<Tiers>>,
}

impl TierCache {
    /// The tiers for `table`, rebuilt if its nodes changed since last time.
    pub fn get<T>(
        &mut self,
        table: &NodeTable<T>,
        template: &AnyPlacement,
        picker: &PickerKind,
    ) -> Option<Arc<Tiers>> {
        let key: TierKey = table
            .iter()
            .map(|(i, n)| (i.get(), n.name().into(), n.weight().to_bits(), n.tier()))
            .collect();
        if key != self.key {
            self.tiers = Tiers::build(table, template, picker, self.policy).map(Arc::new);
            self.key = key;
        }
        self.tiers.clone()
    }
}

impl Tiers {
    /// Per-tier placements and pickers for `table`, or `None` when every
    /// node is in the same tier (the router then routes untiered).
    pub fn build<T>(
        table: &NodeTable<T>,
        template: &AnyPlacement,
        picker: &PickerKind,
        policy: TierPolicy,
    ) -> Option<Tiers> {
        let mut tiers: Vec<u32> = table.iter().map(|(_, n)| n.tier()).collect();
        tiers.sort_unstable();
        tiers.dedup();
        if tiers.len() < 2 {
            return None;
        }
        let levels = tiers
            .into_iter()
            .map(|tier| {
                let sub = table.subset(|n| n.tier() == tier);
                // The whole table passed the placement's checks, and every
                // check holds for a subset of it (weights, counts below a
                // table size), so the rebuild cannot fail.
                let mut placement = template.clone();
                placement.rebuild(&sub);
                Level {
                    tier,
                    picker: picker.build(&sub),
                    placement,
                    table: sub,
                }
            })
            .collect();
        Some(Tiers {
            levels,
            policy,
            rng: Rng::from_entropy(),
        })
    }

    /// The shares and per-level counts under `health`.
    pub fn view(&self, health: &HealthView) -> TierView {
        let mut weights = Vec::with_capacity(self.levels.len());
        let mut up = Vec::with_capacity(self.levels.len());
        let mut all_up = Vec::with_capacity(self.levels.len());
        for level in &self.levels {
            let (mut n, mut w, mut total) = (0, 0.0, 0.0);
            for (i, node) in level.table.iter() {
                total += node.weight();
                if health.is_up(i) {
                    n += 1;
                    w += node.weight();
                }
            }
            weights.push((w, total));
            up.push(n);
            all_up.push(n == level.table.len());
        }
        let shares = self.policy.shares(&weights);
        let mut bounds = Vec::with_capacity(shares.len());
        let mut sum = 0.0;
        for share in &shares {
            sum += share;
            // `as` saturates: a sum that rounds to 1 or above is 2^64 - 1.
            bounds.push((sum * 18_446_744_073_709_551_616.0) as u64);
        }
        let last = shares.iter().rposition(|&s| s > 0.0).unwrap_or(0);
        TierView {
            bounds,
            last,
            shares,
            up,
            up_weight: weights.into_iter().map(|(w, _)| w).collect(),
            all_up,
        }
    }

    fn live<'a>(&self, view: &TierView, health: &'a HealthView, level: usize) -> LevelLive<'a> {
        LevelLive {
            health,
            up: view.up[level],
            all_up: view.all_up[level],
        }
    }

    /// The tier number of the level `view` sends `hash` to.
    pub fn tier_of(&self, view: &TierView, hash: u64) -> u32 {
        self.levels[view.level(tier_hash(hash))].tier
    }

    /// The top tier's placement: where a key's primary lives.
    pub fn top_placement(&self) -> &AnyPlacement {
        &self.levels[0].placement
    }

    /// The key hash every level's placement expects (they share one
    /// algorithm, so the first level's answers for all).
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.levels[0].placement.key_hash(key)
    }

    /// The up node serving `hash`: its level's placement, by the plain hash.
    pub fn route(&self, view: &TierView, health: &HealthView, hash: u64) -> Option<NodeIndex> {
        let level = view.level(tier_hash(hash));
        let live = self.live(view, health, level);
        self.levels[level].placement.route(hash, &live)
    }

    /// Distinct up nodes for `hash`: its level's replicas first, then the
    /// levels after it, then those before it.
    pub fn route_n(
        &self,
        view: &TierView,
        health: &HealthView,
        hash: u64,
        out: &mut [NodeIndex],
    ) -> usize {
        let first = view.level(tier_hash(hash));
        let count = self.levels.len();
        let mut found = 0;
        for level in (first..count).chain(0..first) {
            if found == out.len() {
                break;
            }
            let live = self.live(view, health, level);
            found += self.levels[level]
                .placement
                .route_n(hash, &live, &mut out[found..]);
        }
        found
    }

    /// A node for a request without a key: a level drawn at random by the
    /// shares, then that level's picker.
    pub fn pick<D: Loads + ?Sized>(
        &self,
        view: &TierView,
        health: &HealthView,
        loads: &D,
        now: Duration,
    ) -> Option<NodeIndex> {
        let level = view.level(self.rng.next_u64());
        let live = self.live(view, health, level);
        self.levels[level].picker.pick(&live, loads, now)
    }

    /// Every tier with its share under `view`.
    pub fn shares(&self, view: &TierView) -> Vec<TierShare> {
        self.levels
            .iter()
            .enumerate()
            .map(|(i, level)| TierShare {
                tier: level.tier,
                share: view.shares[i],
                up: view.up[i],
                nodes: level.table.len(),
                up_weight: view.up_weight[i],
                weight: level.table.iter().map(|(_, n)| n.weight()).sum(),
            })
            .collect()
    }
}

impl TierView {
    /// The level a tier hash (or a random draw) falls in.
    #[inline]
    fn level(&self, draw: u64) -> usize {
        for (i, &bound) in self.bounds.iter().enumerate() {
            if draw < bound || i >= self.last {
                return i;
            }
        }
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_gives_everything_to_the_first_tier_with_a_node_up() {
        let p = TierPolicy::Strict;
        assert_eq!(p.shares(&[(1.0, 4.0), (2.0, 2.0)]), vec![1.0, 0.0]);
        assert_eq!(p.shares(&[(0.0, 4.0), (2.0, 2.0)]), vec![0.0, 1.0]);
        assert_eq!(
            p.shares(&[(0.0, 4.0), (0.0, 2.0), (1.0, 1.0)]),
            vec![0.0, 0.0, 1.0]
        );
        assert_eq!(p.shares(&[(0.0, 4.0), (0.0, 2.0)]), vec![1.0, 0.0]);
    }

    #[test]
    fn proportional_follows_envoy() {
        let p = TierPolicy::proportional();
        // 80% up: 1.12 capped at 1, nothing spills.
        assert_eq!(p.shares(&[(4.0, 5.0), (1.0, 1.0)]), vec![1.0, 0.0]);
        // 50% up: 0.7 stays, 0.3 spills.
        let s = p.shares(&[(1.0, 2.0), (1.0, 1.0)]);
        assert!((s[0] - 0.7).abs() < 1e-12 && (s[1] - 0.3).abs() < 1e-12);
        // Envoy's own example (health 10/20/10 of 100): normalized 40, so
        // 25% / 50% / 25%.
        let p1 = TierPolicy::Proportional {
            overprovisioning: 1.0,
        };
        let s = p1.shares(&[(1.0, 10.0), (2.0, 10.0), (1.0, 10.0)]);
        for (got, want) in s.iter().zip([0.25, 0.5, 0.25]) {
            assert!((got - want).abs() < 1e-12, "{s:?}");
        }
        // Backups also degraded: what neither takes is scaled up.
        let s = p.shares(&[(1.0, 4.0), (1.0, 4.0)]);
        assert!((s[0] - 0.5).abs() < 1e-12 && (s[1] - 0.5).abs() < 1e-12);
        // Nothing up: all to the first tier.
        assert_eq!(p.shares(&[(0.0, 4.0), (0.0, 4.0)]), vec![1.0, 0.0]);
        let sum: f64 = p.shares(&[(3.0, 7.0), (1.0, 3.0), (5.0, 5.0)]).iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_factors_are_refused() {
        for f in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let p = TierPolicy::Proportional {
                overprovisioning: f,
            };
            assert!(p.validate().is_err(), "{f}");
        }
        assert!(TierPolicy::proportional().validate().is_ok());
    }

    #[test]
    fn the_tier_hash_is_a_remix() {
        // Neighbouring key hashes land far apart, and the map is not the identity.
        assert_ne!(tier_hash(1), 1);
        assert!((tier_hash(1) ^ tier_hash(2)).count_ones() > 16);
    }
}
