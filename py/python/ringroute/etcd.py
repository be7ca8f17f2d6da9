"""Membership from etcd v3, without asyncio: keep a :class:`ringroute.Router`
in sync with the nodes registered under a prefix, from a background thread,
and register a serving process under a lease.

Pure Python over etcd's JSON gateway (``/v3/kv/range``, ``/v3/watch``,
``/v3/lease/*``, served by etcd >= 3.4 on its client port) with the standard
library alone, so ``pip install ./py`` needs nothing more. It reads the same
value formats as the Rust crate ``ringroute-etcd`` and names nodes alike, so
Python and Rust clients build the same ring from the same registry:

- etcd's ``endpoints`` manager JSON ``{"Op":0,"Addr":"host:port","Metadata":{"weight":2}}``
  (name: ``Addr``),
- the Kitex style ``{"network":"tcp","address":"host:port","weight":10}`` (name: ``address``),
- the plain ``{"weight":2.5,"state":"up"|"down"}`` (name: the key's suffix).

>>> import ringroute, ringroute.etcd                      # doctest: +SKIP
>>> router = ringroute.Router({})                          # doctest: +SKIP
>>> w = ringroute.etcd.Watcher(router, "http://127.0.0.1:2379", "svc/")  # doctest: +SKIP
>>> reg = ringroute.etcd.Registration("http://127.0.0.1:2379", "svc/", "10.0.0.1:80", 2.0)  # doctest: +SKIP

Each listing or batch of watch events is published with one
``Router.apply`` (joins, leaves, weights and up/down states in one
snapshot): readers never see part of a revision.
"""

import base64
import http.client
import json
import logging
import math
import random
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

__all__ = [
    "EtcdError",
    "NoNodesYetError",
    "Client",
    "Watcher",
    "Registration",
    "parse_value",
]

log = logging.getLogger("ringroute.etcd")


class EtcdError(Exception):
    """etcd could not be reached, refused a call, or answered oddly."""


class CompactedError(EtcdError):
    """The watch's start revision was compacted away."""


