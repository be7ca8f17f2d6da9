"""A drop-in for uhashring's ``HashRing`` (uhashring 2.x), backed by Rust.

>>> from ringroute.compat import HashRing
>>> ring = HashRing(nodes=["node1", "node2", "node3"])
>>> ring.get_node("coconut") in ("node1", "node2", "node3")
True

Same constructor (``nodes`` as a name, a list or a dict of per-node
configuration; ``vnodes``, ``weight_fn``, ``hash_fn``, ``replicas``), same
methods and properties (``get_node``, ``get``, ``get_points``,
``get_server``, ``range``, ``iterate_nodes``, ``add_node``, ``remove_node``,
``regenerate``, ``distribution``, ``ring``, ``size``, ...), and the same
answers:

* the default (md5) continuum is bit-compatible: ``vnodes * weight``
  points per node, point ``w`` of node ``n`` at
  ``int(md5(f"{n}-{w}").hexdigest(), 16)``, keys hashed as
  ``md5(str(key).encode())``, first point strictly after the key's hash;
* ``hash_fn="ketama"`` is bit-compatible too (uhashring's ketama points and
  ordering, ``replicas`` 32-bit words per md5);
* with a custom ``hash_fn`` callable, the continuum is kept in Python exactly
  as uhashring does (correct, not faster).

It is checked against the real uhashring in ``py/tests/test_compat.py``.
The behaviour is uhashring 2.5's: 2.4 and older kept a node's old points
when its weight or vnodes changed in place (a bug 2.5 fixed).

uhashring's ``runtime`` attribute (its internal ``KetamaRing``/``MetaRing``,
with ``_nodes``, ``_ring``, ``_keys`` and ``_replicas``) is deliberately not
mirrored: it is private, uhashring's own tests are its only documented user,
and writing through it (``runtime._nodes[...] = ...``) would bypass the
continuum here, so a stand-in could only half-work. The public ``conf``,
``ring``, ``distribution`` and ``get_points()`` carry the same information.

Not the native ring: use :class:`ringroute.Ring` for the xxh3-based ring
shared with the Rust and C libraries. A ``HashRing`` is as thread-safe as
uhashring's (lookups are, concurrent changes are not).
"""

from __future__ import annotations

import operator
from bisect import bisect
from collections import Counter
from typing import Any, Callable, Counter as CounterT, Dict, Hashable, Iterator, KeysView, List, Optional, Tuple, Union

from ringroute._ringroute import _Continuum

__all__ = ["HashRing"]

_FIELDS = ("hostname", "instance", "nodename", "port", "vnodes", "weight")
_RING_FIELDS = ("nodename", "vnodes", "weight")


class _PyContinuum:
    """The continuum for a user-supplied ``hash_fn``: points are whatever it
    returns, kept sorted in Python (the interface of ``_Continuum``)."""

    def __init__(self, hash_fn: Callable[[Any], Any]) -> None:
        self._hash = hash_fn
        self._nodes: Dict[int, Any] = {}
        self._ring: Dict[Any, int] = {}
        self._points: Dict[int, List[Any]] = {}
        self._keys: List[Any] = []

    def hashi(self, key: Any) -> Any:
        return self._hash(key)

    def _drop(self, node_id: int) -> None:
        for point in self._points.pop(node_id, ()):
            if self._ring.get(point) == node_id:
                del self._ring[point]

    def set_nodes(self, entries: List[Tuple[int, Any, str, int]]) -> None:
        for node_id, node, label, count in entries:
            self._drop(node_id)
            points = []
            for w in range(count):
                point = self._hash(f"{label}-{w}")
                self._ring[point] = node_id
                points.append(point)
            self._points[node_id] = points
            self._nodes[node_id] = node
        self._keys = sorted(self._ring)

    def remove_node(self, node_id: int) -> None:
        self._drop(node_id)
        self._nodes.pop(node_id, None)
        self._keys = sorted(self._ring)

    def position(self, key: Any) -> int:
        pos = bisect(self._keys, self._hash(key))
        return 0 if pos == len(self._keys) else pos

    def _owner(self, point: Any) -> Any:
        return self._nodes[self._ring[point]]

    def lookup(self, key: Any) -> Any:
        if not self._keys:
            return None
        return self._owner(self._keys[self.position(key)])

    def server(self, key: Any) -> Optional[Tuple[Any, Any]]:
        if not self._keys:
            return None
        point = self._keys[self.position(key)]
        return (point, self._owner(point))

    def walk(self, key: Any, limit: Optional[int] = None, unique: bool = True) -> List[Any]:
        out: List[Any] = []
        if not self._keys:
            return out
        start = self.position(key)
        seen = set()
        n = len(self._keys)
        for step in range(n):
            node_id = self._ring[self._keys[(start + step) % n]]
            if unique:
                if node_id in seen:
                    continue
                seen.add(node_id)
            out.append(self._nodes[node_id])
            if limit is not None and len(out) == limit:
                break
        return out

    def points(self) -> List[Tuple[Any, Any]]:
        return [(k, self._owner(k)) for k in self._keys]

    def keys(self) -> List[Any]:
        return list(self._keys)

    def ring(self) -> Dict[Any, Any]:
        return {k: self._owner(k) for k in self._keys}

    def __len__(self) -> int:
        return len(self._ring)


