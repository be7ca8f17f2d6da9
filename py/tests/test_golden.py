"""The golden vectors of the native ring spec v2 (docs/ring-spec.md): the
same file the Rust and C suites check, every case and every vector."""

from __future__ import annotations

import pytest

import ringroute
from ringroute import NoNodeUpError, Ring, Router

from conftest import GOLDEN


def _cases():
    import json

    with GOLDEN.open() as f:
        return json.load(f)["cases"]


CASES = _cases()


def build(case, cls=Ring):
    nodes = {n["name"]: n["weight"] for n in case["nodes"]}
    return cls(nodes, vnodes=case["vnodes"], down=case["down"])


def test_every_case_is_checked(golden):
    names = [c["name"] for c in golden["cases"]]
    assert len(names) >= 7
    assert "all-down" in names and "half-rounding" in names
    assert sum(len(c["vectors"]) for c in golden["cases"]) > 250


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_points(case):
    ring = build(case)
    points = ring.points()
    assert len(points) == case["ring_size"]
    # Sorted by (point, name).
    assert points == sorted(points)
    for node in case["nodes"]:
        mine = {p for p, name in points if name == node["name"]}
        assert len(mine) == node["points"], node["name"]
        for j, expected in enumerate(node["first_points"]):
            assert ringroute.point_hash(node["name"], j) == int(expected)
            if j < node["points"]:
                assert int(expected) in mine
            else:
                assert int(expected) not in mine


@pytest.mark.parametrize("cls", [Ring, Router])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vectors(case, cls):
    ring = build(case, cls)
    keys = [bytes.fromhex(v["key_hex"]) for v in case["vectors"]]
    for key, v in zip(keys, case["vectors"]):
        assert ringroute.key_hash(key) == int(v["key_hash"])
        if v["route"] is None:
            with pytest.raises(NoNodeUpError):
                ring.route(key)
            with pytest.raises(NoNodeUpError):
                ring.route_n(key, 3)
        else:
            assert ring.route(key) == v["route"]
            assert ring.route_n(key, 3) == v["route_n3"]
            # The same key as text, when it is UTF-8, routes the same.
            try:
                text = key.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                assert ring.route(text) == v["route"]
                assert ring.route_n(text, 3) == v["route_n3"]
            # bytearray and memoryview keys too.
            assert ring.route(bytearray(key)) == v["route"]
            assert ring.route(memoryview(key)) == v["route"]
    expected = [v["route"] for v in case["vectors"]]
    if None in expected:
        assert all(e is None for e in expected)
        with pytest.raises(NoNodeUpError):
            ring.route_many(keys)
    else:
        assert ring.route_many(keys) == expected
        assert ring.route_many(iter(keys)) == expected
        assert ring.route_many(tuple(keys)) == expected


def test_route_n_more_than_nodes_and_zero():
    ring = Ring(["alpha", "beta", "gamma"])
    assert ring.route_n("key-0", 3) == ["beta", "alpha", "gamma"]
    assert ring.route_n("key-0", 100) == ["beta", "alpha", "gamma"]
    assert ring.route_n("key-0", 10**30) == ["beta", "alpha", "gamma"]
    assert ring.route_n("key-0", 1) == ["beta"]
    assert ring.route_n("key-0", 0) == []


def test_spec_examples():
    # docs/ring-spec.md, "three-equal" and edge-case keys.
    ring = Ring(["alpha", "beta", "gamma"])
    assert ring.route("") == "beta"
    assert ring.route("a") == "gamma"
    assert ring.route("κλειδί") == "gamma"
    assert ring.route(bytes(range(256))) == "beta"
    assert ring.route(b"\x00\xff" * 8) == "beta"
    assert ring.route("x" * 1000) == "gamma"
    assert ringroute.key_hash("key-0") == 9340302149712544120
    assert ringroute.point_hash("alpha", 0) == 3703121157795444947
    assert ringroute.SPEC_VERSION == 2
