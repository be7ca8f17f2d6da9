//! Key and point hashing of the native ring spec v1.
//!
//! Both are xxh3-64: a key hashes with seed 0, point `j` of a node hashes the
//! node's name with seed `j`. Exposed so callers can hash once and route the
//! same hash through several structures ([`Ring::route_hash`](crate::Ring::route_hash)).

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The hash of a key: `xxh3_64(key)`, seed 0.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// The position of virtual node `j` of the node named `name`:
/// `xxh3_64_with_seed(name, j)`.
#[inline]
pub fn point_hash(name: &[u8], j: u32) -> u64 {
    xxh3_64_with_seed(name, u64::from(j))
}
