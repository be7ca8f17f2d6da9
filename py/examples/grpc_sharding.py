"""Sharding a gRPC service with ringroute: every key sticks to one server,
and when a server dies its keys fail over to their next replica.

Run it:  python py/examples/grpc_sharding.py

Three gRPC servers listen on 127.0.0.1 (ephemeral ports). They serve one
method, ``/ringroute.demo.KV/Get``, over raw bytes (grpcio's generic
handlers: no .proto file, no protoc), and answer ``"<server>:<key>"``, so the
client can see which server handled each key.

The client keeps one channel per server and a :class:`ringroute.Router`
over the server names. For each request it walks the key's failover order
(``router.failover(key)``: the primary, then each next replica) and calls
inside a lease (``with router.lease_on(node): ...``): a normal return
reports success and latency, an ``RpcError`` reports a failure, and a run of
failures ejects the server (passive outlier detection), so later requests
skip it without trying. ``router.tick()`` ends ejections whose time is up.

Requests without a key (here a ``Get`` of the empty key, as a ping) go
through ``router.pick()``, which spreads them over the healthy servers with
the router's picker (least connections by default), with the same lease.
"""

from __future__ import annotations

import sys
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from ringroute import OutlierDetection, Router

SERVICE = "ringroute.demo.KV"
METHOD = f"/{SERVICE}/Get"

# Quick reconnects, so a restarted server is reachable again at once.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


def serve(name: str, port: int = 0) -> tuple[grpc.Server, int]:
    """Starts a server named ``name`` on 127.0.0.1:``port`` (0: any free
    port). Returns the server and its port."""

    def get(request: bytes, context: grpc.ServicerContext) -> bytes:
        return name.encode() + b":" + request

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {"Get": grpc.unary_unary_rpc_method_handler(get)},  # raw bytes in and out
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


@dataclass
class ShardedClient:
    """Sends each key to its server, failing over along the key's replicas.

    ``addresses`` maps server name (the ring identity) to ``host:port``.
    Extra keyword arguments go to :class:`ringroute.Router` (``clock=``,
    ``outlier_detection=``, ...).
    """

    addresses: dict[str, str]
    timeout: float = 2.0
    router_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        options = {
            # Two failed calls in a row eject a server for 30 s (then 60 s, ...).
            "outlier_detection": OutlierDetection(consecutive_failures=2, max_ejected_share=0.5),
            **self.router_options,
        }
        self.router = Router(list(self.addresses), **options)
        self.channels = {
            name: grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
            for name, addr in self.addresses.items()
        }
        self.stubs = {
            name: ch.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
            for name, ch in self.channels.items()
        }
        self.failovers = 0

    def get(self, key: str) -> str:
        """Calls ``Get(key)`` on the key's server, or on its next replicas
        while servers are unavailable. Returns the reply as text."""
        last_error: grpc.RpcError | None = None
        for attempt, node in enumerate(self.router.failover(key)):
            try:
                with self.router.lease_on(node):  # success/failure + latency
                    reply = self.stubs[node](key.encode(), timeout=self.timeout)
            except grpc.RpcError as error:
                if error.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise
                last_error = error
                continue  # the lease reported the failure; next replica
            if attempt:
                self.failovers += 1
            return reply.decode()
        raise ConnectionError(f"no replica of {key!r} answered") from last_error

    def ping(self, attempts: int = 3) -> str:
        """A request without a key: any healthy server may answer. Returns
        the name of the server that did."""
        last_error: grpc.RpcError | None = None
        for _ in range(attempts):
            try:
                with self.router.pick() as node:
                    reply = self.stubs[node](b"", timeout=self.timeout)
            except grpc.RpcError as error:
                last_error = error
                continue  # reported as a failure; pick again
            return reply.decode().split(":", 1)[0]
        raise ConnectionError("no server answered the ping") from last_error

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()


def main() -> int:
    names = ["kv-a", "kv-b", "kv-c"]
    servers = {name: serve(name) for name in names}
    client = ShardedClient({n: f"127.0.0.1:{port}" for n, (_, port) in servers.items()})
    keys = [f"user:{i}" for i in range(300)]
    try:
        owner = {}
        for key in keys:
            server, echoed = client.get(key).split(":", 1)
            assert echoed == key
            assert server == client.router.route(key), "sticky: the key's own server answered"
            owner[key] = server
        shares = {n: sum(1 for s in owner.values() if s == n) for n in names}
        print(f"{len(keys)} keys over {len(names)} servers: {shares}")
        assert all(client.get(k).split(":")[0] == owner[k] for k in keys), "same server again"
        print("second pass: every key reached the same server again")
        pings = {n: 0 for n in names}
        for _ in range(30):
            pings[client.ping()] += 1
        print(f"30 keyless pings through router.pick(): {pings}")

        dead = owner[keys[0]]
        replica = {k: client.router.route_n(k, 2)[1] for k in keys}
        servers[dead][0].stop(grace=None).wait()
        print(f"stopped {dead}")
        for key in keys:
            server = client.get(key).split(":")[0]
            expected = replica[key] if owner[key] == dead else owner[key]
            assert server == expected, (key, server, expected)
        answered = {client.ping() for _ in range(30)}
        assert dead not in answered
        print(f"30 more pings after the stop were answered by {sorted(answered)}")
        moved = sum(1 for k in keys if owner[k] == dead)
        stats = client.router.stats(dead)
        print(
            f"all {len(keys)} requests succeeded; {moved} keys of {dead} went to their next "
            f"replica ({client.failovers} retried after a failed call, the rest went straight "
            f"there); {dead} is {client.router.health(dead)} after {stats['failures']} failed "
            f"calls in all; no other key moved"
        )
        return 0
    finally:
        client.close()
        for server, _ in servers.values():
            server.stop(grace=None)


if __name__ == "__main__":
    sys.exit(main())
