//! Bad input gets a clear error and loses nothing.

use ringroute::place::ring::{MAX_POINTS, MAX_VNODES};
use ringroute::{Error, NodeState, Ring};

/// Everything observable about a ring, to compare before and after a refused call.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    len: usize,
    up: usize,
    points: usize,
    placement: Vec<(u64, u32)>,
    nodes: Vec<(String, f64, NodeState)>,
}

fn fingerprint(ring: &Ring) -> Fingerprint {
    Fingerprint {
        len: ring.len(),
        up: ring.up_count(),
        points: ring.point_count(),
        placement: ring.points().map(|(p, i)| (p, i.get())).collect(),
        nodes: ring
            .iter()
            .map(|(_, n)| (n.name_lossy().into_owned(), n.weight(), n.state()))
            .collect(),
    }
}

fn sample() -> Ring {
    Ring::builder()
        .node("a", 1.0)
        .node("b", 2.0)
        .build()
        .unwrap()
}

#[test]
fn empty_ring_answers_none_and_says_why() {
    let ring: Ring = Ring::new();
    assert_eq!(ring.route("k"), None);
    assert_eq!(ring.route_n("k", 3).len(), 0);
    assert_eq!(ring.replicas("k").count(), 0);
    assert_eq!(ring.try_route("k"), Err(Error::EmptyRing));
    assert!(ring.ownership().is_empty());
}

#[test]
fn all_down_answers_none_and_says_why() {
    let mut ring = sample();
    ring.mark_down("a").unwrap();
    ring.mark_down("b").unwrap();
    assert_eq!(ring.route("k"), None);
    assert_eq!(ring.try_route("k"), Err(Error::NoNodeUp));
    assert_eq!(ring.route_n("k", 2).len(), 0);
    assert_eq!(ring.replicas("k").count(), 0);
    ring.mark_up("b").unwrap();
    assert_eq!(ring.route("k"), ring.index_of("b"));
}

#[test]
fn bad_weights_are_refused_and_change_nothing() {
    let mut ring = sample();
    let before = fingerprint(&ring);
    for w in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(
            matches!(ring.add("c", w), Err(Error::InvalidWeight(_))),
            "add {w}"
        );
        assert!(
            matches!(ring.set_weight("a", w), Err(Error::InvalidWeight(_))),
            "set {w}"
        );
        let built = Ring::<()>::builder().node("x", w).build();
        assert!(matches!(built, Err(Error::InvalidWeight(_))), "build {w}");
    }
    assert_eq!(fingerprint(&ring), before);
    // A tiny but valid weight still gets its one point.
    ring.add("tiny", 1e-12).unwrap();
    assert_eq!(ring.point_count(), before.points + 1);
}

#[test]
fn absurd_sizes_are_refused() {
    assert_eq!(
        Ring::<()>::with_vnodes(0).unwrap_err(),
        Error::InvalidVnodes(0)
    );
    assert!(Ring::<()>::with_vnodes(MAX_VNODES).is_ok());
    assert!(matches!(
        Ring::<()>::with_vnodes(MAX_VNODES + 1),
        Err(Error::InvalidVnodes(_))
    ));
    assert!(matches!(
        Ring::<()>::builder()
            .vnodes(u32::MAX)
            .node("a", 1.0)
            .build(),
        Err(Error::InvalidVnodes(_))
    ));

    let mut ring = sample();
    let before = fingerprint(&ring);
    let huge = MAX_POINTS as f64; // × 160 vnodes: far past the cap
    assert!(matches!(
        ring.add("c", huge),
        Err(Error::TooManyPoints { .. })
    ));
    assert!(matches!(
        ring.set_weight("a", huge),
        Err(Error::TooManyPoints { .. })
    ));
    assert!(matches!(
        ring.add("c", f64::MAX),
        Err(Error::TooManyPoints { .. })
    ));
    assert_eq!(fingerprint(&ring), before);
    // The sum of many legal nodes is capped too.
    let per_node = (MAX_POINTS / 2 + 1) as f64 / 160.0;
    let built = Ring::<()>::builder()
        .node("a", per_node)
        .node("b", per_node)
        .build();
    assert!(matches!(built, Err(Error::TooManyPoints { .. })));
}

#[test]
fn unknown_duplicate_and_empty_names() {
    let mut ring = sample();
    let before = fingerprint(&ring);
    assert_eq!(
        ring.add("a", 1.0),
        Err(Error::DuplicateNode(b"a".as_slice().into()))
    );
    assert_eq!(ring.add("", 1.0), Err(Error::EmptyName));
    assert_eq!(
        ring.remove("zz").unwrap_err(),
        Error::UnknownNode(b"zz".as_slice().into())
    );
    assert!(matches!(
        ring.set_weight("zz", 1.0),
        Err(Error::UnknownNode(_))
    ));
    assert!(matches!(ring.mark_down("zz"), Err(Error::UnknownNode(_))));
    assert!(matches!(ring.mark_up("zz"), Err(Error::UnknownNode(_))));
    assert!(matches!(
        Ring::<()>::builder().node("a", 1.0).node("a", 2.0).build(),
        Err(Error::DuplicateNode(_))
    ));
    assert_eq!(fingerprint(&ring), before);
    // Messages name the problem.
    assert_eq!(
        ring.add("a", 1.0).unwrap_err().to_string(),
        "duplicate node \"a\""
    );
    assert!(ring.add("c", -2.0).unwrap_err().to_string().contains("-2"));
}

#[test]
fn binary_names_and_keys_work() {
    let mut ring: Ring = Ring::new();
    ring.add(&[0xff, 0x00, 0xfe][..], 1.0).unwrap();
    ring.add(b"plain", 1.0).unwrap();
    assert!(ring.route(&[0u8; 0][..]).is_some());
    assert!(ring.route(&[0xffu8; 40][..]).is_some());
    assert_eq!(ring.get(&[0xff, 0x00, 0xfe][..]).unwrap().name_str(), None);
    ring.remove(&[0xff, 0x00, 0xfe][..]).unwrap();
    assert_eq!(ring.len(), 1);
}

#[test]
fn removed_slots_are_reused_and_indices_of_others_stay() {
    let mut ring: Ring = Ring::new();
    let a = ring.add("a", 1.0).unwrap();
    let b = ring.add("b", 1.0).unwrap();
    let c = ring.add("c", 1.0).unwrap();
    let removed = ring.remove("b").unwrap();
    assert_eq!(removed.name(), b"b");
    assert_eq!(ring.index_of("a"), Some(a));
    assert_eq!(ring.index_of("c"), Some(c));
    assert_eq!(ring.add("d", 1.0).unwrap(), b);
    assert_eq!(ring.point_count(), 3 * 160);
}

#[test]
fn payloads_travel_with_nodes() {
    let mut ring: Ring<&'static str> = Ring::new();
    ring.add_with("a", 1.0, "10.0.0.1:80").unwrap();
    ring.add_with("b", 1.0, "10.0.0.2:80").unwrap();
    let node = ring.route_node("k").unwrap();
    assert!(node.payload().starts_with("10.0.0."));
    *ring.payload_mut("a").unwrap() = "10.9.9.9:80";
    assert_eq!(ring.remove("a").unwrap().into_payload(), "10.9.9.9:80");
}
