//! Questions about the nodes of a router: names and indices, health,
//! counters, sizes.

use ringroute::NodeIndex;
use ringroute::router::NodeHealth;

use crate::args::{ByteBuf, Out, bytes, handle};
use crate::router::ringroute_router;
use crate::status::{Failure, boundary, ringroute_status};

/// Why a node does or does not take traffic.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ringroute_health {
    /// Takes traffic.
    RINGROUTE_HEALTH_UP = 0,
    /// Marked down by hand (`ringroute_mark_down()`).
    RINGROUTE_HEALTH_DOWN = 1,
    /// Ejected by outlier detection until its ejection time is up (see
    /// `ringroute_tick()`).
    RINGROUTE_HEALTH_EJECTED = 2,
    /// Its heartbeats stopped: the phi-accrual detector suspects it.
    RINGROUTE_HEALTH_UNREACHABLE = 3,
}

impl From<NodeHealth> for ringroute_health {
    fn from(h: NodeHealth) -> Self {
        match h {
            NodeHealth::Up => ringroute_health::RINGROUTE_HEALTH_UP,
            NodeHealth::Down => ringroute_health::RINGROUTE_HEALTH_DOWN,
            NodeHealth::Ejected => ringroute_health::RINGROUTE_HEALTH_EJECTED,
            NodeHealth::Unreachable => ringroute_health::RINGROUTE_HEALTH_UNREACHABLE,
        }
    }
}

/// What a router knows about one node, read from one snapshot.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ringroute_node_info {
    /// The node's index.
    pub index: u32,
    /// Its weight.
    pub weight: f64,
    /// Whether it takes traffic, and if not, why.
    pub health: ringroute_health,
    /// Requests started (tickets) and not finished yet.
    pub in_flight: u32,
    /// Failures since the last success or ejection.
    pub consecutive_failures: u32,
    /// Successes reported in total.
    pub successes: u64,
    /// Failures reported in total.
    pub failures: u64,
}

fn unknown(name: &[u8]) -> Failure {
    Failure::new(
        ringroute_status::RINGROUTE_UNKNOWN_NODE,
        format!("unknown node {}", ringroute::names::escaped(name)),
    )
}

/// Writes the health of the node named `name` to `*health_out`.
///
/// Ownership: borrows `router` and `name`.
///
/// Thread-safety: safe from any number of threads at once, concurrently
/// with changes.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE`.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes;
/// `health_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_node_health(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    health_out: *mut ringroute_health,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable ringroute_health or NULL.
        let out = unsafe { Out::new(health_out, "health_out") }?;
        // SAFETY: the caller promises `name_len` readable bytes.
        let name = unsafe { bytes(name, name_len, "name") }?;
        let health = router.health(name).ok_or_else(|| unknown(name))?;
        out.write(health.into());
        Ok(())
    })
}

/// Writes what the router knows about the node named `name` (index, weight,
/// health, request counters) to `*info_out`.
///
/// Ownership: borrows `router` and `name`.
///
/// Thread-safety: as `ringroute_node_health()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE`.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes;
/// `info_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_get_node_info(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    info_out: *mut ringroute_node_info,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable ringroute_node_info or NULL.
        let out = unsafe { Out::new(info_out, "info_out") }?;
        // SAFETY: the caller promises `name_len` readable bytes.
        let name = unsafe { bytes(name, name_len, "name") }?;
        let snapshot = router.snapshot();
        let index = snapshot.index_of(name).ok_or_else(|| unknown(name))?;
        let node = snapshot.node(index).ok_or_else(|| unknown(name))?;
        let health = snapshot.health(index).ok_or_else(|| unknown(name))?;
        let stats = snapshot.stats(index);
        out.write(ringroute_node_info {
            index: index.get(),
            weight: node.weight(),
            health: health.into(),
            in_flight: stats.map_or(0, |s| s.in_flight()),
            consecutive_failures: stats.map_or(0, |s| s.consecutive_failures()),
            successes: stats.map_or(0, |s| s.successes()),
            failures: stats.map_or(0, |s| s.failures()),
        });
        Ok(())
    })
}

