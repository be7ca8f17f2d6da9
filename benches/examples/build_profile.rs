//! Builds the bench's 1000-node ring in a loop, for a profiler:
//! `perf record target/release/examples/build_profile 2000`.

use std::hint::black_box;

use ringroute::Ring;

fn main() {
    let builds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let names: Vec<String> = (0..1000).map(|i| format!("node-{i}")).collect();
    let started = std::time::Instant::now();
    for _ in 0..builds {
        let ring: Ring = names
            .iter()
            .fold(Ring::builder(), |b, name| b.node(name, 1.0))
            .build()
            .expect("valid nodes");
        black_box(ring);
    }
    let per = started.elapsed() / builds as u32;
    println!("{per:?} per build");
}
