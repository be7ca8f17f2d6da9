//! The random source of the pickers: wyrand over one relaxed `AtomicU64`.
//!
//! # Why this design
//!
//! A picker is shared by every thread of a client and picks with `&self`, so
//! its random source must be `Sync`, lock-free, seedable (tests replay exact
//! sequences) and far cheaper than the 5 ns a whole pick may cost.
//!
//! * **Generator**: wyrand (Wang Yi, from wyhash; the generator `fastrand`
//!   uses too). Its state is a Weyl sequence, `state += 0xa0761d6478bd642f`,
//!   and each output is the 64×64→128-bit "mum" of the state with a
//!   constant, folded to 64 bits. It passes BigCrush and PractRand, and one
//!   step is an add and a multiply.
//! * **No read-modify-write**: the state advances with a relaxed `load` and
//!   `store`, not `fetch_add`. A locked `fetch_add` costs about 8.5 ns on the
//!   development machine (AMD EPYC, uncontended), more than the whole pick
//!   budget; the plain load/store pair costs about 1 ns. The price is that
//!   two threads racing on the same picker may read the same state and so
//!   draw the same number, or one may store a slightly older state. Every
//!   draw is still a wyrand output, so each thread's picks keep the exact
//!   distribution; only independence *between* racing threads is lost, which
//!   a load balancer can afford (two concurrent requests occasionally going
//!   the same way is what any random balancer does anyway).
//! * **No false sharing**: the state sits alone on its cache line, so its
//!   stores do not evict the read-only tables next to it in a picker.
//!
//! Single-threaded, a seeded [`Rng`] yields exactly the wyrand sequence of
//! its seed, which is what makes the distribution tests deterministic.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// wyrand's Weyl increment (wyhash's `_wyp0`).
const GAMMA: u64 = 0xa076_1d64_78bd_642f;
/// wyrand's mixing constant (wyhash's `_wyp1`).
const MIX: u64 = 0xe703_7ed1_a0b4_28db;

/// A seedable, lock-free, `Sync` pseudo-random generator (wyrand).
///
/// See the [module documentation](self) for why it advances with a relaxed
/// load and store rather than an atomic add.
#[repr(align(64))]
pub struct Rng {
    state: AtomicU64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        Rng {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator seeded from the process's random hash keys (no system
    /// call per generator, no dependency).
    pub fn from_entropy() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(GAMMA);
        Rng::new(h.finish())
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&self) -> u64 {
        let s = self.state.load(Relaxed).wrapping_add(GAMMA);
        self.state.store(s, Relaxed);
        mum(s, s ^ MIX)
    }

    /// The next two outputs, exactly as two calls of [`Rng::next_u64`]
    /// would give them, for one load and one store of the state.
    #[inline]
    pub fn next_pair(&self) -> (u64, u64) {
        let s1 = self.state.load(Relaxed).wrapping_add(GAMMA);
        let s2 = s1.wrapping_add(GAMMA);
        self.state.store(s2, Relaxed);
        (mum(s1, s1 ^ MIX), mum(s2, s2 ^ MIX))
    }

    /// A uniform integer in `0..n` (`0` when `n == 0`).
    ///
    /// Multiply-shift (Lemire) on 64 bits: the bias is below `n / 2^64`,
    /// far under anything a test can see, and there is no division.
    #[inline]
    pub fn below(&self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform `f64` in `[0, 1)`, from the top 53 bits.
    #[inline]
    pub fn unit_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl Default for Rng {
    /// Same as [`Rng::from_entropy`].
    fn default() -> Self {
        Rng::from_entropy()
    }
}

impl fmt::Debug for Rng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state is the future: printing it would leak the sequence.
        f.write_str("Rng { .. }")
    }
}

/// wyhash's `_wymum`, folded: the xor of both halves of the 128-bit product.
#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let t = u128::from(a) * u128::from(b);
    (t as u64) ^ ((t >> 64) as u64)
}

/// Scales 64 random bits to `0..n` and keeps the fraction: the high word of
/// `r * n` is uniform in `0..n`, and the low word is what is left of `r`
/// once that column is chosen, nearly uniform over `u64`. One draw thus
/// gives an alias column and its coin (see `weighted.rs`).
#[inline]
pub(crate) fn column_and_fraction(r: u64, n: usize) -> (usize, u64) {
    let t = u128::from(r) * n as u128;
    ((t >> 64) as usize, t as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequences_repeat_and_differ() {
        let a = Rng::new(7);
        let b = Rng::new(7);
        let c = Rng::new(8);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn matches_reference_wyrand() {
        // The reference loop, written out from wyhash's `wyrand`.
        let mut s = 42u64;
        let rng = Rng::new(42);
        for _ in 0..100 {
            s = s.wrapping_add(0xa0761d6478bd642f);
            let t = (s as u128) * ((s ^ 0xe7037ed1a0b428db) as u128);
            assert_eq!(rng.next_u64(), (t as u64) ^ ((t >> 64) as u64));
        }
    }

    #[test]
    fn pairs_continue_the_sequence() {
        let (a, b) = (Rng::new(3), Rng::new(3));
        for _ in 0..10 {
            let (x, y) = a.next_pair();
            assert_eq!((x, y), (b.next_u64(), b.next_u64()));
        }
    }

    #[test]
    fn below_stays_in_range() {
        let rng = Rng::new(1);
        for n in [1usize, 2, 3, 7, 100, 1 << 20] {
            for _ in 0..1000 {
                assert!(rng.below(n) < n);
            }
        }
        assert_eq!(rng.below(0), 0);
        for _ in 0..1000 {
            let u = rng.unit_f64();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