/// Writes the index of the node named `name` to `*node_out`.
///
/// Ownership: borrows `router` and `name`.
///
/// Thread-safety: as `ringroute_node_health()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_UNKNOWN_NODE`.
///
/// # Safety
///
/// `router` must be NULL or live; `name` readable for `name_len` bytes;
/// `node_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_node_index(
    router: *const ringroute_router,
    name: *const u8,
    name_len: usize,
    node_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u32 or NULL.
        let out = unsafe { Out::new(node_out, "node_out") }?;
        // SAFETY: the caller promises `name_len` readable bytes.
        let name = unsafe { bytes(name, name_len, "name") }?;
        let index = router
            .snapshot()
            .index_of(name)
            .ok_or_else(|| unknown(name))?;
        out.write(index.get());
        Ok(())
    })
}

/// Copies the name of the node at index `node` into the caller's buffer:
/// `*name_len` is the capacity of `name_buf` on entry and the name's length
/// on return (no NUL terminator is added; names are bytes). If it does not
/// fit: `RINGROUTE_BUFFER_TOO_SMALL`, the length needed in `*name_len`, and
/// `name_buf` untouched.
///
/// An index names whichever node holds it now: if the node you routed to
/// was removed since, the index may be free (`RINGROUTE_UNKNOWN_NODE`) or
/// reused by a newer node. `ringroute_route_name()` gives index and name
/// from one snapshot.
///
/// Ownership: borrows `router`; writes into the caller's buffer.
///
/// Thread-safety: as `ringroute_node_health()`.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` or `name_len` NULL,
/// `name_buf` NULL with `*name_len > 0`), `RINGROUTE_UNKNOWN_NODE`,
/// `RINGROUTE_BUFFER_TOO_SMALL`.
///
/// # Safety
///
/// `router` must be NULL or live; `name_len` NULL or readable and writable;
/// `name_buf` writable for `*name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_node_name(
    router: *const ringroute_router,
    node: u32,
    name_buf: *mut u8,
    name_len: *mut usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a usable length slot and buffer.
        let buf = unsafe { ByteBuf::new(name_buf, name_len) }?;
        let snapshot = router.snapshot();
        let found = snapshot.node(NodeIndex::new(node)).ok_or_else(|| {
            Failure::new(
                ringroute_status::RINGROUTE_UNKNOWN_NODE,
                format!("no node has index {node}"),
            )
        })?;
        buf.fill(found.name())
    })
}

/// Writes the number of member nodes to `*total_out` and how many of them
/// take traffic (health up) to `*up_out`; either pointer may be NULL when
/// that number is not wanted, not both.
///
/// Ownership: borrows `router`.
///
/// Thread-safety: as `ringroute_node_health()`; both numbers come from one
/// snapshot.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` NULL, or both outputs NULL).
///
/// # Safety
///
/// `router` must be NULL or live; `total_out` and `up_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_node_count(
    router: *const ringroute_router,
    total_out: *mut usize,
    up_out: *mut usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises writable usize values or NULL.
        let (total, up) = unsafe { (Out::optional(total_out), Out::optional(up_out)) };
        if total.is_none() && up.is_none() {
            return Err(Failure::null("total_out and up_out"));
        }
        let snapshot = router.snapshot();
        if let Some(out) = total {
            out.write(snapshot.nodes().len());
        }
        if let Some(out) = up {
            out.write(snapshot.up_count());
        }
        Ok(())
    })
}

/// Writes the router's generation to `*generation_out`: a number that grows
/// with every published change (membership or health). Compare two readings
/// to learn whether anything changed, for example to refresh a cache of
/// node names by index.
///
/// Ownership: borrows `router`.
///
/// Thread-safety: as `ringroute_node_health()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`.
///
/// # Safety
///
/// `router` must be NULL or live; `generation_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_generation(
    router: *const ringroute_router,
    generation_out: *mut u64,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u64 or NULL.
        let out = unsafe { Out::new(generation_out, "generation_out") }?;
        out.write(router.snapshot().version());
        Ok(())
    })
}
