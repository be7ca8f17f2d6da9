//! Reading numbers from Python without surprises: `None` and `bool` are not
//! numbers here, and a value out of range (`10**400`, `1e300` seconds) is a
//! short `ValueError`, never a `TypeError` or a panic.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::keys::type_name;

/// A real number (`int`, `float` or anything with `__float__`), as `f64`.
///
/// `None`, `bool` and `str` are `TypeError`s (a `True` weight is a bug
/// in the caller, not a weight of 1); an `int` too large for a float is a
/// `ValueError`. The range that makes sense is checked by the caller.
pub fn real_of(value: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    let not_a_number =
        || PyTypeError::new_err(format!("{what} must be a number, not {}", type_name(value)));
    if value.is_none() || value.is_instance_of::<PyBool>() || value.is_instance_of::<PyString>() {
        return Err(not_a_number());
    }
    if value.is_instance_of::<PyInt>() {
        // The only failure of int → float is OverflowError.
        return value
            .extract::<f64>()
            .map_err(|_| PyValueError::new_err(format!("{what} is out of range (too large)")));
    }
    if value.is_instance_of::<PyFloat>() {
        return value.extract::<f64>().map_err(|_| not_a_number());
    }
    match value.extract::<f64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(value.py()) => Err(
            PyValueError::new_err(format!("{what} is out of range (too large)")),
        ),
        Err(_) => Err(not_a_number()),
    }
}

/// The largest duration accepted, in seconds: about 584 years, what a
/// nanosecond clock in a `u64` holds.
pub const MAX_SECONDS: f64 = (u64::MAX / 1_000_000_000) as f64;

/// A non-negative, finite number of seconds, at most [`MAX_SECONDS`].
pub fn seconds_of(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let secs = real_of(value, what)?;
    if secs.is_nan() || secs < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, got {}",
            short(secs)
        )));
    }
    if secs > MAX_SECONDS {
        return Err(PyValueError::new_err(format!(
            "{what} is too large: at most {MAX_SECONDS:.0} seconds"
        )));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} is too large: at most {MAX_SECONDS:.0} seconds"
        ))
    })
}

/// `secs` for an error message: never hundreds of digits.
fn short(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e15 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
