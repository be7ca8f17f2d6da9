//! Many keys per call (routing, grouping for a multi-get) and many
//! membership changes per publication.

use ringroute::router::{Change, Router};
use ringroute::{GroupBy, KeyGroups, NodeIndex};

use crate::args::{array, bytes, handle};
use crate::router::ringroute_router;
use crate::status::{Failure, Result, boundary, ringroute_status};

/// A key for the batch calls: `len` bytes at `data` (`data` may be NULL
/// only when `len` is 0).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct ringroute_key {
    /// The key's bytes.
    pub data: *const u8,
    /// The key's length in bytes.
    pub len: usize,
}

/// The node index the batch calls write for a key that no node serves (no
/// node is up, or the router is empty).
pub const RINGROUTE_NO_NODE: u32 = u32::MAX;

/// Keys routed per chunk: small enough for the stack.
const CHUNK: usize = 256;

/// Checks every key (so that nothing is written when one is bad).
///
/// # Safety
///
/// `keys` NULL or readable for `n_keys` keys.
unsafe fn key_list<'a>(keys: *const ringroute_key, n_keys: usize) -> Result<&'a [ListedKey]> {
    // SAFETY: forwarded from the caller.
    let keys = unsafe { array(keys, n_keys, "keys") }?;
    // One pass over the keys, without a branch per key (a length over
    // `isize::MAX` has the top bit set); the bad key is looked for again
    // only when there is one.
    let bad = |k: &ringroute_key| (k.data.is_null() & (k.len != 0)) | (k.len > isize::MAX as usize);
    let (mut lengths, mut null_data) = (0usize, false);
    for k in keys {
        lengths |= k.len;
        null_data |= k.data.is_null() & (k.len != 0);
    }
    if null_data | (lengths > isize::MAX as usize) {
        let i = keys.iter().position(bad).expect("a bad key");
        let len = keys[i].len;
        return Err(if keys[i].data.is_null() {
            Failure::new(
                ringroute_status::RINGROUTE_NULL_POINTER,
                format!("keys[{i}].data is NULL with a length of {len}"),
            )
        } else {
            Failure::invalid(format!("keys[{i}]: length {len} is too large"))
        });
    }
    let keys: *const [ringroute_key] = keys;
    // SAFETY: `ListedKey` is a `repr(transparent)` `ringroute_key`, so the
    // two slices have one layout; the lifetime is the caller's array's.
    Ok(unsafe { &*(keys as *const [ListedKey]) })
}

/// A key that passed [`key_list`], read by the core's batch calls as they
/// read any key (`AsRef<[u8]>`): no copy of the key list into slices.
#[repr(transparent)]
struct ListedKey(ringroute_key);

impl AsRef<[u8]> for ListedKey {
    #[inline(always)]
    fn as_ref(&self) -> &[u8] {
        let ringroute_key { data, len } = self.0;
        // A zero length allows a NULL `data`, which a slice does not.
        let data = if len == 0 {
            std::ptr::NonNull::<u8>::dangling().as_ptr().cast_const()
        } else {
            data
        };
        // SAFETY: only `key_list` makes a `ListedKey`, after checking that
        // `data` is not NULL when `len > 0` and that `len` fits an `isize`;
        // the C caller promises `len` readable bytes, unchanged, for the
        // call, which every `&ListedKey` lives within (they borrow the
        // caller's key array for the call).
        unsafe { std::slice::from_raw_parts(data, len) }
    }
}

/// Writes `nodes_out[i]`, the up node serving `keys[i]`, for every key, or
/// `RINGROUTE_NO_NODE` when no node is up (not an error). All keys are
/// routed in one snapshot, with the lookups of independent keys overlapped
/// (faster per key than `ringroute_route()` on large rings).
///
/// Layout: `keys` is an array of `n_keys` `ringroute_key`; `nodes_out` an
/// array of `n_keys` `uint32_t`. `n_keys` may be 0 (then both may be NULL).
///
/// Ownership: borrows `router`, `keys` and the keys' bytes for the call.
///
/// Thread-safety: as `ringroute_route()`; never locks, never allocates.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` NULL, `keys` or `nodes_out`
/// NULL with `n_keys > 0`, a key's `data` NULL with `len > 0`: then nothing
/// is written), `RINGROUTE_INVALID_ARGUMENT` (`n_keys` or a key's `len`
/// too large).
///
/// # Safety
///
/// `router` must be NULL or live; `keys` NULL or readable for `n_keys` keys,
/// each key's bytes readable; `nodes_out` NULL or writable for `n_keys`
/// values, not overlapping `keys`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_route_many(
    router: *const ringroute_router,
    keys: *const ringroute_key,
    n_keys: usize,
    nodes_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises `n_keys` readable keys.
        let keys = unsafe { key_list(keys, n_keys) }?;
        if n_keys == 0 {
            return Ok(());
        }
        if nodes_out.is_null() {
            return Err(Failure::null("nodes_out"));
        }
        // SAFETY: not NULL, and the caller promises `n_keys` writable
        // values, not overlapping `keys`.
        let nodes_out = unsafe { std::slice::from_raw_parts_mut(nodes_out, n_keys) };
        let snapshot = router.snapshot();
        let mut found = [None; CHUNK];
        for (keys, out) in keys.chunks(CHUNK).zip(nodes_out.chunks_mut(CHUNK)) {
            let found = &mut found[..keys.len()];
            snapshot.route_many(keys, found);
            for (out, node) in out.iter_mut().zip(found.iter()) {
                *out = node.map_or(RINGROUTE_NO_NODE, NodeIndex::get);
            }
        }
        Ok(())
    })
}

