//! Turning Python keys and names into bytes with as little work as possible.
//!
//! Keys are `str` (hashed as UTF-8), `bytes`, `bytearray` or `memoryview`;
//! anything else is a `TypeError`. A `str` or `bytes` key is read in place,
//! without a copy or an allocation.

use std::ops::Deref;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

/// The bytes of a key: borrowed from an immutable Python object, or copied
/// out of a mutable one.
pub enum KeyBytes<'a> {
    /// Points into a `str`'s cached UTF-8 or a `bytes` object's buffer.
    Borrowed(&'a [u8]),
    /// Copied from a `bytearray` or `memoryview`.
    Owned(Vec<u8>),
}

impl Deref for KeyBytes<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            KeyBytes::Borrowed(b) => b,
            KeyBytes::Owned(v) => v,
        }
    }
}

// `PyUnicode_AsUTF8AndSize` joined the limited API only in 3.10, so pyo3
// does not offer it to an abi3-py39 build. Every CPython 3 exports it with
// this exact signature, and on Unix an extension module's symbols resolve
// against the running interpreter, so it is declared here directly: it
// returns the UTF-8 form that CPython caches inside the `str` (for ASCII
// text, the string's own storage), with no copy and no allocation. Windows
// links abi3 modules against `python3.dll`, whose 3.9 version lacks it, so
// there the key takes pyo3's portable path instead.
#[cfg(not(windows))]
unsafe extern "C" {
    #[link_name = "PyUnicode_AsUTF8AndSize"]
    fn unicode_as_utf8_and_size(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const std::ffi::c_char;
}

/// The UTF-8 bytes of a `str`, borrowed from the object (which must outlive
/// them). Fails with `UnicodeEncodeError` on lone surrogates.
#[cfg(not(windows))]
#[inline]
pub fn str_bytes<'a>(s: &'a Bound<'_, PyString>) -> PyResult<KeyBytes<'a>> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str`; CPython owns the returned buffer, which
    // lives as long as the string object, which `'a` borrows.
    unsafe {
        let data = unicode_as_utf8_and_size(s.as_ptr(), &mut size);
        if data.is_null() {
            return Err(PyErr::fetch(s.py()));
        }
        Ok(KeyBytes::Borrowed(std::slice::from_raw_parts(
            data.cast::<u8>(),
            size as usize,
        )))
    }
}

/// The UTF-8 bytes of a `str` (portable path: may copy).
#[cfg(windows)]
pub fn str_bytes<'a>(s: &'a Bound<'_, PyString>) -> PyResult<KeyBytes<'a>> {
    Ok(match s.to_cow()? {
        std::borrow::Cow::Borrowed(b) => KeyBytes::Borrowed(b.as_bytes()),
        std::borrow::Cow::Owned(o) => KeyBytes::Owned(o.into_bytes()),
    })
}

/// The bytes of a key object, or `TypeError` for an unsupported type.
#[inline]
pub fn key_bytes<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<KeyBytes<'a>> {
    if let Ok(s) = key.cast::<PyString>() {
        return str_bytes(s);
    }
    if let Ok(b) = key.cast::<PyBytes>() {
        return Ok(KeyBytes::Borrowed(b.as_bytes()));
    }
    key_bytes_slow(key)
}

#[cold]
fn key_bytes_slow<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<KeyBytes<'a>> {
    if let Ok(b) = key.cast::<PyByteArray>() {
        return Ok(KeyBytes::Owned(b.to_vec()));
    }
    if key.cast::<PyMemoryView>().is_ok() {
        let bytes = key.call_method0("tobytes")?;
        let bytes = bytes.cast::<PyBytes>()?;
        return Ok(KeyBytes::Owned(bytes.as_bytes().to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "a key must be str, bytes, bytearray or memoryview, not {}",
        type_name(key)
    )))
}

/// The name of `obj`'s type, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A node name, which must be a `str`.
pub fn name_of<'a, 'py>(name: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyString>> {
    name.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("a node name must be str, not {}", type_name(name)))
    })
}

/// Keys of a batch, turned into byte spans while attached to the
/// interpreter, to be routed after detaching from it.
///
/// The spans point into immutable `str`/`bytes` objects that `keep` holds
/// references to, or into buffers owned by `owned`; both outlive the spans'
/// use, and nothing mutates them, so reading them from another thread with
/// the interpreter detached is sound.
pub struct KeyBatch<'py> {
    keep: Vec<Bound<'py, PyAny>>,
    owned: Vec<Vec<u8>>,
    spans: Vec<(usize, usize)>,
}

/// The spans of a [`KeyBatch`], shareable with a detached closure.
pub struct Spans<'b>(&'b [(usize, usize)]);

// SAFETY: see `KeyBatch`: the spans are addresses of immutable bytes that
// stay alive, and unmodified, while the batch (which this borrows) lives.
unsafe impl Send for Spans<'_> {}
unsafe impl Sync for Spans<'_> {}

impl Spans<'_> {
    /// The keys' bytes, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        // SAFETY: see `KeyBatch`.
        self.0
            .iter()
            .map(|&(p, l)| unsafe { std::slice::from_raw_parts(p as *const u8, l) })
    }
}

impl<'py> KeyBatch<'py> {
    /// Converts every key of `keys` (any iterable; a list or tuple is read
    /// by index). Fails on the first key of a bad type.
    pub fn collect(keys: &Bound<'py, PyAny>) -> PyResult<Self> {
        let hint = keys.len().unwrap_or(0);
        let mut batch = KeyBatch {
            keep: Vec::with_capacity(hint),
            owned: Vec::new(),
            spans: Vec::with_capacity(hint),
        };
        if keys.cast::<PyString>().is_ok() || keys.cast::<PyBytes>().is_ok() {
            return Err(PyTypeError::new_err(
                "route_many takes an iterable of keys, not a single str or bytes key",
            ));
        }
        for key in keys.try_iter()? {
            batch.push(key?)?;
        }
        Ok(batch)
    }

    #[inline]
    fn push(&mut self, key: Bound<'py, PyAny>) -> PyResult<()> {
        match key_bytes(&key)? {
            KeyBytes::Borrowed(b) => {
                self.spans.push((b.as_ptr() as usize, b.len()));
                self.keep.push(key);
            }
            KeyBytes::Owned(v) => {
                // The Vec's heap buffer does not move when `owned` grows.
                self.spans.push((v.as_ptr() as usize, v.len()));
                self.owned.push(v);
            }
        }
        Ok(())
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The spans, for a detached closure.
    pub fn spans(&self) -> Spans<'_> {
        Spans(&self.spans)
    }
}
