//! What every bench feeds its contenders: the same 16-byte keys, the same
//! node names, a one-shot xxh3 `BuildHasher` so that peers hashing through
//! `std::hash` compute exactly `xxh3_64(key)`, as ringroute does, and the two
//! walks (throughput and latency) every lookup bench uses.
//!
//! Key sets (see `benches/README.md`, "Method"):
//!
//! * [`keys`]: the hot set, [`KEYS`] = 65,536 distinct keys stored
//!   contiguously (1 MiB), visited once each per iteration; never a short
//!   cycle the branch predictor could learn;
//! * [`cold_keys`]: the cold set, [`COLD_KEYS`] = 2,097,152 keys (32 MiB,
//!   more than L2 and L3 together on the reference machine), built on first
//!   use; in test mode (`cargo test --benches`) a small stand-in is used so
//!   the once-through run stays cheap;
//! * [`hashes`]: [`KEYS`] random `u64`s, for `route_hash`-style calls that
//!   isolate the structure from the key hash.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Keys of the hot set (1 MiB of 16-byte keys); a power of two so latency
/// walks can mask.
pub const KEYS: usize = 1 << 16;

/// Keys of the cold set (32 MiB of 16-byte keys) when measuring.
pub const COLD_KEYS: usize = 1 << 21;

/// Node `i`'s name: `10.0.{i/256}.{i%256}:11211`.
pub fn name(i: usize) -> String {
    format!("10.0.{}.{}:11211", i / 256, i % 256)
}

/// A 16-byte key. Its `Hash` writes the 16 bytes once and nothing else (no
/// length prefix), so the peers' hashers see exactly what ringroute hashes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Key(pub [u8; 16]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// splitmix64 from `seed`: the benches' only random source, fixed so every
/// run and every bench sees the same keys.
pub fn splitmix(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn make_keys(count: usize, seed: u64) -> Vec<Key> {
    let mut next = splitmix(seed);
    (0..count)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&next().to_le_bytes());
            k[8..].copy_from_slice(&next().to_le_bytes());
            Key(k)
        })
        .collect()
}

/// The hot set: the same [`KEYS`] pseudo-random keys in every run and bench.
pub fn keys() -> &'static [Key] {
    static CELL: OnceLock<Vec<Key>> = OnceLock::new();
    CELL.get_or_init(|| make_keys(KEYS, 0x5e_ed0f_4e15))
}

/// The cold set: [`COLD_KEYS`] keys when measuring, [`KEYS`] in test mode
/// (where only the code path matters). Always a power of two.
pub fn cold_keys() -> &'static [Key] {
    static CELL: OnceLock<Vec<Key>> = OnceLock::new();
    CELL.get_or_init(|| {
        let n = if crate::report::measuring() {
            COLD_KEYS
        } else {
            KEYS
        };
        make_keys(n, 0x0c01_d5e7)
    })
}

/// [`KEYS`] random `u64`s: hashes for `route_hash` calls.
pub fn hashes() -> &'static [u64] {
    static CELL: OnceLock<Vec<u64>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut next = splitmix(0x4a5e_5eed);
        (0..KEYS).map(|_| next()).collect()
    })
}

/// Throughput: every item once, in storage order, independent of one
/// another, so the CPU may overlap lookups.
#[inline]
pub fn independent<T>(items: &[T], mut route: impl FnMut(&T) -> u32) -> u32 {
    let mut acc = 0u32;
    for k in items {
        acc = acc.wrapping_add(route(k));
    }
    acc
}

/// Latency: `items.len()` lookups (a power of two) where the next item's
/// index depends on the previous answer, so no lookup starts before the one
/// before it has finished. The odd multiplier of the step spreads the walk
/// over the whole set in a pseudo-random order, never a short cycle.
#[inline]
pub fn dependent<T>(items: &[T], mut route: impl FnMut(&T) -> u32) -> u32 {
    debug_assert!(items.len().is_power_of_two());
    let mask = items.len() - 1;
    let mut prev = 0u32;
    for step in 0..items.len() {
        let at = step.wrapping_mul(0x9e37_79b9) ^ prev as usize;
        prev = route(&items[at & mask]);
    }
    prev
}

/// One walk or the other, picked at compile time so each route closure is
/// inlined into its loop.
#[inline]
pub fn walk<const DEPENDENT: bool, T>(items: &[T], route: impl FnMut(&T) -> u32) -> u32 {
    if DEPENDENT {
        dependent(items, route)
    } else {
        independent(items, route)
    }
}

/// A `Hasher` that is one-shot xxh3: a single `write` of `bytes` finishes as
/// exactly `xxh3_64(bytes)`.
#[derive(Copy, Clone, Default)]
pub struct Xxh3OneShot(pub u64);

impl Hasher for Xxh3OneShot {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The peers' `BuildHasher`: [`Xxh3OneShot`] from seed 0.
#[derive(Copy, Clone, Default, Debug)]
pub struct Xxh3Build;

impl BuildHasher for Xxh3Build {
    type Hasher = Xxh3OneShot;

    #[inline]
    fn build_hasher(&self) -> Xxh3OneShot {
        Xxh3OneShot(0)
    }
}
