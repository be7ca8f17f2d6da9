"""Router: leases as context managers, passive ejection, phi-accrual
heartbeats, failover, bounded loads, and sharing between threads."""

from __future__ import annotations

import threading
import time

import pytest

from ringroute import (
    EmptyRingError,
    Lease,
    ManualClock,
    NoNodeUpError,
    OutlierDetection,
    PhiAccrual,
    Router,
)

NODES = ["10.0.0.1:9000", "10.0.0.2:9000", "10.0.0.3:9000", "10.0.0.4:9000"]


def test_lease_success_records_latency_on_the_router_clock():
    clock = ManualClock()
    router = Router(NODES, clock=clock)
    with router.lease("user:42") as node:
        assert node == router.route("user:42")
        assert router.stats(node)["in_flight"] == 1
        clock.advance(0.25)
    stats = router.stats(node)
    latency = stats.pop("latency")
    assert stats == {"in_flight": 0, "successes": 1, "failures": 0, "consecutive_failures": 0}
    # The peak-EWMA latency starts at the first sample: 250 ms on the clock.
    assert latency == pytest.approx(0.25)


def test_lease_failure_on_exception_propagates():
    router = Router(NODES)
    with pytest.raises(ConnectionError):
        with router.lease("k") as node:
            raise ConnectionError("refused")
    assert router.stats(node)["failures"] == 1
    assert router.stats(node)["consecutive_failures"] == 1
    assert router.stats(node)["in_flight"] == 0


def test_lease_base_exception_is_abandoned_not_a_failure():
    router = Router(NODES)
    with pytest.raises(KeyboardInterrupt):
        with router.lease("k") as node:
            raise KeyboardInterrupt
    assert router.stats(node) == {
        "in_flight": 0,
        "successes": 0,
        "failures": 0,
        "consecutive_failures": 0,
        "latency": 0.0,
    }


def test_lease_reported_by_hand():
    router = Router(NODES)
    lease = router.lease("k")
    assert isinstance(lease, Lease)
    assert not lease.done and lease.node == router.route("k")
    assert "in flight" in repr(lease)
    lease.success(0.010)
    assert lease.done and "done" in repr(lease)
    with pytest.raises(RuntimeError):
        lease.failure()
    with pytest.raises(RuntimeError):
        lease.success()
    with pytest.raises(ValueError):
        with router.lease("k") as node:
            raise ValueError
    # Reporting inside the block wins over the block's outcome.
    lease3 = router.lease("k")
    with lease3:
        lease3.failure()
    assert router.stats(node)["failures"] == 2 and router.stats(node)["successes"] == 1


