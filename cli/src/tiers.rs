//! Primary and backup tiers in the CLI: a cluster whose nodes span two
//! tiers or more routes through the library's tiered `Router` (each tier its
//! own placement, a spill policy between them), and `analyze` adds a section
//! on what spills to the backups as nodes of the top tier go down.
//!
//! The rest of `analyze` (balance, movement, failure) studies the top tier
//! alone: while it is up it takes every key, so that is the placement whose
//! balance matters; the tier section covers the rest.

use std::fmt::Write as _;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use ringroute::NodeIndex;
use ringroute::hash::key_hash;
use ringroute::router::{Router as Tiered, Snapshot, TierPolicy};

use crate::cluster::{ClusterSpec, Member};
use crate::error::CliError;
use crate::router::{Config, Router, Ties};
use crate::text::{count, pct, weight};

/// How traffic spills from a tier to the next.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// nginx's `backup`: a tier serves only when no node of the tiers above it is up
    Strict,
    /// Envoy's priority levels: a tier keeps OVERPROVISIONING x its up weight share
    /// (capped at 100%), the rest spills to the next tier
    Proportional,
}

/// The tier options of `route` and `analyze`.
#[derive(Args, Debug, Clone)]
pub struct TierArgs {
    /// How keys spill from a tier to the next as its nodes go down (nodes get a
    /// tier with NAME=WEIGHT@TIER)
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = Policy::Strict)]
    pub tier_policy: Policy,

    /// Envoy's overprovisioning factor, for --tier-policy proportional
    #[arg(long, value_name = "F", default_value_t = TierPolicy::DEFAULT_OVERPROVISIONING)]
    pub overprovisioning: f64,
}

impl TierArgs {
    pub fn policy(&self) -> TierPolicy {
        match self.tier_policy {
            Policy::Strict => TierPolicy::Strict,
            Policy::Proportional => TierPolicy::Proportional {
                overprovisioning: self.overprovisioning,
            },
        }
    }

    fn describe(&self) -> String {
        match self.tier_policy {
            Policy::Strict => "strict (nginx backup)".to_string(),
            Policy::Proportional => format!(
                "proportional (Envoy priority levels, overprovisioning {})",
                weight(self.overprovisioning)
            ),
        }
    }
}

/// Whether the nodes span two tiers or more.
pub fn is_tiered(spec: &ClusterSpec) -> bool {
    spec.nodes.windows(2).any(|w| w[0].tier != w[1].tier)
}

/// The nodes of the top (lowest-numbered) tier.
pub fn top_tier(spec: &ClusterSpec) -> ClusterSpec {
    let top = spec.nodes.iter().map(|n| n.tier).min().unwrap_or(0);
    ClusterSpec {
        nodes: spec
            .nodes
            .iter()
            .filter(|n| n.tier == top)
            .cloned()
            .collect(),
        ..spec.clone()
    }
}

/// The library's tiered router over a member list, answering with member ids.
pub struct TieredRouter {
    config: Config,
    policy: TierPolicy,
    members: Vec<(String, f64, u32, u32)>,
    router: Tiered<u32>,
    snapshot: Arc<Snapshot<u32>>,
}

impl TieredRouter {
    /// `members`: `(name, weight, tier, id)`.
    fn new(
        config: Config,
        policy: TierPolicy,
        members: Vec<(String, f64, u32, u32)>,
    ) -> Result<Self, CliError> {
        let builder = Tiered::builder()
            .algorithm(config.algorithm())
            .tier_policy(policy)
            .no_outlier_detection();
        let router = members
            .iter()
            .fold(builder, |b, (name, w, tier, id)| {
                b.node_with_tier(name, *w, *tier, *id)
            })
            .build()
            .map_err(|e| CliError::usage(e.to_string()))?;
        let snapshot = router.snapshot();
        Ok(TieredRouter {
            config,
            policy,
            members,
            router,
            snapshot,
        })
    }

