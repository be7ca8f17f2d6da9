//! Changing a router: membership (add, remove, reweight, replace), manual
//! up/down, heartbeats and the periodic tick.
//!
//! Every change is all or nothing: on error the router is exactly as before.
//! Changes from several threads are serialized inside the router; each one
//! is published atomically to the threads that route.

use crate::args::{Out, bytes, handle};
use crate::router::{node_list, ringroute_node, ringroute_router};
use crate::status::{Failure, Result, boundary, ringroute_status};

/// Runs a change `f(router, name)` with the usual checks on both.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes.
unsafe fn with_name(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    f: impl FnOnce(&ringroute::router::Router<()>, &[u8]) -> Result<()>,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises `name_len` readable bytes.
        let name = unsafe { bytes(name, name_len, "name") }?;
        f(router, name)
    })
}

/// Adds a node (up) with a name (bytes, `name_len` of them) and a weight.
/// Only keys that now belong to the new node move (to it).
///
/// `node_out` may be NULL; otherwise it receives the new node's index (a
/// free index of a removed node is reused first).
///
/// Ownership: borrows `router`; the name is copied.
///
/// Thread-safety: safe from any thread, concurrently with lookups and other
/// changes.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` NULL, `name` NULL with
/// `name_len > 0`), `RINGROUTE_INVALID_ARGUMENT` (empty name),
/// `RINGROUTE_INVALID_WEIGHT` (0, negative, NaN or infinite),
/// `RINGROUTE_DUPLICATE_NODE`, `RINGROUTE_LIMIT_EXCEEDED`.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes;
/// `node_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_add(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    weight: f64,
    node_out: *mut u32,
) -> ringroute_status {
    // SAFETY: the caller promises a writable u32 or NULL (optional).
    let out = unsafe { Out::optional(node_out) };
    // SAFETY: forwarded from the caller.
    unsafe {
        with_name(router, name, name_len, |router, name| {
            let node = router.add(name, weight)?;
            if let Some(out) = out {
                out.write(node.get());
            }
            Ok(())
        })
    }
}

/// Removes the node named `name`. Only its keys move (each to its next
/// replica). Its index may be reused by a later add.
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
pub unsafe extern "C" fn ringroute_remove(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe { with_name(router, name, name_len, |r, n| Ok(r.remove(n)?)) }
}

/// Changes the weight of the node named `name`. Keys move only to or from
/// that node.
///
/// Ownership: borrows `router` and `name`.
///
/// Thread-safety: as `ringroute_add()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE`,
/// `RINGROUTE_INVALID_WEIGHT`, `RINGROUTE_LIMIT_EXCEEDED`.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_set_weight(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    weight: f64,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe { with_name(router, name, name_len, |r, n| Ok(r.set_weight(n, weight)?)) }
}

/// Makes the membership exactly `nodes`, all or nothing, in one
/// publication: nodes not listed leave, new ones join (up), listed members
/// take the given weight and keep their index, counters, health and manual
/// up/down state. For applying a fresh member list from service discovery.
///
/// `nodes` may be NULL when `n_nodes` is 0 (every node leaves).
///
/// Ownership: borrows `router` and `nodes`; names are copied.
///
/// Thread-safety: as `ringroute_add()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_ARGUMENT` (empty
/// name), `RINGROUTE_INVALID_WEIGHT`, `RINGROUTE_DUPLICATE_NODE` (a name
/// twice in `nodes`), `RINGROUTE_LIMIT_EXCEEDED`.
///
/// # Safety
///
/// `router` must be NULL or live; `nodes` NULL or readable for `n_nodes`
/// nodes, each name readable for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_replace(
    router: *const ringroute_router,
    nodes: *const ringroute_node,
    n_nodes: usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises `n_nodes` readable nodes or NULL.
        let nodes = unsafe { node_list(nodes, n_nodes) }?;
        // The core lets a later entry override an earlier one of the same
        // name; a list that names a node twice is a caller's mistake.
        let mut seen = std::collections::HashSet::with_capacity(nodes.len());
        if let Some((name, _)) = nodes.iter().find(|(name, _)| !seen.insert(*name)) {
            return Err(Failure::new(
                ringroute_status::RINGROUTE_DUPLICATE_NODE,
                format!(
                    "duplicate node {} in the list",
                    ringroute::names::escaped(name)
                ),
            ));
        }
        router.replace(nodes.into_iter().map(|(name, weight)| (name, weight, ())))?;
        Ok(())
    })
}

/// Marks the node named `name` down by hand: no lookup returns it until
/// `ringroute_mark_up()`. Only its keys move, each to its next replica, and
/// they come back when it is up. Marking a down node down is not an error.
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
pub unsafe extern "C" fn ringroute_mark_down(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe { with_name(router, name, name_len, |r, n| Ok(r.mark_down(n)?)) }
}

/// Marks the node named `name` up by hand. An outlier ejection or a
/// heartbeat verdict may still hold it out of rotation
/// (`ringroute_node_health()` tells).
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
pub unsafe extern "C" fn ringroute_mark_up(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe { with_name(router, name, name_len, |r, n| Ok(r.mark_up(n)?)) }
}

/// Records a heartbeat from the node named `name`, for the phi-accrual
/// detector (a no-op when `phi_accrual` is off). A node found unreachable is
/// back in rotation at once.
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
pub unsafe extern "C" fn ringroute_heartbeat(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe { with_name(router, name, name_len, |r, n| Ok(r.heartbeat(n)?)) }
}

/// Ends outlier ejections whose time is up and marks nodes whose heartbeats
/// stopped as unreachable. Call it periodically (say once a second) from
/// one thread.
///
/// Ownership: borrows `router`.
///
/// Thread-safety: safe from any thread, concurrently with everything else.
///
/// Errors: `RINGROUTE_NULL_POINTER`.
///
/// # Safety
///
/// `router` must be NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_tick(router: *const ringroute_router) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        unsafe { handle(router, "router") }?.router.tick();
        Ok(())
    })
}
