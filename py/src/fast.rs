//! `route(key)` as a `METH_O` method: the cheapest call CPython has.
//!
//! pyo3 implements methods with `METH_FASTCALL` only when the stable ABI it
//! targets has it (3.10+); for this abi3-py39 wheel it falls back to
//! `METH_VARARGS | METH_KEYWORDS`, which builds an argument tuple on every
//! call and parses it. `route` is the one call whose overhead matters, and
//! it takes exactly one positional argument, so after the classes are
//! created their `route` is replaced with a method descriptor of the
//! `METH_O` convention (stable ABI since 3.2): CPython passes the key
//! directly, without a tuple.

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::Borrowed;
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::ring::PyRing;
use crate::router::PyRouter;

/// Runs `body` as the implementation of a C method: `body` returns a new
/// reference, or NULL with the error raised ([`raise`]); panics become
/// `RuntimeError`, never unwind into the interpreter.
///
/// The body answers with a bare pointer rather than a `PyResult`: a
/// `PyResult` is several words, returned through memory and copied on its
/// way out: about 20 instructions per call.
///
/// # Safety
///
/// Must be called by CPython as a method implementation (attached thread,
/// `slf` an instance of `T`, `arg` a borrowed reference).
unsafe fn method_o<T>(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
    body: fn(&T, Python<'_>, &Bound<'_, PyAny>) -> *mut ffi::PyObject,
) -> *mut ffi::PyObject
where
    T: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
{
    // SAFETY: CPython calls methods with the thread attached.
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // Borrowed, not `Bound`: no reference count is taken and dropped
        // per call (with the stable ABI, four calls into the interpreter).
        // SAFETY: CPython lends both pointers, not NULL, for the whole call,
        // which the `Borrowed`s do not outlive.
        let (slf, arg) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, arg)) };
        // SAFETY: the method descriptor checked that `slf` is a `T` (or a
        // subclass).
        let this = unsafe { slf.cast_unchecked::<T>() };
        body(this.get(), py, &arg)
    }));
    match outcome {
        Ok(answer) => answer,
        Err(_) => {
            PyRuntimeError::new_err("internal error in ringroute (panic)").restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Raises `err` and returns NULL: a method body's error exit.
#[cold]
#[inline(never)]
pub fn raise(py: Python<'_>, err: PyErr) -> *mut ffi::PyObject {
    err.restore(py);
    std::ptr::null_mut()
}

unsafe extern "C" fn ring_route(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: installed on `Ring` only, called by CPython.
    unsafe { method_o::<PyRing>(slf, key, PyRing::route_key) }
}

unsafe extern "C" fn router_route(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: installed on `Router` only, called by CPython.
    unsafe { method_o::<PyRouter>(slf, key, PyRouter::route_key) }
}

const RING_ROUTE_DOC: &CStr = c"route($self, key, /)
--

The node serving ``key``: the first up node clockwise from the key's hash.

``key`` is ``str`` (hashed as UTF-8), ``bytes``, ``bytearray`` or
``memoryview``; anything else is a ``TypeError``. Raises ``EmptyRingError``
on an empty ring and ``NoNodeUpError`` when every node is down.";

const ROUTER_ROUTE_DOC: &CStr = c"route($self, key, /)
--

The healthy node serving ``key`` in the current snapshot.

``key`` is ``str`` (hashed as UTF-8), ``bytes``, ``bytearray`` or
``memoryview``; anything else is a ``TypeError``. Raises ``EmptyRingError``
without nodes and ``NoNodeUpError`` when none is healthy.";

fn install(
    ty: &Bound<'_, PyType>,
    name: &'static CStr,
    meth: ffi::PyCFunction,
    doc: &'static CStr,
) -> PyResult<()> {
    // The descriptor keeps a pointer to its definition for its whole life:
    // one small leak per process, at import.
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: meth },
        ml_flags: ffi::METH_O,
        ml_doc: doc.as_ptr(),
    }));
    let py = ty.py();
    // SAFETY: `ty` is a live type object and `def` lives forever.
    let descr =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))? };
    ty.setattr(name.to_str().expect("ascii"), descr)
}

/// Replaces `Ring.route` and `Router.route` with their `METH_O` versions.
pub fn install_fast_methods(py: Python<'_>) -> PyResult<()> {
    install(
        &py.get_type::<PyRing>(),
        c"route",
        ring_route,
        RING_ROUTE_DOC,
    )?;
    install(
        &py.get_type::<PyRouter>(),
        c"route",
        router_route,
        ROUTER_ROUTE_DOC,
    )?;
    Ok(())
}
