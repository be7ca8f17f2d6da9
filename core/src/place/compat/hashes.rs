//! The key hashes of the compatibility modes, bit for bit as their peers
//! compute them.
//!
//! libhashkit (libmemcached 1.1, `src/libhashkit/*.cc`) and twemproxy
//! (`src/hashkit/*.c`, copied from libhashkit) read key bytes through a
//! signed `char`, so a byte ≥ 0x80 is sign-extended before it is added or
//! XORed: one-at-a-time and the FNV variants differ from their textbook
//! definitions on such bytes, and so do these functions. Both also name a
//! hash `fnv1a_64` that is really 32-bit (offset `0x84222325`, prime
//! `0x1b3`, all in `u32`). md5, crc32 and xxh64 come from well-kept crates.

use md5::{Digest, Md5};

/// A key hash, by the name libhashkit and twemproxy give it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashKind {
    /// The first 4 bytes of the md5 digest, little-endian.
    Md5,
    /// Bob Jenkins' one-at-a-time (libhashkit's default), signed bytes.
    OneAtATime,
    /// FNV-1 32-bit, signed bytes.
    Fnv1_32,
    /// FNV-1a 32-bit, signed bytes.
    Fnv1a32,
    /// FNV-1 64-bit truncated to 32 bits, signed bytes.
    Fnv1_64,
    /// What libhashkit and twemproxy call `fnv1a_64`: 32-bit arithmetic
    /// with the 64-bit offset and prime truncated (twemproxy's default).
    Fnv1a64,
    /// libhashkit's `crc`: `(crc32(key) >> 16) & 0x7fff`.
    Crc32,
    /// twemproxy's `crc32a`: the whole crc32.
    Crc32a,
    /// libhashkit's `murmur` (MurmurHash2, seed `0xdeadbeef × len`).
    Murmur,
    /// libhashkit's `jenkins` (lookup3 `hashlittle`, initval 13).
    Jenkins,
}

impl HashKind {
    /// Every kind, with the name the peers' configurations use.
    pub const ALL: [(&'static str, HashKind); 10] = [
        ("md5", HashKind::Md5),
        ("one_at_a_time", HashKind::OneAtATime),
        ("fnv1_32", HashKind::Fnv1_32),
        ("fnv1a_32", HashKind::Fnv1a32),
        ("fnv1_64", HashKind::Fnv1_64),
        ("fnv1a_64", HashKind::Fnv1a64),
        ("crc32", HashKind::Crc32),
        ("crc32a", HashKind::Crc32a),
        ("murmur", HashKind::Murmur),
        ("jenkins", HashKind::Jenkins),
    ];

    /// The kind named `name` (`md5`, `one_at_a_time`, `fnv1a_64`, ...).
    pub fn from_name(name: &str) -> Option<HashKind> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The name of this kind.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }

    /// Hashes `key`.
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            HashKind::Md5 => md5_le32(key),
            HashKind::OneAtATime => one_at_a_time(key),
            HashKind::Fnv1_32 => fnv1_32(key),
            HashKind::Fnv1a32 => fnv1a_32(key),
            HashKind::Fnv1_64 => fnv1_64(key),
            HashKind::Fnv1a64 => fnv1a_64(key),
            HashKind::Crc32 => (crc32(key) >> 16) & 0x7fff,
            HashKind::Crc32a => crc32(key),
            HashKind::Murmur => murmur(key),
            HashKind::Jenkins => jenkins(key),
        }
    }
}

/// A byte as C's signed `char` widens it.
#[inline]
fn signed(b: u8) -> u32 {
    b as i8 as i32 as u32
}

/// The md5 digest of `data`.
#[inline]
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// Word `k` (0..4) of an md5 digest, little-endian: ketama's point.
#[inline]
pub fn digest_word(d: &[u8; 16], k: usize) -> u32 {
    u32::from_le_bytes([d[4 * k], d[4 * k + 1], d[4 * k + 2], d[4 * k + 3]])
}

/// The first md5 word of `key`: ketama's key hash.
#[inline]
pub fn md5_le32(key: &[u8]) -> u32 {
    digest_word(&md5(key), 0)
}

/// The IEEE crc32 (zlib's) of `data`.
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// libhashkit's `hashkit_one_at_a_time`.
pub fn one_at_a_time(key: &[u8]) -> u32 {
    let mut v: u32 = 0;
    for &b in key {
        v = v.wrapping_add(signed(b));
        v = v.wrapping_add(v << 10);
        v ^= v >> 6;
    }
    v = v.wrapping_add(v << 3);
    v ^= v >> 11;
    v.wrapping_add(v << 15)
}

const FNV_32_INIT: u32 = 2_166_136_261;
const FNV_32_PRIME: u32 = 16_777_619;
const FNV_64_INIT: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// libhashkit's `hashkit_fnv1_32`.
pub fn fnv1_32(key: &[u8]) -> u32 {
    key.iter().fold(FNV_32_INIT, |h, &b| {
        h.wrapping_mul(FNV_32_PRIME) ^ signed(b)
    })
}

/// libhashkit's `hashkit_fnv1a_32`.
pub fn fnv1a_32(key: &[u8]) -> u32 {
    key.iter().fold(FNV_32_INIT, |h, &b| {
        (h ^ signed(b)).wrapping_mul(FNV_32_PRIME)
    })
}

