"""Every sticky algorithm of ringroute.ALGORITHMS through the same API:
construction, options, lookups, health, pickling; and the properties each
one promises."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ringroute
from ringroute import NoNodeUpError, Ring, Router

ALGORITHMS = ringroute.ALGORITHMS
KEYS = [f"key-{i}" for i in range(2000)]
SETTINGS = settings(max_examples=30, deadline=None)

# Jump and JumpBackHash are unweighted: every node must have weight 1.
WEIGHTED = [a for a in ALGORITHMS if a not in ("jump", "jumpback")]


def test_algorithms_listed():
    assert ALGORITHMS[0] == "ring"
    assert set(ALGORITHMS) >= {"ring"}


@pytest.mark.parametrize("cls", [Ring, Router])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_basics(cls, algorithm):
    nodes = [f"node-{i}" for i in range(6)]
    ring = cls(nodes, algorithm=algorithm)
    assert ring.algorithm == algorithm
    assert (ring.vnodes is not None) == (algorithm == "ring")
    got = ring.route_many(KEYS)
    assert set(got) == set(nodes)
    assert got == [ring.route(k) for k in KEYS]
    for k in KEYS[:200]:
        replicas = ring.route_n(k, 3)
        assert len(set(replicas)) == 3 and replicas[0] == ring.route(k)
    # Health: a down node is never returned, and its keys come back.
    ring.mark_down("node-0")
    assert "node-0" not in ring.route_many(KEYS)
    ring.mark_up("node-0")
    assert ring.route_many(KEYS) == got
    # Configuration survives pickling; so does placement.
    clone = pickle.loads(pickle.dumps(ring))
    assert clone == ring and clone.algorithm == algorithm
    assert clone.route_many(KEYS) == got
    assert algorithm == "ring" or f"algorithm='{algorithm}'" in repr(ring)
    assert eval(repr(ring), {cls.__name__: cls}) == ring


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_ring_and_router_agree(algorithm):
    nodes = [f"n{i}" for i in range(5)]
    assert Ring(nodes, algorithm=algorithm).route_many(KEYS) == Router(
        nodes, algorithm=algorithm
    ).route_many(KEYS)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_all_down(algorithm):
    ring = Ring(["a", "b"], algorithm=algorithm, down=["a", "b"])
    with pytest.raises(NoNodeUpError):
        ring.route("k")


@pytest.mark.parametrize("algorithm", WEIGHTED)
def test_weights_shift_load(algorithm):
    ring = Ring({"light": 1.0, "heavy": 3.0}, algorithm=algorithm)
    got = ring.route_many(KEYS)
    share = got.count("heavy") / len(got)
    assert 0.65 < share < 0.85, share


@pytest.mark.parametrize("algorithm", ["jump", "jumpback"])
def test_jump_is_unweighted(algorithm):
    with pytest.raises(ValueError):
        Ring({"a": 2.0}, algorithm=algorithm)
    ring = Ring(["a"], algorithm=algorithm)
    with pytest.raises(ValueError):
        ring.add("b", 2.0)
    with pytest.raises(ValueError):
        ring.set_weight("a", 0.5)


def test_jumpback_places_as_the_core():
    # JumpBackHash is its own placement: pinned against the core's golden
    # keys (core/tests/jumpback.rs), and not jump's.
    nodes = [f"node-{i:03}" for i in range(100)]
    ring = Ring(nodes, algorithm="jumpback")
    got = [ring.route(f"key-{i}") for i in range(16)]
    want = [29, 95, 58, 92, 78, 67, 73, 13, 20, 67, 51, 61, 79, 97, 80, 87]
    assert got == [nodes[i] for i in want]
    jump = Ring(nodes, algorithm="jump")
    assert sum(ring.route(k) != jump.route(k) for k in KEYS) > len(KEYS) // 2


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"algorithm": "jump", "vnodes": 40}, ValueError),
        ({"algorithm": "maglev", "vnodes": 40}, ValueError),
        ({"algorithm": "ring", "table_size": 251}, ValueError),
        ({"algorithm": "rendezvous", "table_size": 251}, ValueError),
        ({"algorithm": "maglev", "table_size": 100}, ValueError),  # not prime
        ({"algorithm": "maglev", "table_size": 0}, ValueError),
        ({"algorithm": "maglev", "table_size": -7}, ValueError),
        ({"algorithm": "maglev", "table_size": "251"}, TypeError),
        ({"algorithm": "Ring"}, ValueError),
    ],
)
def test_bad_algorithm_options(kwargs, exc):
    for cls in (Ring, Router):
        with pytest.raises(exc):
            cls(["a", "b"], **kwargs)


def test_maglev_table_size():
    ring = Ring(["a", "b", "c"], algorithm="maglev", table_size=251)
    assert ring.table_size == 251 and ring.vnodes is None
    assert Ring(["a"], algorithm="maglev").table_size == 65537
    assert Ring(["a"]).table_size is None
    assert ring != Ring(["a", "b", "c"], algorithm="maglev")
    with pytest.raises(ValueError):
        ring.points()


names = st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=8, unique=True)


@SETTINGS
@given(names, st.text(min_size=1, max_size=8))
def test_adding_moves_keys_only_to_the_new_node(nodes, new):
    if new in nodes:
        return
    for algorithm in ("ring", "jump", "rendezvous"):
        ring = Ring(nodes, algorithm=algorithm)
        before = ring.route_many(KEYS[:500])
        ring.add(new)
        after = ring.route_many(KEYS[:500])
        assert all(a == b or a == new for a, b in zip(after, before)), algorithm


@SETTINGS
@given(names, st.data())
def test_removing_moves_only_its_keys(nodes, data):
    gone = data.draw(st.sampled_from(nodes))
    for algorithm in ("ring", "jump", "rendezvous"):
        ring = Ring(nodes, algorithm=algorithm)
        before = ring.route_many(KEYS[:500])
        ring.remove(gone)
        after = ring.route_many(KEYS[:500])
        assert all(a == b for a, b in zip(after, before) if b != gone), algorithm


@SETTINGS
@given(names, st.data())
def test_down_moves_only_its_keys(nodes, data):
    node = data.draw(st.sampled_from(nodes))
    for algorithm in ALGORITHMS:
        ring = Ring(nodes, algorithm=algorithm)
        before = ring.route_many(KEYS[:500])
        ring.mark_down(node)
        down = ring.route_many(KEYS[:500])
        assert all(d == b for d, b in zip(down, before) if b != node), algorithm
        assert node not in down
        ring.mark_up(node)
        assert ring.route_many(KEYS[:500]) == before
