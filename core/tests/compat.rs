//! Compatibility modes through the Router: key hashing by the mode, down
//! nodes handled as the peer does (rebuild over the live servers, or walk
//! on), failover order, and bad settings refused.

use ringroute::Error;
use ringroute::place::compat::{HashKind, Libmemcached, Mode, Twemproxy, Uhashring};
use ringroute::router::{Algorithm, NodeHealth, Router};

fn router(mode: &Mode, nodes: &[(&str, f64)]) -> Router {
    let mut b = Router::builder().algorithm(Algorithm::Compat(mode.clone()));
    for (n, w) in nodes {
        b = b.node(*n, *w);
    }
    b.build().unwrap()
}

fn name(r: &Router, key: &str) -> String {
    let s = r.snapshot();
    let i = s.route(key).unwrap();
    s.node(i).unwrap().name_lossy().into_owned()
}

const POOL: [(&str, f64); 5] = [
    ("10.0.0.1:11211", 1.0),
    ("10.0.0.2:11211", 6.0),
    ("10.0.0.3:11212", 6.0),
    ("10.0.0.4:11211", 6.0),
    ("10.0.0.5:11213", 6.0),
];

fn all_modes() -> Vec<Mode> {
    Mode::names()
        .iter()
        .map(|n| Mode::from_name(n).unwrap())
        .collect()
}

fn unit_pool() -> Vec<(&'static str, f64)> {
    POOL.iter().map(|(n, _)| (*n, 1.0)).collect()
}

/// Where the peer ejects a server and rebuilds (libmemcached auto-eject,
/// twemproxy, uhashring, Envoy, Dubbo, jump over a live list), marking a
/// node down routes every key exactly as a fresh build without it.
#[test]
fn down_node_rebuilds_like_the_peer() {
    for mode in all_modes().into_iter().filter(Mode::rebuilds_on_down) {
        let pool = unit_pool();
        let r = router(&mode, &pool);
        r.mark_down("10.0.0.3:11212").unwrap();
        let without: Vec<_> = pool
            .iter()
            .copied()
            .filter(|(n, _)| *n != "10.0.0.3:11212")
            .collect();
        let fresh = router(&mode, &without);
        for k in 0..2000 {
            let key = format!("key-{k}");
            assert_eq!(name(&r, &key), name(&fresh, &key), "{} {key}", mode.name());
        }
        // Up again: back to the full build.
        r.mark_up("10.0.0.3:11212").unwrap();
        let full = router(&mode, &pool);
        for k in 0..500 {
            let key = format!("key-{k}");
            assert_eq!(name(&r, &key), name(&full, &key), "{}", mode.name());
        }
    }
}

/// nginx and gRPC walk on: only the down node's keys move, to the next
/// point's node.
#[test]
fn down_node_walks_on_for_nginx_and_grpc() {
    for mode in all_modes().into_iter().filter(|m| !m.rebuilds_on_down()) {
        let pool = unit_pool();
        let r = router(&mode, &pool);
        let before: Vec<String> = (0..2000).map(|k| name(&r, &format!("k{k}"))).collect();
        r.mark_down("10.0.0.2:11211").unwrap();
        let s = r.snapshot();
        for (k, was) in before.iter().enumerate() {
            let key = format!("k{k}");
            let now = name(&r, &key);
            if was != "10.0.0.2:11211" {
                assert_eq!(&now, was, "{}", mode.name());
            } else {
                assert_ne!(now, "10.0.0.2:11211");
                // The walk's next node is the second of the full failover.
                let full = router(&mode, &pool);
                let fs = full.snapshot();
                let order: Vec<_> = fs.failover(&key).take(2).collect();
                assert_eq!(fs.node(order[1]).unwrap().name_lossy(), now);
            }
        }
        assert_eq!(
            s.health(s.index_of("10.0.0.2:11211").unwrap()),
            Some(NodeHealth::Down)
        );
    }
}

/// libmemcached's replicas go to the next server index, not the next point.
#[test]
fn libmemcached_failover_takes_the_next_server() {
    let mode = Mode::Libmemcached(Libmemcached::weighted());
    let r = router(&mode, &POOL);
    let s = r.snapshot();
    for k in 0..200 {
        let key = format!("r{k}");
        let got = s.route_n(&key, 3);
        let first = got[0].get();
        assert_eq!(got[1].get(), (first + 1) % 5);
        assert_eq!(got[2].get(), (first + 2) % 5);
    }
}

