//! The core's modules import each other one way only: no cycles.
//!
//! A cycle between modules makes neither understandable without the other
//! and lets any change ripple around the loop, so the layout stays levelled:
//! `router` over `place` and `pick`, those over `node`, `node` over `error`.
//! This test reads `core/src/**/*.rs` (the files `mod` items reach from
//! `lib.rs`), collects every path a module names through `crate::`,
//! `super::` or `self::` (in `use` items and in code; not in comments, whose
//! doc links are no dependency, nor in `#[cfg(test)]` items, which may use
//! anything), resolves each through re-exports to the module that defines
//! the item, and then checks, for every module, that its children do not
//! depend on each other in a circle: the crate root's `place`, `router`,
//! `node`, ...; the router's `snapshot`, `picker`, `tiers`, ...; and so on
//! in every folder. A child naming its parent's own items is the normal
//! direction, and no edge.
//!
//! The reader (`support/modgraph.rs`) is a tokenizer, not a Rust parser.
//! The tests at the end feed it small crates with known cycles, so a reader
//! that stopped seeing dependencies would fail them.

use std::collections::BTreeMap;
use std::path::Path;

#[path = "support/modgraph.rs"]
mod modgraph;

use modgraph::{Crate, ModPath};

fn core() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    Crate::load(&|file| std::fs::read_to_string(src.join(file)).ok())
}

#[test]
fn the_core_has_no_import_cycle() {
    let cycles = core().cycles();
    assert!(
        cycles.is_empty(),
        "modules that import each other (files under core/src; break each loop by moving \
         what both need into a module below them):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_reader_sees_the_core_layout() {
    // Guards the test above against a reader that finds nothing to check.
    let krate = core();
    let edges = krate.edges();
    let uses = |parent: &[&str], a: &str, b: &str| {
        let parent: ModPath = parent.iter().map(|s| s.to_string()).collect();
        edges
            .get(&parent)
            .and_then(|g| g.get(a))
            .is_some_and(|to| to.contains_key(b))
    };
    assert!(krate.modules.len() > 40, "{:?}", krate.modules.keys());
    assert!(uses(&[], "router", "place"));
    assert!(uses(&[], "place", "node"));
    assert!(uses(&[], "pick", "node"));
    assert!(uses(&["router"], "control", "snapshot"));
    assert!(uses(&["place"], "ring", "cluster"));
    // Through a re-export: `crate::Result` is `error`'s.
    assert!(uses(&[], "many", "error"));
}

/// A crate made of `files` (`(path, source)`).
fn fake(files: &[(&str, &str)]) -> Crate {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    Crate::load(&|file| files.get(file).cloned())
}

#[test]
fn a_direct_cycle_is_reported() {
    let krate = fake(&[
        ("lib.rs", "mod a;\nmod b;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        ("b.rs", "pub struct B;\nfn f() { let _ = crate::a::A; }"),
    ]);
    let cycles = krate.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].starts_with("cycle among the children of `crate`: a -> b -> a"));
    assert!(cycles[0].contains("a -> b: a.rs:1 `crate::b::B`"));
    assert!(cycles[0].contains("b -> a: b.rs:2 `crate::a::A`"));
}

#[test]
fn a_cycle_through_reexports_and_folders_is_reported() {
    let krate = fake(&[
        ("lib.rs", "pub mod r;\nmod x;\npub use x::X;"),
        ("r/mod.rs", "mod p;\nmod s;\npub use s::Snap;\nuse p::Pick;"),
        ("r/p.rs", "use super::Snap;\npub struct Pick;"),
        (
            "r/s.rs",
            "use super::{super::X, p::{self}};\npub struct Snap(p::Pick);",
        ),
        (
            "x.rs",
            "pub struct X;\nfn f() -> crate::r::Snap { todo!() }",
        ),
    ]);
    let cycles = krate.cycles();
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(cycles.iter().any(|c| c.contains("`crate`: r -> x -> r")));
    assert!(cycles.iter().any(|c| c.contains("`crate::r`: p -> s -> p")));
}

#[test]
fn comments_strings_and_test_code_are_no_dependency() {
    let krate = fake(&[
        ("lib.rs", "mod a;\nmod b;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        (
            "b.rs",
            r##"
            //! See [`A`](crate::a::A).
            /* crate::a::A */
            pub struct B;
            const S: &str = "crate::a::A";
            const R: &str = r#"crate::a::A"#;
            const E: &str = "\"crate::a::A";
            const Q: char = '\'';
            const T: &str = "crate::a::A";
            fn lifetimes<'a>(x: &'a str) -> char { let _ = x; 'x' }
            #[cfg(test)]
            mod tests {
                use crate::a::A;
            }
            #[cfg(test)]
            fn helper() -> crate::a::A { crate::a::A }
            "##,
        ),
    ]);
    assert!(krate.cycles().is_empty(), "{:?}", krate.cycles());
    assert_eq!(krate.edges()[&ModPath::new()].len(), 1);
}

#[test]
fn parents_and_children_are_no_cycle() {
    // A child using its parent's items, and the parent using the child's,
    // is how modules nest.
    let krate = fake(&[
        ("lib.rs", "mod a;\npub struct Root;\nuse a::A;"),
        (
            "a/mod.rs",
            "mod b;\npub use b::A;\nfn f() -> crate::Root { todo!() }",
        ),
        ("a/b.rs", "pub struct A;\nuse super::super::Root;"),
    ]);
    assert!(krate.cycles().is_empty(), "{:?}", krate.cycles());
    assert!(krate.edges().is_empty(), "{:?}", krate.edges());
}