class NoNodesYetError(LookupError):
    """etcd has not answered yet and no seed nodes were given."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: Optional[str]) -> bytes:
    return base64.b64decode(s or "")


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def prefix_end(prefix: bytes) -> bytes:
    """The exclusive end of the range of keys starting with ``prefix``."""
    p = bytearray(prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return b"\0"


def directory(prefix: str) -> str:
    """``svc`` -> ``svc/``: a prefix is a directory, never matching ``svc2/``."""
    return prefix if prefix.endswith("/") else prefix + "/"


def _weight(v: Any) -> float:
    if v is None:
        return 1.0
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"weight {v!r} is not a number")
    w = float(v)
    if not (math.isfinite(w) and w > 0):
        raise ValueError(f"weight {w} must be finite and greater than 0")
    return w


def parse_value(key_suffix: str, value: bytes) -> Optional[Tuple[str, float, bool]]:
    """``(name, weight, up)`` of a registry value, ``None`` if it says the
    node is absent (an endpoints-manager delete); ``ValueError`` if bad."""
    try:
        m = json.loads(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(m, dict):
        raise ValueError("not a JSON object")
    if "Addr" in m:
        if m.get("Op", 0) == 1:
            return None
        name, md = m["Addr"], m.get("Metadata")
        w = _weight(md.get("weight") if isinstance(md, dict) else None)
        up = True
    elif "address" in m:
        name, w, up = m["address"], _weight(m.get("weight")), True
    else:
        name, w = key_suffix, _weight(m.get("weight"))
        state = m.get("state", "up")
        if state not in ("up", "down"):
            raise ValueError(f"state {state!r} is neither 'up' nor 'down'")
        up = state == "up"
    if not isinstance(name, str) or not name:
        raise ValueError("empty node name")
    return name, w, up


class Client:
    """A small client of etcd's JSON gateway.

    ``endpoints``: one URL or a comma-separated list (members of one
    cluster; a failed call moves to the next). ``ca``, ``cert``, ``key``:
    PEM files for ``https://``; ``user``/``password`` when auth is enabled.
    """

    def __init__(
        self,
        endpoints: str,
        *,
        ca: Optional[str] = None,
        cert: Optional[str] = None,
        key: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        timeout: float = 5.0,
    ) -> None:
        self.endpoints = [e.strip().rstrip("/") for e in endpoints.split(",") if e.strip()]
        if not self.endpoints:
            raise ValueError("no etcd endpoint given")
        for e in self.endpoints:
            if not e.startswith(("http://", "https://")):
                raise ValueError(f"endpoint {e!r} must start with http:// or https://")
        self._ssl = None
        if any(e.startswith("https://") for e in self.endpoints):
            self._ssl = ssl.create_default_context(cafile=ca)
            if cert:
                self._ssl.load_cert_chain(cert, key)
        self._auth = (user, password) if user is not None else None
        self._token: Optional[str] = None
        self._current = 0
        self.timeout = timeout
        self._lock = threading.Lock()

    def _connect(self, endpoint: str, timeout: Optional[float]) -> http.client.HTTPConnection:
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=self._ssl)
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def _headers(self, token: Optional[str]) -> Dict[str, str]:
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = token
        return h

    def _send(self, endpoint: str, path: str, body: Dict[str, Any], token: Optional[str]) -> Dict[str, Any]:
        conn = self._connect(endpoint, self.timeout)
        try:
            conn.request("POST", path, json.dumps(body), self._headers(token))
            resp = conn.getresponse()
            data = resp.read()
        except ssl.SSLError as e:
            raise EtcdError(
                f"TLS handshake with {endpoint} failed: {e} "
                "(check the CA certificate and the client certificate)"
            ) from None
        except (OSError, http.client.HTTPException) as e:
            raise ConnectionError(f"etcd unreachable: {endpoint}: {e}") from None
        finally:
            conn.close()
        try:
            v = json.loads(data)
        except ValueError:
            raise EtcdError(f"{path}: HTTP {resp.status}: {data[:200]!r}") from None
        if resp.status != 200 or v.get("error"):
            raise EtcdError(f"etcd error on {path}: {v.get('message') or v.get('error')}")
        return v

    def _token_for(self, endpoint: str) -> Optional[str]:
        if self._auth is None:
            return None
        with self._lock:
            if self._token is None:
                v = self._send(endpoint, "/v3/auth/authenticate",
                               {"name": self._auth[0], "password": self._auth[1]}, None)
                self._token = v.get("token")
            return self._token

    def call(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """One unary call, tried on each endpoint in turn."""
        last: Optional[Exception] = None
        n = len(self.endpoints)
        for off in range(n):
            i = (self._current + off) % n
            ep = self.endpoints[i]
            try:
                v = self._send(ep, path, body, self._token_for(ep))
                self._current = i
                return v
            except ConnectionError as e:
                last = e
            except EtcdError as e:
                if "auth token" in str(e) and self._auth is not None:
                    self._token = None
                    return self._send(ep, path, body, self._token_for(ep))
                raise
        raise EtcdError(str(last))

    def range_prefix(self, prefix: bytes) -> Tuple[int, List[Tuple[bytes, bytes, int]]]:
        """``(revision, [(key, value, mod_revision), ...])`` under ``prefix``."""
        v = self.call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})
        kvs = [(_unb64(kv.get("key")), _unb64(kv.get("value")), _int(kv.get("mod_revision")))
               for kv in v.get("kvs", [])]
        return _int(v["header"].get("revision")), kvs

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        body = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return _int(self.call("/v3/kv/put", body)["header"].get("revision"))

    def delete(self, key: bytes, range_end: Optional[bytes] = None) -> int:
        """Deletes ``key`` (or every key in ``[key, range_end)``, in one
        revision); returns the revision."""
        body = {"key": _b64(key)}
        if range_end is not None:
            body["range_end"] = _b64(range_end)
        return _int(self.call("/v3/kv/deleterange", body)["header"].get("revision"))

    def grant(self, ttl: int) -> int:
        lease = _int(self.call("/v3/lease/grant", {"TTL": str(max(1, int(ttl)))}).get("ID"))
        if not lease:
            raise EtcdError("lease grant returned no ID")
        return lease

    def keep_alive(self, lease: int) -> bool:
        """Renews ``lease`` once; ``False`` if it no longer exists."""
        try:
            v = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        except EtcdError as e:
            if "lease not found" in str(e):
                return False
            raise
        return _int(v.get("result", {}).get("TTL")) > 0

    def revoke(self, lease: int) -> None:
        try:
            self.call("/v3/lease/revoke", {"ID": str(lease)})
        except EtcdError as e:
            if "lease not found" not in str(e):
                raise

    def watch(self, prefix: bytes, start_revision: int, opened: Optional[List[Any]] = None) -> Iterator[Dict[str, Any]]:
        """Yields the watch's messages (``result`` objects). ``opened``, if
        given, receives the connection so another thread can cut it."""
        body = {"create_request": {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
                                   "start_revision": str(start_revision)}}
        ep = self.endpoints[self._current % len(self.endpoints)]
        token = self._token_for(ep)
        conn = self._connect(ep, None)
        if opened is not None:
            opened.append(conn)
        try:
            try:
                conn.request("POST", "/v3/watch", json.dumps(body), self._headers(token))
                resp = conn.getresponse()
            except ssl.SSLError as e:
                raise EtcdError(f"TLS handshake with {ep} failed: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                raise ConnectionError(f"etcd unreachable: {ep}: {e}") from None
            if resp.status != 200:
                raise EtcdError(f"watch: HTTP {resp.status}: {resp.read()[:200]!r}")
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException, ValueError) as e:
                    raise ConnectionError(f"watch on {ep} broke: {e}") from None
                if not line:
                    raise ConnectionError(f"watch on {ep} ended")
                if not line.strip():
                    continue
                v = json.loads(line)
                if v.get("error"):
                    raise EtcdError(f"watch error: {v['error']}")
                r = v.get("result", {})
                if _int(r.get("compact_revision")):
                    raise CompactedError(f"compacted at {r['compact_revision']}")
                if r.get("canceled"):
                    raise EtcdError(f"watch canceled: {r.get('cancel_reason', '')}")
                yield r
        finally:
            conn.close()

    def rotate(self) -> None:
        self._current = (self._current + 1) % len(self.endpoints)


def _cut(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Watcher:
    """Keeps ``router`` (a :class:`ringroute.Router`) in sync with the nodes
    registered under ``prefix``, from a daemon thread. Never blocks the
    caller: until etcd answers, the router serves ``seeds`` (or nothing, and
    :meth:`route` raises :class:`NoNodesYetError`).

    A listing at revision R is published at once, then a watch from R+1
    applies puts and deletes; lost connections are retried with jittered
    backoff and resumed from the last revision read; a compaction triggers
    a new listing. A batch removing more than ``guard_share`` of the nodes
    (and at least ``guard_min_removals``) is held until a listing made
    ``guard_confirm_after`` seconds later confirms it.
    """

    def __init__(self, router: Any, endpoints: str, prefix: str, *,
                 seeds: Optional[Dict[str, float]] = None,
                 guard_share: float = 0.5, guard_min_removals: int = 2,
                 guard_confirm_after: float = 10.0,
                 backoff_min: float = 0.1, backoff_max: float = 5.0,
                 **client_options: Any) -> None:
        self.router = router
        self.client = Client(endpoints, **client_options)
        self.prefix = directory(prefix)
        self.guard_share = guard_share
        self.guard_min_removals = guard_min_removals
        self.guard_confirm_after = guard_confirm_after
        self.backoff = (backoff_min, backoff_max)
        if seeds:
            router.replace({**router.nodes, **seeds})
        self._applied: Dict[str, Tuple[float, bool]] = {
            n: (w, router.is_up(n)) for n, w in router.nodes.items()}
        self._by_key: Dict[bytes, Tuple[str, float, bool]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: List[Any] = []
        self._held_since: Optional[float] = None
        self._status: Dict[str, Any] = dict(
            state="connecting", applied_revision=0, seen_revision=0, synced=False,
            held=False, holds=0, bad_values=0, lists=0, failures=0, last_error=None)
        self._seen = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"ringroute-etcd {self.prefix}", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """State (``connecting``, ``listing``, ``watching``, ``backoff``,
        ``stopped``), revisions, counters and the last error."""
        with self._lock:
            return dict(self._status)

    @property
    def applied_revision(self) -> int:
        return self.status()["applied_revision"]

    def wait_for_revision(self, revision: int, timeout: float) -> bool:
        """Waits until the router reflects ``revision``; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._status["applied_revision"] >= revision, timeout)

    def route(self, key: Any) -> str:
        """The node serving ``key``; :class:`NoNodesYetError` before etcd
        first answered (with no seeds)."""
        if len(self.router) == 0 and not self.status()["synced"]:
            raise NoNodesYetError("no nodes yet: etcd has not answered and no seed nodes were given")
        return self.router.route(key)

    def stop(self) -> None:
        self._stop.set()
        for c in list(self._conn):
            _cut(c)
        self._thread.join(10)

    # -- worker -------------------------------------------------------------

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._status.update(kw)

    def _parse(self, key: bytes, value: bytes) -> Optional[Tuple[str, float, bool]]:
        try:
            return parse_value(key[len(self.prefix):].decode("utf-8"), value)
        except (ValueError, UnicodeDecodeError) as e:
            with self._lock:
                self._status["bad_values"] += 1
            log.warning("skipping bad registry value at %r: %s", key, e)
            return None

    def _desired(self) -> Dict[str, Tuple[float, bool]]:
        out: Dict[str, Tuple[float, bool]] = {}
        for key in sorted(self._by_key):
            name, w, up = self._by_key[key]
            if name in out:
                log.warning("two registry keys name %s; keeping the first", name)
                continue
            out[name] = (w, up)
        return out

    def _publish(self, revision: int, from_list: bool) -> None:
        self._seen = max(self._seen, revision)
        desired = self._desired()
        removals = sum(1 for n in self._applied if n not in desired)
        synced = self._status["synced"]
        confirmed = from_list and (self._held_since is not None or not synced)
        over = (removals >= max(1, self.guard_min_removals)
                and removals > self.guard_share * len(self._applied))
        if over and not confirmed:
            if self._held_since is None:
                log.warning("holding a mass removal of %d of %d nodes until the next listing confirms it",
                            removals, len(self._applied))
                self._held_since = time.monotonic()
                with self._lock:
                    self._status["holds"] += 1
                timer = threading.Timer(self.guard_confirm_after, self._cut_all)
                timer.daemon = True
                timer.start()
            self._set(held=True, seen_revision=self._seen)
            return
        self._held_since = None
        if desired != self._applied:
            try:
                self.router.apply(self._changes(desired))
                self._applied = desired
            except Exception as e:  # the router refused: keep the last view
                log.error("router refused the batch at revision %d: %s", revision, e)
        with self._cond:
            self._set(applied_revision=revision, seen_revision=self._seen, synced=True, held=False)
            self._cond.notify_all()

    def _changes(self, desired: dict) -> list:
        """The batch that turns the router's membership into ``desired``."""
        current = self.router.nodes
        changes: list = [("remove", n) for n in current if n not in desired]
        for n, (w, up) in desired.items():
            if n not in current:
                changes.append(("add", n, w))
            elif current[n] != w:
                changes.append(("set_weight", n, w))
            if up != (n not in current or self.router.is_up(n)):
                changes.append(("mark_up" if up else "mark_down", n))
        return changes

    def _cut_all(self) -> None:
        self._force_list = True
        for c in list(self._conn):
            _cut(c)

    def _run(self) -> None:
        attempts = 0
        need_list = True
        self._force_list = False
        while not self._stop.is_set():
            try:
                if need_list or self._force_list:
                    self._force_list = False
                    self._set(state="listing")
                    rev, kvs = self.client.range_prefix(self.prefix.encode())
                    self._by_key = {}
                    for k, v, _ in kvs:
                        e = self._parse(k, v)
                        if e is not None:
                            self._by_key[k] = e
                    with self._lock:
                        self._status["lists"] += 1
                    self._publish(rev, True)
                    need_list = False
                self._set(state="connecting")
                self._conn = []
                for r in self.client.watch(self.prefix.encode(), self._seen + 1, self._conn):
                    if r.get("created"):
                        attempts = 0
                        self._set(state="watching", last_error=None)
                        continue
                    events = r.get("events") or []
                    if not events:
                        continue
                    last = self._seen
                    for ev in events:
                        kv = ev.get("kv", {})
                        key = _unb64(kv.get("key"))
                        last = max(last, _int(kv.get("mod_revision")))
                        entry = None if ev.get("type") == "DELETE" else self._parse(key, _unb64(kv.get("value")))
                        if entry is None:
                            self._by_key.pop(key, None)
                        else:
                            self._by_key[key] = entry
                    self._publish(last, False)
            except CompactedError as e:
                log.warning("etcd compacted past our revision (%s); listing again", e)
                need_list = True
                continue
            except Exception as e:  # noqa: BLE001 - any failure: back off, retry
                if self._stop.is_set():
                    break
                if self._force_list:
                    continue  # cut on purpose, to confirm a held removal
                attempts += 1
                lo, hi = self.backoff
                delay = min(hi, lo * 2 ** min(attempts - 1, 20)) * (0.5 + random.random() / 2)
                log.warning("etcd: %s; retrying in %.2fs", e, delay)
                with self._lock:
                    self._status.update(state="backoff", last_error=str(e))
                    self._status["failures"] += 1
                self.client.rotate()
                if not self._status["synced"]:
                    need_list = True
                self._stop.wait(delay)
        self._set(state="stopped")


