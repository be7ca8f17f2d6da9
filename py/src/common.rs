//! Pieces shared by `Ring` and `Router`: counts, lists of names, reprs and
//! pickling.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};
use ringroute::NodeIndex;

use crate::keys::type_name;
use crate::nodes::Name;

/// A replica count `n >= 0`.
pub fn count_of(n: &Bound<'_, PyAny>) -> PyResult<usize> {
    if !n.is_instance_of::<PyInt>() || n.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "n must be an int, not {}",
            type_name(n)
        )));
    }
    match n.extract::<i64>() {
        Ok(v) if v >= 0 => Ok(usize::try_from(v).unwrap_or(usize::MAX)),
        Ok(v) => Err(PyValueError::new_err(format!("n must be >= 0, got {v}"))),
        // Larger than any ring: as many as there are.
        Err(_) if n.gt(0)? => Ok(usize::MAX),
        Err(_) => Err(PyValueError::new_err(format!("n must be >= 0, got {n}"))),
    }
}

/// A list of the names of `nodes`, which a lookup produced.
pub fn names_list<'py, 'a>(
    py: Python<'py>,
    nodes: impl ExactSizeIterator<Item = NodeIndex>,
    name: impl Fn(NodeIndex) -> &'a Name,
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, nodes.map(|i| name(i).bind(py)))
}

/// `{'a': 1.0, ...}` or `['a', 'b']` (when every weight is 1.0), for reprs.
pub fn repr_nodes(py: Python<'_>, nodes: &[(Name, f64)]) -> PyResult<String> {
    const SHOWN: usize = 8;
    if nodes.len() > SHOWN {
        return Ok(format!("<{} nodes>", nodes.len()));
    }
    let unit = nodes.iter().all(|(_, w)| *w == 1.0);
    let mut out = String::new();
    out.push(if unit { '[' } else { '{' });
    for (k, (name, weight)) in nodes.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        out.push_str(&name.bind(py).repr()?.to_string());
        if !unit {
            out.push_str(": ");
            out.push_str(&pyo3::types::PyFloat::new(py, *weight).repr()?.to_string());
        }
    }
    out.push(if unit { ']' } else { '}' });
    Ok(out)
}

/// `['a', 'b']`, for reprs.
pub fn repr_names(py: Python<'_>, names: &[Name]) -> PyResult<String> {
    let list = PyList::new(py, names.iter().map(|n| n.bind(py)))?;
    Ok(list.repr()?.to_string())
}

/// A `dict` of name → weight.
pub fn weights_dict<'py>(py: Python<'py>, nodes: &[(Name, f64)]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, weight) in nodes {
        dict.set_item(name.bind(py), *weight)?;
    }
    Ok(dict)
}

/// `(ringroute._ringroute._reconstruct, (cls, args, kwargs)[, state])`:
/// what `__reduce__` returns, so that unpickling calls `cls(*args,
/// **kwargs)` (see `_reconstruct` for subclasses with their own
/// `__init__`), then restores a subclass's instance attributes (`state`, its
/// `__dict__`, which `copy.deepcopy` copies deeply).
pub fn reduce<'py>(
    slf: &Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
    kwargs: Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyTuple>> {
    reduce_with(slf, args, kwargs, None)
}

/// [`reduce`] with the placement's own state (see [`crate::memento`]): the
/// state is then `(placement, attributes)`, either possibly `None`, which
/// the class's `__setstate__` reads (see [`split_state`]).
pub fn reduce_with<'py>(
    slf: &Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
    kwargs: Bound<'py, PyDict>,
    placement: Option<Bound<'py, PyTuple>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let py = slf.py();
    let module = py.import("ringroute._ringroute")?;
    let reconstruct = module.getattr("_reconstruct")?;
    let cls = slf.get_type();
    let call = PyTuple::new(py, [cls.into_any(), args.into_any(), kwargs.into_any()])?;
    let attrs = crate::subclass::instance_state(slf)?;
    if placement.is_none() && attrs.is_none() {
        return PyTuple::new(py, [reconstruct, call.into_any()]);
    }
    let none = || py.None().into_bound(py);
    let state = PyTuple::new(
        py,
        [
            placement.map_or_else(none, Bound::into_any),
            attrs.unwrap_or_else(none),
        ],
    )?;
    PyTuple::new(py, [reconstruct, call.into_any(), state.into_any()])
}

/// What `__setstate__` receives: `(placement, attributes)` from
/// [`reduce_with`] (a bare attribute dict is accepted too), each `None`
/// when absent. Restores the attributes at once.
pub fn split_state<'py>(
    slf: &Bound<'py, PyAny>,
    state: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let (placement, attrs) = if state.is_instance_of::<PyDict>() {
        (None, Some(state.clone()))
    } else {
        let (p, a): (Bound<'py, PyAny>, Bound<'py, PyAny>) = state.extract().map_err(|_| {
            PyTypeError::new_err("__setstate__ takes (placement, attributes) as __reduce__ made it")
        })?;
        ((!p.is_none()).then_some(p), (!a.is_none()).then_some(a))
    };
    if let Some(attrs) = attrs {
        slf.getattr("__dict__")?.call_method1("update", (attrs,))?;
    }
    Ok(placement)
}

/// Interned `str` for a fixed word (health states).
pub fn word<'py>(py: Python<'py>, s: &'static str) -> Bound<'py, PyString> {
    PyString::intern(py, s)
}
