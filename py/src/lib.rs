//! Python bindings for ringroute: the native module `ringroute._ringroute`
//! behind the `ringroute` package (see `py/README.md`).
//!
//! Classes: `Ring` (a consistent-hash ring), `Router` (the concurrent handle
//! with leases and health detection), `Lease`, the health settings
//! `OutlierDetection` and `PhiAccrual`, `ManualClock`, and the uhashring
//! compatible rings behind `ringroute.compat`. Errors map as described in
//! [`errors::to_py`].

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

pub mod algorithm;
pub mod common;
pub mod compat;
pub mod errors;
pub mod fast;
pub mod health;
pub mod keys;
pub mod lease;
pub mod memento;
pub mod nodes;
pub mod numbers;
pub mod ring;
pub mod router;
pub mod subclass;
pub mod tiers;

/// key_hash(key) -> int
///
/// The 64-bit hash of a key under the native ring spec v2: ``xxh3_64`` with
/// seed 0 over the key's bytes (UTF-8 for ``str``).
#[pyfunction]
fn key_hash(key: &Bound<'_, PyAny>) -> PyResult<u64> {
    Ok(ringroute::hash::key_hash(&keys::key_bytes(key)?))
}

/// point_hash(name, j) -> int
///
/// The position of virtual node ``j`` of the node ``name`` on the native
/// ring: ``xxh3_64(name + j.to_bytes(4, "little"))`` (spec v2).
#[pyfunction]
fn point_hash(name: &Bound<'_, PyAny>, j: u32) -> PyResult<u64> {
    let bytes = keys::str_bytes(keys::name_of(name)?)?;
    Ok(ringroute::hash::point_hash(&bytes, j))
}

/// Unpickling helper: ``cls(*args, **kwargs)``.
///
/// A subclass of ``Ring`` or ``Router`` with an ``__init__`` of its own
/// (whose arguments are not ours) is made with ``cls.__new__`` and
/// configured by the base class's ``__init__``, without calling its own.
#[pyfunction]
fn _reconstruct<'py>(
    cls: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    if let Ok(cls) = cls.cast::<PyType>() {
        for base in [
            py.get_type::<ring::PyRing>(),
            py.get_type::<router::PyRouter>(),
        ] {
            if cls.is_subclass(&base)? && subclass::overrides_init(cls, &base)? {
                let with_cls = PyTuple::new(
                    py,
                    std::iter::once(cls.as_any().clone())
                        .chain(args)
                        .collect::<Vec<_>>(),
                )?;
                let obj = cls.call_method("__new__", with_cls, Some(kwargs))?;
                let with_obj = PyTuple::new(
                    py,
                    std::iter::once(obj.clone()).chain(args).collect::<Vec<_>>(),
                )?;
                base.getattr("__init__")?.call(with_obj, Some(kwargs))?;
                return Ok(obj);
            }
        }
    }
    cls.call(args, Some(kwargs))
}

#[pymodule]
fn _ringroute(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SPEC_VERSION", ringroute::hash::SPEC_VERSION)?;
    m.add("DEFAULT_VNODES", ringroute::place::ring::DEFAULT_VNODES)?;
    m.add("MAX_VNODES", ringroute::place::ring::MAX_VNODES)?;
    m.add("ALGORITHMS", algorithm::ALGORITHMS.to_vec())?;
    m.add("COMPAT_MODES", algorithm::COMPAT_MODES.to_vec())?;
    m.add("PICKERS", algorithm::PICKERS.to_vec())?;
    m.add("EmptyRingError", py.get_type::<errors::EmptyRingError>())?;
    m.add("NoNodeUpError", py.get_type::<errors::NoNodeUpError>())?;
    m.add_class::<ring::PyRing>()?;
    m.add_class::<router::PyRouter>()?;
    m.add_class::<lease::PyLease>()?;
    m.add_class::<health::PyOutlierDetection>()?;
    m.add_class::<health::PyPhiAccrual>()?;
    m.add_class::<health::PyManualClock>()?;
    m.add_class::<compat::Continuum>()?;
    m.add_function(wrap_pyfunction!(key_hash, m)?)?;
    m.add_function(wrap_pyfunction!(point_hash, m)?)?;
    m.add_function(wrap_pyfunction!(_reconstruct, m)?)?;
    fast::install_fast_methods(py)?;
    Ok(())
}