/// libhashkit's `hashkit_fnv1_64`: 64-bit FNV-1, truncated.
pub fn fnv1_64(key: &[u8]) -> u32 {
    key.iter().fold(FNV_64_INIT, |h, &b| {
        h.wrapping_mul(FNV_64_PRIME) ^ (b as i8 as i64 as u64)
    }) as u32
}

/// libhashkit's and twemproxy's `fnv1a_64`, which runs in 32 bits.
pub fn fnv1a_64(key: &[u8]) -> u32 {
    key.iter().fold(FNV_64_INIT as u32, |h, &b| {
        (h ^ signed(b)).wrapping_mul(FNV_64_PRIME as u32)
    })
}

/// libhashkit's `hashkit_murmur` (MurmurHash2, little-endian reads).
pub fn murmur(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let len = key.len() as u32;
    let seed = 0xdead_beef_u32.wrapping_mul(len);
    let mut h = seed ^ len;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// libhashkit's `hashkit_jenkins` (lookup3 `hashlittle`, initval 13) on a
/// little-endian machine, where its aligned and byte paths agree.
pub fn jenkins(key: &[u8]) -> u32 {
    let init = 0xdead_beef_u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(13);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(le_word(&k[0..4]));
        b = b.wrapping_add(le_word(&k[4..8]));
        c = c.wrapping_add(le_word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    let mut tail = [0u8; 12];
    tail[..k.len()].copy_from_slice(k);
    a = a.wrapping_add(le_word(&tail[0..4]));
    b = b.wrapping_add(le_word(&tail[4..8]));
    c = c.wrapping_add(le_word(&tail[8..12]));
    final_mix(&mut a, &mut b, &mut c);
    c
}

#[inline]
fn le_word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libmemcached `test/fixtures/hashes.hpp` would pin every function; the
    /// values below are the published check values of each algorithm.
    #[test]
    fn known_values() {
        // FNV reference values (www.isthe.com/chongo/tech/comp/fnv) for "a".
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1_64(b"a"), 0xaf63_bd4c_8601_b7be_u64 as u32);
        // crc32 check value.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            HashKind::Crc32.hash(b"123456789"),
            (0xcbf4_3926 >> 16) & 0x7fff
        );
        // lookup3 hashlittle("", 0) = 0xdeadbeef; with initval 13 the empty
        // key returns the initial c.
        assert_eq!(jenkins(b""), 0xdead_beef_u32.wrapping_add(13));
        // md5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(md5_le32(b""), 0xd98c_1dd4);
    }

    /// libmemcached `test/fixtures/hashes.hpp`, asserted upstream by
    /// `test/tests/hashkit/basic.cpp` (`hashkit_generate_value` per
    /// algorithm).
    #[test]
    fn libhashkit_fixtures() {
        use super::super::fixtures::*;
        let table: [(HashKind, &[u32; 26]); 9] = [
            (HashKind::OneAtATime, &HASH_ONE_AT_A_TIME),
            (HashKind::Md5, &HASH_MD5),
            (HashKind::Crc32, &HASH_CRC),
            (HashKind::Fnv1_64, &HASH_FNV1_64),
            (HashKind::Fnv1a64, &HASH_FNV1A_64),
            (HashKind::Fnv1_32, &HASH_FNV1_32),
            (HashKind::Fnv1a32, &HASH_FNV1A_32),
            (HashKind::Murmur, &HASH_MURMUR),
            (HashKind::Jenkins, &HASH_JENKINS),
        ];
        for (kind, want) in table {
            for (word, want) in HASH_INPUT.iter().zip(want) {
                assert_eq!(kind.hash(word.as_bytes()), *want, "{} {word}", kind.name());
            }
        }
    }

    #[test]
    fn signed_bytes_differ_from_textbook() {
        // A byte >= 0x80 is sign-extended, as through a C `char`.
        let textbook = {
            let mut v: u32 = 0;
            v = v.wrapping_add(0xff);
            v = v.wrapping_add(v << 10);
            v ^= v >> 6;
            v = v.wrapping_add(v << 3);
            v ^= v >> 11;
            v.wrapping_add(v << 15)
        };
        assert_ne!(one_at_a_time(&[0xff]), textbook);
        assert_eq!(one_at_a_time(b"abc"), {
            let mut v: u32 = 0;
            for b in b"abc" {
                v = v.wrapping_add(u32::from(*b));
                v = v.wrapping_add(v << 10);
                v ^= v >> 6;
            }
            v = v.wrapping_add(v << 3);
            v ^= v >> 11;
            v.wrapping_add(v << 15)
        });
        // twemproxy's fnv1a_64 is 32-bit.
        assert_eq!(fnv1a_64(b""), 0x8422_2325);
        assert_eq!(fnv1a_64(b"a"), (0x8422_2325u32 ^ 0x61).wrapping_mul(0x1b3));
    }

    #[test]
    fn names_round_trip() {
        for (name, kind) in HashKind::ALL {
            assert_eq!(HashKind::from_name(name), Some(kind));
            assert_eq!(kind.name(), name);
        }
        assert_eq!(HashKind::from_name("sha1"), None);
    }
}