#[test]
fn every_mode_routes_with_its_own_key_hash_and_fails_over_distinctly() {
    for mode in all_modes() {
        let r = router(&mode, &unit_pool());
        let s = r.snapshot();
        for k in 0..100 {
            let key = format!("{k}");
            let primary = s.route(&key).unwrap();
            assert_eq!(s.route_hash(s.key_hash(&key)), Some(primary));
            let all: Vec<_> = s.failover(&key).collect();
            assert_eq!(all[0], primary, "{}", mode.name());
            assert_eq!(all.len(), 5, "{}", mode.name());
            let mut sorted = all.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 5);
        }
    }
}

#[test]
fn bad_weights_and_settings_are_refused() {
    let lm = Algorithm::Compat(Mode::Libmemcached(Libmemcached::weighted()));
    let err = Router::<()>::builder()
        .algorithm(lm.clone())
        .node("a:1", 1.5)
        .build()
        .err();
    assert_eq!(err, Some(Error::InvalidWeight(1.5)));
    let r: Router = Router::builder()
        .algorithm(lm)
        .node("a:1", 1.0)
        .build()
        .unwrap();
    assert!(r.add("b:1", 0.5).is_err());
    assert_eq!(r.snapshot().nodes().len(), 1);
    let jump = Algorithm::Compat(Mode::GoJump);
    assert!(
        Router::<()>::builder()
            .algorithm(jump)
            .node("a", 2.0)
            .build()
            .is_err()
    );
    let maglev = Algorithm::Compat(Mode::EnvoyMaglev { table_size: 8 });
    assert!(Router::<()>::builder().algorithm(maglev).build().is_err());
    let ring = Algorithm::Compat(Mode::EnvoyRingHash {
        min_ring_size: 10,
        max_ring_size: 5,
    });
    assert!(Router::<()>::builder().algorithm(ring).build().is_err());
    let u = Algorithm::Compat(Mode::Uhashring(Uhashring {
        ketama: true,
        vnodes: 40,
        replicas: 5,
    }));
    assert!(Router::<()>::builder().algorithm(u).build().is_err());
}

#[test]
fn twemproxy_hash_tag_routes_tagged_keys_together() {
    let mode = Mode::Twemproxy(Twemproxy {
        hash: HashKind::Fnv1a64,
        hash_tag: Some(*b"{}"),
    });
    let r = router(&mode, &unit_pool());
    for k in 0..200 {
        assert_eq!(name(&r, &format!("a{k}:{{user7}}")), name(&r, "{user7}"));
    }
}

#[test]
fn jumps_differ_where_documented() {
    let nodes: Vec<String> = (0..10_000).map(|i| format!("n{i}")).collect();
    for (mode, want) in [(Mode::GoJump, "n8191"), (Mode::GuavaJump, "n8192")] {
        let mut b = Router::<()>::builder().algorithm(Algorithm::Compat(mode));
        for n in &nodes {
            b = b.node(n.as_str(), 1.0);
        }
        let r = b.build().unwrap();
        assert_eq!(name(&r, "17383871170317656123"), want);
    }
}

/// libmemcached turns weighting on when a server weighing more than 1 is
/// added, and keeps it when that server is ejected: the rebuild over the
/// live servers stays weighted.
#[test]
fn libmemcached_stays_weighted_when_the_heavy_server_is_down() {
    let unweighted = Mode::Libmemcached(Libmemcached::unweighted());
    let r = router(
        &unweighted,
        &[("a:11211", 1.0), ("b:11211", 2.0), ("c:11211", 1.0)],
    );
    r.mark_down("b:11211").unwrap();
    let weighted = Mode::Libmemcached(Libmemcached {
        key_hash: HashKind::OneAtATime,
        ..Libmemcached::weighted()
    });
    let fresh = router(&weighted, &[("a:11211", 1.0), ("c:11211", 1.0)]);
    let plain = router(&unweighted, &[("a:11211", 1.0), ("c:11211", 1.0)]);
    let mut differs = false;
    for k in 0..2000 {
        let key = format!("k{k}");
        assert_eq!(name(&r, &key), name(&fresh, &key));
        differs |= name(&fresh, &key) != name(&plain, &key);
    }
    assert!(
        differs,
        "the weighted and unweighted continuums must differ for this test"
    );
}
