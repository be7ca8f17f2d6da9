"""Type stubs of the ``ringroute`` package (re-exports of the native module)."""

from ringroute._ringroute import (
    ALGORITHMS,
    DEFAULT_VNODES,
    MAX_VNODES,
    EmptyRingError,
    Lease,
    ManualClock,
    NoNodeUpError,
    OutlierDetection,
    PhiAccrual,
    Ring,
    Router,
    Health as Health,
    Key as Key,
    Nodes as Nodes,
    __version__,
    key_hash,
    point_hash,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_VNODES",
    "MAX_VNODES",
    "EmptyRingError",
    "Lease",
    "ManualClock",
    "NoNodeUpError",
    "OutlierDetection",
    "PhiAccrual",
    "Ring",
    "Router",
    "__version__",
    "key_hash",
    "point_hash",
]
