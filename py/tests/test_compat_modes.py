"""``algorithm=`` compatibility modes against the real uhashring (PyPI),
both its rings, on 10,000+ keys: ``Ring``/``Router`` place every key where
uhashring does, also after a node is marked down (uhashring removes it and
rebuilds), and the other modes are accepted, typed and pickled by name."""

from __future__ import annotations

import pickle

import pytest

import ringroute

uhashring = pytest.importorskip("uhashring")

KEYS = [f"key-{i}" for i in range(10_000)] + [f"user:{i}:cart" for i in range(1_000)]
POOLS = [
    {"cache-a": 1, "cache-b": 1, "cache-c": 1, "cache-d": 1},
    {"10.0.0.1:11211": 1, "10.0.0.2:11212": 6, "10.0.0.3:11213": 6, "10.0.0.4:11214": 6, "10.0.0.5:11215": 6},
    {f"node-{i}": 1 + i % 3 for i in range(12)},
]


def peer(nodes: dict[str, int], ketama: bool) -> "uhashring.HashRing":
    conf = {name: {"weight": w} for name, w in nodes.items()}
    return uhashring.HashRing(conf, hash_fn="ketama") if ketama else uhashring.HashRing(conf)


@pytest.mark.parametrize("ketama", [False, True], ids=["md5", "ketama"])
@pytest.mark.parametrize("nodes", POOLS, ids=["equal", "1-6-6-6-6", "twelve"])
def test_uhashring_modes_match_the_peer(nodes: dict[str, int], ketama: bool) -> None:
    name = "uhashring-ketama" if ketama else "uhashring"
    theirs = peer(nodes, ketama)
    ring = ringroute.Ring(list(nodes.items()), algorithm=name)
    router = ringroute.Router(list(nodes.items()), algorithm=name)
    want = [theirs.get_node(k) for k in KEYS]
    assert ring.route_many(KEYS) == want
    assert [router.route(k) for k in KEYS] == want


@pytest.mark.parametrize("ketama", [False, True], ids=["md5", "ketama"])
def test_down_node_routes_as_uhashring_without_it(ketama: bool) -> None:
    nodes = POOLS[1]
    name = "uhashring-ketama" if ketama else "uhashring"
    router = ringroute.Router(list(nodes.items()), algorithm=name)
    router.mark_down("10.0.0.3:11213")
    theirs = peer(nodes, ketama)
    theirs.remove_node("10.0.0.3:11213")
    assert [router.route(k) for k in KEYS] == [theirs.get_node(k) for k in KEYS]
    router.mark_up("10.0.0.3:11213")
    full = peer(nodes, ketama)
    assert [router.route(k) for k in KEYS[:2000]] == [full.get_node(k) for k in KEYS[:2000]]


def test_every_compat_mode_is_accepted_and_round_trips() -> None:
    assert "libmemcached" in ringroute.COMPAT_MODES
    nodes = [("10.0.0.1:11211", 1), ("10.0.0.2:11211", 1), ("10.0.0.3:11212", 1)]
    for name in ringroute.COMPAT_MODES:
        ring = ringroute.Ring(nodes, algorithm=name)
        assert ring.algorithm == name
        again = pickle.loads(pickle.dumps(ring))
        assert again.algorithm == name
        assert again.route_many(KEYS[:500]) == ring.route_many(KEYS[:500])
        router = ringroute.Router(nodes, algorithm=name)
        assert router.algorithm == name
        assert [router.route(k) for k in KEYS[:500]] == ring.route_many(KEYS[:500])


def test_compat_modes_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        ringroute.Ring([("a", 1)], algorithm="memcache")
    with pytest.raises(ValueError):
        ringroute.Ring([("a:1", 1.5)], algorithm="libmemcached")
    with pytest.raises(ValueError):
        ringroute.Ring([("a", 2)], algorithm="go-jump")
    with pytest.raises(ValueError, match="vnodes"):
        ringroute.Ring([("a", 1)], algorithm="uhashring", vnodes=40)
