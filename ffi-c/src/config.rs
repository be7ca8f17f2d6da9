//! The router configuration as a plain C struct, its defaults, and the
//! manual clock that tests and simulations drive by hand.

use std::sync::Arc;
use std::time::Duration;

use ringroute::health::{Clock, ManualClock, OutlierConfig, PhiConfig};
use ringroute::router::{Algorithm, PickerKind, RouterBuilder};

use crate::args::{Out, handle};
use crate::status::{Failure, Result, boundary, boundary_void, ringroute_status};

/// Which sticky algorithm places keys: one of the `RINGROUTE_ALGORITHM_*`
/// constants. A plain integer (not an enum) so that any value a C program
/// stores is safe to pass; an unknown value is `RINGROUTE_INVALID_ARGUMENT`.
pub type ringroute_algorithm = u32;

/// The native hash ring (spec v2) with `vnodes` points per unit weight. The
/// default; the golden vectors of `docs/ring-spec.md` hold for it.
pub const RINGROUTE_ALGORITHM_RING: ringroute_algorithm = 0;
/// Jump consistent hash with MementoHash removals. Unweighted: every node
/// must have weight 1 (another valid weight is `RINGROUTE_INVALID_ARGUMENT`).
pub const RINGROUTE_ALGORITHM_JUMP: ringroute_algorithm = 1;
/// Weighted rendezvous hashing (highest random weight, log method).
pub const RINGROUTE_ALGORITHM_RENDEZVOUS: ringroute_algorithm = 2;
/// Maglev with a lookup table of `maglev_table_size` entries (a prime larger
/// than the node count).
pub const RINGROUTE_ALGORITHM_MAGLEV: ringroute_algorithm = 3;
/// JumpBackHash (Ertl 2024: integer-only, expected constant time) with
/// MementoHash removals; a placement of its own, not jump's. Unweighted like
/// `RINGROUTE_ALGORITHM_JUMP`.
pub const RINGROUTE_ALGORITHM_JUMPBACK: ringroute_algorithm = 4;

/// Which picker `ringroute_pick()` uses for requests without a key: one of
/// the `RINGROUTE_PICKER_*` constants (a plain integer, like
/// `ringroute_algorithm`).
pub type ringroute_picker = u32;

/// Of two random up nodes, the one with fewer requests in flight per unit
/// weight (power of two choices, as Envoy's least_request). The default.
pub const RINGROUTE_PICKER_LEAST_CONNECTIONS: ringroute_picker = 0;
/// Of two random up nodes, the one with the lower peak-EWMA latency times
/// load (Finagle, linkerd); `picker_decay_ms` is the EWMA time constant.
pub const RINGROUTE_PICKER_LEAST_RESPONSE_TIME: ringroute_picker = 1;
/// Weighted random (Vose alias table).
pub const RINGROUTE_PICKER_WEIGHTED_RANDOM: ringroute_picker = 2;
/// Each up node in turn, weights ignored.
pub const RINGROUTE_PICKER_ROUND_ROBIN: ringroute_picker = 3;
/// nginx's smooth weighted round robin.
pub const RINGROUTE_PICKER_SMOOTH_WEIGHTED: ringroute_picker = 4;

/// Passive outlier detection (after Envoy's consecutive-5xx detection):
/// after `consecutive_failures` failed requests in a row a node is ejected
/// for `base_ejection_ms * k` (its `k`-th ejection), at most
/// `max_ejection_ms`, and never more than `max_ejected_share` of the nodes at
/// once (though one node may always be).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ringroute_outlier_config {
    /// Failures in a row that eject a node (at least 1; default 5).
    pub consecutive_failures: u32,
    /// Length of a first ejection in milliseconds (> 0; default 30000).
    pub base_ejection_ms: u64,
    /// Longest ejection in milliseconds (>= base; default 300000).
    pub max_ejection_ms: u64,
    /// Largest share of nodes ejected at once (in [0, 1]; default 0.10).
    pub max_ejected_share: f64,
}

