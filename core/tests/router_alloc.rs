//! Routing through a shared `Router` does not allocate: a counting
//! allocator (per thread, so the harness's threads do not count) proves it.

use ringroute::NodeIndex;
use ringroute::router::Router;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

#[test]
fn routing_and_leases_do_not_allocate() {
    let router: Router = (0..100)
        .fold(Router::builder(), |b, i| b.node(&format!("n{i}"), 1.0))
        .build()
        .unwrap();
    router.mark_down("n7").unwrap();
    let keys: Vec<String> = (0..2000).map(|i| format!("key-{i}")).collect();
    // arc-swap registers this thread on its first load; do that outside.
    let _ = router.route("warm-up");
    let mut out = [NodeIndex::new(0); 8];
    let mut sink = 0usize;
    let count = allocations_during(|| {
        for k in &keys {
            sink += router.route(k).unwrap().as_usize();
            sink += router.route_n(k, 3).len();
            let snap = router.snapshot();
            sink += snap.route_n_into(k, &mut out);
            sink += snap.failover(k).take(4).count();
            router
                .pick()
                .unwrap()
                .success(std::time::Duration::from_micros(20));
            let lease = router.lease(k).unwrap();
            sink += lease.node().as_usize();
            lease.success(std::time::Duration::from_micros(50));
        }
    });
    assert_eq!(count, 0, "routing allocated {count} times");
    std::hint::black_box(sink);
    // Guard the guard: the counter does see allocations on this thread.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![0u8; 32]))) > 0);
}
