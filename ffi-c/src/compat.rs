//! Compatibility modes through an opaque, extensible configuration: a
//! `ringroute_compat` handle made from a mode name, adjusted by setters, and
//! passed to `ringroute_router_new_compat()`. `ringroute_config` (allocated
//! by the caller) is left as it is, so programs built against
//! `libringroute.so.0` keep working; new settings become new setters.

use ringroute::place::compat::{HashKind, Mode};
use ringroute::router::Algorithm;

use crate::args::{Out, handle, text};
use crate::config::ringroute_config;
use crate::router::{node_list, ringroute_node, ringroute_router};
use crate::status::{Failure, Result, boundary, boundary_void, ringroute_status};

/// A compatibility mode and its settings, built with
/// `ringroute_compat_new()` and the `ringroute_compat_set_*()` setters.
pub struct ringroute_compat {
    mode: Mode,
}

/// Creates a compatibility mode with its peer's default settings. `name` is
/// one of `libmemcached` (ketama weighted, md5), `twemproxy` (fnv1a_64),
/// `uhashring` (md5 ring), `envoy-ring-hash`, `grpc-ring-hash`,
/// `envoy-maglev`, `nginx`, `dubbo`, `guava-jump`, `go-jump`. Node names are
/// the peer's server strings (`host:port`); weights must be whole numbers.
///
/// Ownership: on success `*compat_out` is the caller's, to release with
/// `ringroute_compat_free()`; `name` stays the caller's.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_UTF8`,
/// `RINGROUTE_INVALID_ARGUMENT` (an unknown name).
///
/// # Safety
///
/// `name` must be NULL or a NUL-terminated string; `compat_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_new(
    name: *const std::ffi::c_char,
    compat_out: *mut *mut ringroute_compat,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(compat_out, "compat_out") }?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let name = unsafe { text(name, "name") }?;
        let mode = Mode::from_name(name).ok_or_else(|| {
            Failure::invalid(format!(
                "unknown compatibility mode \"{name}\" (one of: {})",
                Mode::names().join(", ")
            ))
        })?;
        out.write(Box::into_raw(Box::new(ringroute_compat { mode })));
        Ok(())
    })
}

/// Releases a compatibility mode. NULL is a no-op. Routers built with it do
/// not need it any more.
///
/// Ownership: takes `compat`, which must not be used afterwards.
///
/// Thread-safety: no other call may be using this `compat` meanwhile.
///
/// # Safety
///
/// `compat` must be NULL or a mode from `ringroute_compat_new()` that has
/// not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_free(compat: *mut ringroute_compat) {
    boundary_void(|| {
        if !compat.is_null() {
            // SAFETY: the caller gives back a pointer from Box::into_raw in
            // ringroute_compat_new, once.
            drop(unsafe { Box::from_raw(compat) });
        }
    });
}

/// Applies `change` to a live mode, validating the result; on failure the
/// mode is unchanged.
///
/// # Safety
///
/// `compat` must be NULL or live, and not used elsewhere meanwhile.
unsafe fn adjust(
    compat: *mut ringroute_compat,
    change: impl FnOnce(&mut Mode) -> Result<()>,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live mode or NULL.
        let current = unsafe { handle(compat.cast_const(), "compat") }?;
        let mut mode = current.mode.clone();
        change(&mut mode)?;
        mode.validate()?;
        // SAFETY: live and not shared, as the caller promises.
        unsafe { (*compat).mode = mode };
        Ok(())
    })
}

fn not_for(option: &str, mode: &Mode) -> Failure {
    Failure::invalid(format!("{option} does not apply to {}", mode.name()))
}