/// The phi-accrual heartbeat detector (after Akka): a node whose heartbeats
/// (`ringroute_heartbeat`) stop is marked unreachable by `ringroute_tick`
/// once phi reaches `threshold`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ringroute_phi_config {
    /// Phi at which a node is suspected (finite, > 0; default 8.0).
    pub threshold: f64,
    /// Heartbeat intervals remembered per node (1 to 2^20; default 1000).
    pub max_samples: u32,
    /// Floor on the interval standard deviation in milliseconds (> 0;
    /// default 100).
    pub min_std_dev_ms: u64,
    /// Extra silence tolerated in milliseconds (default 0).
    pub acceptable_pause_ms: u64,
    /// Assumed mean interval before one is measured, in milliseconds (> 0;
    /// default 1000).
    pub first_heartbeat_estimate_ms: u64,
}

/// Everything a router is built with besides its nodes. Fill it with
/// `ringroute_config_default()` first, then change the fields you need, so
/// that every field holds a meaningful value.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct ringroute_config {
    /// The sticky algorithm: a `RINGROUTE_ALGORITHM_*` value (default
    /// `RINGROUTE_ALGORITHM_RING`).
    pub algorithm: ringroute_algorithm,
    /// Ring points per unit weight, for `RINGROUTE_ALGORITHM_RING`
    /// (1 to 65536; default 160).
    pub vnodes: u32,
    /// Lookup table entries, for `RINGROUTE_ALGORITHM_MAGLEV`: a prime
    /// larger than the node count (default 65537).
    pub maglev_table_size: u32,
    /// The picker for `ringroute_pick()`: a `RINGROUTE_PICKER_*` value
    /// (default `RINGROUTE_PICKER_LEAST_CONNECTIONS`).
    pub picker: ringroute_picker,
    /// Time constant of the latency average, in milliseconds, for
    /// `RINGROUTE_PICKER_LEAST_RESPONSE_TIME` (> 0; default 10000).
    pub picker_decay_ms: u64,
    /// Non-zero turns passive outlier detection on (default 1).
    pub outlier_detection: u32,
    /// Outlier detection settings, read when `outlier_detection` is non-zero.
    pub outlier: ringroute_outlier_config,
    /// Non-zero turns the phi-accrual heartbeat detector on (default 0).
    pub phi_accrual: u32,
    /// Heartbeat detector settings, read when `phi_accrual` is non-zero.
    pub phi: ringroute_phi_config,
    /// Bounded loads for `ringroute_lease` on the ring: a node holding more
    /// than `bounded_loads` times its fair share of the in-flight requests
    /// passes the key to its next replica. 0 turns it off (the default);
    /// otherwise finite and at least 1 (1.25 is a common choice). The other
    /// algorithms ignore it.
    pub bounded_loads: f64,
    /// The clock for latencies, ejections and heartbeats: NULL (the
    /// default) for the monotonic system clock, or a clock from
    /// `ringroute_manual_clock_new`. The router keeps its own reference, so
    /// the clock may be freed right after the router is built.
    pub clock: *const ringroute_clock,
}

