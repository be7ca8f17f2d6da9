//! Primary and backup tiers: backups stay idle while the primaries are up,
//! take the policy's spill share as primaries fail (strict: nothing until
//! all are down; proportional: `max(0, 1 − 1.4 × up share)`), keys that stay
//! on primaries do not move, and everything returns on recovery. For every
//! algorithm and picker.

use std::time::Duration;

use proptest::prelude::*;
use ringroute::NodeIndex;
use ringroute::router::{Algorithm, Change, PickerKind, Router, TierPolicy};

const KEYS: usize = 6000;

fn algorithms() -> Vec<Algorithm> {
    vec![
        Algorithm::default(),
        Algorithm::Jump,
        Algorithm::Rendezvous,
        Algorithm::Maglev { table_size: 1031 },
    ]
}

fn pickers() -> Vec<PickerKind> {
    vec![
        PickerKind::LeastConnections,
        PickerKind::WeightedRandom,
        PickerKind::RoundRobin,
        PickerKind::SmoothWeighted,
        PickerKind::LeastResponseTime {
            decay: Duration::from_secs(10),
        },
    ]
}

fn primary(i: usize) -> String {
    format!("primary-{i}")
}

fn backup(i: usize) -> String {
    format!("backup-{i}")
}

/// `primaries` equal primaries (tier 0) and `backups` backups (tier 1).
fn tiered(
    algorithm: Algorithm,
    picker: PickerKind,
    policy: TierPolicy,
    primaries: usize,
    backups: usize,
) -> Router {
    let mut b = Router::builder()
        .algorithm(algorithm)
        .picker(picker)
        .tier_policy(policy)
        .no_outlier_detection();
    for i in 0..primaries {
        b = b.node(&primary(i), 1.0);
    }
    for i in 0..backups {
        b = b.node_in_tier(&backup(i), 1.0, 1);
    }
    b.build().unwrap()
}

fn key(k: usize) -> String {
    format!("key:{k}")
}

/// Every key's owner by name in the current snapshot.
fn owners(router: &Router) -> Vec<String> {
    let snap = router.snapshot();
    (0..KEYS)
        .map(|k| {
            let node = snap.route(&key(k)).expect("a node is up");
            snap.node(node).unwrap().name_lossy().into_owned()
        })
        .collect()
}

fn is_backup(name: &str) -> bool {
    name.starts_with("backup-")
}

/// The policy's spill share with `up` of `n` equal primaries up (backups all up).
fn expected_spill(policy: TierPolicy, up: usize, n: usize) -> f64 {
    match policy {
        TierPolicy::Strict => {
            if up == 0 {
                1.0
            } else {
                0.0
            }
        }
        _ => (1.0 - 1.4 * up as f64 / n as f64).max(0.0),
    }
}

/// Five standard deviations of a share measured over `n` draws, plus slack
/// for shares of exactly 0 or 1 (which must then be met exactly).
fn tolerance(share: f64, n: usize) -> f64 {
    5.0 * (share * (1.0 - share) / n as f64).sqrt() + 1e-9
}

fn picks_on_backups(router: &Router, picks: usize) -> f64 {
    let snap = router.snapshot();
    let mut on_backups = 0;
    for _ in 0..picks {
        let lease = router.pick().expect("a node is up");
        if is_backup(&snap.node(lease.node()).unwrap().name_lossy()) {
            on_backups += 1;
        }
        lease.success(Duration::from_micros(10));
    }
    on_backups as f64 / picks as f64
}

