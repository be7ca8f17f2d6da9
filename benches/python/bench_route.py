#!/usr/bin/env python3
"""ringroute vs uhashring, in one run: per-call routing, batch routing and
ring build time.

    python benches/python/bench_route.py            # full run (~1 minute)
    python benches/python/bench_route.py --smoke    # tiny counts: just checks it runs

Needs ``ringroute`` (pip install ./py) and, for the comparison, ``uhashring``
(pip install uhashring). Each figure is the best of several repeats (the
least disturbed by other work on the machine), measured twice: as CPU time
of the benchmarking thread (``time.thread_time``: what the code costs, even
on a machine busy with other work) and as wall time (``time.perf_counter``;
the same on an idle machine). Goals and ratios use the CPU figures.
Per-call figures include the Python ``for`` loop that makes the calls; the
loop alone is printed too.

Goals (docs of the Python package): ``route()`` <= 120 ns, ``route_many``
>= 20 M keys/s, building 1000 nodes <= 5 ms.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time

import ringroute
from ringroute.compat import HashRing as CompatHashRing

try:
    import uhashring
except ImportError:  # the comparison is skipped
    uhashring = None


class Timing:
    """Best CPU and wall time of some runs, in seconds."""

    def __init__(self, cpu: float, wall: float) -> None:
        self.cpu = cpu
        self.wall = wall

    def scaled(self, factor: float) -> "Timing":
        return Timing(self.cpu * factor, self.wall * factor)

    def rate(self, n: int) -> "Timing":
        return Timing(n / self.cpu, n / self.wall)


def best_of(repeats: int, fn) -> Timing:
    """Smallest thread-CPU and wall times of ``fn()`` over ``repeats`` runs."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            w0, c0 = time.perf_counter(), time.thread_time()
            fn()
            c1, w1 = time.thread_time(), time.perf_counter()
        finally:
            gc.enable()
        cpu, wall = min(cpu, c1 - c0), min(wall, w1 - w0)
    return Timing(cpu, wall)


def per_call_ns(fn, keys, repeats: int) -> Timing:
    def run():
        for k in keys:
            fn(k)

    return best_of(repeats, run).scaled(1e9 / len(keys))


def fmt(t: Timing, unit: str, digits: int = 1) -> str:
    return f"{t.cpu:10.{digits}f} {unit}  (wall {t.wall:.{digits}f})"


