//! What the C ABI costs over the Rust call: `ringroute_route` (the
//! `extern "C"` function, called directly and through a function pointer
//! that the optimizer cannot see through, as a C caller would) against
//! `Router::route`, on the same router and the same keys.
//!
//! ```sh
//! cargo bench -p ringroute-ffi --bench route
//! ```
//!
//! After criterion's report, a plain interleaved timing prints the ratio
//! `ffi / rust` (the issue's budget is 1.2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ringroute::router::Router;
use ringroute_ffi::{ringroute_node, ringroute_route, ringroute_router, ringroute_router_new};

const NODES: usize = 16;
const KEYS: usize = 4096;

type RouteFn = unsafe extern "C" fn(
    *const ringroute_router,
    *const u8,
    usize,
    *mut u32,
) -> ringroute_ffi::ringroute_status;

struct Setup {
    handle: *mut ringroute_router,
    rust: Router<()>,
    keys: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    let names: Vec<String> = (0..NODES).map(|i| format!("10.0.0.{i}:11211")).collect();
    let nodes: Vec<ringroute_node> = names
        .iter()
        .map(|n| ringroute_node {
            name: n.as_ptr(),
            name_len: n.len(),
            weight: 1.0,
        })
        .collect();
    let mut handle = std::ptr::null_mut();
    // SAFETY: `nodes` and their names outlive the call; `handle` is writable.
    let status =
        unsafe { ringroute_router_new(std::ptr::null(), nodes.as_ptr(), nodes.len(), &mut handle) };
    assert_eq!(status as u32, 0);
    let mut builder = Router::builder();
    for n in &names {
        builder = builder.node(n, 1.0);
    }
    let rust = builder.build().unwrap();
    let keys = (0..KEYS)
        .map(|i| format!("user:{i}").into_bytes())
        .collect();
    Setup { handle, rust, keys }
}

fn rust_pass(s: &Setup) -> u64 {
    let mut sum = 0u64;
    for k in &s.keys {
        sum += u64::from(s.rust.route(black_box(k.as_slice())).unwrap().get());
    }
    sum
}

fn ffi_pass(s: &Setup, f: RouteFn) -> u64 {
    let mut sum = 0u64;
    for k in &s.keys {
        let mut out = 0u32;
        // SAFETY: a live handle, a readable key, a writable out-parameter.
        let status = unsafe { f(s.handle, k.as_ptr(), k.len(), &mut out) };
        debug_assert_eq!(status as u32, 0);
        sum += u64::from(out);
    }
    sum
}

fn bench(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("route");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("rust Router::route", |b| b.iter(|| rust_pass(s)));
    group.bench_function("ffi ringroute_route (direct)", |b| {
        b.iter(|| ffi_pass(s, ringroute_route))
    });
    let opaque: RouteFn = black_box(ringroute_route);
    group.bench_function("ffi ringroute_route (fn pointer)", |b| {
        b.iter(|| ffi_pass(s, black_box(opaque)))
    });
    group.finish();
}

/// Median over rounds of the best-of-3 time per pass, interleaving the
/// contenders so that machine noise hits both alike.
fn ratio(s: &Setup) {
    let opaque: RouteFn = black_box(ringroute_route);
    let mut rust = Vec::new();
    let mut ffi = Vec::new();
    let time = |f: &dyn Fn() -> u64| {
        let start = Instant::now();
        black_box(f());
        start.elapsed()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let r = (0..3).map(|_| time(&|| rust_pass(s))).min().unwrap();
        let f = (0..3).map(|_| time(&|| ffi_pass(s, opaque))).min().unwrap();
        rust.push(r);
        ffi.push(f);
    }
    rust.sort();
    ffi.sort();
    let per_key = |d: Duration| d.as_secs_f64() * 1e9 / KEYS as f64;
    let (r, f) = (per_key(rust[rust.len() / 2]), per_key(ffi[ffi.len() / 2]));
    println!(
        "route per key: rust {r:.2} ns, ffi (fn pointer) {f:.2} ns, ratio ffi/rust = {:.3} (budget 1.2)",
        f / r
    );
}

fn main() {
    let s = setup();
    assert_eq!(rust_pass(&s), ffi_pass(&s, ringroute_route), "same answers");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &s);
    c.final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // then one quick pass of each function is all that is wanted.
    if std::env::args().any(|a| a == "--bench") {
        ratio(&s);
    }
    // SAFETY: created above, freed once, no call is using it.
    unsafe { ringroute_ffi::ringroute_router_free(s.handle) };
}
