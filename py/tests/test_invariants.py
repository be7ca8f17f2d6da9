"""The properties the ring spec promises (docs/ring-spec.md), checked with
hypothesis: membership changes move only the keys they must."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringroute import NoNodeUpError, Ring, Router

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
weights = st.sampled_from([0.25, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0, 3.0])
clusters = st.dictionaries(names, weights, min_size=1, max_size=10)
key_lists = st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), min_size=1, max_size=200)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
KEYS = [f"key-{i}" for i in range(2000)]


@SETTINGS
@given(clusters, names, weights)
def test_adding_moves_keys_only_to_the_new_node(nodes, new, weight):
    if new in nodes:
        return
    ring = Ring(nodes, vnodes=40)
    before = ring.route_many(KEYS)
    ring.add(new, weight)
    after = ring.route_many(KEYS)
    for b, a in zip(before, after):
        assert a == b or a == new
    assert new in ring and len(ring) == len(nodes) + 1


@SETTINGS
@given(clusters.filter(lambda c: len(c) >= 2), st.data())
def test_removing_moves_only_its_keys(nodes, data):
    gone = data.draw(st.sampled_from(sorted(nodes)))
    ring = Ring(nodes, vnodes=40)
    before = ring.route_many(KEYS)
    ring.remove(gone)
    after = ring.route_many(KEYS)
    for b, a in zip(before, after):
        if b != gone:
            assert a == b
        else:
            assert a != gone
    # Removing it equals never having had it.
    rest = {n: w for n, w in nodes.items() if n != gone}
    assert after == Ring(rest, vnodes=40).route_many(KEYS)


@SETTINGS
@given(clusters.filter(lambda c: len(c) >= 2), st.data(), weights)
def test_reweighting_moves_keys_only_to_or_from_the_node(nodes, data, weight):
    node = data.draw(st.sampled_from(sorted(nodes)))
    ring = Ring(nodes, vnodes=40)
    before = ring.route_many(KEYS)
    ring.set_weight(node, weight)
    after = ring.route_many(KEYS)
    for b, a in zip(before, after):
        assert a == b or node in (a, b)
    assert after == Ring({**nodes, node: weight}, vnodes=40).route_many(KEYS)


@SETTINGS
@given(clusters.filter(lambda c: len(c) >= 2), st.data())
def test_down_moves_only_its_keys_to_their_second_replica_and_up_brings_them_back(nodes, data):
    node = data.draw(st.sampled_from(sorted(nodes)))
    for cls in (Ring, Router):
        ring = cls(nodes, vnodes=40)
        before = ring.route_many(KEYS)
        replicas = [ring.route_n(k, 2) for k in KEYS]
        ring.mark_down(node)
        down = ring.route_many(KEYS)
        for b, d, r in zip(before, down, replicas):
            if b == node:
                assert d == r[1]
            else:
                assert d == b
        ring.mark_up(node)
        assert ring.route_many(KEYS) == before


@SETTINGS
@given(clusters, key_lists, st.integers(min_value=0, max_value=12))
def test_route_n_distinct_up_primary_first(nodes, keys, n):
    ring = Ring(nodes, vnodes=40)
    down = sorted(nodes)[: len(nodes) // 3]
    for d in down:
        ring.mark_down(d)
    up = set(nodes) - set(down)
    for key in keys:
        replicas = ring.route_n(key, n)
        assert len(replicas) == len(set(replicas)) == min(n, len(up))
        assert set(replicas) <= up
        if n:
            assert replicas[0] == ring.route(key)
        # A prefix of the full failover order.
        assert replicas == ring.route_n(key, len(nodes))[:n]
    assert ring.route_many(keys) == [ring.route(k) for k in keys]


@SETTINGS
@given(clusters, st.randoms(use_true_random=False))
def test_insertion_order_does_not_matter(nodes, rnd: random.Random):
    items = list(nodes.items())
    shuffled = items[:]
    rnd.shuffle(shuffled)
    a = Ring(dict(items), vnodes=40)
    b = Ring(dict(shuffled), vnodes=40)
    c = Ring(vnodes=40)
    for name, weight in shuffled:
        c.add(name, weight)
    assert a == b == c
    assert a.points() == b.points() == c.points()
    expected = a.route_many(KEYS)
    assert b.route_many(KEYS) == expected
    assert c.route_many(KEYS) == expected
    # A node added, removed and added again lands where it was.
    name, weight = items[0]
    c.remove(name)
    c.add(name, weight)
    assert c.route_many(KEYS) == expected


@SETTINGS
@given(clusters)
def test_all_down_raises_then_recovers(nodes):
    ring = Ring(nodes, vnodes=40)
    expected = ring.route_many(KEYS[:50])
    for name in nodes:
        ring.mark_down(name)
    try:
        ring.route("k")
    except NoNodeUpError:
        pass
    else:
        raise AssertionError("expected NoNodeUpError")
    for name in nodes:
        ring.mark_up(name)
    assert ring.route_many(KEYS[:50]) == expected


@SETTINGS
@given(clusters, key_lists)
def test_str_key_equals_its_utf8_bytes(nodes, keys):
    ring = Ring(nodes, vnodes=40)
    for key in keys:
        as_bytes = key.encode("utf-8") if isinstance(key, str) else key
        assert ring.route(key) == ring.route(as_bytes)
