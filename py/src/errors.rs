//! The exceptions of the package and the mapping of [`ringroute::Error`] onto
//! Python's: bad input is a `ValueError`, an unknown node a `KeyError`, and
//! "nothing to route to" a `LookupError` subclass.

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyError, PyLookupError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    ringroute,
    EmptyRingError,
    PyLookupError,
    "The ring (or router) has no node at all, so no key can be routed."
);
create_exception!(
    ringroute,
    NoNodeUpError,
    PyLookupError,
    "Nodes exist, but none of them is up (marked down, ejected or unreachable)."
);

/// The Python exception for a refused operation of the core crate.
///
/// * `EmptyRing` → [`EmptyRingError`], `NoNodeUp` → [`NoNodeUpError`]
///   (both `LookupError`s);
/// * `UnknownNode` → `KeyError(name)`;
/// * every validation failure (`DuplicateNode`, `EmptyName`,
///   `InvalidWeight`, `InvalidVnodes`, `TooManyPoints`, `TooManyNodes`,
///   `InvalidParameter`) → `ValueError` with the core's message.
pub fn to_py(err: ringroute::Error) -> PyErr {
    use ringroute::Error as E;
    match err {
        E::EmptyRing => EmptyRingError::new_err("the ring has no nodes"),
        E::NoNodeUp => NoNodeUpError::new_err("no node is up"),
        E::UnknownNode(name) => PyKeyError::new_err(String::from_utf8_lossy(&name).into_owned()),
        other @ (E::DuplicateNode(_)
        | E::EmptyName
        | E::InvalidWeight(_)
        | E::InvalidVnodes(_)
        | E::TooManyPoints { .. }
        | E::TooManyNodes
        | E::InvalidParameter(_)) => PyValueError::new_err(other.to_string()),
        // `Error` is non-exhaustive: a variant added later is still an input
        // the core refused, so it is reported, never swallowed.
        other => PyValueError::new_err(other.to_string()),
    }
}

/// `Result<T, ringroute::Error>` → `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for ringroute::Result<T> {
    #[inline]
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// The error for a lookup that found no node: empty, or none up.
pub fn no_route(members: usize) -> PyErr {
    if members == 0 {
        to_py(ringroute::Error::EmptyRing)
    } else {
        to_py(ringroute::Error::NoNodeUp)
    }
}

/// A lease reported twice.
pub fn lease_finished() -> PyErr {
    PyRuntimeError::new_err("this lease has already reported its outcome")
}
