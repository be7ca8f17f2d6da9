//! JumpBackHash: jump's placement property with integer arithmetic only and
//! an expected constant number of steps, with MementoHash removals.
//!
//! Otmar Ertl, "JumpBackHash: Say Goodbye to the Modulo Operation to
//! Distribute Keys Uniformly to Buckets" (2024). Like jump, growing from `n`
//! to `n + 1` buckets moves only the keys the new bucket takes. Where jump
//! walks its *active indices* upward (about `ln n` steps, a float division
//! each), JumpBackHash generates them downward, from the highest below `n`:
//! bucket ranges `[2^k, 2^(k+1))` each hold an active index with
//! probability ½ (one bit of a random word per range), the highest range
//! with one is tried first, and only in the range holding `n − 1` can the
//! index fall at or past `n`, where further indices of that range are drawn
//! by rejection (each half of a 64-bit random word is one try). The expected
//! number of random words is below two, whatever `n`.
//!
//! # Random source (fixed: placement depends on it)
//!
//! The random words are SplitMix64 outputs with the state seeded by the key
//! hash (`xxh3_64(key)` through [`Cluster`]): word `i` (from 1) is
//! `mix(hash + i·0x9e3779b97f4a7c15)` with SplitMix64's finalizer. Word 1
//! decides the ranges (its two halves XORed, masked to the ranges below
//! `n`) and gives the index within the first range tried (its low or high
//! half, by the parity of the ranges left); later words feed the rejection
//! loop, low half first. Fed the same SplitMix64, the `jump-back-hash`
//! crate returns the same bucket for every key (checked by the tests).
//!
//! JumpBackHash places keys differently from jump: it is a separate
//! algorithm ([`Algorithm::JumpBack`](crate::router::Algorithm::JumpBack)),
//! and jump keeps its placement.
//!
//! # Removals, weights, health
//!
//! As for jump ([`crate::place::jump`]): [`JumpIndex`] runs MementoHash over the
//! bucket function, so any node may leave and only its keys move; nodes
//! are unweighted (weight 1, anything else refused); down nodes' keys
//! re-hash to up nodes until they are up again.
//!
//! ```
//! use ringroute::place::jumpback::{JumpBack, jumpback_hash};
//!
//! let mut cluster: JumpBack = JumpBack::new();
//! for i in 0..100 {
//!     cluster.add(&format!("cache-{i}"), 1.0)?;
//! }
//! let before = cluster.route("user:42").unwrap();
//! let gone = cluster.index_of("cache-37").unwrap();
//! cluster.remove("cache-37")?;
//! let after = cluster.route("user:42").unwrap();
//! assert!(after == before || before == gone);
//! assert!((0..1000u64).all(|h| jumpback_hash(h, 7) < 7));
//! # Ok::<(), ringroute::Error>(())
//! ```

use crate::place::Cluster;
use crate::place::jump::{BucketFn, JumpIndex};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function of state `z`.
#[inline]
fn splitmix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bucket of key hash `hash` among `buckets` buckets by JumpBackHash,
/// with the random source of the [module docs](self); 0 when `buckets` is
/// 0 or 1.
///
/// ```
/// use ringroute::place::jumpback::jumpback_hash;
///
/// assert!((0..1000u64).all(|h| jumpback_hash(h, 1000) < 1000));
/// // Consistent: from 99 to 100 buckets, keys move only into bucket 99.
/// assert!((0..1000u64).all(|h| {
///     let (a, b) = (jumpback_hash(h, 99), jumpback_hash(h, 100));
///     a == b || b == 99
/// }));
/// ```
#[inline]
pub fn jumpback_hash(hash: u64, buckets: u32) -> u32 {
    if buckets <= 1 {
        return 0;
    }
    let mut state = hash.wrapping_add(GAMMA);
    let first = splitmix(state);
    // Bit k set: the range [2^k, 2^(k+1)) holds an active index. Only the
    // ranges that start below `buckets` count.
    let mut ranges = ((first ^ (first >> 32)) as u32) & (u32::MAX >> (buckets - 1).leading_zeros());
    while ranges != 0 {
        let low = 1u32 << (31 - ranges.leading_zeros());
        // The highest active index of the range, uniform in it: one half of
        // the first word, chosen by the parity of the ranges left.
        let half = (first >> ((ranges.count_ones() & 1) * 32)) as u32;
        let index = low | (half & (low - 1));
        if index < buckets {
            return index;
        }
        // Only the range holding `buckets − 1` gets here: draw its next
        // lower active index by rejection until one falls below `buckets`,
        // or none is left in the range (a draw below `low`).
        let mask = (low << 1) - 1;
        'range: loop {
            state = state.wrapping_add(GAMMA);
            let word = splitmix(state);
            for half in [word as u32, (word >> 32) as u32] {
                let index = half & mask;
                if index < low {
                    break 'range;
                }
                if index < buckets {
                    return index;
                }
            }
        }
        ranges ^= low;
    }
    0
}

/// [`jumpback_hash`] as the bucket function of a [`JumpIndex`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct JumpBackHash;

impl BucketFn for JumpBackHash {
    #[inline]
    fn bucket(hash: u64, buckets: u32) -> u32 {
        jumpback_hash(hash, buckets)
    }
}

/// MementoHash over JumpBackHash: the placement of a [`JumpBack`] cluster.
pub type JumpBackIndex = JumpIndex<JumpBackHash>;

/// Nodes placed by JumpBackHash with MementoHash removals, each carrying a
/// payload `T`; unweighted, like [`Jump`](crate::place::jump::Jump).
pub type JumpBack<T = ()> = Cluster<JumpBackIndex, T>;

impl<T> Default for Cluster<JumpBackIndex, T> {
    fn default() -> Self {
        Cluster::with_placement(JumpBackIndex::with_bucket_fn())
    }
}

impl<T> Cluster<JumpBackIndex, T> {
    /// An empty JumpBackHash cluster.
    pub fn new() -> Self {
        Self::default()
    }
}
