//! Version constants of the header, checked at compile time against the
//! crate's version and the core's placement spec, and the spec version at
//! run time.
//!
//! cbindgen copies literal constants into `ringroute.h` as `#define`s, so the
//! values are written out here; the assertions below stop the build when
//! `Cargo.toml`'s version or `ringroute::hash::SPEC_VERSION` moves and these
//! do not (then regenerate the header, see `ffi-c/tests/header.rs`).

use std::panic::catch_unwind;

/// Major version of the library this header belongs to (the `X` of `X.Y.Z`).
/// While it is 0, the minor version plays its part: see the README's
/// versioning policy. The shared library's SONAME is `libringroute.so.X`.
pub const RINGROUTE_VERSION_MAJOR: u32 = 0;
/// Minor version of the library this header belongs to (the `Y` of `X.Y.Z`).
pub const RINGROUTE_VERSION_MINOR: u32 = 1;
/// Patch version of the library this header belongs to (the `Z` of `X.Y.Z`).
pub const RINGROUTE_VERSION_PATCH: u32 = 0;
/// The version of the native ring spec (`docs/ring-spec.md`) this header's
/// library places keys with. Any change of placement is a new spec version;
/// compare it with `ringroute_spec_version()` to detect a library that
/// places keys differently from the one you compiled against.
pub const RINGROUTE_SPEC_VERSION: u32 = 2;

const fn parse(digits: &str) -> u32 {
    let bytes = digits.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "a version part is not a number");
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

const _: () = {
    assert!(
        RINGROUTE_VERSION_MAJOR == parse(env!("CARGO_PKG_VERSION_MAJOR")),
        "RINGROUTE_VERSION_MAJOR differs from Cargo.toml's version"
    );
    assert!(
        RINGROUTE_VERSION_MINOR == parse(env!("CARGO_PKG_VERSION_MINOR")),
        "RINGROUTE_VERSION_MINOR differs from Cargo.toml's version"
    );
    assert!(
        RINGROUTE_VERSION_PATCH == parse(env!("CARGO_PKG_VERSION_PATCH")),
        "RINGROUTE_VERSION_PATCH differs from Cargo.toml's version"
    );
    assert!(
        RINGROUTE_SPEC_VERSION == ringroute::hash::SPEC_VERSION,
        "RINGROUTE_SPEC_VERSION differs from ringroute::hash::SPEC_VERSION"
    );
};

/// The version of the native ring spec the loaded library places keys with
/// (2 for this header; see `RINGROUTE_SPEC_VERSION`). Two processes agree on
/// where every key goes only if they use the same spec version, whatever
/// their library versions.
///
/// Thread-safety: safe to call from any thread at any time.
#[unsafe(no_mangle)]
pub extern "C" fn ringroute_spec_version() -> u32 {
    // Nothing here can panic; the boundary is kept for the rule's sake.
    catch_unwind(|| ringroute::hash::SPEC_VERSION).unwrap_or(RINGROUTE_SPEC_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_parts() {
        assert_eq!(parse("0"), 0);
        assert_eq!(parse("17"), 17);
        assert_eq!(parse("2026"), 2026);
    }

    #[test]
    fn reports_the_core_spec_version() {
        assert_eq!(ringroute_spec_version(), ringroute::hash::SPEC_VERSION);
        assert_eq!(ringroute_spec_version(), RINGROUTE_SPEC_VERSION);
    }
}