/// Where `ringroute_group()` writes: four arrays the caller allocates, each
/// sized by the number of keys `n`.
///
/// * `owners[i]` (`n` entries): the node of key `i`, or `RINGROUTE_NO_NODE`.
/// * `nodes[g]` (up to `n` entries): the distinct nodes, in order of their
///   first key; `*n_groups_out` of them are written.
/// * `offsets[g]` (up to `n + 1` entries): group `g`'s keys are
///   `positions[offsets[g]]` up to (excluding) `positions[offsets[g + 1]]`;
///   `n_groups + 1` entries are written, `offsets[0] = 0`.
/// * `positions` (`n` entries): key positions grouped by node, ascending
///   within a group; the keys no node serves follow, from
///   `offsets[n_groups]` to `n`.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct ringroute_groups {
    /// The node of each key (`n` entries).
    pub owners: *mut u32,
    /// The distinct nodes (room for `n`).
    pub nodes: *mut u32,
    /// Group boundaries in `positions` (room for `n + 1`).
    pub offsets: *mut u32,
    /// Key positions grouped by node, unrouted keys last (`n` entries).
    pub positions: *mut u32,
}

/// Splits `keys` into one batch per node, for a multi-get or a fan-out
/// call: each key goes to the node that serves it now (`primary` = 0: a
/// down node's keys go to their next up replica, as `ringroute_route()`
/// answers) or to its primary whatever its health (`primary` = 1). The
/// layout is described at `ringroute_groups`; `*n_groups_out` receives the
/// number of groups.
///
/// Ownership: borrows `router`, `keys` and the keys' bytes; writes into the
/// caller's arrays.
///
/// Thread-safety: as `ringroute_route()` (one snapshot for all keys); it
/// allocates working memory proportional to `n_keys`.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router`, `groups`, `n_groups_out` or
/// one of the arrays NULL with `n_keys > 0`, a key's `data` NULL with
/// `len > 0`), `RINGROUTE_INVALID_ARGUMENT` (`primary` not 0 or 1, a
/// key's `len` too large, or `n_keys` of 2^32 - 1 or more). On error
/// nothing is written.
///
/// # Safety
///
/// `router` must be NULL or live; `keys` NULL or readable for `n_keys` keys,
/// each key's bytes readable; `groups` NULL or readable, its arrays writable
/// for the sizes above and not overlapping; `n_groups_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_group(
    router: *const ringroute_router,
    keys: *const ringroute_key,
    n_keys: usize,
    primary: u32,
    groups: *const ringroute_groups,
    n_groups_out: *mut usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises `n_keys` readable keys.
        let keys = unsafe { key_list(keys, n_keys) }?;
        // SAFETY: the caller promises a readable struct or NULL.
        let groups = *unsafe { handle(groups, "groups") }?;
        if n_groups_out.is_null() {
            return Err(Failure::null("n_groups_out"));
        }
        let by = match primary {
            0 => GroupBy::Failover,
            1 => GroupBy::Primary,
            _ => return Err(Failure::invalid("primary must be 0 or 1")),
        };
        if n_keys >= u32::MAX as usize {
            return Err(Failure::invalid("too many keys (at most 2^32 - 2)"));
        }
        if n_keys > 0 {
            for (p, what) in [
                (groups.owners, "groups->owners"),
                (groups.nodes, "groups->nodes"),
                (groups.offsets, "groups->offsets"),
                (groups.positions, "groups->positions"),
            ] {
                if p.is_null() {
                    return Err(Failure::null(what));
                }
            }
        }
        let mut out = KeyGroups::new();
        router.snapshot().group(keys, by, &mut out)?;
        let write = |dst: *mut u32, values: &mut dyn Iterator<Item = u32>| {
            for (i, v) in values.enumerate() {
                // SAFETY: not NULL (checked when there are keys; with none,
                // only offsets[0] is written, below) and the caller promises
                // room for the documented number of values, which `out`
                // never exceeds: at most `n_keys` owners, nodes and
                // positions, `n_keys + 1` offsets.
                unsafe { dst.add(i).write(v) };
            }
        };
        if n_keys > 0 {
            let owners = out.owners().iter();
            write(
                groups.owners,
                &mut owners.map(|o| o.map_or(RINGROUTE_NO_NODE, NodeIndex::get)),
            );
            write(groups.nodes, &mut out.nodes().iter().map(|n| n.get()));
            write(groups.offsets, &mut out.offsets().iter().copied());
            write(
                groups.positions,
                &mut out.positions().iter().chain(out.unrouted()).copied(),
            );
        } else if !groups.offsets.is_null() {
            write(groups.offsets, &mut std::iter::once(0));
        }
        // SAFETY: not NULL (checked above); the caller promises it writable.
        unsafe { n_groups_out.write(out.len()) };
        Ok(())
    })
}

