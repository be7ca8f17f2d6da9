//! `ringroute_reader`: a per-thread reading handle, the fast path of
//! `ringroute_route()`. A call on a reader checks with one atomic pointer
//! read that its snapshot is still current; on the success path it touches
//! no thread-local storage (in a shared library every thread-local access is
//! a `__tls_get_addr` call), so it costs about what `Ring::route` costs in
//! Rust.

use ringroute::NodeIndex;
use ringroute::router::RouterReader;

use crate::args::{Out, bytes, handle};
use crate::router::{no_node, ringroute_router};
use crate::status::{Failure, boundary, boundary_void, ringroute_status};

/// A reading handle on a router, for one thread at a time.
///
/// It remembers the router's current snapshot and sees every change on its
/// next call. It keeps the router alive: free the router and its readers in
/// any order.
pub struct ringroute_reader {
    reader: RouterReader<()>,
}

/// Makes a reading handle on `router`, for routing in a hot loop: one per
/// worker thread.
///
/// Ownership: borrows `router`; on success `*reader_out` is a new reader
/// owned by the caller, to be released with `ringroute_reader_free()`. The
/// reader holds its own reference to the router, so either may be freed
/// first.
///
/// Thread-safety: safe from any thread. The reader itself must be used by
/// one thread at a time (it may move between threads, e.g. with its owner).
///
/// Errors: `RINGROUTE_NULL_POINTER`. On error nothing is allocated and
/// `*reader_out` is not written.
///
/// # Safety
///
/// `router` must be NULL or live; `reader_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_reader_new(
    router: *const ringroute_router,
    reader_out: *mut *mut ringroute_reader,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live router or NULL.
        let router = &unsafe { handle(router, "router") }?.router;
        // SAFETY: the caller promises a writable pointer or NULL.
        let out = unsafe { Out::new(reader_out, "reader_out") }?;
        let reader = Box::new(ringroute_reader {
            reader: router.reader(),
        });
        out.write(Box::into_raw(reader));
        Ok(())
    })
}

/// Releases a reader. NULL is accepted and ignored.
///
/// Ownership: takes `reader`, which must not be used afterwards.
///
/// Thread-safety: not while another thread uses `reader`.
///
/// # Safety
///
/// `reader` must be NULL or a reader from `ringroute_reader_new()` that has
/// not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_reader_free(reader: *mut ringroute_reader) {
    boundary_void(|| {
        if !reader.is_null() {
            // SAFETY: the caller gives back a pointer from Box::into_raw in
            // `ringroute_reader_new`, once, with no other call using it.
            drop(unsafe { Box::from_raw(reader) });
        }
    });
}

/// Routes a key through a reader: the same answer as `ringroute_route()` on
/// the reader's router, faster (no thread-local access, no reference count
/// touched, while the router does not change).
///
/// Ownership: borrows `reader` (mutably: it may refresh its snapshot) and
/// `key`.
///
/// Thread-safety: one thread at a time per reader; any number of readers
/// of one router may route at once, while its membership changes.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`reader` or `node_out` NULL, `key`
/// NULL with `key_len > 0`), `RINGROUTE_EMPTY_RING`, `RINGROUTE_NO_NODE_UP`.
///
/// # Safety
///
/// `reader` must be NULL or live and not in use by another thread; `key`
/// must be readable for `key_len` bytes (or NULL if `key_len` is 0);
/// `node_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_reader_route(
    reader: *mut ringroute_reader,
    key: *const u8,
    key_len: usize,
    node_out: *mut u32,
) -> ringroute_status {
    // The common case first, as a leaf: no call, so no register is saved
    // (`route_quick` can neither panic nor unwind). Anything else, errors
    // included, takes the full path below as a tail call.
    if !reader.is_null() && !node_out.is_null() && key_len <= ringroute::router::QUICK_KEY_MAX {
        let key: &[u8] = if key_len == 0 {
            &[]
        } else if key.is_null() {
            // SAFETY (of the call): the arguments are as this function's.
            return unsafe { reader_route_full(reader, key, key_len, node_out) };
        } else {
            // SAFETY: not NULL, `key_len` fits an `isize`, and the caller
            // promises `key_len` readable bytes.
            unsafe { std::slice::from_raw_parts(key, key_len) }
        };
        // SAFETY: not NULL, and the caller promises a live reader that no
        // other thread uses now.
        let quick = unsafe { &(*reader).reader }.route_quick(key);
        if let Some(node) = quick {
            // SAFETY: not NULL, and the caller promises a writable u32.
            unsafe { node_out.write(node.get()) };
            return ringroute_status::RINGROUTE_OK;
        }
    }
    // SAFETY (of the call): the arguments are as this function's.
    unsafe { reader_route_full(reader, key, key_len, node_out) }
}

