//! `RouterReader` answers exactly as the router's current snapshot does,
//! through every kind of change, for every placement, and for the keys its
//! cached all-up ring lookup does not decide (long keys, a node down,
//! another placement, an empty ring). Its `route_quick` (the C ABI's fast
//! path) is either that answer or `None`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringroute::place::compat::{Libmemcached, Mode};
use ringroute::router::{Algorithm, Router, RouterReader};

/// Short, empty, 128- and 129-byte (the quick path's limit) and long keys,
/// and enough of them that some land on a crowded bucket window.
fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..20_000)
        .map(|i| format!("user:{i}").into_bytes())
        .collect();
    keys.push(Vec::new());
    for len in [1, 16, 17, 127, 128, 129, 240, 241, 1000] {
        keys.push((0..len).map(|i| (i * 7 + len) as u8).collect());
    }
    keys
}

/// Checks every key through the reader (refreshing first) against the
/// router's current snapshot.
fn agrees(router: &Router, reader: &mut RouterReader<()>, keys: &[Vec<u8>], what: &str) {
    let snap = router.snapshot();
    let mut quick = 0;
    for key in keys {
        let want = snap.route(key);
        assert_eq!(reader.route(key), want, "{what}: route {key:?}");
        assert_eq!(
            reader.route_hash(snap.key_hash(key)),
            want,
            "{what}: route_hash {key:?}"
        );
        if let Some(node) = reader.route_quick(key) {
            assert_eq!(Some(node), want, "{what}: route_quick {key:?}");
            quick += 1;
        }
    }
    let ring_all_up = !snap.nodes().is_empty()
        && snap
            .nodes()
            .iter()
            .all(|(i, _)| snap.health(i) == Some(ringroute::router::NodeHealth::Up));
    if ring_all_up && what.starts_with("ring") {
        // The cached lookup decides nearly every short key.
        assert!(
            quick > keys.len() * 9 / 10,
            "{what}: only {quick} quick answers"
        );
    } else if !what.starts_with("ring") {
        assert_eq!(quick, 0, "{what}: no cached lookup for another placement");
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("node-{i}")).collect()
}

fn changes_keep_the_reader_exact(algorithm: Algorithm, what: &str) {
    let keys = keys();
    let router: Router = names(24)
        .iter()
        .fold(Router::builder().algorithm(algorithm), |b, n| {
            b.node(n, 1.0)
        })
        .build()
        .unwrap();
    let mut reader = router.reader();
    agrees(&router, &mut reader, &keys, &format!("{what} built"));
    router.mark_down("node-3").unwrap();
    agrees(&router, &mut reader, &keys, &format!("{what} one down"));
    router.mark_up("node-3").unwrap();
    agrees(&router, &mut reader, &keys, &format!("{what} up again"));
    router.add("node-new", 1.0).unwrap();
    agrees(&router, &mut reader, &keys, &format!("{what} added"));
    match router.set_weight("node-5", 3.0) {
        Ok(()) => agrees(&router, &mut reader, &keys, &format!("{what} reweighted")),
        Err(_) => assert_eq!(what, "jump", "only jump is unweighted"),
    }
    router.remove("node-7").unwrap();
    agrees(&router, &mut reader, &keys, &format!("{what} removed"));
    for n in names(24).iter().filter(|n| *n != "node-7") {
        router.remove(n).unwrap();
    }
    router.remove("node-new").unwrap();
    agrees(&router, &mut reader, &keys, &format!("{what} empty"));
    assert_eq!(reader.route("k"), None);
    router.add("alone", 1.0).unwrap();
    agrees(&router, &mut reader, &keys, &format!("{what} one node"));
}

#[test]
fn ring_reader_follows_every_change() {
    changes_keep_the_reader_exact(Algorithm::default(), "ring");
}

#[test]
fn other_placements_take_the_snapshot_path() {
    changes_keep_the_reader_exact(Algorithm::Jump, "jump");
    changes_keep_the_reader_exact(Algorithm::Rendezvous, "rendezvous");
    changes_keep_the_reader_exact(Algorithm::Maglev { table_size: 1031 }, "maglev");
    changes_keep_the_reader_exact(
        Algorithm::Compat(Mode::Libmemcached(Libmemcached::weighted())),
        "libmemcached",
    );
}