/// A clock that moves only when told to (`ringroute_clock_advance`), for
/// tests and simulations of ejections and heartbeats. Opaque.
pub struct ringroute_clock {
    pub(crate) clock: Arc<ManualClock>,
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Default for ringroute_config {
    fn default() -> Self {
        let outlier = OutlierConfig::default();
        let phi = PhiConfig::default();
        ringroute_config {
            algorithm: RINGROUTE_ALGORITHM_RING,
            vnodes: ringroute::place::ring::DEFAULT_VNODES,
            maglev_table_size: ringroute::place::maglev::DEFAULT_TABLE_SIZE,
            picker: RINGROUTE_PICKER_LEAST_CONNECTIONS,
            picker_decay_ms: millis(ringroute::pick::DEFAULT_DECAY),
            outlier_detection: 1,
            outlier: ringroute_outlier_config {
                consecutive_failures: outlier.consecutive_failures,
                base_ejection_ms: millis(outlier.base_ejection),
                max_ejection_ms: millis(outlier.max_ejection),
                max_ejected_share: outlier.max_ejected_share,
            },
            phi_accrual: 0,
            phi: ringroute_phi_config {
                threshold: phi.threshold,
                max_samples: u32::try_from(phi.max_samples).unwrap_or(u32::MAX),
                min_std_dev_ms: millis(phi.min_std_dev),
                acceptable_pause_ms: millis(phi.acceptable_pause),
                first_heartbeat_estimate_ms: millis(phi.first_heartbeat_estimate),
            },
            bounded_loads: 0.0,
            clock: std::ptr::null(),
        }
    }
}

impl ringroute_config {
    /// The algorithm this configuration names.
    pub(crate) fn algorithm(&self) -> Result<Algorithm> {
        match self.algorithm {
            RINGROUTE_ALGORITHM_RING => Ok(Algorithm::Ring {
                vnodes: self.vnodes,
            }),
            RINGROUTE_ALGORITHM_JUMP => Ok(Algorithm::Jump),
            RINGROUTE_ALGORITHM_JUMPBACK => Ok(Algorithm::JumpBack),
            RINGROUTE_ALGORITHM_RENDEZVOUS => Ok(Algorithm::Rendezvous),
            RINGROUTE_ALGORITHM_MAGLEV => Ok(Algorithm::Maglev {
                table_size: self.maglev_table_size,
            }),
            other => Err(Failure::invalid(format!("unknown algorithm {other}"))),
        }
    }

    /// The picker this configuration names.
    pub(crate) fn picker(&self) -> Result<PickerKind> {
        match self.picker {
            RINGROUTE_PICKER_LEAST_CONNECTIONS => Ok(PickerKind::LeastConnections),
            RINGROUTE_PICKER_LEAST_RESPONSE_TIME => Ok(PickerKind::LeastResponseTime {
                decay: ms(self.picker_decay_ms),
            }),
            RINGROUTE_PICKER_WEIGHTED_RANDOM => Ok(PickerKind::WeightedRandom),
            RINGROUTE_PICKER_ROUND_ROBIN => Ok(PickerKind::RoundRobin),
            RINGROUTE_PICKER_SMOOTH_WEIGHTED => Ok(PickerKind::SmoothWeighted),
            other => Err(Failure::invalid(format!("unknown picker {other}"))),
        }
    }

    /// A router builder with every setting of this configuration (nodes
    /// still to add). Values are checked by the core when it builds.
    ///
    /// # Safety
    ///
    /// `self.clock` must be NULL or point to a live `ringroute_clock`.
    pub(crate) unsafe fn builder(&self) -> Result<RouterBuilder<()>> {
        // SAFETY: forwarded from the caller.
        unsafe { self.builder_with(self.algorithm()?) }
    }