@pytest.mark.parametrize("latency, exc", [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_lease_bad_latency(latency, exc):
    lease = Router(NODES).lease("k")
    with pytest.raises(exc):
        lease.success(latency)
    assert not lease.done
    lease.abandon()
    assert lease.done


def test_dropped_lease_is_abandoned():
    router = Router(NODES)
    node = router.route("k")
    lease = router.lease("k")
    assert router.stats(node)["in_flight"] == 1
    del lease
    assert router.stats(node)["in_flight"] == 0


def test_lease_errors():
    with pytest.raises(EmptyRingError):
        Router().lease("k")
    with pytest.raises(NoNodeUpError):
        Router(["a"], down=["a"]).lease("k")
    with pytest.raises(TypeError):
        Router(NODES).lease(5)
    with pytest.raises(KeyError):
        Router(NODES).lease_on("nope")
    with pytest.raises(TypeError):
        Router(NODES).lease_on(5)


def test_consecutive_failures_eject_then_tick_restores():
    clock = ManualClock()
    router = Router(
        NODES,
        clock=clock,
        outlier_detection=OutlierDetection(consecutive_failures=3, base_ejection=30, max_ejected_share=0.5),
    )
    key = "session:1"
    primary, second = router.route_n(key, 2)
    version = router.version
    for _ in range(3):
        with pytest.raises(OSError):
            with router.lease(key):
                raise OSError("timeout")
    assert router.health(primary) == "ejected"
    assert not router.is_up(primary)
    assert router.version > version
    assert router.route(key) == second
    assert router.health() == {n: ("ejected" if n == primary else "up") for n in NODES}
    clock.advance(29)
    router.tick()
    assert router.route(key) == second
    clock.advance(1)
    router.tick()
    assert router.health(primary) == "up"
    assert router.route(key) == primary


def test_success_resets_the_failure_run():
    router = Router(NODES, outlier_detection=OutlierDetection(consecutive_failures=2))
    node = router.route("k")
    router.lease_on(node).failure()
    router.lease_on(node).success()
    router.lease_on(node).failure()
    assert router.health(node) == "up"
    router.lease_on(node).failure()
    assert router.health(node) == "ejected"


def test_no_outlier_detection_never_ejects():
    router = Router(NODES, outlier_detection=False)
    node = router.route("k")
    for _ in range(50):
        router.lease("k").failure()
    assert router.health(node) == "up"
    assert router.stats(node)["consecutive_failures"] == 50


def test_phi_accrual_marks_silent_nodes_unreachable():
    clock = ManualClock()
    router = Router(NODES, clock=clock, phi_accrual=PhiAccrual(threshold=8.0))
    for _ in range(10):
        for n in NODES:
            router.heartbeat(n)
        clock.advance(1.0)
    router.tick()
    assert set(router.health().values()) == {"up"}
    silent = NODES[0]
    for _ in range(3):
        for n in NODES[1:]:
            router.heartbeat(n)
        clock.advance(1.0)
    router.tick()
    assert router.health(silent) == "unreachable"
    assert silent not in router.route_many([f"k{i}" for i in range(500)])
    router.heartbeat(silent)
    assert router.health(silent) == "up"
    with pytest.raises(KeyError):
        router.heartbeat("nope")


def test_heartbeat_without_detector_is_a_noop():
    router = Router(NODES)
    router.heartbeat(NODES[0])
    router.tick()
    assert router.health(NODES[0]) == "up"


def test_manual_down_and_failover_order():
    router = Router(NODES)
    order = router.failover("user:7")
    assert sorted(order) == sorted(NODES)
    assert order == router.route_n("user:7", len(NODES))
    router.mark_down(order[0])
    assert router.health(order[0]) == "down"
    assert router.down == [order[0]]
    assert router.failover("user:7") == order[1:]
    assert router.route("user:7") == order[1]
    router.mark_up(order[0])
    assert router.route("user:7") == order[0]


def test_failover_loop_with_lease_on():
    router = Router(NODES, outlier_detection=OutlierDetection(consecutive_failures=1, max_ejected_share=1.0))
    dead = set(router.failover("k")[:2])
    served = None
    for node in router.failover("k"):
        try:
            with router.lease_on(node):
                if node in dead:
                    raise ConnectionRefusedError(node)
                served = node
                break
        except ConnectionRefusedError:
            continue
    assert served == router.failover("k")[0]
    assert served not in dead
    assert all(router.health(n) == "ejected" for n in dead)


def test_replace_keeps_state_of_staying_nodes():
    router = Router(NODES)
    router.mark_down(NODES[0])
    router.lease_on(NODES[1]).success()
    router.replace({NODES[0]: 1.0, NODES[1]: 2.0, "10.0.0.9:9000": 1.0})
    assert router.nodes == {NODES[0]: 1.0, NODES[1]: 2.0, "10.0.0.9:9000": 1.0}
    assert router.down == [NODES[0]]
    assert router.stats(NODES[1])["successes"] == 1
    with pytest.raises(ValueError):
        router.replace({"a": 0})
    assert len(router) == 3
    with pytest.raises(TypeError):
        router.replace("abc")


def test_bounded_loads_spill_to_the_next_replica():
    router = Router({"a": 1.0, "b": 1.0, "c": 1.0}, bounded_loads=1.0)
    key = "hot-key"
    held = [router.lease(key) for _ in range(9)]
    counts = {n: 0 for n in "abc"}
    for lease in held:
        counts[lease.node] += 1
    assert counts == {"a": 3, "b": 3, "c": 3}
    for lease in held:
        lease.success()
    # Without the bound, the hot key always goes to one node.
    plain = Router({"a": 1.0, "b": 1.0, "c": 1.0})
    assert len({plain.lease(key).node for _ in range(9)}) == 1


def test_now_is_the_clock():
    clock = ManualClock(5)
    router = Router(NODES, clock=clock)
    assert router.now() == 5.0
    clock.set(7.5)
    assert router.now() == 7.5
    real = Router(NODES)
    a = real.now()
    time.sleep(0.01)
    assert real.now() > a


def test_shared_between_threads_while_membership_changes():
    """Readers route (single and batch) while one writer adds, removes,
    reweights and marks nodes; every answer is a member that existed at the
    time, and nothing raises."""
    base = {f"node-{i}": 1.0 for i in range(8)}
    extra = [f"extra-{i}" for i in range(4)]
    all_names = set(base) | set(extra)
    keys = [f"key-{i}" for i in range(2000)]
    errors: list[BaseException] = []
    stop = threading.Event()

    for cls_router in (Router(base), Router(base, algorithm="ring", vnodes=40)):

        def reader(router=cls_router):
            try:
                while not stop.is_set():
                    for name in router.route_many(keys):
                        assert name in all_names
                    for k in keys[:200]:
                        assert router.route(k) in all_names
                        with router.lease(k) as node:
                            assert node in all_names
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def writer(router=cls_router):
            try:
                for round_ in range(60):
                    name = extra[round_ % len(extra)]
                    if name in router:
                        router.remove(name)
                    else:
                        router.add(name, 1.0 + (round_ % 3))
                    victim = f"node-{round_ % 8}"
                    router.mark_down(victim)
                    router.set_weight(f"node-{(round_ + 1) % 8}", 1.0 + round_ % 2)
                    router.mark_up(victim)
                    time.sleep(0.001)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        stop.clear()
        readers = [threading.Thread(target=reader) for _ in range(3)]
        w = threading.Thread(target=writer)
        for t in readers:
            t.start()
        w.start()
        w.join(timeout=60)
        stop.set()
        for t in readers:
            t.join(timeout=60)
        assert not errors, errors
        # Leases all ended.
        assert all(cls_router.stats(n)["in_flight"] == 0 for n in cls_router)


def test_ring_shared_between_threads_while_membership_changes():
    from ringroute import Ring

    ring = Ring({f"node-{i}": 1.0 for i in range(8)})
    keys = [f"key-{i}" for i in range(5000)]
    errors: list[BaseException] = []
    stop = threading.Event()
    valid = {f"node-{i}" for i in range(8)} | {"extra"}

    def reader():
        try:
            while not stop.is_set():
                out = ring.route_many(keys)
                assert set(out) <= valid
                assert ring.route("x") in valid
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def writer():
        try:
            for i in range(200):
                if i % 2:
                    ring.remove("extra")
                else:
                    ring.add("extra")
                ring.mark_down("node-1")
                ring.mark_up("node-1")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    writer()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert ring == Ring({f"node-{i}": 1.0 for i in range(8)})


def test_route_many_releases_the_gil():
    """Another Python thread makes progress while route_many routes."""
    from ringroute import Ring

    ring = Ring([f"node-{i}" for i in range(50)])
    keys = [f"key-{i}" for i in range(600_000)]  # several chunks
    for _attempt in range(5):
        progress = [0]
        running = threading.Event()
        stop = threading.Event()

        def spin():
            running.set()
            while not stop.is_set():
                progress[0] += 1

        t = threading.Thread(target=spin)
        t.start()
        running.wait()
        before = progress[0]
        ring.route_many(keys)
        during = progress[0] - before
        stop.set()
        t.join()
        if during > 0:
            return
    raise AssertionError("the spinning thread never ran during route_many")
