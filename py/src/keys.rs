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
    // Exact types first: a pointer comparison, no call into the interpreter.
    if key.is_exact_instance_of::<PyString>() {
        // SAFETY: just checked.
        return str_bytes(unsafe { key.cast_unchecked::<PyString>() });
    }
    if key.is_exact_instance_of::<PyBytes>() {
        // SAFETY: just checked.
        return Ok(KeyBytes::Borrowed(
            unsafe { key.cast_unchecked::<PyBytes>() }.as_bytes(),
        ));
    }
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

/// Keys routed per release of the GIL by [`route_batch`]: large enough
/// that re-attaching costs nothing in comparison (about a millisecond of
/// routing), small enough that the buffers stay in cache and are reused.
pub const CHUNK: usize = 64 * 1024;

/// Bytes of key copied per chunk at most: a chunk is routed as soon as it
/// holds [`CHUNK`] keys or this many bytes, so that a batch of large keys
/// never needs more than about a megabyte of copies, whatever its length.
pub const CHUNK_BYTES: usize = 1 << 20;

/// A key at least this long is not copied at all: it is routed in place,
/// attached to the interpreter (hashing it dwarfs the cost of the GIL).
pub const LARGE_KEY: usize = 64 * 1024;

/// The bytes of a chunk of keys, copied while attached to the interpreter
/// so that routing them needs no Python object at all.
#[derive(Default)]
struct Chunk {
    arena: Vec<u8>,
    ends: Vec<usize>,
}

impl Chunk {
    fn push(&mut self, key: &[u8]) {
        self.arena.extend_from_slice(key);
        self.ends.push(self.arena.len());
    }

    fn is_full(&self) -> bool {
        self.ends.len() >= CHUNK || self.arena.len() >= CHUNK_BYTES
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.ends.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let key = &self.arena[start..end];
            start = end;
            key
        })
    }
}

/// Routes every key of the iterable `keys` with `route`, in order.
///
/// The keys are read with the GIL held and copied into one buffer, which
/// is routed with the GIL released whenever it holds [`CHUNK`] keys or
/// [`CHUNK_BYTES`] bytes; a key of [`LARGE_KEY`] bytes or more is routed in
/// place instead. So memory stays bounded by about a megabyte plus four
/// bytes per key routed, whatever the keys. `len()` is never consulted:
/// nothing is reserved on the word of an object that may lie. `Ok(None)`
/// when some key has no node (none up). A `str` or `bytes` given as the
/// whole batch is a `TypeError` (it would be iterated character by
/// character).
pub fn route_batch<S, F>(
    keys: &Bound<'_, PyAny>,
    target: &S,
    route: F,
) -> PyResult<Option<Vec<ringroute::NodeIndex>>>
where
    S: Sync + ?Sized,
    F: Fn(&S, &[u8]) -> Option<ringroute::NodeIndex> + Sync,
{
    if keys.is_instance_of::<PyString>() || keys.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "route_many takes an iterable of keys, not a single str or bytes key",
        ));
    }
    let py = keys.py();
    let mut routed = Vec::new();
    let mut chunk = Chunk::default();
    // Routes the chunk with the GIL released; false when a key found no node.
    let flush = |chunk: &mut Chunk, routed: &mut Vec<ringroute::NodeIndex>| {
        if chunk.ends.is_empty() {
            return true;
        }
        let complete = py.detach(|| {
            for key in chunk.iter() {
                match route(target, key) {
                    Some(node) => routed.push(node),
                    None => return false,
                }
            }
            true
        });
        chunk.clear();
        complete
    };
    for key in keys.try_iter()? {
        let key = key?;
        let bytes = key_bytes(&key)?;
        if bytes.len() >= LARGE_KEY {
            if !flush(&mut chunk, &mut routed) {
                return Ok(None);
            }
            match route(target, &bytes) {
                Some(node) => routed.push(node),
                None => return Ok(None),
            }
            continue;
        }
        chunk.push(&bytes);
        if chunk.is_full() && !flush(&mut chunk, &mut routed) {
            return Ok(None);
        }
    }
    Ok(flush(&mut chunk, &mut routed).then_some(routed))
}
