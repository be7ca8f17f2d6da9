//! Key and point hashing of the native ring spec v2.
//!
//! Both are xxh3-64 with seed 0: a key hashes its own bytes, point `j` of a
//! node hashes the node's name followed by `j` as 4 bytes little-endian.
//! Exposed so callers can hash once and route the same hash through several
//! structures ([`Ring::route_hash`](crate::Ring::route_hash)).
//!
//! Why not `xxh3_64_with_seed(name, j)` (spec v1, withdrawn before any
//! release): for inputs of 1–3 bytes xxh3 folds the seed into one 32-bit word
//! of the input, so short names that differ in a low bit tie point for point
//! under neighbouring seeds. Appending `j` to the bytes hashes it like data.

use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

/// The version of the native ring spec this crate places keys with
/// (`docs/ring-spec.md`). Any change of placement is a new version.
pub const SPEC_VERSION: u32 = 2;

/// The hash of a key: `xxh3_64(key)`, seed 0.
#[inline(always)]
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// The position of virtual node `j` of the node named `name`:
/// `xxh3_64(name ‖ le32(j))`, seed 0.
///
/// Hashing many points of one node? [`PointHasher`] copies the name once.
#[inline]
pub fn point_hash(name: &[u8], j: u32) -> u64 {
    PointHasher::new(name).hash(j)
}

/// Hashes the points of one node: holds `name ‖ le32(j)` in one buffer (on
/// the stack for names up to 124 bytes) and rewrites only the last 4 bytes
/// per point, so a build allocates nothing per point. Names of up to 12
/// bytes (inputs of up to 16) are hashed without memory at all: see
/// `Short` below.
#[derive(Clone, Debug)]
pub struct PointHasher {
    buf: SmallVec<[u8; 128]>,
    short: Option<Short>,
}

impl PointHasher {
    /// A hasher for the points of the node named `name`.
    #[inline]
    pub fn new(name: &[u8]) -> Self {
        let short = Short::new(name);
        // A short name is hashed from registers: copying it (a libc call
        // per node) would be all that's left of the buffer's cost.
        let mut buf = SmallVec::new();
        if short.is_none() {
            buf.reserve(name.len() + 4);
            buf.extend_from_slice(name);
            buf.extend_from_slice(&[0; 4]);
        }
        PointHasher { buf, short }
    }

    /// The position of point `j`: `xxh3_64(name ‖ le32(j))`.
    #[inline]
    pub fn hash(&mut self, j: u32) -> u64 {
        if let Some(short) = self.short {
            return short.hash(j);
        }
        let at = self.buf.len() - 4;
        self.buf[at..].copy_from_slice(&j.to_le_bytes());
        xxh3_64(&self.buf)
    }

    /// `out[i] = hash(from + i)`, at about twice the speed of calling
    /// [`hash`](Self::hash) in a loop for names longer than 12 bytes.
    ///
    /// Why: xxh3 reads the input's last 8 bytes with one load, which only
    /// partly overlaps the 4-byte store of `j` just before it, so the CPU
    /// cannot forward the store and waits for it to reach the cache: half
    /// the time of a point went there. Writing `LANES` points' `j` into as
    /// many copies of the buffer before hashing any of them lets those waits
    /// overlap.
    pub fn hash_many(&self, from: u32, out: &mut [u64]) {
        const LANES: usize = 8;
        const ROW: usize = 128;
        if let Some(short) = self.short {
            for (i, h) in out.iter_mut().enumerate() {
                *h = short.hash(from.wrapping_add(i as u32));
            }
            return;
        }
        let len = self.buf.len();
        if len > ROW {
            let mut one = self.clone();
            for (i, h) in out.iter_mut().enumerate() {
                *h = one.hash(from.wrapping_add(i as u32));
            }
            return;
        }
        let mut rows = [[0u8; ROW]; LANES];
        for row in &mut rows {
            row[..len].copy_from_slice(&self.buf);
        }
        let mut j = from;
        for group in out.chunks_mut(LANES) {
            for (k, row) in rows.iter_mut().enumerate().take(group.len()) {
                row[len - 4..len].copy_from_slice(&j.wrapping_add(k as u32).to_le_bytes());
            }
            for (h, row) in group.iter_mut().zip(&rows) {
                *h = xxh3_64(&row[..len]);
            }
            j = j.wrapping_add(LANES as u32);
        }
    }
}

/// xxh3-64 (seed 0) of `name ‖ le32(j)` for names of at most 12 bytes,
/// computed in registers: xxh3 reads an input of 4 to 16 bytes as two words
/// (its first and last 4 or 8 bytes), and here the name's part of each word
/// is fixed, so a point costs a shift, an or and xxh3's own mixing, with no
/// store and reload of the buffer (the reload waits for the store: see
/// [`PointHasher::hash_many`]).
///
/// This restates xxh3's short-input rules (`XXH3_len_4to8_64b` and
/// `XXH3_len_9to16_64b` of the reference, with seed 0 and its default
/// secret); `tests::short_names_hash_as_xxh3` checks it against `xxh3_64`
/// for every name length and many `j`, so it cannot drift from the spec.
#[derive(Clone, Copy, Debug)]
struct Short {
    /// The input's length, `name.len() + 4`.
    len: u64,
    /// The name's bytes in the input's first word (4 or 8 bytes).
    first: u64,
    /// Where `j` starts in the first word, in bits, and which of its bits
    /// land there (none when the name fills the word).
    j_shift: u32,
    j_mask: u64,
    /// The name's bytes in the last word, below `j` (inputs of 9–16 bytes).
    last: u64,
}

