"""Batch membership changes (``Router.apply``) and grouping keys by node
for a multi-get (``Router.group``)."""

from __future__ import annotations

import pickle

import pytest

from ringroute import Router

NODES = [f"10.0.0.{i}:9000" for i in range(1, 9)]
KEYS = [f"user:{i}" for i in range(2000)]


def test_apply_is_all_or_nothing_and_one_publication():
    router = Router(NODES)
    before = router.version
    router.apply(
        [
            ("add", "10.0.0.9:9000", 2.0),
            ("add", "10.0.0.10:9000"),
            ("remove", NODES[0]),
            ("set_weight", NODES[1], 3),
            ("mark_down", NODES[2]),
        ]
    )
    assert router.version == before + 1
    assert len(router) == 9
    assert router.weight(NODES[1]) == 3.0
    assert router.weight("10.0.0.10:9000") == 1.0
    assert not router.is_up(NODES[2])
    assert NODES[0] not in router
    # Same placement as the changes made one by one.
    other = Router(NODES)
    other.add("10.0.0.9:9000", 2.0)
    other.add("10.0.0.10:9000")
    other.remove(NODES[0])
    other.set_weight(NODES[1], 3)
    other.mark_down(NODES[2])
    assert router.route_many(KEYS) == other.route_many(KEYS)

    state = router.route_many(KEYS)
    version = router.version
    with pytest.raises(KeyError):
        router.apply([("remove", NODES[3]), ("remove", "nobody")])
    with pytest.raises(ValueError):
        router.apply([("remove", NODES[3]), ("add", "x", -1.0)])
    with pytest.raises(ValueError):
        router.apply([("explode", NODES[3])])
    with pytest.raises(ValueError):
        router.apply([("remove", NODES[3], 1.0, 2.0)])
    with pytest.raises(TypeError):
        router.apply(["remove"])
    with pytest.raises(TypeError):
        router.apply([(1, NODES[3])])
    assert router.version == version
    assert router.route_many(KEYS) == state
    assert NODES[3] in router


def test_manual_down_survives_pickle_after_apply():
    router = Router(NODES)
    router.apply([("mark_down", NODES[4])])
    copy = pickle.loads(pickle.dumps(router))
    assert not copy.is_up(NODES[4])
    assert copy.route_many(KEYS) == router.route_many(KEYS)


def test_group_partitions_the_keys():
    router = Router(NODES)
    router.mark_down(NODES[5])
    for failover in (True, False):
        groups = router.group(KEYS, failover=failover)
        seen = sorted(p for positions in groups.values() for p in positions)
        assert seen == list(range(len(KEYS)))
        assert (NODES[5] in groups) == (not failover)
        for node, positions in groups.items():
            assert positions == sorted(positions)
            if failover:
                assert all(router.route(KEYS[p]) == node for p in positions)
    # Grouping by primary: the down node's keys are exactly those that
    # move when it is marked down.
    primary = router.group(KEYS, failover=False)
    router.mark_up(NODES[5])
    assert router.group(KEYS) == primary
    assert router.group([]) == {}
    with pytest.raises(TypeError):
        router.group("not a list of keys")
