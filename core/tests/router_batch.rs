//! Batch membership updates (`Router::apply`): all or nothing, one snapshot,
//! and the same end state as the changes applied one by one, for every
//! algorithm.

use proptest::prelude::*;
use ringroute::router::{Algorithm, Change, NodeHealth, Router};
use ringroute::{Error, NodeState};

fn algorithms() -> Vec<Algorithm> {
    vec![
        Algorithm::default(),
        Algorithm::Jump,
        Algorithm::Rendezvous,
        Algorithm::Maglev { table_size: 1031 },
    ]
}

fn router(algorithm: Algorithm, n: usize) -> Router {
    (0..n)
        .fold(Router::builder().algorithm(algorithm), |b, i| {
            b.node(&format!("node-{i}"), 1.0)
        })
        .build()
        .unwrap()
}

/// Every key's owner, by name, in one snapshot.
fn placement(router: &Router) -> Vec<Option<String>> {
    let snap = router.snapshot();
    (0..2000)
        .map(|k| {
            snap.route(&format!("k{k}"))
                .map(|i| snap.node(i).unwrap().name_lossy().into_owned())
        })
        .collect()
}

fn members(router: &Router) -> Vec<(String, f64, NodeState, u32)> {
    let snap = router.snapshot();
    let mut all: Vec<_> = snap
        .nodes()
        .iter()
        .map(|(_, n)| (n.name_lossy().into_owned(), n.weight(), n.state(), n.tier()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Applies one change through the one-at-a-time API.
fn apply_one(router: &Router, change: Change<()>) -> ringroute::Result<()> {
    match change {
        Change::Add { name, weight, .. } => router.add(&name, weight).map(drop),
        Change::Remove { name } => router.remove(&name),
        Change::SetWeight { name, weight } => router.set_weight(&name, weight),
        Change::SetState { name, state } => match state {
            NodeState::Up => router.mark_up(&name),
            NodeState::Down => router.mark_down(&name),
        },
        Change::SetTier { name, tier } => router.set_tier(&name, tier),
    }
}

#[test]
fn a_batch_is_one_snapshot() {
    for algorithm in algorithms() {
        let r = router(algorithm.clone(), 6);
        let before = r.snapshot().version();
        r.apply([
            Change::add("node-6", 1.0, ()),
            Change::add("node-7", 1.0, ()),
            Change::remove("node-0"),
            Change::mark_down("node-1"),
        ])
        .unwrap();
        let snap = r.snapshot();
        assert_eq!(snap.version(), before + 1, "{algorithm:?}");
        assert_eq!(snap.nodes().len(), 7);
        assert_eq!(r.health("node-1"), Some(NodeHealth::Down));
        assert!(snap.index_of("node-0").is_none());
    }
}

#[test]
fn a_bad_change_refuses_the_whole_batch() {
    for algorithm in algorithms() {
        let r = router(algorithm.clone(), 4);
        let (version, routes) = (r.snapshot().version(), placement(&r));
        let bad: Vec<Vec<Change<()>>> = vec![
            vec![Change::add("new", 1.0, ()), Change::remove("nobody")],
            vec![Change::remove("node-0"), Change::add("node-1", 1.0, ())],
            vec![
                Change::add("new", 1.0, ()),
                Change::set_weight("node-2", f64::NAN),
            ],
            vec![
                Change::mark_down("node-3"),
                Change::set_weight("node-2", -1.0),
            ],
            vec![Change::add("", 1.0, ())],
        ];
        for batch in bad {
            assert!(r.apply(batch).is_err(), "{algorithm:?}");
            assert_eq!(r.snapshot().version(), version);
            assert_eq!(placement(&r), routes);
        }
        let err = r.apply([Change::remove("ghost")]).unwrap_err();
        assert!(matches!(err, Error::UnknownNode(ref n) if &n[..] == b"ghost"));
    }
}

#[test]
fn an_empty_batch_changes_nothing_but_publishes() {
    let r = router(Algorithm::default(), 3);
    let routes = placement(&r);
    r.apply(Vec::new()).unwrap();
    assert_eq!(placement(&r), routes);
}

#[test]
fn nodes_that_stay_keep_their_counters() {
    let r = router(Algorithm::default(), 3);
    let lease = r.lease("some key").unwrap();
    let node = lease.node();
    let name = r.snapshot().node(node).unwrap().name().to_vec();
    let other = (0..3)
        .map(|i| format!("node-{i}"))
        .find(|n| n.as_bytes() != name.as_slice())
        .unwrap();
    r.apply([Change::remove(&other), Change::add("node-9", 1.0, ())])
        .unwrap();
    let snap = r.snapshot();
    let index = snap.index_of(&name).unwrap();
    assert_eq!(snap.stats(index).unwrap().in_flight(), 1);
    drop(lease);
    assert_eq!(r.snapshot().stats(index).unwrap().in_flight(), 0);
}

fn change() -> impl Strategy<Value = Change<()>> {
    let name = (0..12u8).prop_map(|i| format!("node-{i}"));
    prop_oneof![
        (name.clone(), 1..4u8).prop_map(|(n, w)| Change::add(&n, f64::from(w), ())),
        name.clone().prop_map(|n| Change::remove(&n)),
        (name.clone(), 1..4u8).prop_map(|(n, w)| Change::set_weight(&n, f64::from(w) / 2.0)),
        name.clone().prop_map(|n| Change::mark_down(&n)),
        name.clone().prop_map(|n| Change::mark_up(&n)),
        (name, 0..3u32).prop_map(|(n, t)| Change::set_tier(&n, t)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A batch that succeeds ends where the same changes applied one by one
    /// end, and routes every key the same; a batch that fails changes nothing.
    #[test]
    fn batch_equals_one_by_one(alg in 0..4usize, changes in prop::collection::vec(change(), 0..10)) {
        let algorithm = algorithms()[alg].clone();
        let batched = router(algorithm.clone(), 6);
        let stepped = router(algorithm, 6);
        let before = (members(&batched), placement(&batched));
        let mut ok = true;
        for c in changes.clone() {
            if apply_one(&stepped, c).is_err() {
                ok = false;
                break;
            }
        }
        match batched.apply(changes) {
            Ok(()) => {
                prop_assert!(ok);
                prop_assert_eq!(members(&batched), members(&stepped));
                prop_assert_eq!(placement(&batched), placement(&stepped));
            }
            Err(_) => {
                prop_assert!(!ok);
                prop_assert_eq!((members(&batched), placement(&batched)), before);
            }
        }
    }
}

#[test]
fn snapshot_and_reader_route_many_equal_route() {
    for algorithm in algorithms() {
        let r = router(algorithm.clone(), 12);
        r.mark_down("node-4").unwrap();
        let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let snap = r.snapshot();
        let mut out = vec![None; keys.len()];
        snap.route_many(&keys, &mut out);
        let mut reader = r.reader();
        let mut via_reader = vec![None; keys.len()];
        reader.route_many(&keys, &mut via_reader);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(out[i], snap.route(k), "{algorithm:?}");
            assert_eq!(via_reader[i], snap.route(k), "{algorithm:?}");
        }
        let mut groups = ringroute::KeyGroups::new();
        snap.group(&keys, ringroute::GroupBy::Failover, &mut groups)
            .unwrap();
        let down = snap.index_of("node-4").unwrap();
        assert!(!groups.nodes().contains(&down));
        assert_eq!(groups.positions().len(), keys.len());
        snap.group(&keys, ringroute::GroupBy::Primary, &mut groups)
            .unwrap();
        assert!(groups.nodes().contains(&down), "{algorithm:?}");
    }
}

/// MementoHash places keys by the order buckets were removed in: a router
/// over jump must remember it through every membership change, exactly as
/// the single-threaded `Jump` cluster (incremental by construction) does.
#[test]
fn jump_routers_keep_the_memento_removal_order() {
    let names: Vec<String> = (0..12).map(|i| format!("node-{i}")).collect();
    let router: Router = names
        .iter()
        .fold(Router::builder().algorithm(Algorithm::Jump), |b, n| {
            b.node(n, 1.0)
        })
        .build()
        .unwrap();
    let mut cluster = ringroute::place::jump::Jump::<()>::with_placement(
        ringroute::place::jump::JumpIndex::new(),
    );
    for n in &names {
        cluster.add(n, 1.0).unwrap();
    }
    let same = |router: &Router, cluster: &ringroute::place::jump::Jump| {
        let snap = router.snapshot();
        (0..3000).all(|k| {
            let key = format!("k{k}");
            let a = snap
                .route(&key)
                .map(|i| snap.node(i).unwrap().name().to_vec());
            let b = cluster.route(&key).map(|i| cluster[i].name().to_vec());
            a == b
        })
    };
    for name in ["node-3", "node-11", "node-5", "node-7"] {
        router.remove(name).unwrap();
        cluster.remove(name).unwrap();
        assert!(same(&router, &cluster), "after removing {name}");
    }
    for name in ["late-1", "late-2"] {
        router.add(name, 1.0).unwrap();
        cluster.add(name, 1.0).unwrap();
        assert!(same(&router, &cluster), "after adding {name}");
    }
}

/// The two cases proptest found: a jump batch must fail where the same
/// changes one by one fail (a weight jump refuses, even if the node then
/// leaves), and must remove nodes in the batch's order (MementoHash's
/// placement depends on it).
#[test]
fn jump_batches_follow_the_order_of_their_changes() {
    let jump = algorithms()
        .into_iter()
        .find(|a| matches!(a, Algorithm::Jump))
        .expect("jump is among the algorithms");
    let batched = router(jump.clone(), 6);
    let before = (members(&batched), placement(&batched));
    let refused = batched.apply(vec![
        Change::set_weight("node-3", 1.5),
        Change::remove("node-3"),
    ]);
    assert!(
        refused.is_err(),
        "jump takes no weight but 1, even for a node about to leave"
    );
    assert_eq!(
        (members(&batched), placement(&batched)),
        before,
        "a refused batch changes nothing"
    );

    let stepped = router(jump, 6);
    stepped.remove("node-3").unwrap();
    stepped.remove("node-0").unwrap();
    batched
        .apply(vec![Change::remove("node-3"), Change::remove("node-0")])
        .unwrap();
    assert_eq!(placement(&batched), placement(&stepped));
    // And the restorations come back in LIFO order, as one by one.
    stepped.add("node-9", 1.0).unwrap();
    batched.apply(vec![Change::add("node-9", 1.0, ())]).unwrap();
    assert_eq!(placement(&batched), placement(&stepped));
}
