//! [`RouteError`]: why a request could not be routed or served, naming the
//! backend when there was one.

use std::fmt;
use std::sync::Arc;

use tonic::{Code, Status};

/// The error type of [`RingrouteService`](crate::RingrouteService) and its
/// futures, boxed as `tower::BoxError`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, as a category callers can match on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The router has no members at all.
    NoBackends,
    /// Members exist, but none of them is up (down, ejected or unreachable).
    AllDown,
    /// The backend already holds its maximum of requests in flight.
    Overloaded,
    /// The factory could not make a service for the backend.
    Factory,
    /// The backend failed (connect error, transport error) and no retry
    /// was allowed (attempts, budget, deadline, predicate or a body that
    /// could not be replayed).
    Backend,
    /// The request's deadline (`grpc-timeout`) passed.
    DeadlineExceeded,
    /// Reading the request body failed.
    RequestBody,
}

impl ErrorKind {
    /// The gRPC status code this kind is reported with.
    pub fn code(self) -> Code {
        match self {
            ErrorKind::NoBackends | ErrorKind::AllDown | ErrorKind::Backend => Code::Unavailable,
            ErrorKind::Overloaded => Code::ResourceExhausted,
            ErrorKind::Factory => Code::Internal,
            ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
            ErrorKind::RequestBody => Code::Cancelled,
        }
    }
}

/// Why a request failed: the kind, the backend (when one was chosen) and a
/// message with the cause.
///
/// tonic clients turn it into a [`Status`] with [`kind().code()`](ErrorKind::code)
/// and the same message (it is found as this error's
/// [`source`](std::error::Error::source)); other callers can downcast the
/// `BoxError` to `RouteError`.
#[derive(Debug)]
pub struct RouteError {
    kind: ErrorKind,
    backend: Option<Arc<str>>,
    /// Boxed: a `Status` is large, and results carry this error on the
    /// routing decision's path.
    status: Box<Status>,
}

impl RouteError {
    pub(crate) fn new(kind: ErrorKind, backend: Option<Arc<str>>, why: impl fmt::Display) -> Self {
        let message = match &backend {
            Some(b) => format!("ringroute: backend {b}: {why}"),
            None => format!("ringroute: {why}"),
        };
        RouteError {
            kind,
            backend,
            status: Box::new(Status::new(kind.code(), message)),
        }
    }

    /// The category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backend that failed, if one was chosen.
    pub fn backend(&self) -> Option<&str> {
        self.backend.as_deref()
    }

    /// The gRPC status a client sees.
    pub fn status(&self) -> &Status {
        &self.status
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status.message())
    }
}

impl std::error::Error for RouteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // tonic's client walks the source chain for a `Status`.
        Some(&*self.status)
    }
}

/// `err` and its sources, joined with ": " (a transport error's own
/// message is often just "transport error").
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}
