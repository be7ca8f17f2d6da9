//! The `algorithm=` and `vnodes=` options: which sticky placement to use.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;
use ringroute::router::Algorithm;

use crate::keys::type_name;

/// Names accepted by `algorithm=`, in the order the docs list them.
pub const ALGORITHMS: &[&str] = &["ring"];

/// A non-negative integer option that fits a `u32` (a `bool` is refused).
pub fn u32_option(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(value)
        )));
    }
    value
        .extract::<i64>()
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| PyValueError::new_err(format!("{what} out of range: {value}")))
}

/// Builds the core's [`Algorithm`] from the Python options.
///
/// `vnodes` applies to `"ring"` only (default 160); giving it with another
/// algorithm is a `ValueError` rather than silently ignored.
pub fn parse(algorithm: &str, vnodes: Option<&Bound<'_, PyAny>>) -> PyResult<Algorithm> {
    let vnodes = vnodes
        .filter(|v| !v.is_none())
        .map(|v| u32_option(v, "vnodes"))
        .transpose()?;
    let algorithm = match algorithm {
        "ring" => Algorithm::Ring {
            vnodes: vnodes.unwrap_or(ringroute::ring::DEFAULT_VNODES),
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown algorithm {other:?}: expected one of {}",
                ALGORITHMS
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    // Validates the parameters (vnodes range, ...), mapped to ValueError.
    algorithm.placement().map_err(crate::errors::to_py)?;
    Ok(algorithm)
}

/// The Python name of an algorithm and its `vnodes` (ring only).
pub fn describe(algorithm: &Algorithm) -> (&'static str, Option<u32>) {
    match algorithm {
        Algorithm::Ring { vnodes } => ("ring", Some(*vnodes)),
        #[allow(unreachable_patterns)]
        _ => ("unknown", None),
    }
}

/// `vnodes=160` / `algorithm='jump'`: the options part of a repr.
pub fn repr_options(algorithm: &Algorithm) -> String {
    match describe(algorithm) {
        ("ring", Some(v)) => format!("vnodes={v}"),
        (name, _) => format!("algorithm='{name}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_reprs() {
        let ring = Algorithm::Ring { vnodes: 40 };
        assert_eq!(describe(&ring), ("ring", Some(40)));
        assert_eq!(repr_options(&ring), "vnodes=40");
        for name in ALGORITHMS {
            assert!(!name.is_empty());
        }
    }
}