def node_names(n: int) -> list[str]:
    return [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}:11211" for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts, for CI")
    parser.add_argument("--nodes", type=int, default=100, help="nodes for the routing benches")
    args = parser.parse_args()

    if args.smoke:
        n_keys, n_batch, repeats, build_nodes, build_repeats = 2_000, 20_000, 2, 100, 2
    else:
        n_keys, n_batch, repeats, build_nodes, build_repeats = 200_000, 2_000_000, 7, 1000, 7

    names = node_names(args.nodes)
    keys = [f"user:{i}:session" for i in range(n_keys)]
    bkeys = [k.encode() for k in keys]
    batch = [f"user:{i}:session" for i in range(n_batch)]
    bbatch = [k.encode() for k in batch]

    ring = ringroute.Ring(names)
    router = ringroute.Router(names)
    rows: list[tuple[str, str]] = []

    print(
        f"ringroute {ringroute.__version__}, Python {platform.python_version()} "
        f"({platform.machine()}), {args.nodes} nodes x 160 vnodes, "
        f"{n_keys:,} distinct keys per call bench, {n_batch:,} keys per batch"
        + (" [SMOKE: figures not meaningful]" if args.smoke else "")
    )

    def noop(k):
        pass

    loop = per_call_ns(noop, keys, repeats)
    ring_route = per_call_ns(ring.route, keys, repeats)
    ring_route_b = per_call_ns(ring.route, bkeys, repeats)
    router_route = per_call_ns(router.route, keys, repeats)
    rows += [
        ("empty Python loop + call of a no-op function", fmt(loop, "ns/call")),
        ("Ring.route(str)", fmt(ring_route, "ns/call")),
        ("Ring.route(bytes)", fmt(ring_route_b, "ns/call")),
        ("Router.route(str)", fmt(router_route, "ns/call")),
    ]

    uh_get = None
    if uhashring is not None:
        uh = uhashring.HashRing(names)
        uh_keys = keys[: max(1, n_keys // 10)]  # it is slow; fewer keys suffice
        uh_get = per_call_ns(uh.get_node, uh_keys, repeats)
        rows.append(("uhashring HashRing.get_node(str)", fmt(uh_get, "ns/call")))
    compat = CompatHashRing(names)
    compat_get = per_call_ns(compat.get_node, keys, repeats)
    rows.append(("ringroute.compat.HashRing.get_node(str)", fmt(compat_get, "ns/call")))

    many = best_of(repeats, lambda: ring.route_many(batch)).rate(n_batch).scaled(1e-6)
    many_b = best_of(repeats, lambda: ring.route_many(bbatch)).rate(n_batch).scaled(1e-6)
    many_r = best_of(repeats, lambda: router.route_many(batch)).rate(n_batch).scaled(1e-6)
    rows += [
        ("Ring.route_many(list of str)", fmt(many, "M keys/s")),
        ("Ring.route_many(list of bytes)", fmt(many_b, "M keys/s")),
        ("Router.route_many(list of str)", fmt(many_r, "M keys/s")),
    ]
    uh_many = None
    if uhashring is not None:
        get = uh.get_node
        small = batch[: max(1, n_batch // 20)]
        uh_many = best_of(max(1, repeats // 2), lambda: [get(k) for k in small]).rate(len(small)).scaled(1e-6)
        rows.append(("uhashring [get_node(k) for k in keys]", fmt(uh_many, "M keys/s", 3)))

    build_names = node_names(build_nodes)
    build_ring = best_of(build_repeats, lambda: ringroute.Ring(build_names)).scaled(1e3)
    build_router = best_of(build_repeats, lambda: ringroute.Router(build_names)).scaled(1e3)
    rows += [
        (f"Ring({build_nodes} nodes) build", fmt(build_ring, "ms", 2)),
        (f"Router({build_nodes} nodes) build", fmt(build_router, "ms", 2)),
    ]
    uh_build = None
    if uhashring is not None:
        uh_build = best_of(max(1, build_repeats // 3), lambda: uhashring.HashRing(build_names)).scaled(1e3)
        rows.append((f"uhashring HashRing({build_nodes} nodes) build", fmt(uh_build, "ms", 2)))
    compat_build = best_of(build_repeats, lambda: CompatHashRing(build_names)).scaled(1e3)
    rows.append((f"ringroute.compat.HashRing({build_nodes} nodes) build", fmt(compat_build, "ms", 2)))

    width = max(len(r[0]) for r in rows)
    print()
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")

    if args.smoke:
        print("\nsmoke run: ok (too few keys and repeats for the figures to mean anything)")
        return 0

    print()
    goals = [
        ("Ring.route(str) <= 120 ns", ring_route.cpu <= 120),
        ("Ring.route_many >= 20 M keys/s", many.cpu >= 20),
        (f"build of {build_nodes} nodes <= 5 ms", build_ring.cpu <= 5),
    ]
    for label, ok in goals:
        print(f"  goal {label}: {'met' if ok else 'NOT met'}")
    if uhashring is not None:
        print()
        print(f"  route() vs uhashring get_node: {uh_get.cpu / ring_route.cpu:6.1f}x faster")
        print(f"  route_many vs uhashring get_node loop: {many.cpu / uh_many.cpu:6.0f}x faster")
        print(f"  build vs uhashring: {uh_build.cpu / build_ring.cpu:6.0f}x faster")
        print(
            f"  compat.HashRing (same routes as uhashring): get_node "
            f"{uh_get.cpu / compat_get.cpu:.1f}x, build {uh_build.cpu / compat_build.cpu:.1f}x faster"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
