//! The native ring spec v2 golden vectors (`tests/data/native-ring-v2.json`),
//! computed by an independent model of the spec. The C and Python suites
//! check the same file.

use ringroute::{NodeState, Ring, hash::key_hash, hash::point_hash};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cases() -> Vec<Value> {
    let text = include_str!("data/native-ring-v2.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn build(case: &Value, reversed: bool) -> Ring {
    let mut nodes: Vec<&Value> = case["nodes"].as_array().unwrap().iter().collect();
    if reversed {
        nodes.reverse();
    }
    let mut builder = Ring::builder().vnodes(case["vnodes"].as_u64().unwrap() as u32);
    for n in nodes {
        builder = builder.node(n["name"].as_str().unwrap(), n["weight"].as_f64().unwrap());
    }
    let mut ring = builder.build().unwrap();
    for down in case["down"].as_array().unwrap() {
        ring.set_state(down.as_str().unwrap(), NodeState::Down)
            .unwrap();
    }
    ring
}

fn check(case: &Value, ring: &Ring) {
    let name = case["name"].as_str().unwrap();
    assert_eq!(
        ring.point_count() as u64,
        case["ring_size"].as_u64().unwrap(),
        "{name}"
    );
    for n in case["nodes"].as_array().unwrap() {
        let node = n["name"].as_str().unwrap();
        let weight = n["weight"].as_f64().unwrap();
        assert_eq!(
            u64::from(ring.points_for(weight).unwrap()),
            n["points"].as_u64().unwrap(),
            "{name}: points of {node}"
        );
        for (j, p) in n["first_points"].as_array().unwrap().iter().enumerate() {
            let want: u64 = p.as_str().unwrap().parse().unwrap();
            assert_eq!(
                point_hash(node.as_bytes(), j as u32),
                want,
                "{name}: point {j} of {node}"
            );
        }
    }
    for v in case["vectors"].as_array().unwrap() {
        let key = hex(v["key_hex"].as_str().unwrap());
        let want_hash: u64 = v["key_hash"].as_str().unwrap().parse().unwrap();
        assert_eq!(key_hash(&key), want_hash, "{name}: hash of {key:?}");
        let got = ring
            .route(&key)
            .map(|i| ring[i].name_str().unwrap().to_owned());
        let want = v["route"].as_str().map(str::to_owned);
        assert_eq!(got, want, "{name}: route of {key:?}");
        let got_n: Vec<String> = ring
            .route_n(&key, 3)
            .iter()
            .map(|&i| ring[i].name_str().unwrap().to_owned())
            .collect();
        let want_n: Vec<String> = v["route_n3"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got_n, want_n, "{name}: route_n(3) of {key:?}");
        let iterated: Vec<String> = ring
            .replicas(&key)
            .take(3)
            .map(|i| ring[i].name_str().unwrap().to_owned())
            .collect();
        assert_eq!(iterated, want_n, "{name}: replicas of {key:?}");
    }
}

#[test]
fn golden_vectors_bulk_build() {
    let cases = cases();
    assert!(cases.len() >= 7);
    for case in &cases {
        check(case, &build(case, false));
    }
}

#[test]
fn golden_vectors_reverse_order() {
    for case in &cases() {
        check(case, &build(case, true));
    }
}

#[test]
fn golden_vectors_incremental_adds() {
    for case in &cases() {
        let mut ring: Ring = Ring::with_vnodes(case["vnodes"].as_u64().unwrap() as u32).unwrap();
        for n in case["nodes"].as_array().unwrap() {
            ring.add(n["name"].as_str().unwrap(), n["weight"].as_f64().unwrap())
                .unwrap();
        }
        for down in case["down"].as_array().unwrap() {
            ring.mark_down(down.as_str().unwrap()).unwrap();
        }
        check(case, &ring);
    }
}