/// `secret[8..16] ^ secret[16..24]` of xxh3's default secret.
const FLIP_4TO8: u64 = 0xc73a_b174_c5ec_d5a2;
/// `secret[24..32] ^ secret[32..40]` and `secret[40..48] ^ secret[48..56]`.
const FLIP_9TO16: (u64, u64) = (0x6782_737b_ea42_39b9, 0xaf56_bc3b_0996_523a);

impl Short {
    fn new(name: &[u8]) -> Option<Self> {
        let n = name.len();
        if n > 12 {
            return None;
        }
        let word = |bytes: &[u8]| {
            let mut w = [0u8; 8];
            w[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(w)
        };
        // The first word is 4 bytes for inputs up to 8, else 8 bytes.
        let first_len = if n + 4 <= 8 { 4 } else { 8 };
        let named = n.min(first_len);
        let j_bits = 8 * (first_len - named) as u32;
        Some(Short {
            len: n as u64 + 4,
            first: word(&name[..named]),
            j_shift: 8 * named as u32 % 64,
            j_mask: if j_bits == 0 {
                0
            } else {
                u64::MAX >> (64 - j_bits) << (8 * named)
            },
            last: if n + 4 > 8 { word(&name[n - 4..]) } else { 0 },
        })
    }

    #[inline(always)]
    fn hash(self, j: u32) -> u64 {
        let j = u64::from(opaque(u64::from(j)) as u32);
        let first = self.first | (j << self.j_shift & self.j_mask);
        if self.len <= 8 {
            let word = j.wrapping_add(first << 32) ^ FLIP_4TO8;
            strong_avalanche(word, self.len)
        } else {
            let lo = first ^ FLIP_9TO16.0;
            let hi = (self.last | j << 32) ^ FLIP_9TO16.1;
            let product = u128::from(lo) * u128::from(hi);
            let acc = self
                .len
                .wrapping_add(lo.swap_bytes())
                .wrapping_add(hi)
                .wrapping_add(product as u64 ^ (product >> 64) as u64);
            avalanche(acc)
        }
    }
}

/// Hides `x` from the optimiser so that code on it stays scalar: left alone,
/// LLVM vectorises loops of 64-bit compares or multiplies into SSE2 code,
/// which has neither an unsigned 64-bit compare nor a 64-bit multiply and
/// is several times slower (the ring's window compares, [`Short::hash`]).
#[inline(always)]
pub(crate) fn opaque(x: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut x = x;
        // SAFETY: an empty asm block that only claims to modify a register
        // it is given; it touches no memory and has no other effect.
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        x
    }
}

/// xxh3's final mix for inputs of 9 bytes and more.
#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(0x1656_6791_9e37_79f9);
    h ^ (h >> 32)
}

/// xxh3's final mix for inputs of 4–8 bytes.
#[inline(always)]
fn strong_avalanche(mut h: u64, len: u64) -> u64 {
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(0x9fb2_1c65_1e98_df25);
    h ^= (h >> 35).wrapping_add(len);
    h = h.wrapping_mul(0x9fb2_1c65_1e98_df25);
    h ^ (h >> 28)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_is_name_then_le32() {
        let mut input = b"alpha".to_vec();
        input.extend_from_slice(&7u32.to_le_bytes());
        assert_eq!(point_hash(b"alpha", 7), xxh3_64(&input));
        let long = vec![b'x'; 300];
        let mut input = long.clone();
        input.extend_from_slice(&0x0102_0304u32.to_le_bytes());
        assert_eq!(point_hash(&long, 0x0102_0304), xxh3_64(&input));
        assert_eq!(point_hash(b"", 1), xxh3_64(&1u32.to_le_bytes()));
    }

    #[test]
    fn short_names_hash_as_xxh3() {
        let mut state = 0x5eed_u64;
        for len in 0..=16usize {
            for _ in 0..200 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let name: Vec<u8> = (0..len)
                    .map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8)
                    .collect();
                let mut hasher = PointHasher::new(&name);
                for j in [0, 1, 255, 256, 0x0102_0304, (state >> 32) as u32, u32::MAX] {
                    let mut input = name.clone();
                    input.extend_from_slice(&j.to_le_bytes());
                    assert_eq!(hasher.hash(j), xxh3_64(&input), "name {name:?} j {j}");
                }
            }
        }
    }

    #[test]
    fn hash_many_matches_one_at_a_time() {
        for len in (0usize..=20).chain([60, 124, 125, 300]) {
            let name: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let hasher = PointHasher::new(&name);
            for (from, n) in [
                (0u32, 0usize),
                (0, 1),
                (0, 7),
                (3, 8),
                (5, 9),
                (0, 161),
                (u32::MAX - 3, 9),
            ] {
                let mut out = vec![0u64; n];
                hasher.hash_many(from, &mut out);
                for (i, &h) in out.iter().enumerate() {
                    assert_eq!(
                        h,
                        point_hash(&name, from.wrapping_add(i as u32)),
                        "len {len} from {from} i {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn hasher_reuse_matches_one_shot() {
        let mut h = PointHasher::new(b"node-17");
        for j in [0, 1, 159, 0, u32::MAX] {
            assert_eq!(h.hash(j), point_hash(b"node-17", j));
        }
    }
}
