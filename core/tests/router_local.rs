//! `Router::route` without a reader remembers, per thread, the snapshot it
//! last used: it must still see every publication at once, never answer
//! from another router's snapshot, and work across threads.

use ringroute::router::{Algorithm, Router};

fn router(names: &[&str]) -> Router {
    names
        .iter()
        .fold(Router::builder(), |b, n| b.node(n, 1.0))
        .build()
        .unwrap()
}

fn keys() -> Vec<String> {
    (0..500).map(|i| format!("key-{i}")).collect()
}

#[test]
fn every_publication_is_seen_on_the_next_call() {
    let r = router(&["a", "b", "c"]);
    let keys = keys();
    let before: Vec<_> = keys.iter().map(|k| r.route(k)).collect();
    assert_eq!(
        before,
        keys.iter()
            .map(|k| r.snapshot().route(k))
            .collect::<Vec<_>>()
    );
    r.mark_down("b").unwrap();
    let b = r.snapshot().index_of("b").unwrap();
    assert!(keys.iter().all(|k| r.route(k) != Some(b)));
    r.mark_up("b").unwrap();
    assert_eq!(keys.iter().map(|k| r.route(k)).collect::<Vec<_>>(), before);
    r.add("d", 1.0).unwrap();
    for k in &keys {
        assert_eq!(r.route(k), r.snapshot().route(k));
    }
}

#[test]
fn two_routers_in_turn_never_mix() {
    let one = router(&["a", "b", "c"]);
    let two: Router = Router::builder()
        .algorithm(Algorithm::Jump)
        .node("x", 1.0)
        .node("y", 1.0)
        .build()
        .unwrap();
    let (s1, s2) = (one.snapshot(), two.snapshot());
    for k in keys() {
        assert_eq!(one.route(&k), s1.route(&k));
        assert_eq!(two.route(&k), s2.route(&k));
    }
    // A router dropped and another built (perhaps at the same address):
    // the new one answers from its own snapshot.
    drop(one);
    let three = router(&["p"]);
    let only = three.snapshot().index_of("p");
    assert!(keys().iter().all(|k| three.route(k) == only));
    // Clones share the router, and so the remembered snapshot.
    let clone = three.clone();
    clone.add("q", 1.0).unwrap();
    assert!(
        keys()
            .iter()
            .all(|k| three.route(k) == clone.snapshot().route(k))
    );
}

#[test]
fn threads_route_and_see_updates() {
    let r = router(&["a", "b", "c", "d"]);
    std::thread::scope(|s| {
        for t in 0..2 {
            let r = r.clone();
            s.spawn(move || {
                for round in 0..200 {
                    let k = format!("t{t}-{round}");
                    assert!(r.route(&k).is_some());
                }
            });
        }
        for _ in 0..50 {
            r.mark_down("c").unwrap();
            r.mark_up("c").unwrap();
        }
    });
    let c = r.snapshot().index_of("c").unwrap();
    r.mark_down("c").unwrap();
    assert!(keys().iter().all(|k| r.route(k) != Some(c)));
}

#[test]
fn with_snapshot_allows_nested_lookups_across_publications() {
    let r = router(&["a", "b", "c"]);
    let _ = r.route("warm the thread's slot");
    let outer = r.with_snapshot(|s| {
        // Publish and route again while the outer snapshot is borrowed:
        // the inner lookup sees the change, the outer one keeps its own.
        r.add("d", 1.0).unwrap();
        let inner = r.with_snapshot(|t| t.nodes().len());
        assert_eq!(inner, 4);
        for k in keys() {
            assert_eq!(r.route(&k), r.snapshot().route(&k));
        }
        s.nodes().len()
    });
    assert_eq!(outer, 3);
    assert_eq!(r.with_snapshot(|s| s.nodes().len()), 4);
}
