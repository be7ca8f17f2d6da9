//! Node names as Python objects, and the parsing of node lists.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyTuple};

use crate::keys::{name_of, str_bytes, type_name};

/// A node's name as a Python `str`, carried as the node's payload so that a
/// lookup returns it without building a string: `route()` hands out a new
/// reference to the same object every time.
///
/// The `Arc` makes it cheap to clone without the interpreter (snapshots of
/// the core router clone their node tables on their own threads).
#[derive(Clone)]
pub struct Name(pub Arc<Py<PyString>>);

impl Name {
    /// A new reference to the name object.
    #[inline]
    pub fn get(&self, py: Python<'_>) -> Py<PyString> {
        self.0.clone_ref(py)
    }

    /// The name, bound.
    #[inline]
    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        self.0.bind(py)
    }
}

/// One node of a configuration: its name (bytes for the core, the `str`
/// for Python) and weight.
pub struct NodeSpec {
    /// UTF-8 name, the identity the core hashes.
    pub bytes: Vec<u8>,
    /// The `str` handed back by lookups.
    pub name: Name,
    /// Weight, validated by the core.
    pub weight: f64,
}

/// A `Name` for a `str` object: the object itself when it is exactly a
/// `str`, otherwise (a subclass) a plain copy.
pub fn name_spec(name: &Bound<'_, PyAny>) -> PyResult<(Vec<u8>, Name)> {
    let s = name_of(name)?;
    let bytes = str_bytes(s)?.to_vec();
    let obj = if s.is_exact_instance_of::<PyString>() {
        s.clone().unbind()
    } else {
        PyString::new(s.py(), std::str::from_utf8(&bytes).expect("utf-8")).unbind()
    };
    Ok((bytes, Name(Arc::new(obj))))
}

/// Reads a weight: a real number (`int` or `float`, not `None` or `bool`);
/// its range is checked by the core (finite, `> 0`).
pub fn weight_of(weight: &Bound<'_, PyAny>) -> PyResult<f64> {
    crate::numbers::real_of(weight, "a weight")
}

fn spec(name: &Bound<'_, PyAny>, weight: f64) -> PyResult<NodeSpec> {
    let (bytes, name) = name_spec(name)?;
    Ok(NodeSpec {
        bytes,
        name,
        weight,
    })
}

/// Parses the `nodes` argument of `Ring`, `Router` and `Router.replace`:
///
/// * a mapping `{name: weight}`;
/// * an iterable whose items are names (weight 1.0) or `(name, weight)` pairs.
///
/// A lone `str` is refused (iterating it would make one node per character).
pub fn parse_nodes(nodes: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<NodeSpec>> {
    let Some(nodes) = nodes else {
        return Ok(Vec::new());
    };
    if nodes.is_none() {
        return Ok(Vec::new());
    }
    if nodes.is_instance_of::<PyString>() || nodes.is_instance_of::<pyo3::types::PyBytes>() {
        return Err(PyTypeError::new_err(
            "nodes must be an iterable of names or a mapping of name to weight, not a single str",
        ));
    }
    let mut out = Vec::new();
    if let Ok(dict) = nodes.cast::<PyDict>() {
        out.reserve(dict.len());
        for (name, weight) in dict.iter() {
            out.push(spec(&name, weight_of(&weight)?)?);
        }
        return Ok(out);
    }
    if let Ok(mapping) = nodes.cast::<PyMapping>() {
        for item in mapping.items()?.iter() {
            let (name, weight) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
            out.push(spec(&name, weight_of(&weight)?)?);
        }
        return Ok(out);
    }
    let iter = nodes.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "nodes must be an iterable of names or a mapping of name to weight, not {}",
            type_name(nodes)
        ))
    })?;
    for item in iter {
        let item = item?;
        if item.is_instance_of::<PyString>() {
            out.push(spec(&item, 1.0)?);
        } else if item.is_instance_of::<PyTuple>() || item.is_instance_of::<PyList>() {
            let len = item.len()?;
            if len != 2 {
                return Err(PyValueError::new_err(format!(
                    "a node must be a name or a (name, weight) pair, got a sequence of {len}"
                )));
            }
            let name = item.get_item(0)?;
            let weight = item.get_item(1)?;
            out.push(spec(&name, weight_of(&weight)?)?);
        } else {
            return Err(PyTypeError::new_err(format!(
                "a node must be a str name or a (name, weight) pair, not {}",
                type_name(&item)
            )));
        }
    }
    Ok(out)
}

/// Parses a list of names (the `down` argument).
pub fn parse_names(names: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Vec<u8>>> {
    let Some(names) = names else {
        return Ok(Vec::new());
    };
    if names.is_none() {
        return Ok(Vec::new());
    }
    if names.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected an iterable of node names, not a single str",
        ));
    }
    let mut out = Vec::new();
    for name in names.try_iter()? {
        let name = name?;
        out.push(str_bytes(name_of(&name)?)?.to_vec());
    }
    Ok(out)
}

/// For the ring: refuses, naming it, the node that takes the ring over its
/// maximum number of points (the core only reports the total).
pub fn check_ring_points(
    algorithm: &ringroute::router::Algorithm,
    specs: &[NodeSpec],
) -> PyResult<()> {
    use ringroute::place::ring::{MAX_POINTS, points_for};
    let ringroute::router::Algorithm::Ring { vnodes } = *algorithm else {
        return Ok(());
    };
    if !(1..=ringroute::place::ring::MAX_VNODES).contains(&vnodes) {
        return Ok(()); // the core's InvalidVnodes says it better
    }
    let mut total: u64 = 0;
    for spec in specs {
        // A bad weight is the core's to report, with its own message.
        let Ok(points) = points_for(vnodes, spec.weight) else {
            if ringroute::node::validate_weight(spec.weight).is_err() {
                return Ok(());
            }
            return Err(too_many(spec, vnodes));
        };
        total += u64::from(points);
        if total > MAX_POINTS {
            return Err(too_many(spec, vnodes));
        }
    }
    Ok(())
}

fn too_many(spec: &NodeSpec, vnodes: u32) -> PyErr {
    PyValueError::new_err(format!(
        "too many ring points: node {} (weight {}, {vnodes} vnodes) brings the ring over \
         its maximum of {} points",
        ringroute::names::escaped(&spec.bytes),
        spec.weight,
        ringroute::place::ring::MAX_POINTS
    ))
}
