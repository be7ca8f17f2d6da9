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
#[inline]
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
/// per point, so a build allocates nothing per point.
#[derive(Clone, Debug)]
pub struct PointHasher {
    buf: SmallVec<[u8; 128]>,
}

impl PointHasher {
    /// A hasher for the points of the node named `name`.
    #[inline]
    pub fn new(name: &[u8]) -> Self {
        let mut buf = SmallVec::with_capacity(name.len() + 4);
        buf.extend_from_slice(name);
        buf.extend_from_slice(&[0; 4]);
        PointHasher { buf }
    }

    /// The position of point `j`: `xxh3_64(name ‖ le32(j))`.
    #[inline]
    pub fn hash(&mut self, j: u32) -> u64 {
        let at = self.buf.len() - 4;
        self.buf[at..].copy_from_slice(&j.to_le_bytes());
        xxh3_64(&self.buf)
    }

    /// `out[i] = hash(from + i)`, at about twice the speed of calling
    /// [`hash`](Self::hash) in a loop.
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
    fn hash_many_matches_one_at_a_time() {
        for len in [0usize, 1, 3, 4, 5, 8, 12, 13, 20, 60, 124, 125, 300] {
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
