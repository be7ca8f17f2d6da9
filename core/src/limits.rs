//! Bounds that a structure enforces and an error message quotes.
//!
//! They live below both: [`error`](crate::error) names them in its messages,
//! and the structures that check them return its errors, so neither has to
//! import the other's module. The public paths are the structures' own
//! ([`place::ring::MAX_VNODES`](crate::place::ring::MAX_VNODES), ...).

/// The largest accepted virtual-node count per unit of weight.
pub const MAX_VNODES: u32 = 1 << 16;

/// The most points one ring may hold (16,777,216: about 370 MB of index).
pub const MAX_POINTS: u64 = 1 << 24;
