"""ringroute.etcd against a real etcd (Debian's etcd-server, installed by
scripts/test-etcd, which scripts/test runs before this suite). Without etcd
these tests are skipped, except under CI where that is a failure."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import ringroute
import ringroute.etcd as re


def _etcd_bin():
    return os.environ.get("ETCD_BIN") or shutil.which("etcd") or (
        "/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def etcd():
    binary = _etcd_bin()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("etcd is not installed: scripts/test-etcd installs it")
        pytest.skip("etcd is not installed (run scripts/test-etcd)")
    tmp = tempfile.mkdtemp()
    cport, pport = _free_port(), _free_port()
    url = f"http://127.0.0.1:{cport}"
    proc = subprocess.Popen(
        [binary, "--name", "py", "--data-dir", f"{tmp}/data",
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{pport}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
         "--initial-cluster", f"py=http://127.0.0.1:{pport}",
         "--unsafe-no-fsync", "--logger", "zap", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = re.Client(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.range_prefix(b"ready/")
            break
        except Exception:
            assert time.monotonic() < deadline, "etcd did not start"
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _eventually(pred, within=2.0):
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_parse_value_formats_and_bad_values():
    assert re.parse_value("k", b'{"Op":0,"Addr":"h:1","Metadata":{"weight":3}}') == ("h:1", 3.0, True)
    assert re.parse_value("k", b'{"Op":1,"Addr":"h:1"}') is None
    assert re.parse_value("k", b'{"network":"tcp","address":"h:2","weight":5,"x":1}') == ("h:2", 5.0, True)
    assert re.parse_value("n", b'{"weight":2.5,"state":"down"}') == ("n", 2.5, False)
    for bad in [b"{oops", b"[1]", b'{"weight":-1}', b'{"weight":"NaN"}', b'{"Addr":""}', b'{"state":"x"}']:
        with pytest.raises(ValueError):
            re.parse_value("n", bad)
    with pytest.raises(ValueError):
        re.parse_value("", b"{}")


def test_watcher_converges_and_counts_bad_values(etcd):
    c = re.Client(etcd)
    c.put(b"svc/a", b'{"weight":1}')
    c.put(b"svc2/other", b'{"weight":1}')
    router = ringroute.Router({})
    w = re.Watcher(router, etcd, "svc", backoff_min=0.05, backoff_max=0.5)
    try:
        assert _eventually(lambda: w.status()["synced"])
        assert router.nodes == {"a": 1.0}
        rev = c.put(b"svc/b", b'{"weight":2}')
        assert w.wait_for_revision(rev, 1.0)
        assert router.nodes == {"a": 1.0, "b": 2.0}
        rev = c.put(b"svc/a", b'{"weight":4,"state":"down"}')
        assert w.wait_for_revision(rev, 1.0)
        assert router.nodes["a"] == 4.0 and not router.is_up("a")
        c.put(b"svc/bad", b"{oops")
        rev = c.put(b"svc/e", b'{"Op":0,"Addr":"10.0.0.1:80","Metadata":{"weight":3}}')
        assert w.wait_for_revision(rev, 1.0)
        assert router.nodes == {"a": 4.0, "b": 2.0, "10.0.0.1:80": 3.0}
        assert w.status()["bad_values"] == 1
        rev = c.delete(b"svc/b")
        assert w.wait_for_revision(rev, 1.0)
        assert "b" not in router
        assert w.route("user:1") in router
        assert w.status()["state"] == "watching"
    finally:
        w.stop()
    assert w.status()["state"] == "stopped"


def test_no_nodes_yet_then_fills_in_and_seeds():
    port = _free_port()
    w = re.Watcher(ringroute.Router({}), f"http://127.0.0.1:{port}", "svc/", backoff_min=0.05, backoff_max=0.2)
    seeded = re.Watcher(ringroute.Router({}), f"http://127.0.0.1:{port}", "svc/", seeds={"seed": 1.0})
    try:
        with pytest.raises(re.NoNodesYetError, match="no nodes yet"):
            w.route("k")
        assert seeded.route("k") == "seed"
        assert _eventually(lambda: w.status()["state"] == "backoff")
        assert "unreachable" in w.status()["last_error"]
    finally:
        w.stop()
        seeded.stop()


def test_registration_and_guard(etcd):
    router = ringroute.Router({})
    w = re.Watcher(router, etcd, "svc/", guard_confirm_after=1.0)
    regs = [re.Registration(etcd, "svc/", f"n{i}", 1.0, ttl=5) for i in range(5)]
    try:
        for r in regs:
            assert r.wait_registered(5)
        assert _eventually(lambda: len(router) == 5)
        # A lost lease is re-granted and the entry put again.
        first = regs[0].lease
        re.Client(etcd).revoke(first)
        assert _eventually(lambda: regs[0].lease not in (0, first), within=5)
        assert _eventually(lambda: "n0" in router)
        # Graceful stop: leaves at once.
        regs[0].stop()
        assert _eventually(lambda: "n0" not in router, within=1.0)
        # 3 of the remaining 4 in one revision: held, then confirmed by a
        # listing. (Their leases live on, so they are not put again.)
        re.Client(etcd).delete(b"svc/n1", range_end=b"svc/n4")
        assert _eventually(lambda: w.status()["held"])
        assert len(router) == 4
        assert _eventually(lambda: len(router) == 1, within=4)
        assert not w.status()["held"] and w.status()["holds"] == 1
    finally:
        for r in regs:
            r.stop()
        w.stop()
