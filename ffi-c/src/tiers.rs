//! Primary and backup tiers: building a tiered router, moving a node to
//! another tier, and reading the tiers' shares.
//!
//! A node's tier is 0 for a primary (the default everywhere else in this
//! ABI), 1 for the first backup tier, and so on. While the primaries are up
//! no key and no pick reaches a backup; as they fail, traffic spills to the
//! next tier by the policy chosen when the router is built.

use ringroute::router::TierPolicy;

use crate::args::{Out, array, bytes, handle};
use crate::config::ringroute_config;
use crate::router::{builder, node_list, publish, ringroute_node, ringroute_router};
use crate::status::{Failure, Result, boundary, ringroute_status};

/// How traffic spills from a tier to the next: one of the
/// `RINGROUTE_TIER_POLICY_*` constants (a plain integer; an unknown value is
/// `RINGROUTE_INVALID_ARGUMENT`).
pub type ringroute_tier_policy = u32;

/// nginx's `backup`: a tier takes all the traffic once no node of any tier
/// above it is up, and none before. The default of the text format.
pub const RINGROUTE_TIER_POLICY_STRICT: ringroute_tier_policy = 0;
/// Envoy's priority levels: a tier's health is its up weight share times the
/// overprovisioning factor, capped at 100%; what a tier cannot take spills
/// to the next (with the factor 1.4 and a share `u` of a tier up, it keeps
/// `1.4 × u` of its traffic).
pub const RINGROUTE_TIER_POLICY_PROPORTIONAL: ringroute_tier_policy = 1;

/// Envoy's default overprovisioning factor, for
/// `RINGROUTE_TIER_POLICY_PROPORTIONAL`.
pub const RINGROUTE_DEFAULT_OVERPROVISIONING: f64 = 1.4;

pub(crate) fn tier_policy(
    policy: ringroute_tier_policy,
    overprovisioning: f64,
) -> Result<TierPolicy> {
    match policy {
        RINGROUTE_TIER_POLICY_STRICT => Ok(TierPolicy::Strict),
        RINGROUTE_TIER_POLICY_PROPORTIONAL => Ok(TierPolicy::Proportional { overprovisioning }),
        other => Err(Failure::invalid(format!("unknown tier policy {other}"))),
    }
}

/// Builds a router whose node `nodes[i]` is in tier `tiers[i]` (0 = primary,
/// 1 = first backup, ...), with a spill `policy`; otherwise as
/// `ringroute_router_new()`. `overprovisioning` is read for
/// `RINGROUTE_TIER_POLICY_PROPORTIONAL` only (finite, > 0; pass
/// `RINGROUTE_DEFAULT_OVERPROVISIONING` for Envoy's 1.4).
///
/// `tiers` may be NULL: every node is a primary.
///
/// Ownership: as `ringroute_router_new()`; `tiers` stays the caller's.
///
/// Thread-safety: safe from any thread.
///
/// Errors: those of `ringroute_router_new()`, and
/// `RINGROUTE_INVALID_ARGUMENT` for an unknown policy or a bad factor.
///
/// # Safety
///
/// As `ringroute_router_new()`; `tiers` must be NULL or point to `n_nodes`
/// readable values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_router_new_tiered(
    config: *const ringroute_config,
    nodes: *const ringroute_node,
    tiers: *const u32,
    n_nodes: usize,
    policy: ringroute_tier_policy,
    overprovisioning: f64,
    router_out: *mut *mut ringroute_router,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(router_out, "router_out") }?;
        // SAFETY: the caller promises `n_nodes` readable nodes or NULL.
        let nodes = unsafe { node_list(nodes, n_nodes) }?;
        let tiers: &[u32] = if tiers.is_null() {
            &[]
        } else {
            // SAFETY: not NULL, and the caller promises `n_nodes` values.
            unsafe { array(tiers, n_nodes, "tiers") }?
        };
        let policy = tier_policy(policy, overprovisioning)?;
        // SAFETY: the caller promises a readable config or NULL.
        let mut builder = unsafe { builder(config) }?.tier_policy(policy);
        for (i, (name, weight)) in nodes.into_iter().enumerate() {
            builder = builder.node_in_tier(name, weight, tiers.get(i).copied().unwrap_or(0));
        }
        publish(builder.build()?, out);
        Ok(())
    })
}

/// Moves the node named `name` to `tier` (0 = primary, 1 = first backup,
/// ...). A membership change, like a reweight: published atomically.
///
/// Ownership: borrows `router` and `name`.
///
/// Thread-safety: as `ringroute_add()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE`.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_set_tier(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    tier: u32,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises `name_len` readable bytes.
        let name = unsafe { bytes(name, name_len, "name") }?;
        Ok(router.set_tier(name, tier)?)
    })
}

/// Writes the tier of the node at index `node` to `*tier_out`.
///
/// Ownership: borrows `router`.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE`.
///
/// # Safety
///
/// `router` must be NULL or live; `tier_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_node_tier(
    router: *const ringroute_router,
    node: u32,
    tier_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u32 or NULL.
        let out = unsafe { Out::new(tier_out, "tier_out") }?;
        let snapshot = router.snapshot();
        let node = snapshot
            .node(ringroute::NodeIndex::new(node))
            .ok_or_else(|| {
                Failure::new(
                    ringroute_status::RINGROUTE_UNKNOWN_NODE,
                    format!("no node has index {node}"),
                )
            })?;
        out.write(node.tier());
        Ok(())
    })
}

/// Writes to `*share_out` the share of keys and picks that tier `tier` takes
/// now, in `[0, 1]` (0 for a tier without nodes). The shares of all tiers
/// sum to 1.
///
/// Ownership: borrows `router`.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER`.
///
/// # Safety
///
/// `router` must be NULL or live; `share_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_tier_share(
    router: *const ringroute_router,
    tier: u32,
    share_out: *mut f64,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable double or NULL.
        let out = unsafe { Out::new(share_out, "share_out") }?;
        let share = router
            .snapshot()
            .tiers()
            .iter()
            .find(|t| t.tier == tier)
            .map_or(0.0, |t| t.share);
        out.write(share);
        Ok(())
    })
}
