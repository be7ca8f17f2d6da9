//! What every bench feeds its contenders: the same 16-byte keys, the same
//! node names, and a one-shot xxh3 `BuildHasher` so that peers hashing
//! through `std::hash` compute exactly `xxh3_64(key)`, as ringroute does.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Keys per iteration; a power of two so latency chains can mask.
pub const KEYS: usize = 4096;

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

/// The same [`KEYS`] pseudo-random keys in every run and every bench (splitmix64).
pub fn keys() -> &'static [Key] {
    static CELL: OnceLock<Vec<Key>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut state = 0x5e_ed0f_4e15u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (0..KEYS)
            .map(|_| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&next().to_le_bytes());
                k[8..].copy_from_slice(&next().to_le_bytes());
                Key(k)
            })
            .collect()
    })
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