    /// [`builder`](Self::builder) with `algorithm` in place of the one this
    /// configuration names (for compatibility modes).
    ///
    /// # Safety
    ///
    /// As for [`builder`](Self::builder).
    pub(crate) unsafe fn builder_with(&self, algorithm: Algorithm) -> Result<RouterBuilder<()>> {
        let mut builder = RouterBuilder::default()
            .algorithm(algorithm)
            .picker(self.picker()?);
        builder = if self.outlier_detection != 0 {
            builder.outlier_detection(OutlierConfig {
                consecutive_failures: self.outlier.consecutive_failures,
                base_ejection: ms(self.outlier.base_ejection_ms),
                max_ejection: ms(self.outlier.max_ejection_ms),
                max_ejected_share: self.outlier.max_ejected_share,
            })
        } else {
            builder.no_outlier_detection()
        };
        if self.phi_accrual != 0 {
            builder = builder.phi_accrual(PhiConfig {
                threshold: self.phi.threshold,
                max_samples: self.phi.max_samples as usize,
                min_std_dev: ms(self.phi.min_std_dev_ms),
                acceptable_pause: ms(self.phi.acceptable_pause_ms),
                first_heartbeat_estimate: ms(self.phi.first_heartbeat_estimate_ms),
            });
        }
        if self.bounded_loads != 0.0 {
            builder = builder.bounded_loads(self.bounded_loads);
        }
        // SAFETY: the caller promises that a non-NULL clock is live.
        if let Some(clock) = unsafe { self.clock.as_ref() } {
            let clock: Arc<dyn Clock> = clock.clock.clone();
            builder = builder.clock(clock);
        }
        Ok(builder)
    }
}

/// Fills `*config_out` with the defaults: the native ring with 160 vnodes
/// (and a Maglev table size of 65537 should you switch to Maglev), least
/// connections for keyless picks (10 s latency decay), outlier detection on with Envoy's defaults (5 failures, 30 s base
/// ejection, 300 s max, 10 % max ejected), the heartbeat detector off (with
/// Akka's defaults filled in: threshold 8, 1000 samples, 100 ms min std dev,
/// 0 pause, 1 s first estimate), bounded loads off, the system clock.
///
/// Ownership: `config_out` is the caller's; nothing is allocated.
///
/// Thread-safety: safe from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER` if `config_out` is NULL.
///
/// # Safety
///
/// `config_out` must be NULL or point to writable memory for a
/// `ringroute_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_config_default(
    config_out: *mut ringroute_config,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable ringroute_config or NULL.
        let out = unsafe { Out::new(config_out, "config_out") }?;
        out.write(ringroute_config::default());
        Ok(())
    })
}

/// Creates a manual clock that reads `start_ms` milliseconds until moved.
/// Give it to a router through `ringroute_config.clock`.
///
/// Ownership: on success `*clock_out` is a new clock owned by the caller,
/// to be released with `ringroute_clock_free()`. Routers built with it keep
/// their own reference, so it may be freed at any time.
///
/// Thread-safety: the clock may be read and advanced from any thread.
///
/// Errors: `RINGROUTE_NULL_POINTER` if `clock_out` is NULL.
///
/// # Safety
///
/// `clock_out` must be NULL or point to writable memory for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_manual_clock_new(
    start_ms: u64,
    clock_out: *mut *mut ringroute_clock,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a writable pointer slot or NULL.
        let out = unsafe { Out::new(clock_out, "clock_out") }?;
        let clock = Box::new(ringroute_clock {
            clock: Arc::new(ManualClock::new(ms(start_ms))),
        });
        out.write(Box::into_raw(clock));
        Ok(())
    })
}

/// Moves a manual clock forward by `ms` milliseconds (saturating). Every
/// router built with it sees the new time at once.
///
/// Ownership: borrows `clock`.
///
/// Thread-safety: safe from any thread, also while routers read the clock.
///
/// Errors: `RINGROUTE_NULL_POINTER` if `clock` is NULL.
///
/// # Safety
///
/// `clock` must be NULL or a live clock from `ringroute_manual_clock_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_clock_advance(
    clock: *const ringroute_clock,
    ms: u64,
) -> ringroute_status {
    boundary(|| {
        // SAFETY: the caller promises a live clock or NULL.
        let clock = unsafe { handle(clock, "clock") }?;
        clock.clock.advance(Duration::from_millis(ms));
        Ok(())
    })
}

/// Releases the caller's reference to a clock. NULL is a no-op. Routers
/// built with the clock keep using it.
///
/// Ownership: takes `clock`, which must not be used afterwards.
///
/// Thread-safety: no other call may be using this `clock` pointer meanwhile.
///
/// # Safety
///
/// `clock` must be NULL or a clock from `ringroute_manual_clock_new` that has
/// not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringroute_clock_free(clock: *mut ringroute_clock) {
    boundary_void(|| {
        if !clock.is_null() {
            // SAFETY: the caller gives back a pointer from Box::into_raw in
            // ringroute_manual_clock_new, once.
            drop(unsafe { Box::from_raw(clock) });
        }
    });
}
