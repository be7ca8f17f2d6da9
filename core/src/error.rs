//! The one error type of the crate.

use std::fmt;

/// Why an operation was refused.
///
/// Every fallible operation validates its input before it changes anything,
/// so an `Err` always means the structure is exactly as it was before the call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The ring (or table) holds no node at all.
    EmptyRing,
    /// Nodes exist, but none of them is up.
    NoNodeUp,
    /// No node has this name.
    UnknownNode(Box<[u8]>),
    /// A node with this name already exists.
    DuplicateNode(Box<[u8]>),
    /// A node name must not be empty.
    EmptyName,
    /// A weight must be finite and greater than zero.
    InvalidWeight(f64),
    /// Virtual nodes per unit of weight must be in `1..=MAX_VNODES`.
    ///
    /// [`MAX_VNODES`]: crate::place::ring::MAX_VNODES
    InvalidVnodes(u64),
    /// The change would need more points than the ring allows.
    TooManyPoints {
        /// Points the change would need in total.
        requested: u64,
        /// The most a ring may hold.
        max: u64,
    },
    /// More nodes than a [`NodeIndex`](crate::NodeIndex) can address.
    TooManyNodes,
    /// A configuration parameter is outside its valid range.
    InvalidParameter(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyRing => f.write_str("the ring has no nodes"),
            Error::NoNodeUp => f.write_str("no node is up"),
            Error::UnknownNode(name) => {
                write!(f, "unknown node {}", crate::names::escaped(name))
            }
            Error::DuplicateNode(name) => {
                write!(f, "duplicate node {}", crate::names::escaped(name))
            }
            Error::EmptyName => f.write_str("node name must not be empty"),
            Error::InvalidWeight(w) => {
                write!(f, "invalid weight {w}: must be finite and greater than 0")
            }
            Error::InvalidVnodes(v) => write!(
                f,
                "invalid vnodes per unit weight {v}: must be in 1..={}",
                crate::limits::MAX_VNODES
            ),
            Error::TooManyPoints { requested, max } => {
                write!(
                    f,
                    "too many ring points: {requested} requested, at most {max}"
                )
            }
            Error::TooManyNodes => f.write_str("too many nodes"),
            Error::InvalidParameter(what) => write!(f, "invalid parameter: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