/// `ringroute_reader_route()` on every path: the snapshot refresh, a node
/// down, another placement, a long key, a crowded bucket, and the errors.
///
/// # Safety
///
/// As `ringroute_reader_route()`.
#[inline(never)]
unsafe extern "C" fn reader_route_full(
    reader: *mut ringroute_reader,
    key: *const u8,
    key_len: usize,
    node_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        if reader.is_null() || node_out.is_null() || (key.is_null() && key_len != 0) {
            return Err(reader_arguments(reader, node_out));
        }
        // SAFETY: not NULL, and the caller promises a live reader that no
        // other thread uses now.
        let reader = &mut unsafe { &mut *reader }.reader;
        // SAFETY: a zero length allows any pointer; otherwise `key` is not
        // NULL and the caller promises `key_len` readable bytes.
        let key = unsafe { bytes(key, key_len, "key") }?;
        let node = reader.route(key).ok_or_else(|| reader_no_node(reader))?;
        // SAFETY: not NULL, and the caller promises a writable u32.
        unsafe { node_out.write(node.get()) };
        Ok(())
    })
}

/// Routes a key hash from `ringroute_key_hash()` through a reader: the same
/// answer as `ringroute_reader_route()` on the key.
///
/// Ownership, thread-safety and errors: as `ringroute_reader_route()`.
///
/// # Safety
///
/// `reader` must be NULL or live and not in use by another thread;
/// `node_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_reader_route_hash(
    reader: *mut ringroute_reader,
    hash: u64,
    node_out: *mut u32,
) -> ringroute_status {
    boundary(|| {
        if reader.is_null() || node_out.is_null() {
            return Err(reader_arguments(reader, node_out));
        }
        // SAFETY: not NULL, and the caller promises a live reader that no
        // other thread uses now.
        let reader = &mut unsafe { &mut *reader }.reader;
        let node: NodeIndex = reader
            .route_hash(hash)
            .ok_or_else(|| reader_no_node(reader))?;
        // SAFETY: not NULL, and the caller promises a writable u32.
        unsafe { node_out.write(node.get()) };
        Ok(())
    })
}

/// Which pointer argument of a reader call is NULL.
#[cold]
#[inline(never)]
fn reader_arguments(reader: *mut ringroute_reader, node_out: *mut u32) -> Failure {
    if reader.is_null() {
        Failure::null("reader")
    } else if node_out.is_null() {
        Failure::null("node_out")
    } else {
        Failure::null("key")
    }
}

/// The failure of a reader lookup that found no node (empty, or none up).
#[cold]
#[inline(never)]
fn reader_no_node(reader: &mut RouterReader<()>) -> Failure {
    no_node(reader.snapshot())
}

#[cfg(test)]
mod tests {
    use ringroute::hash::key_hash;

    #[test]
    fn reader_answers_as_the_router() {
        let router: ringroute::router::Router = ringroute::router::Router::builder()
            .node("a", 1.0)
            .node("b", 1.0)
            .build()
            .unwrap();
        let mut reader = router.reader();
        for i in 0..100 {
            let k = format!("k{i}");
            assert_eq!(reader.route(&k), router.route(&k));
            assert_eq!(reader.route_hash(key_hash(k.as_bytes())), router.route(&k));
        }
    }
}
