"""Primary and backup tiers through the Python API: backups stay idle
while the primaries are up, take the policy's spill share as primaries fail
(strict: nothing until all are down; proportional: max(0, 1 - 1.4 x up
share)), keys that stay on primaries do not move, and all return on
recovery."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringroute import Router

KEYS = [f"key:{i}" for i in range(6000)]
PRIMARIES = [f"primary-{i}" for i in range(8)]
BACKUPS = ["backup-0", "backup-1"]


def tiered(n: int, policy: str, **kw) -> Router:
    return Router(
        PRIMARIES[:n] + BACKUPS,
        tiers={b: 1 for b in BACKUPS},
        tier_policy=policy,
        outlier_detection=False,
        **kw,
    )


def expected_spill(policy: str, up: int, n: int) -> float:
    if policy == "strict":
        return 0.0 if up else 1.0
    return max(0.0, 1.0 - 1.4 * up / n)


def within(got: float, want: float, draws: int) -> bool:
    """Five standard deviations of a share measured over ``draws``."""
    return abs(got - want) <= 5 * math.sqrt(want * (1 - want) / draws) + 1e-9


def picks_on_backups(router: Router, picks: int) -> float:
    on = 0
    for _ in range(picks):
        with router.pick() as node:
            on += node.startswith("backup-")
    return on / picks


@pytest.mark.parametrize("algorithm", ["ring", "rendezvous", "maglev", "jump"])
@pytest.mark.parametrize("policy", ["strict", "proportional"])
def test_no_key_or_pick_reaches_a_backup_while_every_primary_is_up(algorithm, policy):
    kw = {"table_size": 1031} if algorithm == "maglev" else {}
    router = tiered(5, policy, algorithm=algorithm, **kw)
    assert not any(n.startswith("backup-") for n in router.route_many(KEYS))
    assert {router.key_tier(k) for k in KEYS[:500]} == {0}
    assert picks_on_backups(router, 300) == 0.0
    assert router.tier_shares == {0: 1.0, 1: 0.0}


@settings(max_examples=20)
@given(
    policy=st.sampled_from(["strict", "proportional"]),
    n=st.integers(min_value=2, max_value=8),
    data=st.data(),
)
def test_spill_share_stickiness_and_recovery(policy, n, data):
    down = data.draw(st.integers(min_value=0, max_value=n))
    router = tiered(n, policy)
    before = router.route_many(KEYS)
    failed = PRIMARIES[:down]
    for name in failed:
        router.mark_down(name)
    after = router.route_many(KEYS)
    spill = expected_spill(policy, n - down, n)
    on_backups = sum(a.startswith("backup-") for a in after) / len(KEYS)
    assert within(on_backups, spill, len(KEYS)), (on_backups, spill)
    assert router.tier_shares[1] == pytest.approx(spill, abs=1e-9)
    assert within(picks_on_backups(router, 2000), spill, 2000)
    # Keys that stay on primaries do not move (unless their primary failed).
    for b, a in zip(before, after):
        if not a.startswith("backup-") and b not in failed:
            assert a == b
    for name in failed:
        router.mark_up(name)
    assert router.route_many(KEYS) == before


def test_failover_walks_the_keys_tier_first():
    router = tiered(4, "proportional")
    for key in KEYS[:200]:
        order = router.route_n(key, 6)
        assert [router.tier(n) for n in order] == [0, 0, 0, 0, 1, 1]
        assert router.failover(key) == order
    for name in PRIMARIES[:3]:
        router.mark_down(name)
    spilled = next(k for k in KEYS if router.key_tier(k) == 1)
    assert [router.tier(n) for n in router.route_n(spilled, 6)] == [1, 1, 0]


def test_strict_serves_from_backups_only_when_every_primary_is_down():
    router = Router(["a", "b", "c"], tiers={"c": 1}, outlier_detection=False)
    assert router.tier_policy == "strict" and router.overprovisioning is None
    router.mark_down("a")
    assert set(router.route_many(KEYS[:500])) == {"b"}
    router.mark_down("b")
    assert set(router.route_many(KEYS[:500])) == {"c"}
    assert router.tier_shares == {0: 0.0, 1: 1.0}


def test_tier_changes_add_and_errors():
    router = Router(["a", "b"], outlier_detection=False)
    before = router.route_many(KEYS)
    router.add("standby", tier=1)
    assert router.tier("standby") == 1
    assert router.tiers == {"a": 0, "b": 0, "standby": 1}
    assert router.route_many(KEYS) == before
    router.set_tier("standby", 0)
    moved = [a for b, a in zip(before, router.route_many(KEYS)) if a != b]
    assert moved and set(moved) == {"standby"}
    version = router.version
    with pytest.raises(KeyError):
        router.set_tier("nobody", 1)
    with pytest.raises(ValueError):
        router.set_tier("a", -1)
    with pytest.raises(TypeError):
        router.set_tier("a", "1")
    with pytest.raises(TypeError):
        router.set_tier("a", True)
    with pytest.raises(ValueError):
        router.add("x", tier=2**32)
    assert "x" not in router
    assert router.version == version
    with pytest.raises(KeyError):
        Router(["a"], tiers={"zz": 1})
    with pytest.raises(TypeError):
        Router(["a"], tiers=["a"])
    with pytest.raises(ValueError):
        Router(["a"], tier_policy="random")
    with pytest.raises(ValueError):
        Router(["a"], tier_policy="proportional", overprovisioning=0)
    with pytest.raises(ValueError):
        Router(["a"], overprovisioning=1.4)


def test_repr_equality_and_pickle_keep_tiers():
    router = Router(
        ["a", "b", "c"], tiers={"c": 1}, tier_policy="proportional", overprovisioning=2.0
    )
    assert "tiers={'c': 1}" in repr(router)
    assert "tier_policy='proportional'" in repr(router)
    assert "overprovisioning=2.0" in repr(router)
    copy = pickle.loads(pickle.dumps(router))
    assert copy == router
    assert copy.tiers == router.tiers and copy.overprovisioning == 2.0
    assert copy.route_many(KEYS) == router.route_many(KEYS)
    assert Router(["a", "b", "c"]) != Router(["a", "b", "c"], tiers={"c": 1})
