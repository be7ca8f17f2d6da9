//! Status codes, the thread-local last-error message, and the panic
//! boundary every entry point goes through.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ringroute::Error;

/// What a call did. Every function that can fail returns one; `RINGROUTE_OK`
/// (0) is success, any other value is an error, and
/// `ringroute_last_error()` then says what went wrong in words.
///
/// The values are stable: new codes may be added at the end, existing ones
/// never change meaning.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ringroute_status {
    /// Success. The out-parameters were written.
    RINGROUTE_OK = 0,
    /// A required pointer (a handle, an out-parameter, or data with a
    /// non-zero length) was NULL.
    RINGROUTE_NULL_POINTER = 1,
    /// An argument is outside its valid range: an unknown algorithm or
    /// outcome, a bad configuration field, an empty node name, a zero
    /// capacity, a malformed node list.
    RINGROUTE_INVALID_ARGUMENT = 2,
    /// Text that must be UTF-8 (a NUL-terminated C string) is not. Node
    /// names and keys are bytes and are never checked for UTF-8.
    RINGROUTE_INVALID_UTF8 = 3,
    /// No node has this name (or this index).
    RINGROUTE_UNKNOWN_NODE = 4,
    /// A node with this name already exists.
    RINGROUTE_DUPLICATE_NODE = 5,
    /// A weight must be finite and greater than zero.
    RINGROUTE_INVALID_WEIGHT = 6,
    /// The router has no node at all.
    RINGROUTE_EMPTY_RING = 7,
    /// Nodes exist, but none of them is up.
    RINGROUTE_NO_NODE_UP = 8,
    /// The caller's buffer is too small; the size needed was written to the
    /// length out-parameter.
    RINGROUTE_BUFFER_TOO_SMALL = 9,
    /// The library panicked (a bug in ringroute). The panic was caught at
    /// the boundary; the handle is still usable.
    RINGROUTE_PANIC = 10,
    /// The change would exceed a limit of the implementation (2^24 ring
    /// points, 2^32 nodes).
    RINGROUTE_LIMIT_EXCEEDED = 11,
}

use ringroute_status::*;

/// A failed call: the status to return and the message for
/// `ringroute_last_error()`. Boxed, so that a `Result<(), Failure>` is one
/// pointer and the success path of every entry point stays in registers;
/// the allocation happens only on failure.
#[derive(Debug)]
pub(crate) struct Failure(Box<FailureInner>);

#[derive(Debug)]
pub(crate) struct FailureInner {
    pub status: ringroute_status,
    pub message: Cow<'static, str>,
}

impl std::ops::Deref for Failure {
    type Target = FailureInner;

    fn deref(&self) -> &FailureInner {
        &self.0
    }
}

impl Failure {
    #[cold]
    pub fn new(status: ringroute_status, message: impl Into<Cow<'static, str>>) -> Self {
        Failure(Box::new(FailureInner {
            status,
            message: message.into(),
        }))
    }

    #[cold]
    pub fn null(what: &'static str) -> Self {
        Failure::new(RINGROUTE_NULL_POINTER, format!("{what} must not be NULL"))
    }

    #[cold]
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Failure::new(RINGROUTE_INVALID_ARGUMENT, message)
    }
}

#[cfg(test)]
impl Failure {
    /// The status, for tests.
    pub fn status(&self) -> ringroute_status {
        self.0.status
    }

    /// The message, for tests.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::EmptyRing => RINGROUTE_EMPTY_RING,
            Error::NoNodeUp => RINGROUTE_NO_NODE_UP,
            Error::UnknownNode(_) => RINGROUTE_UNKNOWN_NODE,
            Error::DuplicateNode(_) => RINGROUTE_DUPLICATE_NODE,
            Error::InvalidWeight(_) => RINGROUTE_INVALID_WEIGHT,
            Error::TooManyPoints { .. } | Error::TooManyNodes => RINGROUTE_LIMIT_EXCEEDED,
            _ => RINGROUTE_INVALID_ARGUMENT,
        };
        Failure::new(status, e.to_string())
    }
}