    /// The tiered router for the whole of `spec`.
    pub fn build(config: Config, spec: &ClusterSpec, args: &TierArgs) -> Result<Self, CliError> {
        let members = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), n.weight, n.tier, i as u32))
            .collect();
        Self::new(config, args.policy(), members)
    }

    fn id(&self, node: NodeIndex) -> u32 {
        *self.snapshot.node(node).expect("a member").payload()
    }

    fn name(&self, id: u32) -> Result<&str, CliError> {
        self.members
            .iter()
            .find(|m| m.3 == id)
            .map(|m| m.0.as_str())
            .ok_or_else(|| CliError::usage(format!("no member {id}")))
    }

    fn tier_of(&self, id: u32) -> u32 {
        self.members.iter().find(|m| m.3 == id).map_or(0, |m| m.2)
    }
}

impl Router for TieredRouter {
    fn route_hash(&self, hash: u64) -> Option<u32> {
        self.snapshot.route_hash(hash).map(|n| self.id(n))
    }

    fn replicas_hash(&self, hash: u64, n: usize, out: &mut Vec<u32>) {
        let mut buf = vec![NodeIndex::new(0); n];
        let found = self.snapshot.route_n_hash_into(hash, &mut buf);
        out.clear();
        out.extend(buf[..found].iter().map(|&i| self.id(i)));
    }

    fn exact_shares(&self) -> Option<Vec<(u32, f64)>> {
        None
    }

    fn describe(&self) -> String {
        format!("{} per tier, tiered", self.config.algo.name())
    }

    fn ties(&self) -> Option<Ties> {
        None
    }

    fn without(&self, id: u32) -> Result<Box<dyn Router>, CliError> {
        let members = self.members.iter().filter(|m| m.3 != id).cloned().collect();
        Ok(Box::new(Self::new(self.config, self.policy, members)?))
    }

    fn with(&self, member: Member<'_>) -> Result<Box<dyn Router>, CliError> {
        let mut members = self.members.clone();
        members.push((member.name.to_string(), member.weight, 0, member.id));
        Ok(Box::new(Self::new(self.config, self.policy, members)?))
    }

    fn set_up(&mut self, id: u32, up: bool) -> Result<(), CliError> {
        let name = self.name(id)?.to_string();
        let done = if up {
            self.router.mark_up(&name)
        } else {
            self.router.mark_down(&name)
        };
        done.map_err(|e| CliError::usage(e.to_string()))?;
        self.snapshot = self.router.snapshot();
        Ok(())
    }
}

/// One row of the spill table: the state with some top-tier nodes down.
struct Row {
    label: String,
    up_weight: f64,
    /// Share of keys on nodes outside the top tier.
    spilled: f64,
    /// The policy's share for the tiers below the top one.
    expected: f64,
    /// Keys that moved between two nodes that stayed up.
    stray: u64,
    /// Keys not back on their node once everything is up again.
    not_returned: u64,
}

/// Marks `down` down, routes `hashes`, compares with `before`, marks them up
/// and checks every key came back.
fn scenario(
    router: &mut TieredRouter,
    hashes: &[u64],
    before: &[u32],
    down: &[u32],
    top: u32,
    label: String,
) -> Result<Row, CliError> {
    for &id in down {
        router.set_up(id, false)?;
    }
    let shares = router.snapshot.tiers();
    let expected = shares
        .iter()
        .filter(|t| t.tier != top)
        .map(|t| t.share)
        .sum();
    let top_share = shares.iter().find(|t| t.tier == top);
    let up_weight = top_share.map_or(0.0, |t| t.up_weight / t.weight);
    let (mut spilled, mut stray) = (0u64, 0u64);
    for (&hash, &old) in hashes.iter().zip(before) {
        let now = router.route_hash(hash).ok_or_else(no_node)?;
        if router.tier_of(now) != top {
            spilled += 1;
        } else if now != old && !down.contains(&old) {
            stray += 1;
        }
    }
    for &id in down {
        router.set_up(id, true)?;
    }
    let mut not_returned = 0;
    for (&hash, &old) in hashes.iter().zip(before) {
        not_returned += u64::from(router.route_hash(hash) != Some(old));
    }
    Ok(Row {
        label,
        up_weight,
        spilled: spilled as f64 / hashes.len().max(1) as f64,
        expected,
        stray,
        not_returned,
    })
}