/// Sets the key hash of `libmemcached` (`MEMCACHED_BEHAVIOR_HASH`) or
/// `twemproxy` (`hash:`): `md5`, `one_at_a_time`, `fnv1_32`, `fnv1a_32`,
/// `fnv1_64`, `fnv1a_64`, `crc32`, `crc32a`, `murmur`, `jenkins`.
///
/// Ownership: borrows both. Thread-safety: not while `compat` is in use
/// elsewhere.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_UTF8`,
/// `RINGROUTE_INVALID_ARGUMENT` (an unknown hash, or a mode without one).
///
/// # Safety
///
/// `compat` NULL or live; `hash` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_set_hash(
    compat: *mut ringroute_compat,
    hash: *const std::ffi::c_char,
) -> ringroute_status {
    // SAFETY: the caller promises a NUL-terminated string or NULL.
    let name = unsafe { text(hash, "hash") };
    // SAFETY: forwarded from the caller.
    unsafe {
        adjust(compat, move |mode| {
            let name = name?;
            let kind = HashKind::from_name(name)
                .ok_or_else(|| Failure::invalid(format!("unknown hash \"{name}\"")))?;
            match mode {
                Mode::Libmemcached(l) => l.key_hash = kind,
                Mode::Twemproxy(t) => t.hash = kind,
                other => return Err(not_for("a key hash", other)),
            }
            Ok(())
        })
    }
}

/// Sets twemproxy's `hash_tag`: two characters such as `"{}"`, or NULL for
/// none.
///
/// Errors: `RINGROUTE_NULL_POINTER` (`compat`), `RINGROUTE_INVALID_UTF8`,
/// `RINGROUTE_INVALID_ARGUMENT` (not two bytes, or not twemproxy).
///
/// # Safety
///
/// `compat` NULL or live; `tag` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_set_hash_tag(
    compat: *mut ringroute_compat,
    tag: *const std::ffi::c_char,
) -> ringroute_status {
    // SAFETY: not NULL here, and the caller promises a NUL-terminated string.
    let given = (!tag.is_null()).then(|| unsafe { text(tag, "tag") });
    // SAFETY: forwarded from the caller.
    unsafe {
        adjust(compat, move |mode| {
            let tag = match given {
                None => None,
                Some(t) => Some(<[u8; 2]>::try_from(t?.as_bytes()).map_err(|_| {
                    Failure::invalid("a hash tag is exactly two characters, such as \"{}\"")
                })?),
            };
            match mode {
                Mode::Twemproxy(t) => t.hash_tag = tag,
                other => return Err(not_for("a hash tag", other)),
            }
            Ok(())
        })
    }
}

