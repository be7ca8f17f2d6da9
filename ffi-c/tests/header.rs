//! The committed `include/ringroute.h` must be exactly what cbindgen makes
//! of the sources now. When this fails, regenerate it:
//!
//! ```sh
//! RINGROUTE_BLESS_HEADER=1 cargo test -p ringroute-ffi --test header
//! ```

use std::path::Path;

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ringroute.h");
    let fresh = generate();
    if std::env::var_os("RINGROUTE_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/ringroute.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "include/ringroute.h is stale (first difference at line {}).\n\
             Regenerate it: RINGROUTE_BLESS_HEADER=1 cargo test -p ringroute-ffi --test header",
            first + 1
        );
    }
}

#[test]
fn header_declares_every_entry_point_inside_extern_c() {
    let header = generate();
    assert!(header.contains("#ifndef RINGROUTE_H"));
    let open = header.find("extern \"C\" {").expect("extern \"C\" block");
    let close = header
        .rfind("}  // extern \"C\"")
        .expect("end of extern \"C\"");
    let is_declaration = |line: &str| {
        [
            "enum ringroute_status ",
            "void ",
            "const char *",
            "uint32_t ",
        ]
        .iter()
        .any(|t| line.starts_with(t))
    };
    let outside = header[..open].lines().chain(header[close..].lines());
    assert!(
        !outside.clone().any(is_declaration),
        "a function is declared outside extern \"C\""
    );
    let inside = &header[open..close];
    for name in [
        "ringroute_router_new(",
        "ringroute_router_free(",
        "ringroute_route(",
        "ringroute_route_n(",
        "ringroute_route_name(",
        "ringroute_lease(",
        "ringroute_ticket_finish(",
        "ringroute_last_error(",
        "ringroute_version(",
        "ringroute_spec_version(",
    ] {
        assert!(
            inside
                .lines()
                .any(|l| is_declaration(l) && l.contains(name)),
            "{name} is not declared inside extern \"C\""
        );
    }
}
