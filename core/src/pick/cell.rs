//! [`LoadCell`]: one node's in-flight count and peak-EWMA latency, with the
//! load [`PeakEwma`](super::PeakEwma) compares kept current by every update,
//! so a pick reads one word per candidate instead of computing it.
//!
//! # Why precompute
//!
//! A pick compares two candidates' loads; a node's load changes only when a
//! request starts, finishes or reports a latency, once or twice per
//! request, while every request makes one pick, on its critical path.
//! Computing `ℓ + ln(in_flight + 1)` and sorting out Finagle's three kinds
//! of load (idle, estimate, penalty) at pick time took a third of the pick:
//! 169 instructions per weighted pick then, 114 reading the stored loads.
//! The refresh costs each update about 20 instructions and one sequentially
//! consistent store (a full barrier on x86), so an owner whose picker never
//! reads the load makes its cells with [`LoadCell::computed`] and skips it.
//!
//! # Keeping the load current
//!
//! The load is a function of two atomics (the count and the anchored cost),
//! and one update cannot change all three at once. Each update changes its
//! input, then *refreshes*: reads both inputs, stores the load they give,
//! and reads the inputs again; if either changed meanwhile, it refreshes
//! again. All of these are sequentially consistent, so the last load stored
//! is computed from inputs that no later update changed: whichever refresh
//! stores last read its inputs after the last change (a read before it
//! would see the change on its second read, after its store, and go round
//! again). A pick may read a load a moment old, as it would read any
//! counter; it never keeps reading a wrong one.

use std::fmt;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::time::Duration;

use super::PeakEwmaCell;

/// A node's in-flight count and peak-EWMA latency, and the load
/// [`PeakEwma`](super::PeakEwma) compares: [`log_load`](LoadCell::log_load).
///
/// [`NodeLoads`](super::NodeLoads) keeps one per node, and so does the
/// [`Router`](crate::router::Router); a [`Loads`](super::Loads) of your own
/// can embed one per node and return its `log_load` from
/// [`Loads::log_load`](super::Loads::log_load).
pub struct LoadCell {
    in_flight: AtomicU32,
    latency: PeakEwmaCell,
    /// `f64` bits of [`log_load`](LoadCell::log_load), when `stored`.
    log_load: AtomicU64,
    /// Whether updates keep `log_load` (see [`LoadCell::computed`]).
    stored: bool,
}

impl LoadCell {
    /// An idle cell that has observed nothing.
    pub const fn new() -> Self {
        LoadCell {
            in_flight: AtomicU32::new(0),
            latency: PeakEwmaCell::new(),
            log_load: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            stored: true,
        }
    }

    /// Like [`new`](LoadCell::new), but updates do not store the load:
    /// [`log_load`](LoadCell::log_load) computes it when asked. For an
    /// owner whose picker never asks (a router that picks by least
    /// connections, or routes keys), so its requests do not pay for the
    /// refresh (see the [module docs](self)).
    pub const fn computed() -> Self {
        LoadCell {
            stored: false,
            ..Self::new()
        }
    }