class Registration:
    """Registers ``name`` (plain format, ``{"weight":W,"state":"up"}`` at
    ``prefix/name``) under a lease of ``ttl`` seconds from a daemon thread,
    renews it every third of the TTL, registers again if the lease is lost,
    and revokes it on :meth:`stop` so the node leaves at once. If the
    process dies, the node leaves when the lease expires."""

    def __init__(self, endpoints: str, prefix: str, name: str, weight: float = 1.0,
                 ttl: int = 10, **client_options: Any) -> None:
        if not name:
            raise ValueError("node name must not be empty")
        _weight(weight)
        self.client = Client(endpoints, **client_options)
        self.key = (directory(prefix) + name).encode()
        self.value = json.dumps({"weight": weight, "state": "up"}).encode()
        self.ttl = max(1, int(ttl))
        self.lease = 0
        self.last_error: Optional[str] = None
        self._stop = threading.Event()
        self._registered = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ringroute-etcd register {name}", daemon=True)
        self._thread.start()

    def wait_registered(self, timeout: float) -> bool:
        return self._registered.wait(timeout)

    def stop(self) -> None:
        """Leaves at once (revokes the lease)."""
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        attempts = 0
        while not self._stop.is_set():
            try:
                lease = self.client.grant(self.ttl)
                self.client.put(self.key, self.value, lease)
            except Exception as e:  # noqa: BLE001
                attempts += 1
                self.last_error = str(e)
                log.warning("registration of %r failed: %s", self.key, e)
                self._stop.wait(min(5.0, 0.1 * 2 ** attempts) * (0.5 + random.random() / 2))
                continue
            attempts, self.lease, self.last_error = 0, lease, None
            self._registered.set()
            renewed = time.monotonic()
            while not self._stop.wait(self.ttl / 3):
                try:
                    if not self.client.keep_alive(lease):
                        log.warning("lease of %r lost; registering again", self.key)
                        break
                    renewed = time.monotonic()
                except Exception as e:  # noqa: BLE001
                    self.last_error = str(e)
                    if time.monotonic() - renewed >= self.ttl:
                        break
            else:
                try:
                    self.client.revoke(lease)
                except Exception:  # noqa: BLE001 - it will expire
                    try:
                        self.client.delete(self.key)
                    except Exception:  # noqa: BLE001
                        pass
            self.lease = 0
            self._registered.clear()