/// What a `ringroute_change` does: one of the `RINGROUTE_CHANGE_*`
/// constants (a plain integer; an unknown value is
/// `RINGROUTE_INVALID_ARGUMENT`).
pub type ringroute_change_kind = u32;

/// A node joins (up) with `weight`.
pub const RINGROUTE_CHANGE_ADD: ringroute_change_kind = 0;
/// A node leaves (`weight` ignored).
pub const RINGROUTE_CHANGE_REMOVE: ringroute_change_kind = 1;
/// A node takes `weight`.
pub const RINGROUTE_CHANGE_SET_WEIGHT: ringroute_change_kind = 2;
/// A node is marked down by hand (`weight` ignored).
pub const RINGROUTE_CHANGE_MARK_DOWN: ringroute_change_kind = 3;
/// A node is marked up by hand (`weight` ignored).
pub const RINGROUTE_CHANGE_MARK_UP: ringroute_change_kind = 4;

/// One membership change for `ringroute_apply()`.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct ringroute_change {
    /// A `RINGROUTE_CHANGE_*` value.
    pub kind: ringroute_change_kind,
    /// The node's name (not empty).
    pub name: *const u8,
    /// The name's length in bytes.
    pub name_len: usize,
    /// The weight, for `RINGROUTE_CHANGE_ADD` and `RINGROUTE_CHANGE_SET_WEIGHT`.
    pub weight: f64,
}

/// Applies `n_changes` changes in order, all or nothing, and publishes them
/// as one snapshot: threads that route see all of them or none. A node may
/// leave and another join in the same batch. The placement changes once,
/// so a batch costs at most about one fresh build however many nodes it
/// touches; a batch of up/down marks alone copies nothing.
///
/// Ownership: borrows `router` and `changes`; names are copied.
///
/// Thread-safety: as `ringroute_add()`.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`router` NULL, `changes` NULL with
/// `n_changes > 0`, a name NULL with a length), `RINGROUTE_INVALID_ARGUMENT`
/// (unknown kind, empty name), `RINGROUTE_INVALID_WEIGHT`,
/// `RINGROUTE_DUPLICATE_NODE`, `RINGROUTE_UNKNOWN_NODE`,
/// `RINGROUTE_LIMIT_EXCEEDED`: the first bad change is reported and the
/// router is unchanged.
///
/// # Safety
///
/// `router` must be NULL or live; `changes` NULL or readable for
/// `n_changes` changes, each name readable for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_apply(
    router: *const ringroute_router,
    changes: *const ringroute_change,
    n_changes: usize,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router: &Router<()> = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises `n_changes` readable changes.
        let changes = unsafe { array(changes, n_changes, "changes") }?;
        let list = changes
            .iter()
            .map(|c| {
                // SAFETY: the caller promises each name readable.
                let name = unsafe { bytes(c.name, c.name_len, "change name") }?;
                Ok(match c.kind {
                    RINGROUTE_CHANGE_ADD => Change::add(name, c.weight, ()),
                    RINGROUTE_CHANGE_REMOVE => Change::remove(name),
                    RINGROUTE_CHANGE_SET_WEIGHT => Change::set_weight(name, c.weight),
                    RINGROUTE_CHANGE_MARK_DOWN => Change::mark_down(name),
                    RINGROUTE_CHANGE_MARK_UP => Change::mark_up(name),
                    other => {
                        return Err(Failure::invalid(format!("unknown change kind {other}")));
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        router.apply(list)?;
        Ok(())
    })
}
