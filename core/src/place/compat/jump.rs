//! Jump consistent hash (Lamping & Veach 2014) in its two published
//! arithmetics, which are not the same function:
//!
//! * **go-jump** (dgryski/go-jump, the paper's C++):
//!   `j = (b + 1) · (2^31 / ((key >> 33) + 1))`, in doubles;
//! * **Guava** `Hashing.consistentHash`:
//!   `(candidate + 1) / (((int)(state >>> 33) + 1) / 2^31)`, a division by
//!   the quotient, which rounds differently on rare keys (key
//!   17383871170317656123 with 10,000 buckets: 8191 in go-jump, 8192 in
//!   Guava).
//!
//! The key is a `u64`: a key given as bytes is read as a decimal `u64` when
//! it is one, and hashed with xxh3 otherwise.

const LCG: u64 = 2_862_933_555_777_941_757;

/// go-jump's `Hash(key, numBuckets)`.
pub fn go_jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(LCG).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as u32
}

/// Guava's `Hashing.consistentHash(input, buckets)`.
pub fn guava(input: u64, buckets: u32) -> u32 {
    let mut state = input;
    let mut candidate: i32 = 0;
    loop {
        state = state.wrapping_mul(LCG).wrapping_add(1);
        let next_double = (((state >> 33) as i32) as f64 + 1.0) / (1u64 << 31) as f64;
        // Java's (int) cast of a double saturates, as Rust's `as` does.
        let next = (f64::from(candidate + 1) / next_double) as i32;
        if next >= 0 && (next as i64) < i64::from(buckets) {
            candidate = next;
        } else {
            return candidate as u32;
        }
    }
}

/// The `u64` a jump mode routes a key by.
pub fn key_u64(key: &[u8]) -> u64 {
    std::str::from_utf8(key)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| crate::hash::key_hash(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dgryski/go-jump `jump_test.go` `TestHash` ("generated from the
    /// reference C++ code").
    #[test]
    fn go_jump_vectors() {
        let cases: [(u64, &[u32]); 4] = [
            (0, &[0; 20]),
            (
                1,
                &[0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17],
            ),
            (
                0xdeadbeef,
                &[0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16],
            ),
            (
                0x0ddc0ffeebadf00d,
                &[0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15],
            ),
        ];
        for (key, buckets) in cases {
            for (i, &want) in buckets.iter().enumerate() {
                assert_eq!(go_jump(key, i as u32 + 1), want, "key {key} n {}", i + 1);
            }
        }
    }

    /// guava-tests `com/google/common/hash/HashingTest.java`
    /// `testConsistentHash_linearCongruentialGeneratorCompatibility`; both
    /// arithmetics pass it.
    #[test]
    fn guava_golden_values() {
        let golden100 = [
            0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83,
        ];
        for (i, &want) in golden100.iter().enumerate() {
            assert_eq!(guava(i as u64, 100), want);
            assert_eq!(go_jump(i as u64, 100), want);
        }
        for f in [guava as fn(u64, u32) -> u32, go_jump] {
            assert_eq!(f(10863919174838991, 11), 6);
            assert_eq!(f(2016238256797177309, 11), 3);
            assert_eq!(f(1673758223894951030, 11), 5);
            assert_eq!(f(2, 100001), 80343);
            assert_eq!(f(2201, 100001), 22152);
            assert_eq!(f(2202, 100001), 15018);
        }
    }

    #[test]
    fn the_two_arithmetics_differ() {
        assert_eq!(go_jump(17383871170317656123, 10_000), 8191);
        assert_eq!(guava(17383871170317656123, 10_000), 8192);
    }

    #[test]
    fn keys_read_as_decimal() {
        assert_eq!(key_u64(b"17383871170317656123"), 17383871170317656123);
        assert_eq!(key_u64(b"x"), crate::hash::key_hash(b"x"));
    }
}
