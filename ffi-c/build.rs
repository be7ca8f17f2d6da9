//! Gives the shared library the SONAME it is installed under.
//!
//! Cargo names the cdylib after the crate (`libringroute_ffi.so`), because
//! the core crate already owns the name `ringroute`. `scripts/install-c`
//! installs it as `libringroute.so.0.1.0` with the links `libringroute.so.0`
//! and `libringroute.so`; programs linked with `-lringroute` then record
//! `libringroute.so.0` (the SONAME set here) and find it at run time.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libringroute.so.{major}");
    }
}
