"""ringroute: which node serves this key?

A weighted consistent-hash ring with virtual nodes (and other sticky
placements), health-aware lookups and request leases, implemented in Rust.
The same keys reach the same nodes from Rust, C and Python (native ring
spec v2, ``SPEC_VERSION``).

>>> from ringroute import Ring
>>> ring = Ring({"cache-a": 1.0, "cache-b": 1.0, "cache-c": 2.0})
>>> ring.route("user:42") in ring
True
>>> len(ring.route_n("user:42", 2))
2

:class:`Ring` is a ring; :class:`Router` adds leases (``with
router.lease(key) as node: ...``), passive outlier ejection, phi-accrual
heartbeats and failover. :mod:`ringroute.compat` holds a drop-in for
uhashring's ``HashRing``.
"""

from ringroute._ringroute import (
    ALGORITHMS,
    COMPAT_MODES,
    DEFAULT_VNODES,
    MAX_VNODES,
    EmptyRingError,
    Lease,
    ManualClock,
    NoNodeUpError,
    OutlierDetection,
    PICKERS,
    SPEC_VERSION,
    PhiAccrual,
    Ring,
    Router,
    __version__,
    key_hash,
    point_hash,
)

__all__ = [
    "ALGORITHMS",
    "COMPAT_MODES",
    "DEFAULT_VNODES",
    "MAX_VNODES",
    "EmptyRingError",
    "Lease",
    "ManualClock",
    "NoNodeUpError",
    "OutlierDetection",
    "PICKERS",
    "SPEC_VERSION",
    "PhiAccrual",
    "Ring",
    "Router",
    "__version__",
    "key_hash",
    "point_hash",
]
