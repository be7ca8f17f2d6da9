//! The router handle: building and freeing it, and routing keys.

use ringroute::NodeIndex;
use ringroute::router::{Router, RouterBuilder, Snapshot};

use crate::args::{ByteBuf, Out, array, bytes, handle, text};
use crate::config::ringroute_config;
use crate::node_text::parse_node_text;
use crate::status::{Failure, Result, boundary, boundary_void, ringroute_status};

/// A router: the membership, the placement of keys and the health of every
/// node, shared by all threads of a client. Opaque; create it with
/// `ringroute_router_new()` and release it with `ringroute_router_free()`.
///
/// Every function taking a `const ringroute_router *` may be called from
/// any number of threads at once: lookups never lock, membership and health
/// changes are serialized inside and published atomically, so a lookup sees
/// the state before a change or after it, never a mix.
pub struct ringroute_router {
    pub(crate) router: Router<()>,
}

/// A node to build a router with: its name (bytes, not necessarily text, not
/// NUL-terminated; the identity the ring hashes, usually `host:port`) and its
/// weight (finite, > 0; a node of weight 2 gets about twice the keys of a
/// node of weight 1).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct ringroute_node {
    /// The name's bytes; may be NULL only when `name_len` is 0 (which is
    /// refused: a name must not be empty).
    pub name: *const u8,
    /// The name's length in bytes.
    pub name_len: usize,
    /// The weight: finite and greater than 0.
    pub weight: f64,
}

/// Reads a caller's node array.
///
/// # Safety
///
/// `nodes` must be NULL with `n == 0`, or point to `n` readable nodes whose
/// names are readable for their lengths, all until the call returns.
pub(crate) unsafe fn node_list<'a>(
    nodes: *const ringroute_node,
    n: usize,
) -> Result<Vec<(&'a [u8], f64)>> {
    // SAFETY: forwarded from the caller.
    let nodes = unsafe { array(nodes, n, "nodes") }?;
    nodes
        .iter()
        // SAFETY: forwarded from the caller: each name is readable.
        .map(|n| Ok((unsafe { bytes(n.name, n.name_len, "node name") }?, n.weight)))
        .collect()
}

/// The configuration behind a possibly NULL pointer.
///
/// # Safety
///
/// `config` must be NULL or point to a readable `ringroute_config` whose
/// clock is NULL or live.
pub(crate) unsafe fn builder(config: *const ringroute_config) -> Result<RouterBuilder<()>> {
    // SAFETY: the caller promises a readable config or NULL.
    let config = unsafe { config.as_ref() }.copied().unwrap_or_default();
    // SAFETY: the caller promises that the config's clock is NULL or live.
    unsafe { config.builder() }
}

pub(crate) fn publish(router: Router<()>, out: Out<*mut ringroute_router>) {
    out.write(Box::into_raw(Box::new(ringroute_router { router })));
}

/// Builds a router from `config` and `n_nodes` nodes (all up). The node at
/// `nodes[i]` gets index `i`.
///
/// `config` may be NULL for the defaults (`ringroute_config_default()`).
/// `nodes` may be NULL when `n_nodes` is 0: an empty router, to which
/// `ringroute_add()` adds nodes later (routing it fails with
/// `RINGROUTE_EMPTY_RING` meanwhile).
///
/// Ownership: on success `*router_out` is a new router owned by the caller,
/// to be released with `ringroute_router_free()`. The node names are copied;
/// `config` and `nodes` stay the caller's.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router_out` NULL, `nodes` NULL with
/// `n_nodes > 0`, a name NULL with a non-zero length),
/// `RINGROUTE_INVALID_ARGUMENT` (an empty name, an unknown algorithm, a
/// configuration value out of range), `RINGROUTE_INVALID_WEIGHT`,
/// `RINGROUTE_DUPLICATE_NODE`, `RINGROUTE_LIMIT_EXCEEDED`. On error nothing
/// is allocated and `*router_out` is not written.
///
/// # Safety
///
/// `config` must be NULL or a readable configuration (with a NULL or live
/// clock); `nodes` must be NULL or point to `n_nodes` readable nodes, each
/// name readable for its length; `router_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_router_new(
    config: *const ringroute_config,
    nodes: *const ringroute_node,
    n_nodes: usize,
    router_out: *mut *mut ringroute_router,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(router_out, "router_out") }?;
        // SAFETY: the caller promises `n_nodes` readable nodes or NULL.
        let nodes = unsafe { node_list(nodes, n_nodes) }?;
        // SAFETY: the caller promises a readable config or NULL.
        let mut builder = unsafe { builder(config) }?;
        for (name, weight) in nodes {
            builder = builder.node(name, weight);
        }
        publish(builder.build()?, out);
        Ok(())
    })
}