/// libmemcached: `weighted` non-zero is `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`
/// (the default, with the md5 key hash), zero is `MEMCACHED_BEHAVIOR_KETAMA`
/// alone (100 points per server, one-at-a-time key hash; a weight above 1
/// still turns weighting on, as in libmemcached); `spy` non-zero is the
/// `CONSISTENT_KETAMA_SPY` distribution. Resets the key hash to the one the
/// behaviour implies: call `ringroute_compat_set_hash()` after this.
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_ARGUMENT` (not
/// libmemcached).
///
/// # Safety
///
/// `compat` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_set_ketama(
    compat: *mut ringroute_compat,
    weighted: i32,
    spy: i32,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        adjust(compat, |mode| match mode {
            Mode::Libmemcached(l) => {
                let base = if weighted != 0 {
                    ringroute::place::compat::Libmemcached::weighted()
                } else {
                    ringroute::place::compat::Libmemcached::unweighted()
                };
                *l = ringroute::place::compat::Libmemcached {
                    spy: spy != 0,
                    ..base
                };
                Ok(())
            }
            other => Err(not_for("ketama behaviours", other)),
        })
    }
}

/// uhashring: `ketama` non-zero for `hash_fn="ketama"`; `vnodes` (0 for
/// uhashring's default: 160, or 40 with ketama) and `replicas` (ketama
/// points per digest, 1 to 4; 0 for 4).
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `compat` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_set_uhashring(
    compat: *mut ringroute_compat,
    ketama: i32,
    vnodes: u32,
    replicas: u32,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        adjust(compat, |mode| match mode {
            Mode::Uhashring(u) => {
                let base = if ketama != 0 {
                    ringroute::place::compat::Uhashring::ketama()
                } else {
                    ringroute::place::compat::Uhashring::md5()
                };
                *u = ringroute::place::compat::Uhashring {
                    vnodes: if vnodes == 0 { base.vnodes } else { vnodes },
                    replicas: if replicas == 0 {
                        base.replicas
                    } else {
                        replicas
                    },
                    ..base
                };
                Ok(())
            }
            other => Err(not_for("uhashring settings", other)),
        })
    }
}

/// Envoy and gRPC ring_hash: the minimum and maximum ring sizes
/// (`1 <= min <= max <= 8388608`; gRPC caps both at 4096).
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `compat` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_set_ring_size(
    compat: *mut ringroute_compat,
    min_ring_size: u64,
    max_ring_size: u64,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        adjust(compat, |mode| match mode {
            Mode::EnvoyRingHash {
                min_ring_size: lo,
                max_ring_size: hi,
            }
            | Mode::GrpcRingHash {
                min_ring_size: lo,
                max_ring_size: hi,
            } => {
                (*lo, *hi) = (min_ring_size, max_ring_size);
                Ok(())
            }
            other => Err(not_for("ring sizes", other)),
        })
    }
}

/// Envoy Maglev: the table size (a prime larger than the node count;
/// default 65537).
///
/// Errors: `RINGROUTE_NULL_POINTER`, `RINGROUTE_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `compat` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_compat_set_table_size(
    compat: *mut ringroute_compat,
    table_size: u32,
) -> ringroute_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        adjust(compat, |mode| match mode {
            Mode::EnvoyMaglev { table_size: t } => {
                *t = table_size;
                Ok(())
            }
            other => Err(not_for("a table size", other)),
        })
    }
}

/// Builds a router that places keys with `compat`; everything else (health,
/// picker, outlier detection, clock) comes from `config` (NULL for the
/// defaults), whose `algorithm` is ignored. Route with `ringroute_route()`,
/// `ringroute_route_name()` and `ringroute_route_n()`: they hash keys as the
/// mode does (`ringroute_key_hash()` is the native hash, not the mode's).
///
/// Ownership: on success `*router_out` is the caller's, to release with
/// `ringroute_router_free()`; `config`, `compat` and `nodes` stay the
/// caller's (`compat` may be freed at once).
///
/// Thread-safety: safe from any thread.
///
/// Errors: as `ringroute_router_new()`; `RINGROUTE_INVALID_WEIGHT` for a
/// weight that is not a whole number (or not 1 for jump and dubbo).
///
/// # Safety
///
/// `config` as for `ringroute_router_new()`; `compat` NULL or live; `nodes`
/// NULL or `n_nodes` readable nodes; `router_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_router_new_compat(
    config: *const ringroute_config,
    compat: *const ringroute_compat,
    nodes: *const ringroute_node,
    n_nodes: usize,
    router_out: *mut *mut ringroute_router,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(router_out, "router_out") }?;
        // SAFETY: the caller promises a live mode or NULL.
        let compat = unsafe { handle(compat, "compat") }?;
        // SAFETY: the caller promises `n_nodes` readable nodes or NULL.
        let nodes = unsafe { node_list(nodes, n_nodes) }?;
        // SAFETY: the caller promises a readable config or NULL.
        let config = unsafe { config.as_ref() }.copied().unwrap_or_default();
        // SAFETY: the caller promises that the config's clock is NULL or live.
        let mut builder = unsafe { config.builder_with(Algorithm::Compat(compat.mode.clone())) }?;
        for (name, weight) in nodes {
            builder = builder.node(name, weight);
        }
        let router = builder.build()?;
        out.write(Box::into_raw(Box::new(ringroute_router { router })));
        Ok(())
    })
}
