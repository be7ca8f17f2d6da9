//! The crate's error type.

use std::fmt;

/// Why a call to etcd (or a configuration) failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Bad configuration (no endpoint, unreadable certificate, bad prefix).
    Config(String),
    /// No endpoint could be reached (connection refused, timeout).
    Unreachable(String),
    /// The TLS handshake failed, e.g. the server's certificate is not signed
    /// by the configured CA.
    Tls(String),
    /// etcd answered with an error (bad auth, lease not found, ...).
    Etcd {
        /// The gRPC status code etcd reported (0 if none).
        code: i64,
        /// etcd's message.
        message: String,
    },
    /// The requested revision was compacted away; the caller must re-list.
    Compacted {
        /// The oldest revision still available.
        compact_revision: i64,
    },
    /// etcd's answer could not be decoded.
    Protocol(String),
    /// The router refused a membership change.
    Router(ringroute::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "bad etcd configuration: {m}"),
            Error::Unreachable(m) => write!(f, "etcd unreachable: {m}"),
            Error::Tls(m) => write!(f, "TLS handshake with etcd failed: {m}"),
            Error::Etcd { code, message } => write!(f, "etcd error (code {code}): {message}"),
            Error::Compacted { compact_revision } => write!(
                f,
                "revision compacted: the oldest available revision is {compact_revision}"
            ),
            Error::Protocol(m) => write!(f, "unexpected answer from etcd: {m}"),
            Error::Router(e) => write!(f, "router refused the change: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ringroute::Error> for Error {
    fn from(e: ringroute::Error) -> Self {
        Error::Router(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
