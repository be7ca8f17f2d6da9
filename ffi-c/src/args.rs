//! Turning raw C arguments into Rust values, with a status for each way
//! they can be wrong. Every check happens before anything is changed or
//! written.

use std::ffi::{CStr, c_char};
use std::ptr::NonNull;

use crate::status::{Failure, Result, ringroute_status};

/// A borrowed handle: `p` must not be NULL.
///
/// # Safety
///
/// A non-NULL `p` must point to a live `T` for the returned lifetime.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &'static str) -> Result<&'a T> {
    // SAFETY: the caller promises that a non-NULL `p` points to a live `T`.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// A byte string `(p, len)`. A zero length is the empty string whatever `p`
/// is (NULL included); otherwise `p` must not be NULL.
///
/// # Safety
///
/// When `len > 0` and `p` is not NULL, `p` must be valid for reads of `len`
/// bytes that nobody writes for the returned lifetime.
#[inline]
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &'static str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() || len > isize::MAX as usize {
        return Err(bad_bytes(p, len, what));
    }
    // SAFETY: `p` is not NULL, `len` fits an `isize`, and the caller promises
    // `len` readable bytes at `p` that stay unchanged meanwhile.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cold]
#[inline(never)]
fn bad_bytes(p: *const u8, len: usize, what: &'static str) -> Failure {
    if p.is_null() {
        Failure::null(what)
    } else {
        Failure::invalid(format!("{what}: length {len} is too large"))
    }
}

/// An array of `len` values of `T` at `p`; zero length allows NULL.
///
/// # Safety
///
/// As for [`bytes`], for `len` values of `T` (properly aligned).
pub(crate) unsafe fn array<'a, T>(p: *const T, len: usize, what: &'static str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(what));
    }
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(Failure::invalid(format!(
            "{what}: length {len} is too large"
        )));
    }
    // SAFETY: `p` is not NULL, the total size fits an `isize`, and the caller
    // promises `len` readable, aligned, initialized values at `p`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A NUL-terminated string that must be UTF-8.
///
/// # Safety
///
/// A non-NULL `p` must point to a NUL-terminated string that stays unchanged
/// for the returned lifetime.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &'static str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: `p` is not NULL and the caller promises a NUL-terminated string.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        Failure::new(
            ringroute_status::RINGROUTE_INVALID_UTF8,
            format!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// An out-parameter, checked for NULL up front and written at most once, at
/// the end of a successful call.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    ///
    /// A non-NULL `p` must be valid for an aligned write of a `T` until the
    /// call returns.
    pub unsafe fn new(p: *mut T, what: &'static str) -> Result<Self> {
        NonNull::new(p).map(Out).ok_or_else(|| Failure::null(what))
    }

    /// Like [`new`](Out::new), but NULL means "not wanted".
    ///
    /// # Safety
    ///
    /// As for [`new`](Out::new).
    pub unsafe fn optional(p: *mut T) -> Option<Self> {
        NonNull::new(p).map(Out)
    }

    pub fn write(self, value: T) {
        // SAFETY: `new` checked non-NULL and its caller promised an aligned,
        // writable `T`; `write` does not read or drop the old contents,
        // which may be uninitialized.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// A caller's buffer for a byte string: `buf` of capacity `*len`; on
/// success the length written goes back to `*len`. A name never gets a NUL
/// terminator (names are bytes and may contain NUL).
pub(crate) struct ByteBuf {
    buf: *mut u8,
    len: NonNull<usize>,
    capacity: usize,
}

impl ByteBuf {
    /// # Safety
    ///
    /// A non-NULL `len` must be valid for reads and writes of a `usize`;
    /// when `*len > 0` and `buf` is not NULL, `buf` must be valid for writes
    /// of `*len` bytes. Both until the call returns.
    pub unsafe fn new(buf: *mut u8, len: *mut usize) -> Result<Self> {
        let len = NonNull::new(len).ok_or_else(|| Failure::null("name_len"))?;
        // SAFETY: `len` is not NULL and the caller promises a readable usize.
        let capacity = unsafe { len.as_ptr().read() };
        if capacity > 0 && buf.is_null() {
            return Err(Failure::null("name_buf"));
        }
        Ok(ByteBuf { buf, len, capacity })
    }

    /// Copies `bytes` in and stores their length; when they do not fit,
    /// stores the length needed instead and fails with
    /// `RINGROUTE_BUFFER_TOO_SMALL`, leaving the buffer untouched.
    pub fn fill(self, bytes: &[u8]) -> Result<()> {
        let need = bytes.len();
        if need > self.capacity {
            // SAFETY: `len` was checked non-NULL and is writable (see `new`).
            unsafe { self.len.as_ptr().write(need) };
            return Err(Failure::new(
                ringroute_status::RINGROUTE_BUFFER_TOO_SMALL,
                format!(
                    "buffer too small: {need} bytes needed, {} given",
                    self.capacity
                ),
            ));
        }
        if need > 0 {
            // SAFETY: `need <= capacity`, and `buf` is non-NULL and writable
            // for `capacity` bytes whenever `capacity > 0` (see `new`); the
            // source is a Rust slice, which cannot overlap the caller's buffer
            // while we hold a shared borrow of it.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.buf, need) };
        }
        // SAFETY: as above.
        unsafe { self.len.as_ptr().write(need) };
        Ok(())
    }
}