# The default of ``nodes``: no node. ``None`` is not accepted (uhashring
# raises ``ValueError`` for it), so it cannot be the default.
_NO_NODES: Any = object()


class HashRing:
    """A consistent hash ring with uhashring's API and placement.

    :param nodes: a node name, a list of names, or a dict of name to either
        an int weight or a dict of configuration (``hostname``, ``instance``,
        ``nodename``, ``port``, ``vnodes``, ``weight``). Anything else,
        ``None`` included, is a ``ValueError``, as in uhashring.
    :param vnodes: virtual nodes per unit of weight (default 160; 40 with
        ``hash_fn="ketama"``).
    :param weight_fn: called with a node's configuration as keyword
        arguments, returns its weight.
    :param hash_fn: ``None`` (md5), ``"ketama"``, or a callable hashing a
        string to a sortable value.
    :param replicas: points per md5 digest with ``hash_fn="ketama"`` (at
        most 4; default 4).
    """

    def __init__(self, nodes: Any = _NO_NODES, **kwargs: Any) -> None:
        hash_fn = kwargs.get("hash_fn")
        vnodes = kwargs.get("vnodes")
        weight_fn = kwargs.get("weight_fn")
        self._ketama = hash_fn == "ketama"
        self._python = False
        if self._ketama:
            self._continuum: Union[_Continuum, _PyContinuum] = _Continuum(
                ketama=True, replicas=kwargs.get("replicas", 4)
            )
            self._replicas = kwargs.get("replicas", 4)
            default_vnodes = 40
        elif hash_fn is None:
            self._continuum = _Continuum()
            default_vnodes = 160
        elif callable(hash_fn):
            self._continuum = _PyContinuum(hash_fn)
            self._python = True
            default_vnodes = 160
        else:
            raise TypeError("hash_fn should be a callable function")
        self._default_vnodes = default_vnodes if vnodes is None else vnodes
        if weight_fn is not None and not callable(weight_fn):
            raise TypeError("weight_fn should be a callable function")
        self._weight_fn = weight_fn
        self._conf: Dict[Hashable, Dict[str, Any]] = {}
        self._ids: Dict[Hashable, int] = {}
        self._next_id = 0
        self._distribution: CounterT[Hashable] = Counter()
        if self._configure([] if nodes is _NO_NODES else nodes):
            self._place(list(self._conf))

    # --- configuration ------------------------------------------------------

    def _configure(self, nodes: Any) -> bool:
        """Merges ``nodes`` into the configuration; True if the continuum
        must change."""
        if isinstance(nodes, str):
            nodes = [nodes]
        elif not isinstance(nodes, (dict, list)):
            raise ValueError(f"nodes configuration should be a list or a dict, got {type(nodes)}")
        changed = False
        for node in nodes:
            before = self._conf.get(node, {})
            conf: Dict[str, Any] = {
                "hostname": node,
                "instance": None,
                "nodename": node,
                "port": None,
                "vnodes": self._default_vnodes,
                "weight": 1,
            }
            changed = changed or not before
            if isinstance(nodes, dict):
                spec = nodes[node]
                if isinstance(spec, int):
                    conf["weight"] = spec
                elif isinstance(spec, dict):
                    for field, value in spec.items():
                        if field not in conf:
                            continue
                        conf[field] = value
                        if field in _RING_FIELDS and before.get(field) != value:
                            changed = True
                else:
                    raise ValueError(
                        f"node configuration should be a dict or an int, got {type(spec)}"
                    )
            if self._weight_fn is not None:
                conf["weight"] = self._weight_fn(**conf)
            if before.get("weight") != conf["weight"]:
                changed = True
            self._conf[node] = conf
            if node not in self._ids:
                self._ids[node] = self._next_id
                self._next_id += 1
        return changed

    def _place(self, names: List[Hashable]) -> None:
        """Recomputes the points of ``names`` (all nodes for ketama)."""
        if self._ketama:
            self._rebuild_ketama()
            return
        entries = []
        for node in names:
            conf = self._conf[node]
            count = operator.index(conf["vnodes"] * conf["weight"])
            entries.append((self._ids[node], node, f"{node}", max(count, 0)))
        self._continuum.set_nodes(entries)
        for _, node, _, count in entries:
            self._distribution.pop(node, None)
            if count > 0:
                self._distribution[node] = count

    def _rebuild_ketama(self) -> None:
        total = sum(conf["weight"] for conf in self._conf.values())
        n = len(self._conf)
        entries = []
        distribution: CounterT[Hashable] = Counter()
        for node, conf in self._conf.items():
            ks = operator.index((conf["vnodes"] * n * conf["weight"]) // total)
            ks = max(ks, 0)
            entries.append((self._ids[node], node, f"{node}", ks))
            if ks and self._replicas > 0:
                distribution[node] = ks * self._replicas
        assert isinstance(self._continuum, _Continuum)
        self._continuum.rebuild(entries)
        self._distribution = distribution

    # --- membership -----------------------------------------------------------

    def __setitem__(self, nodename: Hashable, conf: Any = None) -> None:
        """Adds (or reconfigures) ``nodename``; ``conf`` is an int weight or
        a configuration dict (default ``{"weight": 1}``)."""
        if conf is None:
            conf = {"weight": 1}
        if self._configure({nodename: conf}):
            self._place([nodename])

    add_node = __setitem__

    def __delitem__(self, nodename: Hashable) -> None:
        """Removes ``nodename``; ``KeyError`` if it is not a node."""
        if nodename not in self._conf:
            raise KeyError(
                f"node '{nodename}' not found, available nodes: {self._conf.keys()}"
            )
        del self._conf[nodename]
        node_id = self._ids.pop(nodename)
        self._distribution.pop(nodename, None)
        if self._ketama:
            self._rebuild_ketama()
        else:
            self._continuum.remove_node(node_id)

    remove_node = __delitem__

    def regenerate(self) -> None:
        """Re-evaluates ``weight_fn`` for every node and rebuilds the ring."""
        self._configure(dict(self._conf))
        self._place(list(self._conf))

    # --- lookups ----------------------------------------------------------------

    def hashi(self, key: Any, replica: int = 0) -> Any:
        """The hash of ``key`` (ketama: word ``replica`` of its md5)."""
        if isinstance(self._continuum, _Continuum) and self._ketama:
            return self._continuum.ketama_word(key, replica)
        return self._continuum.hashi(key)

    def get_key(self, key: Any) -> Any:
        """The hash of ``key`` (hash_ring compatibility)."""
        return self.hashi(key)

    def _get_pos(self, key: Any) -> int:
        return self._continuum.position(key)

    def _get(self, key: Any, what: str) -> Any:
        if not len(self._continuum):
            return None
        if what == "pos":
            return self._continuum.position(key)
        found = self._continuum.server(key)
        assert found is not None
        point, node = found
        if what in ("hostname", "instance", "port", "weight"):
            return self._conf[node][what]
        if what == "dict":
            return self._conf[node]
        if what == "nodename":
            return node
        if what == "tuple":
            return (point, node)
        return None

    def get_node(self, key: Any) -> Any:
        """The name of the node for ``key`` (``None`` if the ring is empty)."""
        return self._continuum.lookup(key)

    def __getitem__(self, key: Any) -> Any:
        """The ``instance`` of the node for ``key``."""
        return self._get(key, "instance")

    get_node_instance = __getitem__

    def get(self, key: Any) -> Optional[Dict[str, Any]]:
        """The configuration dict of the node for ``key``."""
        node = self._continuum.lookup(key)
        return None if node is None else self._conf[node]

    def get_node_hostname(self, key: Any) -> Any:
        return self._get(key, "hostname")

    def get_node_port(self, key: Any) -> Any:
        return self._get(key, "port")

    def get_node_pos(self, key: Any) -> Optional[int]:
        pos: Optional[int] = self._get(key, "pos")
        return pos

    def get_node_weight(self, key: Any) -> Any:
        return self._get(key, "weight")

    def get_server(self, key: Any) -> Optional[Tuple[Any, Any]]:
        """``(point, nodename)`` for ``key`` (ketama compatibility)."""
        return self._continuum.server(key)

    def get_instances(self) -> List[Any]:
        """The ``instance`` of every node that has one."""
        return [c.get("instance") for c in self._conf.values() if c.get("instance")]

    def get_nodes(self) -> KeysView[Hashable]:
        """The names of all configured nodes."""
        return self._conf.keys()

    def get_points(self) -> List[Tuple[Any, Any]]:
        """``(point, nodename)`` for every point, in ring order."""
        return self._continuum.points()

    def range(self, key: Any, size: Optional[int] = None, unique: bool = True) -> Iterator[Dict[str, Any]]:
        """Configurations of the nodes met clockwise from ``key``: each node
        once (``unique``), at most ``size`` of them."""
        # uhashring stops when the count of nodes yielded equals `size`
        # (`size or len(nodes)` when unique); a limit it never reaches
        # (None, 0, negative, fractional) means "all".
        limit = (size or len(self._conf)) if unique else size
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        if not isinstance(limit, int) or limit < 1:
            limit = None
        for node in self._continuum.walk(key, limit, unique):
            yield self._conf[node]

    def iterate_nodes(self, key: Any, distinct: bool = True) -> Iterator[Any]:
        """Node names clockwise from ``key`` (hash_ring compatibility)."""
        if not len(self._continuum):
            yield None
            return
        for conf in self.range(key, unique=distinct):
            yield conf["nodename"]

    def print_continuum(self) -> None:
        """Prints the points, ketama style."""
        points = self.get_points()
        if points:
            print(f"Numpoints in continuum: {len(points)}")
        else:
            print("Continuum empty")
        for point, node in points:
            print(f"{node} ({point})")

    # --- properties ---------------------------------------------------------------

    @property
    def conf(self) -> Dict[Hashable, Dict[str, Any]]:
        return self._conf

    nodes = conf

    @property
    def distribution(self) -> CounterT[Hashable]:
        return self._distribution

    @property
    def ring(self) -> Dict[Any, Any]:
        return self._continuum.ring()

    continuum = ring

    @property
    def size(self) -> int:
        return len(self._continuum)

    @property
    def _ring(self) -> Dict[Any, Any]:
        return self._continuum.ring()

    @property
    def _nodes(self) -> Dict[Hashable, Dict[str, Any]]:
        return self._conf

    @property
    def _keys(self) -> List[Any]:
        return self._continuum.keys()

    def __repr__(self) -> str:
        mode = "ketama" if self._ketama else ("hash_fn" if self._python else "md5")
        return f"<ringroute.compat.HashRing {mode}, {len(self._conf)} nodes, {self.size} points>"
