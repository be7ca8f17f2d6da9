"""The Python API of Ring and Router: construction, lookups, membership,
containers, repr, equality, pickling, and every bad input."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

import ringroute
from ringroute import (
    EmptyRingError,
    ManualClock,
    NoNodeUpError,
    OutlierDetection,
    PhiAccrual,
    Ring,
    Router,
)

CLASSES = [Ring, Router]


@pytest.fixture(params=CLASSES, ids=lambda c: c.__name__)
def cls(request):
    return request.param


# --- construction -----------------------------------------------------------


def test_build_forms_agree(cls):
    keys = [f"k{i}" for i in range(300)]
    a = cls({"a": 1.0, "b": 2.0, "c": 1.0})
    b = cls([("a", 1), ("b", 2), "c"])
    c = cls(iter([("c", 1.0), ("a", 1.0), ["b", 2.0]]))
    assert a.route_many(keys) == b.route_many(keys) == c.route_many(keys)
    assert a == b == c
    assert a.nodes == {"a": 1.0, "b": 2.0, "c": 1.0}
    assert cls(["a", "b"]).nodes == {"a": 1.0, "b": 1.0}


def test_mapping_that_is_not_a_dict(cls):
    from types import MappingProxyType

    ring = cls(MappingProxyType({"a": 1, "b": 3}))
    assert ring.nodes == {"a": 1.0, "b": 3.0}


def test_defaults(cls):
    ring = cls()
    assert len(ring) == 0
    assert ring.vnodes == ringroute.DEFAULT_VNODES == 160
    assert ring.algorithm == "ring"
    assert "ring" in ringroute.ALGORITHMS
    assert cls(["a"], vnodes=40).vnodes == 40


def test_str_subclass_names_come_back_as_str(cls):
    class Name(str):
        pass

    ring = cls([Name("a")])
    out = ring.route("x")
    assert out == "a" and type(out) is str


def test_route_returns_the_same_name_object(cls):
    ring = cls(["node-a", "node-b"])
    first = ring.route("k")
    assert ring.route("k") is first
    assert ring.route_many(["k", "k"])[0] is first


@pytest.mark.parametrize(
    "nodes, exc",
    [
        ("abc", TypeError),
        (b"abc", TypeError),
        (123, TypeError),
        ([1, 2], TypeError),
        ([b"a"], TypeError),
        ({b"a": 1}, TypeError),
        ([("a", "1")], TypeError),
        ([("a", None)], TypeError),
        ({"a": "heavy"}, TypeError),
        ([("a",)], ValueError),
        ([("a", 1, 2)], ValueError),
        ({"a": 0}, ValueError),
        ({"a": -1}, ValueError),
        ({"a": math.nan}, ValueError),
        ({"a": math.inf}, ValueError),
        ({"": 1}, ValueError),
        (["a", "a"], ValueError),
        ([("a", 1), ("a", 2)], ValueError),
        (["\ud800"], ValueError),  # UnicodeEncodeError is a ValueError
        ({"a": 10**6}, ValueError),  # too many points
    ],
)
def test_bad_nodes(cls, nodes, exc):
    with pytest.raises(exc):
        cls(nodes)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"vnodes": 0}, ValueError),
        ({"vnodes": -1}, ValueError),
        ({"vnodes": 65537}, ValueError),
        ({"vnodes": 2**70}, ValueError),
        ({"vnodes": "160"}, TypeError),
        ({"vnodes": 1.5}, TypeError),
        ({"vnodes": True}, TypeError),
        ({"algorithm": "nope"}, ValueError),
        ({"algorithm": 3}, TypeError),
        ({"down": ["zz"]}, KeyError),
        ({"down": "a"}, TypeError),
        ({"down": [1]}, TypeError),
        ({"bogus": 1}, TypeError),
    ],
)
def test_bad_options(cls, kwargs, exc):
    with pytest.raises(exc):
        cls(["a", "b"], **kwargs)


def test_vnodes_bounds_accepted(cls):
    assert len(cls(["a"], vnodes=1)) == 1
    ring = Ring(["a"], vnodes=ringroute.MAX_VNODES)
    assert len(ring.points()) == ringroute.MAX_VNODES


def test_down_at_construction(cls):
    ring = cls(["a", "b"], down=["a"])
    assert ring.down == ["a"]
    assert not ring.is_up("a") and ring.is_up("b")
    assert {ring.route(f"k{i}") for i in range(100)} == {"b"}


# --- lookups ----------------------------------------------------------------


@pytest.mark.parametrize("key", [123, None, 1.5, ["a"], ("a",), object(), {"a": 1}])
def test_bad_key_types(cls, key):
    ring = cls(["a", "b"])
    with pytest.raises(TypeError):
        ring.route(key)
    with pytest.raises(TypeError):
        ring.route_n(key, 2)
    with pytest.raises(TypeError):
        ring.route_many(["ok", key])
    with pytest.raises(TypeError):
        ringroute.key_hash(key)


def test_unencodable_str_key(cls):
    ring = cls(["a"])
    with pytest.raises(UnicodeEncodeError):
        ring.route("\ud800")
    with pytest.raises(ValueError):
        ring.route_many(["ok", "\udfff"])


def test_key_types_agree(cls):
    ring = cls([f"n{i}" for i in range(10)])
    for i in range(200):
        text = f"user:{i}:é"
        raw = text.encode()
        expected = ring.route(text)
        assert ring.route(raw) == expected
        assert ring.route(bytearray(raw)) == expected
        assert ring.route(memoryview(raw)) == expected
        assert ring.route(memoryview(b"xx" + raw)[2:]) == expected
        assert ringroute.key_hash(text) == ringroute.key_hash(raw)


@pytest.mark.parametrize("n, exc", [(-1, ValueError), ("2", TypeError), (1.0, TypeError), (None, TypeError), (True, TypeError)])
def test_bad_replica_counts(cls, n, exc):
    ring = cls(["a", "b"])
    with pytest.raises(exc):
        ring.route_n("k", n)


def test_empty_ring_errors(cls):
    ring = cls()
    for call in (
        lambda: ring.route("k"),
        lambda: ring.route_n("k", 2),
        lambda: ring.route_many(["k"]),
    ):
        with pytest.raises(EmptyRingError) as info:
            call()
        assert isinstance(info.value, LookupError)
        assert not isinstance(info.value, NoNodeUpError)
    assert ring.route_many([]) == []
    assert ring.route_many(iter(())) == []


def test_no_node_up_errors(cls):
    ring = cls(["a", "b"], down=["a", "b"])
    for call in (
        lambda: ring.route("k"),
        lambda: ring.route_n("k", 2),
        lambda: ring.route_many(["k"]),
    ):
        with pytest.raises(NoNodeUpError) as info:
            call()
        assert isinstance(info.value, LookupError)
    assert issubclass(EmptyRingError, LookupError) and issubclass(NoNodeUpError, LookupError)


@pytest.mark.parametrize("keys", ["abc", b"abc", 5, None])
def test_route_many_bad_iterables(cls, keys):
    ring = cls(["a"])
    with pytest.raises(TypeError):
        ring.route_many(keys)


def test_route_many_iterables(cls):
    ring = cls([f"n{i}" for i in range(5)])
    keys = [f"k{i}" for i in range(1000)]
    expected = [ring.route(k) for k in keys]
    assert ring.route_many(keys) == expected
    assert ring.route_many(tuple(keys)) == expected
    assert ring.route_many(k for k in keys) == expected
    assert ring.route_many(dict.fromkeys(keys)) == expected
    mixed = [k if i % 2 else k.encode() for i, k in enumerate(keys)]
    assert ring.route_many(mixed) == expected


def test_route_many_propagates_iterator_errors(cls):
    ring = cls(["a"])

    def gen():
        yield "k"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ring.route_many(gen())


# --- membership -------------------------------------------------------------


def test_membership_changes(cls):
    ring = cls(["a", "b"])
    ring.add("c")
    ring.add("d", 2.5)
    assert ring.nodes == {"a": 1.0, "b": 1.0, "c": 1.0, "d": 2.5}
    ring.set_weight("d", 0.5)
    assert ring.weight("d") == 0.5
    ring.remove("a")
    assert list(ring) == ["c", "b", "d"] or sorted(ring) == ["b", "c", "d"]
    assert "a" not in ring and "b" in ring
    ring.mark_down("b")
    assert ring.down == ["b"] and not ring.is_up("b")
    ring.mark_down("b")  # idempotent
    ring.mark_up("b")
    assert ring.down == [] and ring.is_up("b")


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda r: r.add("a"), ValueError),
        (lambda r: r.add(""), ValueError),
        (lambda r: r.add(1), TypeError),
        (lambda r: r.add(b"x"), TypeError),
        (lambda r: r.add("x", 0), ValueError),
        (lambda r: r.add("x", -2.0), ValueError),
        (lambda r: r.add("x", math.nan), ValueError),
        (lambda r: r.add("x", math.inf), ValueError),
        (lambda r: r.add("x", "1"), TypeError),
        (lambda r: r.add("x", 10**9), ValueError),
        (lambda r: r.remove("zz"), KeyError),
        (lambda r: r.remove(1), TypeError),
        (lambda r: r.set_weight("zz", 1), KeyError),
        (lambda r: r.set_weight("a", 0), ValueError),
        (lambda r: r.set_weight("a", -1), ValueError),
        (lambda r: r.set_weight("a", math.nan), ValueError),
        (lambda r: r.set_weight("a", None), TypeError),
        (lambda r: r.mark_down("zz"), KeyError),
        (lambda r: r.mark_up("zz"), KeyError),
        (lambda r: r.mark_down(None), TypeError),
        (lambda r: r.weight("zz"), KeyError),
        (lambda r: r.is_up("zz"), KeyError),
    ],
)
def test_bad_changes_leave_the_ring_unchanged(cls, call, exc):
    ring = cls({"a": 1.0, "b": 2.0})
    keys = [f"k{i}" for i in range(200)]
    before = ring.route_many(keys)
    snapshot = copy.copy(ring)
    with pytest.raises(exc):
        call(ring)
    assert ring == snapshot
    assert ring.route_many(keys) == before


def test_key_error_names_the_node(cls):
    ring = cls(["a"])
    with pytest.raises(KeyError) as info:
        ring.remove("missing-node")
    assert info.value.args == ("missing-node",)


# --- containers, repr, equality, pickling ------------------------------------


def test_container_protocol(cls):
    ring = cls(["a", "b", "c"])
    assert len(ring) == 3
    assert sorted(ring) == ["a", "b", "c"]
    assert "a" in ring and "z" not in ring
    assert 1 not in ring and b"a" not in ring and None not in ring
    assert bool(ring) and not bool(cls())


def test_repr(cls):
    name = cls.__name__
    assert repr(cls(["a", "b"])) == f"{name}(['a', 'b'], vnodes=160)"
    assert repr(cls({"a": 1, "b": 2.5}, vnodes=40)) == f"{name}({{'a': 1.0, 'b': 2.5}}, vnodes=40)"
    assert repr(cls(["a", "b"], down=["b"])) == f"{name}(['a', 'b'], vnodes=160, down=['b'])"
    assert repr(cls([f"n{i}" for i in range(20)])).startswith(f"{name}(<20 nodes>, vnodes=160")
    assert repr(cls()) == f"{name}([], vnodes=160)"


def test_repr_roundtrip_small(cls):
    ring = cls({"a": 1.0, "b": 2.5}, vnodes=40, down=["a"])
    assert eval(repr(ring), {cls.__name__: cls}) == ring


def test_equality(cls):
    a = cls({"a": 1.0, "b": 2.0})
    assert a == cls({"b": 2.0, "a": 1.0})
    assert a != cls({"a": 1.0, "b": 2.5})
    assert a != cls({"a": 1.0, "b": 2.0}, vnodes=40)
    assert a != cls({"a": 1.0, "b": 2.0}, down=["a"])
    assert a != cls({"a": 1.0})
    assert a != "ring" and a != None  # noqa: E711
    assert (a == 1) is False
    with pytest.raises(TypeError):
        hash(a)


def test_ring_and_router_are_not_equal():
    assert Ring(["a"]) != Router(["a"])


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(cls, protocol):
    ring = cls({"a": 1.0, "b": 2.0, "c": 0.5}, vnodes=64, down=["c"])
    keys = [f"k{i}" for i in range(500)]
    clone = pickle.loads(pickle.dumps(ring, protocol=protocol))
    assert type(clone) is cls
    assert clone == ring
    assert clone.route_many(keys) == ring.route_many(keys)
    assert clone.vnodes == 64 and clone.down == ["c"]
    # Independent objects.
    clone.remove("a")
    assert "a" in ring


def test_copy(cls):
    ring = cls(["a", "b"])
    for clone in (copy.copy(ring), copy.deepcopy(ring)):
        assert clone == ring and clone is not ring
        clone.add("c")
        assert "c" not in ring


def test_subclass_pickles(cls):
    sub = type("Sub" + cls.__name__, (cls,), {})
    globals()[sub.__name__] = sub
    ring = sub(["a", "b"])
    clone = pickle.loads(pickle.dumps(ring))
    assert type(clone) is sub and clone == ring
    assert repr(ring).startswith(sub.__name__ + "(")


def test_points_only_on_the_ring_algorithm():
    points = Ring({"a": 1.0, "b": 0.5}, vnodes=10).points()
    assert len(points) == 15
    assert all(isinstance(p, int) and 0 <= p < 2**64 for p, _ in points)
    assert [p for p, _ in points] == sorted(p for p, _ in points)


def test_module_functions():
    assert ringroute.key_hash("") == 3244421341483603138
    assert ringroute.key_hash(b"key-0") == 9340302149712544120
    with pytest.raises(TypeError):
        ringroute.point_hash(b"alpha", 0)
    with pytest.raises(OverflowError):
        ringroute.point_hash("alpha", -1)
    assert isinstance(ringroute.__version__, str)


# --- Router settings --------------------------------------------------------


def test_router_settings_defaults():
    r = Router(["a"])
    assert r.outlier_detection == OutlierDetection()
    assert r.phi_accrual is None
    assert r.bounded_loads is None
    o = OutlierDetection()
    assert (o.consecutive_failures, o.base_ejection, o.max_ejection, o.max_ejected_share) == (5, 30.0, 300.0, 0.1)
    p = PhiAccrual()
    assert (p.threshold, p.max_samples, p.min_std_dev, p.acceptable_pause, p.first_heartbeat_estimate) == (8.0, 1000, 0.1, 0.0, 1.0)


def test_router_settings_forms():
    o = OutlierDetection(consecutive_failures=3, base_ejection=1, max_ejection=5)
    assert Router(["a"], outlier_detection=o).outlier_detection == o
    assert Router(["a"], outlier_detection={"consecutive_failures": 3, "base_ejection": 1, "max_ejection": 5}).outlier_detection == o
    assert Router(["a"], outlier_detection=False).outlier_detection is None
    assert Router(["a"], outlier_detection=None).outlier_detection is None
    assert Router(["a"], outlier_detection=True).outlier_detection == OutlierDetection()
    assert Router(["a"], phi_accrual=True).phi_accrual == PhiAccrual()
    assert Router(["a"], phi_accrual={"threshold": 3}).phi_accrual == PhiAccrual(threshold=3)
    assert Router(["a"], bounded_loads=1.25).bounded_loads == 1.25
    r = Router(["a"], outlier_detection=o, phi_accrual=True, bounded_loads=2)
    assert "phi_accrual=PhiAccrual(threshold=8.0" in repr(r)
    assert "outlier_detection=OutlierDetection(consecutive_failures=3" in repr(r)
    assert "bounded_loads=2" in repr(r)
    assert pickle.loads(pickle.dumps(r)) == r
    assert r != Router(["a"], outlier_detection=o, phi_accrual=True)
    assert "outlier_detection=False" in repr(Router(["a"], outlier_detection=False))


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"consecutive_failures": 0}, ValueError),
        ({"consecutive_failures": -1}, ValueError),
        ({"consecutive_failures": "5"}, TypeError),
        ({"base_ejection": 0}, ValueError),
        ({"base_ejection": -1}, ValueError),
        ({"base_ejection": math.nan}, ValueError),
        ({"base_ejection": "1s"}, TypeError),
        ({"base_ejection": 10, "max_ejection": 5}, ValueError),
        ({"max_ejected_share": 1.5}, ValueError),
        ({"max_ejected_share": -0.1}, ValueError),
        ({"max_ejected_share": math.nan}, ValueError),
        ({"bogus": 1}, TypeError),
    ],
)
def test_bad_outlier_settings(kwargs, exc):
    with pytest.raises(exc):
        OutlierDetection(**kwargs)
    if "bogus" not in kwargs:
        with pytest.raises(exc):
            Router(["a"], outlier_detection=kwargs)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"threshold": 0}, ValueError),
        ({"threshold": -1}, ValueError),
        ({"threshold": math.inf}, ValueError),
        ({"threshold": "8"}, TypeError),
        ({"max_samples": 0}, ValueError),
        ({"max_samples": 2**21}, ValueError),
        ({"min_std_dev": 0}, ValueError),
        ({"min_std_dev": -1}, ValueError),
        ({"first_heartbeat_estimate": 0}, ValueError),
        ({"acceptable_pause": -1}, ValueError),
    ],
)
def test_bad_phi_settings(kwargs, exc):
    with pytest.raises(exc):
        PhiAccrual(**kwargs)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"outlier_detection": "yes"}, TypeError),
        ({"outlier_detection": 5}, TypeError),
        ({"phi_accrual": "yes"}, TypeError),
        ({"phi_accrual": PhiAccrual}, TypeError),
        ({"bounded_loads": 0.5}, ValueError),
        ({"bounded_loads": math.nan}, ValueError),
        ({"bounded_loads": "2"}, TypeError),
        ({"clock": "now"}, TypeError),
        ({"clock": 5}, TypeError),
    ],
)
def test_bad_router_options(kwargs, exc):
    with pytest.raises(exc):
        Router(["a"], **kwargs)


def test_settings_pickle_and_repr():
    o = OutlierDetection(consecutive_failures=2, base_ejection=0.5)
    p = PhiAccrual(threshold=4.5, max_samples=10)
    c = ManualClock(12.5)
    assert pickle.loads(pickle.dumps(o)) == o
    assert pickle.loads(pickle.dumps(p)) == p
    assert pickle.loads(pickle.dumps(c)).now() == 12.5
    assert repr(o) == "OutlierDetection(consecutive_failures=2, base_ejection=0.5, max_ejection=300.0, max_ejected_share=0.1)"
    assert repr(p) == "PhiAccrual(threshold=4.5, max_samples=10, min_std_dev=0.1, acceptable_pause=0.0, first_heartbeat_estimate=1.0)"
    assert repr(c) == "ManualClock(12.5)"
    assert eval(repr(o), {"OutlierDetection": OutlierDetection}) == o
    assert eval(repr(p), {"PhiAccrual": PhiAccrual}) == p
    with pytest.raises(ValueError):
        ManualClock(-1)
    with pytest.raises(ValueError):
        c.advance(-1)