pub(crate) type Result<T, E = Failure> = std::result::Result<T, E>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A message never holds a NUL (names are printed escaped), but a C
    // string cannot carry one, so make sure.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; the status
    // code still tells the caller what happened.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = text;
        }
    });
}

/// The text of a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic in ringroute: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic in ringroute: {s}")
    } else {
        "panic in ringroute".to_string()
    }
}

/// Runs the body of an entry point: catches panics, records the message of
/// a failure, and turns the outcome into a status. The body writes its
/// out-parameters itself, last, only when everything else succeeded.
#[inline(always)]
pub(crate) fn boundary(body: impl FnOnce() -> Result<()>) -> ringroute_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => RINGROUTE_OK,
        Ok(Err(failure)) => fail(failure),
        Err(payload) => {
            set_last_error(&panic_message(&*payload));
            RINGROUTE_PANIC
        }
    }
}

/// Records a failure's message; returns its status. Kept out of line so the
/// success path of [`boundary`] stays small.
#[cold]
#[inline(never)]
fn fail(failure: Failure) -> ringroute_status {
    set_last_error(&failure.message);
    failure.status
}

/// For functions that return nothing (the `_free` functions): runs `body`
/// and swallows a panic after recording it.
pub(crate) fn boundary_void(body: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        set_last_error(&panic_message(&*payload));
    }
}

/// The message of the last failed call on this thread, as a NUL-terminated
/// UTF-8 string; `""` when no call has failed on this thread yet.
///
/// Ownership: the string belongs to the library. It stays valid until the
/// next call into ringroute on this thread; copy it if you need it longer.
/// Do not free it. Never returns NULL.
///
/// Thread-safety: each thread has its own message; a failure on one thread
/// never changes another thread's. Successful calls leave the message as it
/// was, so read it only after a call returned an error.
#[unsafe(no_mangle)]
pub extern "C" fn ringroute_last_error() -> *const c_char {
    let empty = c"".as_ptr();
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|slot| slot.try_borrow().map_or(empty, |s| s.as_ptr()))
            .unwrap_or(empty)
    })
    .unwrap_or(empty)
}

/// The name of a status code as a static NUL-terminated string, such as
/// `"RINGROUTE_NO_NODE_UP"`; `"RINGROUTE_UNKNOWN_STATUS"` for a value that is
/// not a status. Takes a plain integer so that any value is safe to pass.
///
/// Ownership: the string is static; do not free it. Never returns NULL.
///
/// Thread-safety: safe to call from any thread at any time.
#[unsafe(no_mangle)]
pub extern "C" fn ringroute_status_name(status: i32) -> *const c_char {
    // Nothing here can panic; the boundary is kept for the rule's sake.
    catch_unwind(|| status_name(status)).unwrap_or(c"RINGROUTE_UNKNOWN_STATUS".as_ptr())
}

fn status_name(status: i32) -> *const c_char {
    let name = match status {
        0 => c"RINGROUTE_OK",
        1 => c"RINGROUTE_NULL_POINTER",
        2 => c"RINGROUTE_INVALID_ARGUMENT",
        3 => c"RINGROUTE_INVALID_UTF8",
        4 => c"RINGROUTE_UNKNOWN_NODE",
        5 => c"RINGROUTE_DUPLICATE_NODE",
        6 => c"RINGROUTE_INVALID_WEIGHT",
        7 => c"RINGROUTE_EMPTY_RING",
        8 => c"RINGROUTE_NO_NODE_UP",
        9 => c"RINGROUTE_BUFFER_TOO_SMALL",
        10 => c"RINGROUTE_PANIC",
        11 => c"RINGROUTE_LIMIT_EXCEEDED",
        _ => c"RINGROUTE_UNKNOWN_STATUS",
    };
    name.as_ptr()
}