    /// Requests started and not yet finished.
    #[inline]
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(SeqCst)
    }

    /// The peak-EWMA latency. Read it here; feed it through
    /// [`observe`](LoadCell::observe) or
    /// [`finish_observed`](LoadCell::finish_observed), which also update the
    /// load (an observation made on the cell directly is folded into the
    /// load at the node's next start or finish).
    #[inline]
    pub fn latency(&self) -> &PeakEwmaCell {
        &self.latency
    }

    /// Finagle's load `cost · (in_flight + 1)` on [`PeakEwma`]'s anchored
    /// log scale: `ℓ + ln(in_flight + 1)`, with `ℓ` the anchored cost
    /// ([`PeakEwmaCell::log_cost`]). Never observed: −∞ when idle (the
    /// node is probed at once), +∞ with requests in flight (Finagle's
    /// penalty: none join them until one returns). See [`log_load`].
    ///
    /// [`PeakEwma`]: super::PeakEwma
    #[inline]
    pub fn log_load(&self) -> f64 {
        if self.stored {
            self.stored_log_load()
        } else {
            self.computed_log_load()
        }
    }

    /// The stored load of a cell made by [`new`](LoadCell::new), without
    /// asking whether it is stored.
    #[inline]
    pub(super) fn stored_log_load(&self) -> f64 {
        debug_assert!(self.stored);
        f64::from_bits(self.log_load.load(Relaxed))
    }

    /// Out of line: no picker that reads the load owns such a cell, and
    /// inlined it would double the size of every pick that reads loads.
    #[inline(never)]
    fn computed_log_load(&self) -> f64 {
        log_load(self.latency.log_cost(), self.in_flight())
    }

    /// A request starts.
    #[inline]
    pub fn start(&self) {
        self.in_flight.fetch_add(1, SeqCst);
        self.refresh();
    }

    /// A request is over. Saturates at zero, so an unmatched `finish`
    /// cannot wrap the count to `u32::MAX` and starve the node.
    #[inline]
    pub fn finish(&self) {
        self.end_one();
        self.refresh();
    }

    /// A request is over and took `rtt`, observed at `now` (decay time
    /// `tau`, see [`PeakEwmaCell::observe`]): [`finish`](LoadCell::finish)
    /// and [`observe`](LoadCell::observe) with one refresh of the load.
    pub fn finish_observed(&self, rtt: Duration, now: Duration, tau: Duration) {
        self.end_one();
        self.latency.observe(rtt, now, tau);
        self.refresh();
    }

    /// Folds a round-trip time observed at `now` into the latency (decay
    /// time `tau`, see [`PeakEwmaCell::observe`]).
    pub fn observe(&self, rtt: Duration, now: Duration, tau: Duration) {
        self.latency.observe(rtt, now, tau);
        self.refresh();
    }

    /// Forgets everything: idle, never observed.
    pub fn reset(&self) {
        self.in_flight.store(0, SeqCst);
        self.latency.reset();
        self.refresh();
    }

    /// Takes `other`'s count and latency (for resizing an owner's table).
    pub(crate) fn copy_from(&self, other: &LoadCell) {
        self.in_flight.store(other.in_flight(), SeqCst);
        self.latency.copy_from(&other.latency);
        self.refresh();
    }

    fn end_one(&self) {
        // Fails only at zero, where there is nothing to undo.
        let _ = self
            .in_flight
            .fetch_update(SeqCst, SeqCst, |v| v.checked_sub(1));
    }

    /// Stores the load of the current inputs, again until they held still
    /// across the store (the module docs say why that is enough).
    fn refresh(&self) {
        if !self.stored {
            return;
        }
        loop {
            let pending = self.in_flight.load(SeqCst);
            let cost = self.latency.log_cost_bits();
            let load = log_load(f64::from_bits(cost), pending);
            self.log_load.store(load.to_bits(), SeqCst);
            if self.in_flight.load(SeqCst) == pending && self.latency.log_cost_bits() == cost {
                return;
            }
        }
    }
}

impl Default for LoadCell {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LoadCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadCell")
            .field("in_flight", &self.in_flight())
            .field("latency", &self.latency)
            .field("log_load", &self.log_load())
            .finish()
    }
}

/// The load [`LoadCell::log_load`] stores, from an anchored cost `log_cost`
/// ([`PeakEwmaCell::log_cost`], −∞ with no history) and an in-flight count:
/// `log_cost + ln(pending + 1)`; −∞ idle without history; +∞ in flight
/// without history. The default of [`Loads::log_load`](super::Loads::log_load).
#[inline]
pub fn log_load(log_cost: f64, pending: u32) -> f64 {
    if log_cost > f64::NEG_INFINITY {
        log_cost + ln_1p(pending)
    } else if pending == 0 {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    }
}

/// `ln(n + 1)`, from a table made at compile time below 64 in flight.
#[inline]
fn ln_1p(n: u32) -> f64 {
    match LN_1P.get(n as usize) {
        Some(&ln) => ln,
        None => ln_1p_slow(n),
    }
}

/// Out of line: its constants would otherwise be loaded on every call.
#[cold]
#[inline(never)]
fn ln_1p_slow(n: u32) -> f64 {
    fast_ln(n as f64 + 1.0)
}

static LN_1P: [f64; 64] = {
    let mut table = [0.0; 64];
    let mut n = 0;
    while n < 64 {
        table[n] = fast_ln(n as f64 + 1.0);
        n += 1;
    }
    table
};