fn policies() -> impl Strategy<Value = TierPolicy> {
    prop_oneof![Just(TierPolicy::Strict), Just(TierPolicy::proportional())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn with_every_primary_up_nothing_reaches_a_backup(
        algo in 0usize..4,
        pick in 0usize..5,
        policy in policies(),
        primaries in 1usize..9,
        backups in 1usize..4,
    ) {
        let router = tiered(
            algorithms()[algo].clone(),
            pickers()[pick].clone(),
            policy,
            primaries,
            backups,
        );
        let snap = router.snapshot();
        prop_assert!(snap.is_tiered());
        for k in 0..KEYS {
            let key = key(k);
            let node = snap.route(&key).unwrap();
            prop_assert!(!is_backup(&snap.node(node).unwrap().name_lossy()));
            prop_assert_eq!(snap.key_tier(&key), Some(0));
        }
        prop_assert_eq!(picks_on_backups(&router, 500), 0.0);
    }

    #[test]
    fn spill_share_follows_the_policy_and_recovery_restores_everything(
        algo in 0usize..4,
        pick in 0usize..5,
        policy in policies(),
        primaries in 2usize..9,
        down_frac in 0.0f64..=1.0,
    ) {
        let down = ((primaries as f64 * down_frac).round() as usize).min(primaries);
        let router = tiered(
            algorithms()[algo].clone(),
            pickers()[pick].clone(),
            policy,
            primaries,
            2,
        );
        let before = owners(&router);
        let failed: Vec<String> = (0..down).map(primary).collect();
        router
            .apply(failed.iter().map(Change::mark_down))
            .unwrap();
        let after = owners(&router);

        let spill = expected_spill(policy, primaries - down, primaries);
        let on_backups =
            after.iter().filter(|n| is_backup(n)).count() as f64 / KEYS as f64;
        prop_assert!(
            (on_backups - spill).abs() <= tolerance(spill, KEYS),
            "keys on backups {} vs spill {} ({} of {} down)",
            on_backups, spill, down, primaries
        );
        let shares = router.snapshot().tiers();
        prop_assert_eq!(shares.len(), 2);
        prop_assert!((shares[1].share - spill).abs() < 1e-9);
        let picked = picks_on_backups(&router, 4000);
        prop_assert!(
            (picked - spill).abs() <= tolerance(spill, 4000),
            "picks on backups {} vs spill {}", picked, spill
        );

        // Keys that stay on primaries do not move, unless their primary failed.
        for (b, a) in before.iter().zip(&after) {
            if !is_backup(a) && !failed.contains(b) {
                prop_assert_eq!(a, b);
            }
        }
        // All return on recovery.
        router.apply(failed.iter().map(Change::mark_up)).unwrap();
        prop_assert_eq!(owners(&router), before);
    }
}

#[test]
fn strict_spills_nothing_until_the_last_primary_is_down() {
    let router = tiered(
        Algorithm::default(),
        PickerKind::default(),
        TierPolicy::Strict,
        4,
        2,
    );
    let before = owners(&router);
    for i in 0..3 {
        router.mark_down(&primary(i)).unwrap();
        assert!(owners(&router).iter().all(|n| !is_backup(n)));
    }
    router.mark_down(&primary(3)).unwrap();
    assert!(owners(&router).iter().all(|n| is_backup(n)));
    assert_eq!(picks_on_backups(&router, 200), 1.0);
    for i in 0..4 {
        router.mark_up(&primary(i)).unwrap();
    }
    assert_eq!(owners(&router), before);
}

#[test]
fn a_spilled_key_never_changes_tier_while_health_is_unchanged() {
    let router = tiered(
        Algorithm::default(),
        PickerKind::default(),
        TierPolicy::proportional(),
        10,
        3,
    );
    for i in 0..6 {
        router.mark_down(&primary(i)).unwrap();
    }
    let first = owners(&router);
    let tiers: Vec<Option<u32>> = (0..KEYS)
        .map(|k| router.snapshot().key_tier(&key(k)))
        .collect();
    // A publication that changes no health (a membership snapshot rebuilt
    // with the same nodes, a tick) leaves every key where it was.
    router.set_weight(&primary(8), 1.0).unwrap();
    router.tick();
    assert_eq!(owners(&router), first);
    let snap = router.snapshot();
    let again: Vec<Option<u32>> = (0..KEYS).map(|k| snap.key_tier(&key(k))).collect();
    assert_eq!(again, tiers);
    let spilled = tiers.iter().filter(|t| **t == Some(1)).count() as f64 / KEYS as f64;
    assert!((spilled - 0.44).abs() < tolerance(0.44, KEYS), "{spilled}");
}

#[test]
fn each_tier_places_keys_as_a_router_of_its_nodes_alone() {
    // Inside its tier a key is placed by its plain hash, so the primaries
    // of a tiered ring route like an untiered ring of the primaries.
    let tiered = tiered(
        Algorithm::default(),
        PickerKind::default(),
        TierPolicy::Strict,
        5,
        3,
    );
    let plain: Router = (0..5)
        .fold(Router::builder(), |b, i| b.node(&primary(i), 1.0))
        .build()
        .unwrap();
    assert_eq!(owners(&tiered), owners(&plain));
    let backups_only: Router = (0..3)
        .fold(Router::builder(), |b, i| b.node(&backup(i), 1.0))
        .build()
        .unwrap();
    for i in 0..5 {
        tiered.mark_down(&primary(i)).unwrap();
    }
    assert_eq!(owners(&tiered), owners(&backups_only));
}

#[test]
fn every_node_in_tier_zero_routes_as_an_untiered_router() {
    for algorithm in algorithms() {
        let explicit: Router = (0..7)
            .fold(Router::builder().algorithm(algorithm.clone()), |b, i| {
                b.node_in_tier(&primary(i), 1.0, 0)
            })
            .build()
            .unwrap();
        let plain: Router = (0..7)
            .fold(Router::builder().algorithm(algorithm), |b, i| {
                b.node(&primary(i), 1.0)
            })
            .build()
            .unwrap();
        assert!(!explicit.snapshot().is_tiered());
        assert_eq!(owners(&explicit), owners(&plain));
    }
}

#[test]
fn failover_walks_the_keys_tier_first_then_the_next() {
    let router = tiered(
        Algorithm::default(),
        PickerKind::default(),
        TierPolicy::proportional(),
        4,
        3,
    );
    let snap = router.snapshot();
    for k in 0..500 {
        let key = key(k);
        let all = snap.route_n(&key, 7);
        assert_eq!(all.len(), 7);
        let tiers: Vec<u32> = all.iter().map(|&i| snap.node(i).unwrap().tier()).collect();
        assert_eq!(tiers, [0, 0, 0, 0, 1, 1, 1], "{key}");
        assert_eq!(all[0], snap.route(&key).unwrap());
        let walked: Vec<NodeIndex> = snap.failover(&key).collect();
        assert_eq!(&walked[..], &all[..]);
    }
    // A spilled key walks its backups first, then the primaries still up.
    for i in 0..3 {
        router.mark_down(&primary(i)).unwrap();
    }
    let snap = router.snapshot();
    let spilled = (0..KEYS)
        .map(key)
        .find(|k| snap.key_tier(k) == Some(1))
        .expect("with 1 of 4 up, 65% spill");
    let all = snap.route_n(&spilled, 8);
    let tiers: Vec<u32> = all.iter().map(|&i| snap.node(i).unwrap().tier()).collect();
    assert_eq!(tiers, [1, 1, 1, 0]);
    assert_eq!(all[0], snap.route(&spilled).unwrap());
}

#[test]
fn a_tier_change_is_a_membership_change() {
    let router = tiered(
        Algorithm::default(),
        PickerKind::default(),
        TierPolicy::Strict,
        3,
        1,
    );
    let before = owners(&router);
    // The backup becomes a primary: it takes its share, like a join.
    router.set_tier("backup-0", 0).unwrap();
    assert!(!router.snapshot().is_tiered());
    let promoted = owners(&router);
    assert!(promoted.iter().any(|n| n == "backup-0"));
    for (b, a) in before.iter().zip(&promoted) {
        assert!(a == b || a == "backup-0");
    }
    // And back, in a batch with a join straight into tier 2.
    router
        .apply([
            Change::set_tier("backup-0", 1),
            Change::add("standby-0", 1.0, ()),
            Change::set_tier("standby-0", 2),
        ])
        .unwrap();
    assert_eq!(owners(&router), before);
    let tiers: Vec<u32> = router.snapshot().tiers().iter().map(|t| t.tier).collect();
    assert_eq!(tiers, [0, 1, 2]);
    // Bad input changes nothing.
    let version = router.snapshot().version();
    assert!(router.set_tier("nobody", 1).is_err());
    assert!(
        router
            .apply([Change::set_tier("backup-0", 0), Change::set_tier("zz", 1)])
            .is_err()
    );
    assert_eq!(router.snapshot().version(), version);
    assert_eq!(owners(&router), before);
}

#[test]
fn three_tiers_spill_in_order() {
    let router: Router = Router::builder()
        .tier_policy(TierPolicy::Strict)
        .node("p", 1.0)
        .node_in_tier("b", 1.0, 1)
        .node_in_tier("c", 1.0, 7)
        .build()
        .unwrap();
    let only = |name: &str| owners(&router).iter().all(|n| n == name);
    assert!(only("p"));
    router.mark_down("p").unwrap();
    assert!(only("b"));
    router.mark_down("b").unwrap();
    assert!(only("c"));
    router.mark_down("c").unwrap();
    assert_eq!(router.route("k"), None);
    assert!(router.pick().is_none());
    router.mark_up("b").unwrap();
    assert!(only("b"));
}

#[test]
fn a_bad_overprovisioning_factor_is_refused() {
    let built = Router::<()>::builder()
        .tier_policy(TierPolicy::Proportional {
            overprovisioning: 0.0,
        })
        .node("a", 1.0)
        .build();
    assert!(built.is_err());
}

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[test]
fn tiered_lookups_do_not_allocate() {
    let router = tiered(
        Algorithm::default(),
        PickerKind::default(),
        TierPolicy::proportional(),
        10,
        3,
    );
    for i in 0..5 {
        router.mark_down(&primary(i)).unwrap();
    }
    let keys: Vec<String> = (0..2000).map(key).collect();
    let _ = router.route("warm-up");
    let mut out = [NodeIndex::new(0); 8];
    let mut sink = 0usize;
    let count = counting_alloc::allocations_during(|| {
        for k in &keys {
            sink += router.route(k).unwrap().as_usize();
            sink += router.route_n(k, 3).len();
            let snap = router.snapshot();
            sink += snap.route_n_into(k, &mut out);
            sink += snap.failover(k).take(4).count();
            router.pick().unwrap().success(Duration::from_micros(20));
            let lease = router.lease(k).unwrap();
            sink += lease.node().as_usize();
            lease.success(Duration::from_micros(50));
        }
    });
    assert_eq!(count, 0, "tiered routing allocated {count} times");
    std::hint::black_box(sink);
}