/// Builds a router from a node list written as text, in the format of the
/// `ringroute` CLI's node files: one `NAME [WEIGHT]` per line, separated by
/// whitespace (the weight defaults to 1), `#` starts a comment that runs to
/// the end of the line, blank lines are skipped, a byte-order mark at the
/// start is dropped. Names may not contain control characters or invisible
/// (Unicode format, Cf) characters such as U+200B or U+FEFF; binary names
/// need `ringroute_router_new()`. Nodes get indices 0, 1, ... in the order
/// of the lines. For example
/// `"10.0.0.1:11211\n10.0.0.2:11211 2  # bigger box\n"`. A weight may carry
/// a tier, `WEIGHT@TIER` (`"10.0.0.9:11211 1@1"` is a backup); tiers spill
/// with the strict policy (`RINGROUTE_TIER_POLICY_STRICT`; see
/// `ringroute_router_new_tiered()` for the other).
///
/// `config` may be NULL for the defaults.
///
/// Ownership: as `ringroute_router_new()`: on success `*router_out` is the
/// caller's, to release with `ringroute_router_free()`; `text` stays the
/// caller's.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`text` or `router_out` NULL),
/// `RINGROUTE_INVALID_UTF8` (`text` is not UTF-8),
/// `RINGROUTE_INVALID_ARGUMENT` (a malformed line, weight or name),
/// `RINGROUTE_INVALID_WEIGHT` (a number that is not a valid weight),
/// `RINGROUTE_DUPLICATE_NODE`, `RINGROUTE_LIMIT_EXCEEDED` (for the ring:
/// the node that takes it over its maximum of points); the message of each
/// names the line.
///
/// # Safety
///
/// `config` as for `ringroute_router_new()`; `text` must be NULL or a
/// NUL-terminated string; `router_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_router_new_from_text(
    config: *const ringroute_config,
    text: *const std::ffi::c_char,
    router_out: *mut *mut ringroute_router,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(router_out, "router_out") }?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let text = unsafe { self::text(text, "text") }?;
        // SAFETY: the caller promises a readable config or NULL.
        let settings = unsafe { config.as_ref() }.copied().unwrap_or_default();
        let nodes = parse_node_text(text, &settings)?;
        // SAFETY: the caller promises a readable config or NULL.
        let mut builder = unsafe { builder(config) }?;
        for (name, weight, tier) in nodes {
            builder = builder.node_in_tier(name, weight, tier);
        }
        publish(builder.build()?, out);
        Ok(())
    })
}

/// Releases a router. NULL is a no-op.
///
/// Tickets started on the router stay valid: each keeps what it needs
/// alive, so they may still be finished after this call.
///
/// Ownership: takes `router`, which must not be used afterwards.
///
/// Thread-safety: call it once, after every other call using this router
/// has returned.
///
/// # Safety
///
/// `router` must be NULL or a router from `ringroute_router_new*()` that has
/// not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_router_free(router: *mut ringroute_router) {
    boundary_void(|| {
        if !router.is_null() {
            // SAFETY: the caller gives back a pointer from Box::into_raw in
            // `publish`, once, with no other call using it.
            drop(unsafe { Box::from_raw(router) });
        }
    });
}

/// The failure for a lookup that found no node in `snapshot`.
pub(crate) fn no_node(snapshot: &Snapshot<()>) -> Failure {
    if snapshot.nodes().is_empty() {
        Failure::new(
            ringroute_status::RINGROUTE_EMPTY_RING,
            "the router has no nodes",
        )
    } else {
        Failure::new(ringroute_status::RINGROUTE_NO_NODE_UP, "no node is up")
    }
}

/// Hashes a key as every router does: `xxh3_64(key)`, seed 0 (spec v2). For
/// callers that hash once and route the hash with `ringroute_route_hash()`.
///
/// A zero-length key is a valid key (`key` may then be NULL).
///
/// Ownership: borrows `key` for the call.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`hash_out` NULL, or `key` NULL with
/// `key_len > 0`).
///
/// # Safety
///
/// `key` must be readable for `key_len` bytes (or NULL if `key_len` is 0);
/// `hash_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_key_hash(
    key: *const u8,
    key_len: usize,
    hash_out: *mut u64,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable u64 or NULL.
        let out = unsafe { Out::new(hash_out, "hash_out") }?;
        // SAFETY: the caller promises `key_len` readable bytes.
        let key = unsafe { bytes(key, key_len, "key") }?;
        out.write(ringroute::hash::key_hash(key));
        Ok(())
    })
}