fn no_node() -> CliError {
    CliError::runtime("no node is up to serve a key")
}

/// The tier section of `analyze`: each tier's nodes and share, then what
/// spills as 0, 1, ... nodes of the top tier are down (at most 11 rows),
/// and what `--fail` does, if given.
pub fn analyze(
    spec: &ClusterSpec,
    config: Config,
    args: &TierArgs,
    keys: u64,
    fail: &[String],
) -> Result<String, CliError> {
    let mut router = TieredRouter::build(config, spec, args)?;
    let hashes: Vec<u64> = (0..keys)
        .map(|i| key_hash(format!("key-{i}").as_bytes()))
        .collect();
    let before: Vec<u32> = hashes
        .iter()
        .map(|&h| router.route_hash(h).ok_or_else(no_node))
        .collect::<Result<_, _>>()?;
    let shares = router.snapshot.tiers();
    let top = shares.first().map_or(0, |t| t.tier);

    let mut out = String::new();
    let _ = writeln!(out, "\nTIERS: {}", args.describe());
    let _ = writeln!(
        out,
        "  {:>6}  {:>6}  {:>8}  {:>12}",
        "tier", "nodes", "weight", "keys"
    );
    for t in &shares {
        let on = before
            .iter()
            .filter(|&&id| router.tier_of(id) == t.tier)
            .count() as u64;
        let _ = writeln!(
            out,
            "  {:>6}  {:>6}  {:>8}  {:>12}  {}",
            t.tier,
            t.nodes,
            weight(t.weight),
            count(on),
            pct(on as f64 / keys.max(1) as f64)
        );
    }

    let top_ids: Vec<u32> = router
        .members
        .iter()
        .filter(|m| m.2 == top)
        .map(|m| m.3)
        .collect();
    let steps = top_ids.len().min(10);
    let mut rows = Vec::new();
    for s in 0..=steps {
        let k = s * top_ids.len() / steps.max(1);
        let down = &top_ids[..k];
        let label = format!("{k} of {}", top_ids.len());
        rows.push(scenario(&mut router, &hashes, &before, down, top, label)?);
    }
    if !fail.is_empty() {
        let ids: Vec<u32> = fail
            .iter()
            .filter_map(|name| router.members.iter().find(|m| &m.0 == name).map(|m| m.3))
            .collect();
        let label = format!("--fail ({})", ids.len());
        rows.push(scenario(&mut router, &hashes, &before, &ids, top, label)?);
    }
    let _ = writeln!(
        out,
        "\nSPILL: nodes of tier {top} marked down in node order, every key routed again"
    );
    let _ = writeln!(
        out,
        "  {:>12}  {:>10}  {:>10}  {:>10}  {:>12}  {:>12}",
        "down", "up weight", "spilled", "policy", "other moves", "not back"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "  {:>12}  {:>10}  {:>10}  {:>10}  {:>12}  {:>12}",
            r.label,
            pct(r.up_weight),
            pct(r.spilled),
            pct(r.expected),
            count(r.stray),
            count(r.not_returned)
        );
    }
    let sticky = rows.iter().all(|r| r.stray == 0 && r.not_returned == 0);
    let _ = writeln!(
        out,
        "  {}",
        if sticky {
            "Only the failed nodes' keys and the spilled keys moved, and every key came back \
             on recovery."
        } else {
            "Some keys moved between nodes that stayed up, or did not come back (see above)."
        }
    );
    Ok(out)
}
