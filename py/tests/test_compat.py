"""ringroute.compat.HashRing against the real uhashring (PyPI): the same
answers for every lookup, in the md5 (default), ketama and custom-hash
modes, through adds, removes and regenerations."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from hashlib import sha1

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

uhashring = pytest.importorskip("uhashring")

from ringroute.compat import HashRing  # noqa: E402

KEYS = [f"key-{i}" for i in range(1000)] + ["", "a", "κλειδί", "node1-0", "node2-159"]
ODD_KEYS = [b"bytes-key", 42, 3.5, None, ("tuple", 1), bytearray(b"x")]

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.:-_é", min_size=1, max_size=10)
weights = st.integers(min_value=0, max_value=4)
node_lists = st.lists(names, min_size=0, max_size=8, unique=True)
node_dicts = st.dictionaries(names, weights, min_size=1, max_size=8)
vnode_counts = st.sampled_from([None, 1, 7, 40, 160])

SETTINGS = settings(max_examples=25, deadline=None)

# uhashring 2.5 (Python >= 3.10) drops a node's old points when its weight or
# vnodes change in place; 2.4 and older keep them (stale points). The compat
# ring follows 2.5, so tests that reconfigure nodes need it.
UHASHRING_VERSION = tuple(int(p) for p in uhashring.__version__.split(".")[:2])
needs_25 = pytest.mark.skipif(
    UHASHRING_VERSION < (2, 5), reason="uhashring < 2.5 keeps stale points on reconfiguration"
)


def assert_same(ours: HashRing, theirs, keys=KEYS) -> None:
    assert ours.size == theirs.size
    assert ours.get_points() == theirs.get_points()
    assert ours._keys == theirs._keys
    assert ours.ring == dict(theirs.ring)
    assert dict(ours.distribution) == dict(theirs.distribution)
    assert ours.conf == theirs.conf
    assert list(ours.get_nodes()) == list(theirs.get_nodes())
    for key in keys:
        assert ours.get_node(key) == theirs.get_node(key), key
    for key in keys[:200] + ODD_KEYS:
        assert ours.get_node(key) == theirs.get_node(key), key
        assert ours.get_key(key) == theirs.get_key(key)
        assert ours.get_node_pos(key) == theirs.get_node_pos(key)
        assert ours.get_server(key) == theirs.get_server(key)
        assert ours.get(key) == theirs.get(key)
        assert ours[key] == theirs[key]
        assert ours.get_node_weight(key) == theirs.get_node_weight(key)
        assert ours.get_node_hostname(key) == theirs.get_node_hostname(key)
        assert ours.get_node_port(key) == theirs.get_node_port(key)
    for key in keys[:10]:
        assert list(ours.range(key)) == list(theirs.range(key))
        assert list(ours.range(key, 2)) == list(theirs.range(key, 2))
        assert list(ours.range(key, 3, unique=False)) == list(theirs.range(key, 3, unique=False))
        assert list(ours.iterate_nodes(key)) == list(theirs.iterate_nodes(key))
        assert list(ours.iterate_nodes(key, distinct=False))[:50] == list(
            theirs.iterate_nodes(key, distinct=False)
        )[:50]


@SETTINGS
@given(node_lists, vnode_counts)
def test_md5_lists(nodes, vnodes):
    kwargs = {} if vnodes is None else {"vnodes": vnodes}
    assert_same(HashRing(nodes, **kwargs), uhashring.HashRing(nodes, **kwargs))


@SETTINGS
@given(node_dicts, vnode_counts)
def test_md5_weighted(nodes, vnodes):
    kwargs = {} if vnodes is None else {"vnodes": vnodes}
    assert_same(HashRing(nodes, **kwargs), uhashring.HashRing(nodes, **kwargs))


@SETTINGS
@given(node_dicts, st.sampled_from([None, 1, 10, 40]), st.integers(min_value=1, max_value=4))
def test_ketama(nodes, vnodes, replicas):
    if sum(nodes.values()) == 0:
        return  # uhashring divides by the weight sum
    kwargs = {"hash_fn": "ketama", "replicas": replicas}
    if vnodes is not None:
        kwargs["vnodes"] = vnodes
    assert_same(HashRing(nodes, **kwargs), uhashring.HashRing(nodes, **kwargs))


@needs_25
@SETTINGS
@given(node_dicts, st.lists(st.tuples(st.sampled_from(["add", "remove", "reweight"]), names, weights), max_size=6))
def test_changes(nodes, changes):
    for kwargs in ({}, {"hash_fn": "ketama"}):
        if kwargs and sum(nodes.values()) == 0:
            continue
        ours, theirs = HashRing(dict(nodes), **kwargs), uhashring.HashRing(dict(nodes), **kwargs)
        for op, name, weight in changes:
            if op == "remove":
                if name in theirs.get_nodes():
                    if kwargs and len(theirs.get_nodes()) == 1:
                        continue
                    if not kwargs and name not in theirs.distribution:
                        # uhashring fails to remove a node without points
                        # (weight 0): KeyError, half-removed. We remove it.
                        with pytest.raises(KeyError):
                            theirs.remove_node(name)
                        ours.remove_node(name)
                        assert name not in ours.get_nodes()
                        break
                    theirs.remove_node(name)
                    ours.remove_node(name)
                else:
                    with pytest.raises(KeyError):
                        ours.remove_node(name)
            else:
                if kwargs and weight == 0:
                    weight = 1
                theirs.add_node(name, {"weight": weight})
                ours.add_node(name, {"weight": weight})
            if kwargs and sum(c["weight"] for c in theirs.conf.values()) == 0:
                break
            assert_same(ours, theirs, KEYS[:500])


@needs_25
def test_node_config_dicts_and_defaults():
    nodes = {
        "node1": {"hostname": "127.0.0.1", "port": 11211, "instance": "conn1", "weight": 2},
        "node2": {"hostname": "127.0.0.2", "port": 11211, "vnodes": 40},
        "node3": 3,
    }
    ours, theirs = HashRing(nodes), uhashring.HashRing(nodes)
    assert_same(ours, theirs)
    assert ours.get_instances() == theirs.get_instances() == ["conn1"]
    ours["node4"] = {"instance": "conn4"}
    theirs["node4"] = {"instance": "conn4"}
    ours.add_node("node5")
    theirs.add_node("node5")
    ours.add_node("node6", 2)
    theirs.add_node("node6", 2)
    assert_same(ours, theirs)
    # Same weight, new vnodes: the node is re-placed.
    ours.add_node("node1", {"weight": 2, "vnodes": 10})
    theirs.add_node("node1", {"weight": 2, "vnodes": 10})
    assert_same(ours, theirs)
    del ours["node2"]
    del theirs["node2"]
    assert_same(ours, theirs)


def test_single_name_and_empty():
    assert_same(HashRing("solo"), uhashring.HashRing("solo"))
    ours, theirs = HashRing(), uhashring.HashRing()
    assert_same(ours, theirs, KEYS[:10])
    assert ours.get_node("k") is None and ours.get("k") is None
    assert list(ours.iterate_nodes("k")) == list(theirs.iterate_nodes("k")) == [None]


@needs_25
def test_weight_fn_and_regenerate():
    state = {"node1": 1, "node2": 1, "node3": 1}

    def weight_fn(**conf):
        return state[conf["nodename"]]

    ours = HashRing(list(state), weight_fn=weight_fn)
    theirs = uhashring.HashRing(list(state), weight_fn=weight_fn)
    assert_same(ours, theirs)
    state["node2"] = 3
    state["node3"] = 0
    ours.regenerate()
    theirs.regenerate()
    assert_same(ours, theirs)


def test_custom_hash_fn():
    def hash_fn(key):
        return int(sha1(str(key).encode()).hexdigest(), 16)

    nodes = {"a": 1, "b": 2, "c": 1}
    ours, theirs = HashRing(nodes, hash_fn=hash_fn), uhashring.HashRing(nodes, hash_fn=hash_fn)
    assert_same(ours, theirs)
    ours.remove_node("b")
    theirs.remove_node("b")
    ours.add_node("d", 2)
    theirs.add_node("d", 2)
    assert_same(ours, theirs)


def test_collisions_between_equal_labels():
    # 1 and "1" are different dict keys with the same point labels.
    nodes = {1: 1, "1": 1, "x": 1}
    ours, theirs = HashRing(nodes), uhashring.HashRing(nodes)
    assert_same(ours, theirs)
    ours.remove_node("1")
    theirs.remove_node("1")
    assert_same(ours, theirs)


def test_print_continuum():
    out_ours, out_theirs = io.StringIO(), io.StringIO()
    with redirect_stdout(out_ours):
        HashRing(["a", "b"], vnodes=3).print_continuum()
        HashRing().print_continuum()
    with redirect_stdout(out_theirs):
        uhashring.HashRing(["a", "b"], vnodes=3).print_continuum()
        uhashring.HashRing().print_continuum()
    assert out_ours.getvalue() == out_theirs.getvalue()


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda m: m.HashRing(5), ValueError),
        (lambda m: m.HashRing({"a": "heavy"}), ValueError),
        (lambda m: m.HashRing(["a"], hash_fn=5), TypeError),
        (lambda m: m.HashRing(["a"], weight_fn=5), TypeError),
        (lambda m: m.HashRing({"a": {"weight": 1.5}}), TypeError),
        (lambda m: m.HashRing(["a"]).remove_node("b"), KeyError),
    ],
)
def test_same_errors(call, exc):
    with pytest.raises(exc):
        call(uhashring)
    with pytest.raises(exc):
        call(__import__("ringroute.compat", fromlist=["HashRing"]))


def test_str_subclass_and_unencodable_keys():
    class Key(str):
        def __str__(self):
            return "other"

    ours, theirs = HashRing(["a", "b", "c"]), uhashring.HashRing(["a", "b", "c"])
    for key in (Key("k1"), Key("zz")):
        assert ours.get_node(key) == theirs.get_node(key)
    with pytest.raises(UnicodeEncodeError):
        theirs.get_node("\ud800")
    with pytest.raises(UnicodeEncodeError):
        ours.get_node("\ud800")