/// Routes a key: writes the index of the up node that serves it to
/// `*node_out`. This is the hot path: it never locks and never allocates.
///
/// A zero-length key is a valid key (`key` may then be NULL). Node indices
/// are dense and stable while a node is a member; a removed node's index may
/// be reused by a later `ringroute_add()`. Resolve the index to a name with
/// `ringroute_node_name()`, or use `ringroute_route_name()`.
///
/// Ownership: borrows `router` and `key` for the call.
///
/// Thread-safety: safe from any number of threads at once, also while other
/// threads change the membership.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` or `node_out` NULL, or `key`
/// NULL with `key_len > 0`), `RINGROUTE_EMPTY_RING`, `RINGROUTE_NO_NODE_UP`.
///
/// # Safety
///
/// `router` must be NULL or live; `key` must be readable for `key_len` bytes
/// (or NULL if `key_len` is 0); `node_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_route(
    router: *const ringroute_router,
    key: *const u8,
    key_len: usize,
    node_out: *mut u32,
) -> ringroute_status {
    // The hot path, written out by hand: one test for every bad argument,
    // the details worked out off the hot path.
    boundary(|| {
        if router.is_null() || node_out.is_null() || (key.is_null() && key_len != 0) {
            return Err(route_arguments(router, key, key_len, node_out));
        }
        // SAFETY: not NULL, and the caller promises a live router.
        let router = &unsafe { &*router }.router;
        // SAFETY: a zero length allows any pointer; otherwise `key` is not
        // NULL and the caller promises `key_len` readable bytes.
        let key = unsafe { bytes(key, key_len, "key") }?;
        match route_key(router, key) {
            Some(node) => {
                // SAFETY: not NULL, and the caller promises a writable u32.
                unsafe { node_out.write(node.get()) };
                Ok(())
            }
            None => {
                // SAFETY: as just above.
                let out = unsafe { Out::new(node_out, "node_out") }?;
                route_slow(router, key, out)
            }
        }
    })
}

/// The lookup itself. `Router::route` is this crate's only caller of
/// `Snapshot::route` (the other lookups go through `route_hash`), which lets
/// LLVM inline the core's lookup chain here as it does in a Rust caller.
#[inline(always)]
fn route_key(router: &Router<()>, key: &[u8]) -> Option<NodeIndex> {
    router.route(key)
}

/// Which argument of `ringroute_route` is NULL.
#[cold]
#[inline(never)]
fn route_arguments(
    router: *const ringroute_router,
    key: *const u8,
    key_len: usize,
    node_out: *mut u32,
) -> Failure {
    if router.is_null() {
        Failure::null("router")
    } else if node_out.is_null() {
        Failure::null("node_out")
    } else {
        debug_assert!(key.is_null() && key_len != 0);
        Failure::null("key")
    }
}

/// A first lookup found no node: look again on one snapshot, so that the
/// answer and the error agree with each other.
#[cold]
fn route_slow(router: &Router<()>, key: &[u8], out: Out<u32>) -> Result<()> {
    let snapshot = router.snapshot();
    // `route_hash`, not `route`: see `route_key`. The placement's own key
    // hash: a compatibility mode does not hash with xxh3.
    match snapshot.route_hash(snapshot.key_hash(key)) {
        Some(node) => {
            out.write(node.get());
            Ok(())
        }
        None => Err(no_node(&snapshot)),
    }
}

/// Routes a key hash from `ringroute_key_hash()`: the same answer as
/// `ringroute_route()` on the key (for the native algorithms; a router of a
/// compatibility mode hashes keys its own way, so route its keys with
/// `ringroute_route()`).
///
/// Ownership: borrows `router`.
///
/// Thread-safety: as `ringroute_route()`.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_EMPTY_RING`,
/// `RINGROUTE_NO_NODE_UP`.
///
/// # Safety
///
/// `router` must be NULL or live; `node_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_route_hash(
    router: *const ringroute_router,
    hash: u64,
    node_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u32 or NULL.
        let out = unsafe { Out::new(node_out, "node_out") }?;
        let snapshot = router.snapshot();
        let node = snapshot
            .route_hash(hash)
            .ok_or_else(|| no_node(&snapshot))?;
        out.write(node.get());
        Ok(())
    })
}