/// `ln(x)` for a positive normal `x`, to about 1e-10, with no call and no
/// branch, usable in constants: `x = m·2^e`, `m` folded into `[√½, √2)`, then the series of
/// `ln m = 2·atanh((m−1)/(m+1))` to its fifth term.
const fn fast_ln(x: f64) -> f64 {
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & MANTISSA) | (1023 << 52));
    let big = m > std::f64::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    e += big as i64;
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
    e as f64 * std::f64::consts::LN_2 + 2.0 * t * series
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const TAU: Duration = Duration::from_secs(10);

    #[test]
    fn fast_ln_matches_ln() {
        let mut x = 1e-300f64;
        while x < 1e300 {
            for y in [x, x * 1.414, x * 1.4143, x * 1.999] {
                let err = (fast_ln(y) - y.ln()).abs();
                assert!(err < 1e-9 * y.ln().abs().max(1.0), "{y}: {err}");
            }
            x *= 3.7;
        }
        assert_eq!(fast_ln(1.0), 0.0);
    }

    #[test]
    fn ln_1p_is_ln_of_one_more() {
        for n in (0..200u32).chain([1000, 1 << 20, u32::MAX]) {
            let want = (f64::from(n) + 1.0).ln();
            assert!((ln_1p(n) - want).abs() <= 1e-9 * want.max(1.0), "{n}");
        }
        assert_eq!(ln_1p(0), 0.0);
    }

    #[test]
    fn load_follows_each_update() {
        let cell = LoadCell::new();
        assert_eq!(cell.log_load(), f64::NEG_INFINITY);
        cell.start();
        assert_eq!(cell.log_load(), f64::INFINITY);
        cell.finish_observed(Duration::from_millis(2), Duration::from_secs(1), TAU);
        assert_eq!(cell.in_flight(), 0);
        let idle = cell.latency().log_cost();
        assert!((cell.log_load() - idle).abs() < 1e-12);
        cell.start();
        cell.start();
        assert!((cell.log_load() - (idle + 3f64.ln())).abs() < 1e-9);
        cell.finish();
        cell.finish();
        cell.finish(); // unmatched: saturates
        assert_eq!(cell.in_flight(), 0);
        assert!((cell.log_load() - idle).abs() < 1e-12);
        cell.observe(Duration::from_millis(9), Duration::from_secs(2), TAU);
        assert!(cell.log_load() > idle);
        cell.reset();
        assert_eq!(cell.log_load(), f64::NEG_INFINITY);
    }

    #[test]
    fn computed_cell_answers_the_same_load() {
        let (stored, computed) = (LoadCell::new(), LoadCell::computed());
        let check = |what: &str| {
            assert_eq!(
                stored.log_load().to_bits(),
                computed.log_load().to_bits(),
                "{what}"
            );
        };
        check("new");
        for cell in [&stored, &computed] {
            cell.start();
        }
        check("penalty");
        for cell in [&stored, &computed] {
            cell.finish_observed(Duration::from_millis(3), Duration::from_secs(1), TAU);
            cell.start();
            cell.start();
        }
        check("estimate");
        // Nothing was stored for the computed cell.
        assert_eq!(computed.log_load.load(SeqCst), f64::NEG_INFINITY.to_bits());
    }

    /// However two threads' updates interleave, the load left after them is
    /// the load of the final count and cost. Each round releases both
    /// threads at once into one update each, then checks.
    #[test]
    fn concurrent_updates_leave_the_final_load() {
        const ROUNDS: u64 = 100_000;
        let cell = Arc::new(LoadCell::new());
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let stale = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let (cell, barrier, stale) = (cell.clone(), barrier.clone(), stale.clone());
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        barrier.wait();
                        match (i + t) % 4 {
                            0 | 1 => cell.start(),
                            2 => cell.finish(),
                            _ => {
                                let rtt = Duration::from_micros(100 + (i * 7 + t) % 900);
                                cell.finish_observed(rtt, Duration::from_micros(i), TAU);
                            }
                        }
                        barrier.wait();
                        if t == 0 {
                            let want = log_load(cell.latency().log_cost(), cell.in_flight());
                            if cell.log_load().to_bits() != want.to_bits() {
                                stale.fetch_add(1, SeqCst);
                            }
                        }
                        barrier.wait();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(stale.load(SeqCst), 0, "rounds that left a stale load");
    }
}
