"""uhashring 2.5's own test suite, case by case, against
ringroute.compat.HashRing: the behaviours its tests check, restated here
(not copied) so the drop-in is held to the library's own expectations, not
only to agreement with it on our inputs (that is test_compat.py).

uhashring's suite has 19 tests: 16 in test_implementation.py (one of them,
test_range, is skipped on Python 3), test_distribution and two ketama
comparisons that need the unpublished `ketama` C module. Each is mirrored
below; the two that read uhashring's private `runtime` attribute check the
same fact through the public API instead (see the module docs of
ringroute.compat for why `runtime` is not mirrored).
"""

from __future__ import annotations

import types
import uuid
from collections import Counter
from math import sqrt

import pytest

from ringroute.compat import HashRing

THREE = {"node1": 1, "node2": 1, "node3": 1}


@pytest.fixture
def ketama():
    return HashRing(nodes=dict(THREE), hash_fn="ketama")


@pytest.fixture
def md5():
    # uhashring's suite passes compat=False, a keyword it ignores.
    return HashRing(nodes=dict(THREE), compat=False)


def test_sizes_agree_across_views(ketama, md5):
    for ring in (ketama, md5):
        assert ring.size == 3 * 160
        assert ring.size == len(ring._keys) == len(ring._ring) == len(ring.get_points())


def test_removal_moves_only_the_removed_nodes_keys(ketama):
    before = {k: ketama.get_node(k) for k in ("coconut", "zoro")}
    assert before["zoro"] == "node3" and before["coconut"] != "node3"
    del ketama["node3"]
    with pytest.raises(KeyError):
        del ketama["node3"]
    assert ketama.get_node("coconut") == before["coconut"]
    assert ketama.get_node("zoro") != "node3"
    ketama.add_node("node3", 1)
    assert ketama.get_node("zoro") == before["zoro"]


def test_aliases(ketama):
    assert ketama.add_node == ketama.__setitem__
    assert ketama.get_node_instance == ketama.__getitem__
    assert ketama.remove_node == ketama.__delitem__
    assert ketama.continuum == ketama.ring
    assert ketama.nodes == ketama.conf


def test_hash_values(ketama, md5):
    assert ketama.hashi("test") == 3446378249 == ketama.get_key("test")
    assert md5.hashi("test") == 12707736894140473154801792860916528374


def test_range_and_iterate_nodes(ketama):
    # uhashring's test_range only runs on Python 2; its assertions hold here.
    assert sorted(n["nodename"] for n in ketama.range("test")) == sorted(THREE)
    assert len(list(ketama.range("test", size=2, unique=True))) == 2
    assert len(list(ketama.range("test", size=2, unique=False))) == 2
    assert len(list(ketama.range("test", size=None, unique=False))) == ketama.size
    assert len(list(ketama.iterate_nodes("test"))) == 3
    assert list(HashRing().iterate_nodes("test")) == [None]


def test_configuration_forms():
    rings = [HashRing({"node1": 1}), HashRing("node1"), HashRing(["node1"]),
             HashRing({"node1": {"weight": 1}})]
    assert all(r.ring == rings[0].ring for r in rings)
    with pytest.raises(ValueError):
        HashRing({"node1": "fail"})
    with pytest.raises(ValueError):
        HashRing(None)
    with pytest.raises(ValueError):
        HashRing(nodes=None)


def test_empty_ring():
    assert HashRing().get("test") is None


def test_return_types(ketama):
    assert ketama["test"] is None
    assert isinstance(ketama.get("test"), dict)
    assert isinstance(ketama.get_instances(), list)
    assert isinstance(ketama.get_node("test"), str)
    assert isinstance(ketama.get_nodes(), type({}.keys()))
    assert isinstance(ketama.get_node_hostname("test"), str)
    assert ketama.get_node_port("test") is None
    assert isinstance(ketama.get_node_pos("test"), int)
    assert isinstance(ketama.get_node_weight("test"), int)
    assert isinstance(ketama.get_points(), list)
    assert isinstance(ketama.get_server("test"), tuple)
    assert isinstance(ketama.iterate_nodes("test"), types.GeneratorType)
    assert isinstance(ketama.range("test"), types.GeneratorType)
    assert isinstance(ketama.distribution, Counter)


def test_print_continuum(ketama, capsys):
    assert ketama.print_continuum() is None
    assert HashRing().print_continuum() is None
    assert "Continuum empty" in capsys.readouterr().out


def test_non_str_keys(ketama):
    assert ketama.get_node(uuid.uuid4()) in THREE


def test_weight_fn():
    def weight(**conf):
        return int(conf["nodename"][-1])

    ring = HashRing(nodes=dict(THREE), replicas=4, vnodes=40, hash_fn="ketama", weight_fn=weight)
    expected = {"node1": 80, "node2": 160, "node3": 240}
    assert dict(ring.distribution) == expected
    ring.regenerate()
    assert dict(ring.distribution) == expected
    for bad in (12, "coconut"):
        with pytest.raises(TypeError):
            HashRing(nodes=dict(THREE), hash_fn="ketama", weight_fn=bad)


@pytest.mark.parametrize("kwargs", [{"hash_fn": "ketama"}, {"compat": False}])
def test_growth_one_node_at_a_time(kwargs):
    whole = HashRing(nodes=dict(THREE), **kwargs)
    grown = HashRing(**kwargs)
    for name in whole.nodes:
        grown.add_node(name)
    assert grown._nodes == whole._nodes
    assert grown.ring == whole.ring
    assert grown.distribution == whole.distribution


def test_ketama_shrink_to_empty():
    names = ["172.31.1.0", "172.31.1.125", "172.31.1.202"]
    ring = HashRing(names, hash_fn="ketama")
    for i in (1, 2, 0):
        ring.remove_node(names[i])
    assert ring.ring == {}


def test_custom_hash_fn():
    ring = HashRing(["a", "b"], hash_fn=lambda k: k + "_hash")
    assert ring.hashi("coconut") == "coconut_hash"


def test_ketama_replicas_argument():
    # uhashring checks `ring.runtime._replicas == 3`; the same fact, public:
    # 40 vnodes x 3 replicas = 120 points per node of equal weight.
    ring = HashRing([1, 2, 3, 4], hash_fn="ketama", replicas=3)
    assert ring.get_node("foo") == 4
    assert set(ring.distribution.values()) == {120}
    assert ring.size == 4 * 120
    assert not hasattr(ring, "runtime")


def test_distribution_is_even():
    ring = HashRing()
    for i in range(1, 11):
        ring[f"node{i}"] = {"instance": f"node_value{i}"}
    hits = Counter(ring[str(1 + i % 9999)] for i in range(1000))
    assert sum(hits.values()) == 1000
    mean = 1000 / len(hits)
    assert sqrt(sum((n - mean) ** 2 for n in hits.values()) / len(hits)) <= 20