#[test]
fn tiered_ring_takes_the_snapshot_path() {
    let keys = keys();
    let mut b = Router::builder();
    for i in 0..6 {
        b = b.node(&format!("primary-{i}"), 1.0);
    }
    for i in 0..3 {
        b = b.node_in_tier(&format!("backup-{i}"), 1.0, 1);
    }
    let router: Router = b.build().unwrap();
    let mut reader = router.reader();
    agrees(&router, &mut reader, &keys, "tiered");
    for i in 0..5 {
        router.mark_down(&format!("primary-{i}")).unwrap();
    }
    agrees(&router, &mut reader, &keys, "tiered, primaries failing");
}

/// A reader on another thread while this one churns the membership: each
/// answer equals the snapshot's when no publication fell between the
/// reader's two epoch checks around it.
#[test]
fn reader_races_a_writer() {
    let router: Router = names(32)
        .iter()
        .fold(Router::builder(), |b, n| b.node(n, 1.0))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (router, stop) = (router.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reader = router.reader();
            let (mut checked, mut i) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) || checked < 1000 {
                let key = format!("k{i}");
                let before = reader.snapshot().clone();
                let node = reader.route(&key);
                let after = reader.snapshot().clone();
                if Arc::ptr_eq(&before, &after) {
                    assert_eq!(node, before.route(&key), "{key}");
                    checked += 1;
                }
                i += 1;
            }
            checked
        })
    };
    for step in 0..300u32 {
        let name = format!("extra-{}", step % 5);
        if router.add(&name, 1.0 + f64::from(step % 3)).is_err() {
            router.remove(&name).unwrap();
        }
        if step % 3 == 0 {
            let node = format!("node-{}", step % 32);
            if router.health(&node) == Some(ringroute::router::NodeHealth::Up) {
                router.mark_down(&node).unwrap();
            } else {
                router.mark_up(&node).unwrap();
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(thread.join().expect("reader panicked") >= 1000);
}

/// One membership or health change of [`reader_follows_random_changes`].
#[derive(Clone, Debug)]
enum Step {
    Add(u8, u8),
    Remove(u8),
    Down(u8),
    Up(u8),
    Weight(u8, u8),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..12, 1u8..5).prop_map(|(n, w)| Step::Add(n, w)),
        (0u8..12).prop_map(Step::Remove),
        (0u8..12).prop_map(Step::Down),
        (0u8..12).prop_map(Step::Up),
        (0u8..12, 1u8..5).prop_map(|(n, w)| Step::Weight(n, w)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random changes (some refused: unknown or duplicate nodes), short and
    /// long node names, random keys: after every step the reader answers
    /// as the router's snapshot does, and its quick path never disagrees.
    #[test]
    fn reader_follows_random_changes(
        steps in proptest::collection::vec(step(), 1..24),
        keys in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..140), 1..64),
    ) {
        let name = |n: u8| if n % 2 == 0 { format!("{}", n) } else { format!("node-{n}.example:11211") };
        let router: Router = Router::builder().node("seed", 1.0).build().unwrap();
        let mut reader = router.reader();
        for step in steps {
            // Refusals are part of the test: the reader must follow what
            // was published, whatever was refused.
            let _ = match step {
                Step::Add(n, w) => router.add(&name(n), f64::from(w)).map(|_| ()),
                Step::Remove(n) => router.remove(&name(n)),
                Step::Down(n) => router.mark_down(&name(n)),
                Step::Up(n) => router.mark_up(&name(n)),
                Step::Weight(n, w) => router.set_weight(&name(n), f64::from(w)),
            };
            let snap = router.snapshot();
            for key in &keys {
                let want = snap.route(key);
                proptest::prop_assert_eq!(reader.route(key), want);
                if let Some(node) = reader.route_quick(key) {
                    proptest::prop_assert_eq!(Some(node), want);
                }
            }
        }
    }
}
