//! Random op sequences on a `ringroute::Ring`, checked against a model.
//! The checks live in `harness/ring_ops.rs`, shared with the stable replay
//! test `core/tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/ring_ops.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