/// Routes a key and copies the serving node's name into the caller's
/// buffer, index and name taken from one consistent snapshot.
///
/// `*name_len` is the capacity of `name_buf` on entry and the name's length
/// on return. The name is bytes and is *not* NUL-terminated; reserve one
/// more byte and add the NUL yourself if you want a C string. If the name
/// does not fit, the call fails with `RINGROUTE_BUFFER_TOO_SMALL`, writes
/// the length needed to `*name_len` and leaves `name_buf` and `*node_out`
/// alone. `node_out` may be NULL when only the name is wanted.
///
/// The copy is deliberate: a borrowed pointer into the router would dangle
/// after the next membership change on another thread.
///
/// Ownership: borrows `router` and `key`; writes into the caller's buffers.
///
/// Thread-safety: as `ringroute_route()`.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` or `name_len` NULL, `name_buf`
/// NULL with `*name_len > 0`, `key` NULL with `key_len > 0`),
/// `RINGROUTE_EMPTY_RING`, `RINGROUTE_NO_NODE_UP`,
/// `RINGROUTE_BUFFER_TOO_SMALL`.
///
/// # Safety
///
/// `router` must be NULL or live; `key` readable for `key_len` bytes;
/// `node_out` NULL or writable; `name_len` NULL or readable and writable;
/// `name_buf` writable for `*name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_route_name(
    router: *const ringroute_router,
    key: *const u8,
    key_len: usize,
    node_out: *mut u32,
    name_buf: *mut u8,
    name_len: *mut usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable u32 or NULL (optional).
        let node_out = unsafe { Out::optional(node_out) };
        // SAFETY: the caller promises a usable length slot and buffer.
        let buf = unsafe { ByteBuf::new(name_buf, name_len) }?;
        // SAFETY: the caller promises `key_len` readable bytes.
        let key = unsafe { bytes(key, key_len, "key") }?;
        let snapshot = router.snapshot();
        let node = snapshot
            .route_hash(snapshot.key_hash(key))
            .ok_or_else(|| no_node(&snapshot))?;
        let name = snapshot.node(node).map(|n| n.name()).unwrap_or_default();
        buf.fill(name)?;
        if let Some(out) = node_out {
            out.write(node.get());
        }
        Ok(())
    })
}

/// Writes up to `capacity` distinct up nodes for a key to `nodes_out`,
/// primary first, then each next replica in failover order (for the ring:
/// clockwise), and their number to `*count_out`. Fewer than `capacity` when
/// fewer nodes are up. Does not allocate for up to 32 replicas.
///
/// Ownership: borrows `router` and `key`; writes into the caller's array.
///
/// Thread-safety: as `ringroute_route()`; all nodes come from one snapshot.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router`, `nodes_out` or `count_out`
/// NULL, `key` NULL with `key_len > 0`), `RINGROUTE_INVALID_ARGUMENT`
/// (`capacity` is 0), `RINGROUTE_EMPTY_RING`, `RINGROUTE_NO_NODE_UP` (then
/// nothing is written).
///
/// # Safety
///
/// `router` must be NULL or live; `key` readable for `key_len` bytes;
/// `nodes_out` NULL or writable for `capacity` values; `count_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_route_n(
    router: *const ringroute_router,
    key: *const u8,
    key_len: usize,
    nodes_out: *mut u32,
    capacity: usize,
    count_out: *mut usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable usize or NULL.
        let count = unsafe { Out::new(count_out, "count_out") }?;
        if nodes_out.is_null() {
            return Err(Failure::null("nodes_out"));
        }
        if capacity == 0 {
            return Err(Failure::invalid("capacity must be at least 1"));
        }
        if capacity
            .checked_mul(size_of::<u32>())
            .is_none_or(|n| n > isize::MAX as usize)
        {
            return Err(Failure::invalid("capacity is too large"));
        }
        // SAFETY: the caller promises `key_len` readable bytes.
        let key = unsafe { bytes(key, key_len, "key") }?;
        let snapshot = router.snapshot();
        let want = capacity.min(snapshot.up_count());
        if want == 0 {
            return Err(no_node(&snapshot));
        }
        // Filled in Rust memory first, so that the caller's array is written
        // only on success, and only with initialized values.
        let mut inline = [NodeIndex::new(0); 32];
        let mut heap = Vec::new();
        let buf = if want <= inline.len() {
            &mut inline[..want]
        } else {
            heap.resize(want, NodeIndex::new(0));
            &mut heap[..]
        };
        let found = snapshot.route_n_into(key, buf);
        if found == 0 {
            return Err(no_node(&snapshot));
        }
        // SAFETY: `nodes_out` is not NULL and the caller promises `capacity`
        // writable u32 values there; `found <= want <= capacity`; NodeIndex
        // is `repr(transparent)` over u32; a Rust buffer cannot overlap the
        // caller's array.
        unsafe {
            std::ptr::copy_nonoverlapping(buf.as_ptr().cast::<u32>(), nodes_out, found);
        }
        count.write(found);
        Ok(())
    })
}
