//! Non-sticky picks through the router: each configured picker, fed by the
//! router's own lease accounting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ringroute::health::ManualClock;
use ringroute::router::{NodeHealth, PickerKind, Router};

fn router(kind: PickerKind, weights: &[f64], clock: &Arc<ManualClock>) -> Router {
    weights
        .iter()
        .enumerate()
        .fold(Router::builder(), |b, (i, w)| b.node(&format!("n{i}"), *w))
        .picker(kind)
        .clock(clock.clone())
        .no_outlier_detection()
        .build()
        .unwrap()
}

fn name(r: &Router, lease: &ringroute::router::Lease<'_, ()>) -> String {
    r.snapshot()
        .node(lease.node())
        .unwrap()
        .name_lossy()
        .into_owned()
}

const ALL: [fn() -> PickerKind; 5] = [
    || PickerKind::LeastConnections,
    || PickerKind::LeastResponseTime {
        decay: Duration::from_secs(10),
    },
    || PickerKind::WeightedRandom,
    || PickerKind::RoundRobin,
    || PickerKind::SmoothWeighted,
];

#[test]
fn every_picker_skips_down_and_ejected_nodes() {
    let clock = Arc::new(ManualClock::default());
    for kind in ALL {
        let r = router(kind(), &[1.0, 2.0, 1.0, 3.0], &clock);
        r.mark_down("n1").unwrap();
        r.mark_down("n3").unwrap();
        for _ in 0..500 {
            let lease = r.pick().expect("two nodes are up");
            let n = name(&r, &lease);
            assert!(n == "n0" || n == "n2", "{:?} picked {n}", kind());
            lease.success(Duration::from_millis(1));
        }
        r.mark_down("n0").unwrap();
        r.mark_down("n2").unwrap();
        assert!(r.pick().is_none(), "{:?} picked with all down", kind());
    }
}

#[test]
fn smooth_weighted_is_nginx_sequence() {
    let clock = Arc::new(ManualClock::default());
    let r = router(PickerKind::SmoothWeighted, &[5.0, 1.0, 1.0], &clock);
    let seq: Vec<String> = (0..7).map(|_| name(&r, &r.pick().unwrap())).collect();
    assert_eq!(seq, ["n0", "n0", "n1", "n0", "n2", "n0", "n0"]);
}

#[test]
fn least_connections_avoids_busy_nodes() {
    let clock = Arc::new(ManualClock::default());
    let r = router(PickerKind::LeastConnections, &[1.0; 4], &clock);
    // Pin 50 requests on n0 and keep them in flight.
    let snap = r.snapshot();
    let n0 = snap.index_of("n0").unwrap();
    let busy: Vec<_> = (0..50).map(|_| r.start_on(&snap, n0).unwrap()).collect();
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..3000 {
        let lease = r.pick().unwrap();
        *counts.entry(name(&r, &lease)).or_default() += 1;
    } // each lease ends at once, so the others stay idle
    // P2C picks n0 only when both candidates are n0: never, as they are distinct.
    assert_eq!(counts.get("n0"), None, "{counts:?}");
    drop(busy);
    assert_eq!(snap.stats(n0).unwrap().in_flight(), 0);
}

#[test]
fn least_response_time_prefers_the_fast_node_and_forgets_with_time() {
    let clock = Arc::new(ManualClock::default());
    let r = router(
        PickerKind::LeastResponseTime {
            decay: Duration::from_secs(10),
        },
        &[1.0; 2],
        &clock,
    );
    let snap = r.snapshot();
    let (n0, n1) = (snap.index_of("n0").unwrap(), snap.index_of("n1").unwrap());
    for _ in 0..20 {
        r.start_on(&snap, n0)
            .unwrap()
            .success(Duration::from_millis(2));
        r.start_on(&snap, n1)
            .unwrap()
            .success(Duration::from_millis(200));
        clock.advance(Duration::from_millis(100));
    }
    let fast = (0..200).filter(|_| r.pick().unwrap().node() == n0).count();
    assert_eq!(fast, 200, "with two nodes P2C compares both every time");
    // A latency spike on n0 is taken at once (peak), so n1 wins now.
    r.start_on(&snap, n0)
        .unwrap()
        .success(Duration::from_secs(2));
    assert_eq!(r.pick().unwrap().node(), n1);
    // Minutes later the spike has decayed below n1's 200 ms.
    clock.advance(Duration::from_secs(120));
    r.start_on(&snap, n1)
        .unwrap()
        .success(Duration::from_millis(200));
    assert_eq!(r.pick().unwrap().node(), n0);
}

#[test]
fn weighted_random_follows_weights() {
    let clock = Arc::new(ManualClock::default());
    let r = router(PickerKind::WeightedRandom, &[1.0, 2.0, 5.0], &clock);
    let n = 80_000u32;
    let mut counts = [0u32; 3];
    let snap = r.snapshot();
    for _ in 0..n {
        let node = r.pick().unwrap().node();
        let i: usize = snap.node(node).unwrap().name_str().unwrap()[1..]
            .parse()
            .unwrap();
        counts[i] += 1;
    }
    for (i, w) in [1.0, 2.0, 5.0].iter().enumerate() {
        let p = w / 8.0;
        let expected = f64::from(n) * p;
        let sd = (expected * (1.0 - p)).sqrt();
        assert!(
            (f64::from(counts[i]) - expected).abs() < 5.0 * sd,
            "{counts:?}"
        );
    }
}

#[test]
fn picks_feed_outlier_detection() {
    let clock = Arc::new(ManualClock::default());
    let r: Router = Router::builder()
        .node("a", 1.0)
        .node("b", 1.0)
        .picker(PickerKind::RoundRobin)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut failed = 0;
    while r.health("a") == Some(NodeHealth::Up) {
        let lease = r.pick().unwrap();
        if name(&r, &lease) == "a" {
            lease.failure();
            failed += 1;
        } else {
            lease.success(Duration::from_millis(1));
        }
        assert!(failed <= 5);
    }
    assert_eq!((failed, r.health("a")), (5, Some(NodeHealth::Ejected)));
    assert!((0..20).all(|_| name(&r, &r.pick().unwrap()) == "b"));
}

#[test]
fn zero_decay_is_refused() {
    let built: Result<Router, _> = Router::builder()
        .node("a", 1.0)
        .picker(PickerKind::LeastResponseTime {
            decay: Duration::ZERO,
        })
        .build();
    assert!(built.is_err());
}
