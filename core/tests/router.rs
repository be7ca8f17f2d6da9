//! The concurrent router: leases, health with a fake clock, membership
//! updates, and readers racing a writer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringroute::health::{ManualClock, OutlierConfig, PhiConfig};
use ringroute::router::{NodeHealth, Outcome, Router};
use ringroute::{NodeIndex, Ring};

const SECOND: Duration = Duration::from_secs(1);

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("node-{i:02}")).collect()
}

fn router_with(n: usize, clock: &Arc<ManualClock>) -> Router {
    names(n)
        .iter()
        .fold(Router::builder(), |b, name| b.node(name, 1.0))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn keys() -> Vec<String> {
    (0..3000).map(|i| format!("key-{i}")).collect()
}

fn routes(router: &Router, keys: &[String]) -> Vec<Option<String>> {
    let snap = router.snapshot();
    keys.iter()
        .map(|k| {
            snap.route(k)
                .map(|i| snap.node(i).unwrap().name_lossy().into_owned())
        })
        .collect()
}

fn fail(router: &Router, name: &str, times: usize) {
    let snap = router.snapshot();
    let node = snap.index_of(name).unwrap();
    for _ in 0..times {
        router.start_on(&snap, node).unwrap().failure();
    }
}

#[test]
fn routes_like_a_ring_of_the_same_nodes() {
    let ring: Ring = names(20)
        .iter()
        .fold(Ring::builder(), |b, n| b.node(n, 1.5))
        .build()
        .unwrap();
    let router: Router = names(20)
        .iter()
        .fold(Router::builder(), |b, n| b.node(n, 1.5))
        .build()
        .unwrap();
    let snap = router.snapshot();
    for k in keys() {
        let a = ring.route(&k).map(|i| ring[i].name().to_vec());
        let b = snap
            .route(&k)
            .map(|i| snap.node(i).unwrap().name().to_vec());
        assert_eq!(a, b);
        assert_eq!(router.route(&k), snap.route(&k));
        assert_eq!(router.route_n(&k, 3).len(), 3);
    }
}

#[test]
fn leases_count_in_flight_requests() {
    let clock = Arc::new(ManualClock::default());
    let router = router_with(3, &clock);
    let a = router.lease("k").unwrap();
    let b = router.lease("k").unwrap();
    assert_eq!(a.node(), b.node());
    assert_eq!(a.stats().in_flight(), 2);
    clock.advance(Duration::from_millis(7));
    a.success_timed();
    let snap = router.snapshot();
    let stats = snap.stats(b.node()).unwrap();
    assert_eq!((stats.in_flight(), stats.successes()), (1, 1));
    drop(b); // unreported: abandoned, but no longer in flight
    assert_eq!(
        (stats.in_flight(), stats.successes(), stats.failures()),
        (0, 1, 0)
    );

    // The owned ticket API, for bindings.
    let t = router.start(snap.route("k").unwrap()).unwrap();
    assert_eq!(stats.in_flight(), 1);
    router.finish(t, Outcome::Failure);
    assert_eq!(
        (
            stats.in_flight(),
            stats.failures(),
            stats.consecutive_failures()
        ),
        (0, 1, 1)
    );
}

#[test]
fn consecutive_failures_eject_with_backoff_and_keys_come_back() {
    let clock = Arc::new(ManualClock::default());
    let router = router_with(10, &clock);
    let keys = keys();
    let before = routes(&router, &keys);
    let victim = "node-03";

    // Four failures and a success: the streak is broken.
    fail(&router, victim, 4);
    let snap = router.snapshot();
    router
        .start_on(&snap, snap.index_of(victim).unwrap())
        .unwrap()
        .success(SECOND);
    fail(&router, victim, 4);
    assert_eq!(router.health(victim), Some(NodeHealth::Up));

    // The fifth in a row ejects it for 30 s: only its keys move.
    fail(&router, victim, 1);
    assert_eq!(router.health(victim), Some(NodeHealth::Ejected));
    let during = routes(&router, &keys);
    for (b, d) in before.iter().zip(&during) {
        if b.as_deref() == Some(victim) {
            assert_ne!(d.as_deref(), Some(victim));
        } else {
            assert_eq!(b, d);
        }
    }
    clock.advance(29 * SECOND);
    router.tick();
    assert_eq!(router.health(victim), Some(NodeHealth::Ejected));
    clock.advance(SECOND);
    router.tick();
    assert_eq!(router.health(victim), Some(NodeHealth::Up));
    assert_eq!(routes(&router, &keys), before);

    // The second ejection lasts 60 s.
    fail(&router, victim, 5);
    clock.advance(59 * SECOND);
    router.tick();
    assert_eq!(router.health(victim), Some(NodeHealth::Ejected));
    clock.advance(SECOND);
    router.tick();
    assert_eq!(router.health(victim), Some(NodeHealth::Up));
}

#[test]
fn ejection_is_capped_at_a_share_of_nodes_but_allows_one() {
    let clock = Arc::new(ManualClock::default());
    let router = router_with(20, &clock); // 10% of 20 = 2
    for name in ["node-01", "node-02", "node-03"] {
        fail(&router, name, 5);
    }
    let ejected = |r: &Router| {
        names(20)
            .iter()
            .filter(|n| r.health(n.as_str()) == Some(NodeHealth::Ejected))
            .count()
    };
    assert_eq!(ejected(&router), 2);
    assert_eq!(router.health("node-03"), Some(NodeHealth::Up));

    let small = router_with(3, &clock); // 10% of 3 rounds to 0: still one
    fail(&small, "node-00", 5);
    fail(&small, "node-01", 5);
    assert_eq!(ejected(&small), 1);
}

#[test]
fn outlier_detection_can_be_tuned_or_disabled() {
    let clock = Arc::new(ManualClock::default());
    let config = OutlierConfig {
        consecutive_failures: 2,
        ..OutlierConfig::default()
    };
    let router: Router = Router::builder()
        .node("a", 1.0)
        .node("b", 1.0)
        .outlier_detection(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&router, "a", 2);
    assert_eq!(router.health("a"), Some(NodeHealth::Ejected));

    let off: Router = Router::builder()
        .node("a", 1.0)
        .node("b", 1.0)
        .no_outlier_detection()
        .build()
        .unwrap();
    fail(&off, "a", 50);
    assert_eq!(off.health("a"), Some(NodeHealth::Up));
}

#[test]
fn phi_accrual_marks_silent_nodes_unreachable_and_heartbeats_restore_them() {
    let clock = Arc::new(ManualClock::default());
    let router: Router = names(4)
        .iter()
        .fold(Router::builder(), |b, n| b.node(n, 1.0))
        .phi_accrual(PhiConfig::default())
        .clock(clock.clone())
        .build()
        .unwrap();
    let keys = keys();
    let before = routes(&router, &keys);
    for _ in 0..30 {
        for n in names(4) {
            router.heartbeat(&n).unwrap();
        }
        clock.advance(SECOND);
        router.tick();
    }
    assert!(
        names(4)
            .iter()
            .all(|n| router.health(n.as_str()) == Some(NodeHealth::Up))
    );
    // node-02 goes silent. With regular 1 s beats (sd clamped to 100 ms),
    // phi reaches 8 about 1.52 s after the last beat: mean 1 s plus y = 5.2
    // standard deviations, where y solves y(1.5976 + 0.070566 y²) = 8 ln 10.
    for step in 1..=8 {
        for n in ["node-00", "node-01", "node-03"] {
            router.heartbeat(n).unwrap();
        }
        clock.advance(SECOND / 4);
        router.tick();
        let silent_ms = 1000 + 250 * step;
        let health = router.health("node-02");
        if silent_ms <= 1250 {
            assert_eq!(health, Some(NodeHealth::Up), "after {silent_ms} ms");
        } else if silent_ms >= 1750 {
            assert_eq!(
                health,
                Some(NodeHealth::Unreachable),
                "after {silent_ms} ms"
            );
        }
    }
    let during = routes(&router, &keys);
    for (b, d) in before.iter().zip(&during) {
        if b.as_deref() != Some("node-02") {
            assert_eq!(b, d);
        }
    }
    router.heartbeat("node-02").unwrap();
    assert_eq!(router.health("node-02"), Some(NodeHealth::Up));
    assert_eq!(routes(&router, &keys), before);
    assert!(router.heartbeat("nobody").is_err());
}

#[test]
fn manual_down_up_and_membership_updates() {
    let clock = Arc::new(ManualClock::default());
    let router = router_with(5, &clock);
    let keys = keys();
    let before = routes(&router, &keys);
    router.mark_down("node-01").unwrap();
    assert_eq!(router.health("node-01"), Some(NodeHealth::Down));
    router.mark_up("node-01").unwrap();
    assert_eq!(routes(&router, &keys), before);

    let v = router.snapshot().version();
    router.add("node-09", 1.0).unwrap();
    assert!(router.snapshot().version() > v);
    assert!(router.add("node-09", 1.0).is_err());
    assert!(router.set_weight("node-09", f64::NAN).is_err());
    router.set_weight("node-09", 2.0).unwrap();
    router.remove("node-09").unwrap();
    assert_eq!(routes(&router, &keys), before);
    assert!(router.remove("node-09").is_err());
}

#[test]
fn replace_is_all_or_nothing_and_keeps_survivors_counters() {
    let clock = Arc::new(ManualClock::default());
    let router = router_with(4, &clock);
    let lease = router.lease("k").unwrap();
    let node = router
        .snapshot()
        .node(lease.node())
        .unwrap()
        .name_lossy()
        .into_owned();
    let before = router.snapshot();
    // A bad weight anywhere refuses the whole update.
    let bad = vec![("node-00", 1.0, ()), ("x", -1.0, ())];
    assert!(router.replace(bad).is_err());
    let twice = vec![("node-00", 1.0, ()), ("node-00", 2.0, ())];
    assert!(matches!(
        router.replace(twice),
        Err(ringroute::Error::DuplicateNode(_))
    ));
    assert_eq!(router.snapshot().version(), before.version());

    let mut next: Vec<(String, f64, ())> = names(4).into_iter().map(|n| (n, 1.0, ())).collect();
    next.retain(|(n, _, _)| n != "node-00" || node == "node-00");
    next.push(("node-07".into(), 2.0, ()));
    router.replace(next.clone()).unwrap();
    let snap = router.snapshot();
    let have: HashSet<String> = snap
        .nodes()
        .iter()
        .map(|(_, n)| n.name_lossy().into_owned())
        .collect();
    let want: HashSet<String> = next.iter().map(|(n, _, _)| n.clone()).collect();
    assert_eq!(have, want);
    // The leased node survived and still counts the request.
    assert_eq!(
        snap.stats(snap.index_of(&node).unwrap())
            .unwrap()
            .in_flight(),
        1
    );
    lease.success(SECOND);
    assert_eq!(
        snap.stats(snap.index_of(&node).unwrap())
            .unwrap()
            .in_flight(),
        0
    );
}

#[test]
fn failover_walks_distinct_healthy_replicas() {
    let clock = Arc::new(ManualClock::default());
    let router = router_with(6, &clock);
    router.mark_down("node-02").unwrap();
    let snap = router.snapshot();
    for k in keys().iter().take(200) {
        let order: Vec<NodeIndex> = snap.failover(k).collect();
        assert_eq!(order.len(), 5);
        assert_eq!(order.iter().collect::<HashSet<_>>().len(), 5);
        assert_eq!(Some(order[0]), snap.route(k));
        assert!(
            order
                .iter()
                .all(|&i| snap.health(i) == Some(NodeHealth::Up))
        );
    }
}

#[test]
fn bounded_loads_cap_in_flight_requests() {
    let router: Router = names(4)
        .iter()
        .fold(Router::builder(), |b, n| b.node(n, 1.0))
        .bounded_loads(1.25)
        .build()
        .unwrap();
    // Every request for one hot key: the bound spreads them anyway.
    let leases: Vec<_> = (0..100).map(|_| router.lease("hot").unwrap()).collect();
    let mut per_node: HashMap<NodeIndex, u32> = HashMap::new();
    for l in &leases {
        *per_node.entry(l.node()).or_default() += 1;
    }
    assert!(per_node.values().all(|&c| c <= 32), "{per_node:?}"); // ⌈1.25 · 100 / 4⌉
    assert!(per_node.len() >= 4);
}

/// Readers on every core while a writer churns membership: every answer
/// belongs to a published snapshot (its version's member set), every node
/// returned is up in it, and no panic escapes.
#[test]
fn readers_race_a_churning_writer() {
    let router: Router = names(16)
        .iter()
        .fold(Router::builder(), |b, n| b.node(n, 1.0))
        .build()
        .unwrap();
    let published: Arc<parking_lot::Mutex<HashMap<u64, HashSet<Vec<u8>>>>> = Arc::default();
    let record = |r: &Router, log: &parking_lot::Mutex<HashMap<u64, HashSet<Vec<u8>>>>| {
        let snap = r.snapshot();
        let set = snap
            .nodes()
            .iter()
            .map(|(_, n)| n.name().to_vec())
            .collect();
        log.lock().insert(snap.version(), set);
    };
    record(&router, &published);
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_millis(1500);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);

    let readers: Vec<_> = (0..threads)
        .map(|t| {
            let (router, stop) = (router.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = router.snapshot();
                    let key = format!("t{t}-{i}");
                    if let Some(n) = snap.route(&key) {
                        assert_eq!(snap.health(n), Some(NodeHealth::Up));
                        seen.push((snap.version(), snap.node(n).unwrap().name().to_vec()));
                    }
                    assert!(router.route(&key).is_some());
                    if let Some(lease) = router.lease(&key) {
                        lease.success(Duration::from_micros(i % 500));
                    }
                    i += 1;
                }
                seen
            })
        })
        .collect();

    // Only this thread publishes, so recording right after each change
    // captures every version.
    let mut step = 0u32;
    while Instant::now() < deadline {
        let name = format!("extra-{}", step % 8);
        if router.add(&name, 1.0 + f64::from(step % 3)).is_err() {
            router.remove(&name).unwrap();
        }
        record(&router, &published);
        if step % 5 == 0 {
            router
                .set_weight("node-03", 0.5 + f64::from(step % 4))
                .unwrap();
            record(&router, &published);
        }
        step += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let log = published.lock();
    let mut answers = 0;
    for r in readers {
        for (version, node) in r.join().expect("reader panicked") {
            let members = log.get(&version).expect("answer from a published version");
            assert!(members.contains(&node));
            answers += 1;
        }
    }
    assert!(
        step > 100 && answers > 1000,
        "writer steps {step}, answers {answers}"
    );
    // Every lease ended: nothing is left in flight.
    let snap = router.snapshot();
    assert!(
        snap.nodes()
            .iter()
            .all(|(i, _)| snap.stats(i).unwrap().in_flight() == 0)
    );
}
