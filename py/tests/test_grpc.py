"""A real RPC stack: three gRPC servers on loopback, a client that picks the
channel per key with ringroute (py/examples/grpc_sharding.py), sticky keys,
and failover when a server stops."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc")

from ringroute import ManualClock, OutlierDetection  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "grpc_sharding.py"


def load_example():
    spec = importlib.util.spec_from_file_location("grpc_sharding", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["grpc_sharding"] = module
    spec.loader.exec_module(module)
    return module


example = load_example()
NAMES = ["kv-a", "kv-b", "kv-c"]
KEYS = [f"user:{i}" for i in range(240)]


@pytest.fixture
def cluster():
    servers = {name: example.serve(name) for name in NAMES}
    clock = ManualClock()
    client = example.ShardedClient(
        {n: f"127.0.0.1:{port}" for n, (_, port) in servers.items()},
        router_options={
            "clock": clock,
            "outlier_detection": OutlierDetection(
                consecutive_failures=2, base_ejection=30, max_ejected_share=0.5
            ),
        },
    )
    yield servers, client, clock
    client.close()
    for server, _ in servers.values():
        server.stop(grace=None)


def served_by(client, key):
    server, echoed = client.get(key).split(":", 1)
    assert echoed == key
    return server


def test_example_main_runs():
    assert example.main() == 0


def test_sticky_keys_reach_the_same_server(cluster):
    servers, client, _ = cluster
    first = {k: served_by(client, k) for k in KEYS}
    assert set(first.values()) == set(NAMES)
    for k in KEYS:
        assert first[k] == client.router.route(k)
    for _ in range(2):
        assert {k: served_by(client, k) for k in KEYS} == first
    for name in NAMES:
        stats = client.router.stats(name)
        assert stats["failures"] == 0 and stats["in_flight"] == 0
        assert stats["successes"] == 3 * sum(1 for v in first.values() if v == name)


def test_stopped_server_fails_over_to_the_next_replica(cluster):
    servers, client, clock = cluster
    owner = {k: served_by(client, k) for k in KEYS}
    order = {k: client.router.failover(k) for k in KEYS}
    dead = owner[KEYS[0]]
    servers[dead][0].stop(grace=None).wait()

    for k in KEYS:  # every request succeeds
        expected = order[k][1] if owner[k] == dead else owner[k]
        assert served_by(client, k) == expected
    # Two failed calls ejected the dead server; after that no request tried it.
    assert client.router.health(dead) == "ejected"
    assert client.router.stats(dead)["failures"] == 2
    assert client.failovers == 2
    assert dead not in client.router.route_many(KEYS)

    # Its keys stay on the replicas while it is out.
    clock.advance(29)
    client.router.tick()
    assert client.router.health(dead) == "ejected"

    # The server comes back on the same port; once its channel is connected
    # again the ejection ends, and exactly its keys return to it.
    port = servers[dead][1]
    servers[dead] = example.serve(dead, port)
    grpc.channel_ready_future(client.channels[dead]).result(timeout=10)
    clock.advance(1)
    client.router.tick()
    assert client.router.health(dead) == "up"
    assert served_by(client, KEYS[0]) == dead
    assert {k: served_by(client, k) for k in KEYS} == owner


def test_manual_mark_down_moves_only_that_servers_keys(cluster):
    servers, client, _ = cluster
    owner = {k: served_by(client, k) for k in KEYS}
    client.router.mark_down("kv-b")
    for k in KEYS:
        got = served_by(client, k)
        if owner[k] == "kv-b":
            assert got != "kv-b"
        else:
            assert got == owner[k]
    client.router.mark_up("kv-b")
    assert {k: served_by(client, k) for k in KEYS} == owner


def test_all_servers_down_raises(cluster):
    servers, client, _ = cluster
    for server, _ in servers.values():
        server.stop(grace=None).wait()
    with pytest.raises(ConnectionError):
        client.get("user:1")


def test_keyless_pings_spread_and_skip_a_stopped_server(cluster):
    servers, client, _ = cluster
    answered = [client.ping() for _ in range(60)]
    assert set(answered) == set(NAMES)
    servers["kv-c"][0].stop(grace=None).wait()
    answered = [client.ping() for _ in range(60)]  # every ping succeeds
    assert set(answered) <= {"kv-a", "kv-b"}
    stats = client.router.stats("kv-c")
    assert stats["failures"] <= 2  # ejected after two failed calls
    assert client.router.health("kv-c") == "ejected"
