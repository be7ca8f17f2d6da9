//! Constructing, pickling and copying Python subclasses of `Ring` and
//! `Router`, whose `__init__` may take arguments of its own.
//!
//! Python calls `cls.__new__(cls, *args)` and then `self.__init__(*args)`
//! with the *same* arguments. A subclass such as
//! `class RegionRing(Ring): def __init__(self, region, nodes)` therefore
//! sends `("eu", nodes)` to our `__new__` as well, which must not read them
//! as `Ring`'s own. So `__new__` takes `*args, **kwargs`; when the class
//! defines its own `__init__`, the configuration comes from that
//! `__init__`'s call to `super().__init__(...)` instead.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

/// Whether `cls` (a subclass of `base`) defines an `__init__` of its own
/// somewhere between itself and `base`.
pub fn overrides_init(cls: &Bound<'_, PyType>, base: &Bound<'_, PyType>) -> PyResult<bool> {
    Ok(!cls.getattr("__init__")?.is(&base.getattr("__init__")?))
}

/// Binds `args`/`kwargs` to a signature `(positional..., *, keyword...)`,
/// as Python would: the values in that order, `None` where not given.
/// `what` names the callable in errors (`"Ring()"`).
pub fn bind<'py>(
    what: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    positional: &[&str],
    keyword: &[&str],
) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
    if args.len() > positional.len() {
        return Err(PyTypeError::new_err(format!(
            "{what} takes at most {} positional argument{}, but {} were given",
            positional.len(),
            if positional.len() == 1 { "" } else { "s" },
            args.len()
        )));
    }
    let mut out: Vec<Option<Bound<'py, PyAny>>> = args.iter().map(Some).collect();
    out.resize(positional.len() + keyword.len(), None);
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key = key.cast::<PyString>()?.to_cow()?;
            let Some(at) = positional
                .iter()
                .chain(keyword)
                .position(|name| *name == key)
            else {
                return Err(PyTypeError::new_err(format!(
                    "{what} got an unexpected keyword argument {key:?}"
                )));
            };
            if out[at].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "{what} got multiple values for argument {key:?}"
                )));
            }
            out[at] = Some(value);
        }
    }
    Ok(out)
}

/// The instance attributes of a Python subclass (its `__dict__`), if it
/// has any: the state `__reduce__` adds so that pickles and copies keep
/// them. `None` for the classes themselves, which have no `__dict__`.
pub fn instance_state<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    match slf.getattr_opt("__dict__")? {
        Some(dict) if dict.cast::<PyDict>().is_ok_and(|d| !d.is_empty()) => Ok(Some(dict)),
        _ => Ok(None),
    }
}
