//! Every sticky algorithm behind the router keeps the same contract: answers
//! are up members, a node taken out of service gives up only its keys and
//! gets them back, and failover walks distinct healthy replicas.

use std::collections::HashSet;
use std::sync::Arc;

use ringroute::health::ManualClock;
use ringroute::router::{Algorithm, Router};
use ringroute::{Error, NodeIndex};

fn algorithms() -> Vec<Algorithm> {
    vec![
        Algorithm::Ring { vnodes: 160 },
        Algorithm::Jump,
        Algorithm::Rendezvous,
        Algorithm::Maglev { table_size: 4099 },
    ]
}

fn router(algorithm: Algorithm) -> Router {
    (0..12)
        .fold(Router::builder(), |b, i| {
            b.node(&format!("node-{i:02}"), 1.0)
        })
        .algorithm(algorithm)
        .clock(Arc::new(ManualClock::default()))
        .build()
        .unwrap()
}

fn routes(r: &Router, keys: &[String]) -> Vec<Option<NodeIndex>> {
    let snap = r.snapshot();
    keys.iter().map(|k| snap.route(k)).collect()
}

#[test]
fn down_moves_only_its_keys_and_they_come_back() {
    let keys: Vec<String> = (0..4000).map(|i| format!("key-{i}")).collect();
    for algorithm in algorithms() {
        let r = router(algorithm.clone());
        let before = routes(&r, &keys);
        let victim = r.snapshot().index_of("node-05").unwrap();
        r.mark_down("node-05").unwrap();
        let during = routes(&r, &keys);
        let mut moved = 0;
        for (b, d) in before.iter().zip(&during) {
            if *b == Some(victim) {
                assert_ne!(*d, Some(victim), "{algorithm:?}");
                moved += 1;
            } else {
                assert_eq!(b, d, "{algorithm:?} moved a key it did not own");
            }
        }
        assert!(moved > 100, "{algorithm:?}: the victim owned {moved} keys");
        r.mark_up("node-05").unwrap();
        assert_eq!(routes(&r, &keys), before, "{algorithm:?}");
    }
}

#[test]
fn failover_is_distinct_healthy_and_starts_with_route() {
    for algorithm in algorithms() {
        let r = router(algorithm.clone());
        r.mark_down("node-03").unwrap();
        let snap = r.snapshot();
        let down = snap.index_of("node-03").unwrap();
        for i in 0..300 {
            let key = format!("k{i}");
            let order: Vec<NodeIndex> = snap.failover(&key).take(4).collect();
            assert_eq!(order.len(), 4, "{algorithm:?}");
            assert_eq!(order.iter().collect::<HashSet<_>>().len(), 4);
            assert!(!order.contains(&down));
            assert_eq!(Some(order[0]), snap.route(&key));
            assert_eq!(&r.route_n(&key, 4)[..], &order[..], "{algorithm:?}");
        }
    }
}

#[test]
fn algorithm_rules_are_enforced() {
    // Jump is unweighted; Maglev needs a prime table larger than the node count.
    let jump = Router::<()>::builder()
        .node("a", 2.0)
        .algorithm(Algorithm::Jump)
        .build();
    assert!(matches!(jump, Err(Error::InvalidParameter(_))));
    let r = router(Algorithm::Jump);
    assert!(r.add("x", 0.5).is_err());
    assert!(r.add("x", 1.0).is_ok());

    let not_prime = Router::<()>::builder()
        .node("a", 1.0)
        .algorithm(Algorithm::Maglev { table_size: 4096 })
        .build();
    assert!(not_prime.is_err());
    let tiny = Router::<()>::builder()
        .node("a", 1.0)
        .node("b", 1.0)
        .node("c", 1.0)
        .algorithm(Algorithm::Maglev { table_size: 3 })
        .build();
    assert!(tiny.is_err());
    let bad_vnodes = Router::<()>::builder()
        .algorithm(Algorithm::Ring { vnodes: 0 })
        .build();
    assert!(matches!(bad_vnodes, Err(Error::InvalidVnodes(0))));
}
