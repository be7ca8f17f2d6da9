"""Router.pick(): non-sticky choice for requests without a key, with the
same lease (success, failure, latency) as sticky requests."""

from __future__ import annotations

import pickle
from collections import Counter

import pytest

import ringroute
from ringroute import EmptyRingError, ManualClock, NoNodeUpError, OutlierDetection, Router

NODES = ["a", "b", "c"]


def test_pickers_listed_and_default():
    assert ringroute.PICKERS[0] == "least_connections"
    assert Router(NODES).picker == "least_connections"
    assert Router(NODES).ewma_decay is None
    for picker in ringroute.PICKERS:
        router = Router(NODES, picker=picker)
        assert router.picker == picker
        with router.pick() as node:
            assert node in NODES
        clone = pickle.loads(pickle.dumps(router))
        assert clone == router and clone.picker == picker


def test_round_robin_cycles_over_up_nodes():
    router = Router(NODES, picker="round_robin")
    seen = [router.pick().node for _ in range(9)]
    assert Counter(seen) == {"a": 3, "b": 3, "c": 3}
    assert seen[:3] == seen[3:6] == seen[6:]
    router.mark_down("b")
    assert {router.pick().node for _ in range(10)} == {"a", "c"}


def test_weighted_random_follows_weights():
    router = Router({"a": 1.0, "b": 3.0}, picker="weighted_random")
    counts = Counter(router.pick().node for _ in range(8000))
    assert 0.70 < counts["b"] / 8000 < 0.80


def test_smooth_weighted_interleaves():
    router = Router({"a": 5.0, "b": 1.0, "c": 1.0}, picker="smooth_weighted")
    seq = [router.pick().node for _ in range(7)]
    assert Counter(seq) == {"a": 5, "b": 1, "c": 1}
    assert seq[0] == "a" and seq[:2] != ["a", "a"] or seq.count("a") == 5


def test_least_connections_avoids_busy_nodes():
    router = Router(NODES, picker="least_connections")
    busy = [router.lease_on("a") for _ in range(20)] + [router.lease_on("b") for _ in range(20)]
    counts = Counter()
    for _ in range(200):
        lease = router.pick()
        counts[lease.node] += 1
        lease.success()
    # Power of two choices: "c" wins whenever it is one of the two drawn
    # (2 pairs in 3), and the busy nodes share the rest.
    assert counts["c"] > 110 and counts["c"] == max(counts.values()), counts
    for lease in busy:
        lease.abandon()


def test_least_response_time_prefers_fast_nodes():
    clock = ManualClock()
    router = Router(NODES, picker="least_response_time", ewma_decay=5.0, clock=clock)
    assert router.ewma_decay == 5.0
    for node, latency in (("a", 0.5), ("b", 0.5), ("c", 0.005)):
        for _ in range(3):
            router.lease_on(node).success(latency)
    counts = Counter()
    for _ in range(300):
        lease = router.pick()
        counts[lease.node] += 1
        lease.success(0.005 if lease.node == "c" else 0.5)
    # Power of two choices: the fast node wins whenever it is drawn.
    assert counts["c"] > 170 and counts["c"] == max(counts.values()), counts
    assert router.stats("c")["latency"] == pytest.approx(0.005, rel=0.2)
    assert "picker='least_response_time', ewma_decay=5.0" in repr(router)


def test_pick_lease_reports_like_a_sticky_lease():
    router = Router(NODES, picker="round_robin", outlier_detection=OutlierDetection(consecutive_failures=2))
    failed = None
    for _ in range(6):
        try:
            with router.pick() as node:
                if node == "b":
                    raise TimeoutError
        except TimeoutError:
            failed = node
    assert failed == "b"
    assert router.stats("b")["failures"] == 2
    assert router.health("b") == "ejected"
    assert all(router.pick().node != "b" for _ in range(20))
    assert router.stats("a")["successes"] >= 2


def test_pick_errors():
    with pytest.raises(EmptyRingError):
        Router().pick()
    with pytest.raises(NoNodeUpError):
        Router(NODES, down=NODES).pick()


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"picker": "random"}, ValueError),
        ({"picker": 3}, TypeError),
        ({"ewma_decay": 5.0}, ValueError),  # only with least_response_time
        ({"picker": "round_robin", "ewma_decay": 1.0}, ValueError),
        ({"picker": "least_response_time", "ewma_decay": 0}, ValueError),
        ({"picker": "least_response_time", "ewma_decay": -1}, ValueError),
        ({"picker": "least_response_time", "ewma_decay": "1s"}, TypeError),
    ],
)
def test_bad_picker_options(kwargs, exc):
    with pytest.raises(exc):
        Router(NODES, **kwargs)