/// The version of the library, such as `"0.1.0"`: the `ringroute-ffi`
/// crate's version, which is also the version of the `ringroute` crate it
/// wraps.
///
/// Ownership: the string is static; do not free it. Never returns NULL.
///
/// Thread-safety: safe to call from any thread at any time.
#[unsafe(no_mangle)]
pub extern "C" fn ringroute_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    // Nothing here can panic; the boundary is kept for the rule's sake.
    catch_unwind(|| VERSION.as_ptr().cast()).unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: ringroute_last_error returns a valid NUL-terminated string
        // that stays alive until the next call on this thread.
        unsafe { CStr::from_ptr(ringroute_last_error()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn panics_are_caught_and_reported() {
        let status = boundary(|| panic!("boom {}", 42));
        assert_eq!(status, RINGROUTE_PANIC);
        assert_eq!(last(), "panic in ringroute: boom 42");
        let status = boundary(|| std::panic::panic_any(7_u8));
        assert_eq!(status, RINGROUTE_PANIC);
        assert_eq!(last(), "panic in ringroute");
        boundary_void(|| panic!("in free"));
        assert_eq!(last(), "panic in ringroute: in free");
    }

    #[test]
    fn failures_set_the_message_and_success_keeps_it() {
        let status = boundary(|| Err(Failure::null("router")));
        assert_eq!(status, RINGROUTE_NULL_POINTER);
        assert_eq!(last(), "router must not be NULL");
        assert_eq!(boundary(|| Ok(())), RINGROUTE_OK);
        assert_eq!(last(), "router must not be NULL");
        let status = boundary(|| Err(Failure::invalid("a\0b")));
        assert_eq!(status, RINGROUTE_INVALID_ARGUMENT);
        assert_eq!(last(), "a\\0b");
    }

    #[test]
    fn every_status_has_its_name() {
        for (status, name) in [
            (RINGROUTE_OK, "RINGROUTE_OK"),
            (RINGROUTE_NULL_POINTER, "RINGROUTE_NULL_POINTER"),
            (RINGROUTE_INVALID_ARGUMENT, "RINGROUTE_INVALID_ARGUMENT"),
            (RINGROUTE_INVALID_UTF8, "RINGROUTE_INVALID_UTF8"),
            (RINGROUTE_UNKNOWN_NODE, "RINGROUTE_UNKNOWN_NODE"),
            (RINGROUTE_DUPLICATE_NODE, "RINGROUTE_DUPLICATE_NODE"),
            (RINGROUTE_INVALID_WEIGHT, "RINGROUTE_INVALID_WEIGHT"),
            (RINGROUTE_EMPTY_RING, "RINGROUTE_EMPTY_RING"),
            (RINGROUTE_NO_NODE_UP, "RINGROUTE_NO_NODE_UP"),
            (RINGROUTE_BUFFER_TOO_SMALL, "RINGROUTE_BUFFER_TOO_SMALL"),
            (RINGROUTE_PANIC, "RINGROUTE_PANIC"),
            (RINGROUTE_LIMIT_EXCEEDED, "RINGROUTE_LIMIT_EXCEEDED"),
        ] {
            // SAFETY: static NUL-terminated strings.
            let got = unsafe { CStr::from_ptr(ringroute_status_name(status as i32)) };
            assert_eq!(got.to_str().unwrap(), name);
        }
        // SAFETY: as above.
        let got = unsafe { CStr::from_ptr(ringroute_status_name(-1)) };
        assert_eq!(got.to_str().unwrap(), "RINGROUTE_UNKNOWN_STATUS");
    }

    #[test]
    fn core_errors_map_to_distinct_statuses() {
        let cases = [
            (Error::EmptyRing, RINGROUTE_EMPTY_RING),
            (Error::NoNodeUp, RINGROUTE_NO_NODE_UP),
            (Error::UnknownNode(b"x"[..].into()), RINGROUTE_UNKNOWN_NODE),
            (
                Error::DuplicateNode(b"x"[..].into()),
                RINGROUTE_DUPLICATE_NODE,
            ),
            (Error::InvalidWeight(f64::NAN), RINGROUTE_INVALID_WEIGHT),
            (Error::EmptyName, RINGROUTE_INVALID_ARGUMENT),
            (Error::InvalidVnodes(0), RINGROUTE_INVALID_ARGUMENT),
            (Error::TooManyNodes, RINGROUTE_LIMIT_EXCEEDED),
            (
                Error::TooManyPoints {
                    requested: 1,
                    max: 0,
                },
                RINGROUTE_LIMIT_EXCEEDED,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(Failure::from(error).status, status);
        }
    }

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(ringroute_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
