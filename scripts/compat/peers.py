#!/usr/bin/env python3
"""Checks ringroute's compatibility modes against the live peers.

Run by scripts/test-compat (which installs the peers and builds the
binaries):

    peers.py RINGROUTE_BIN LIBMEMCACHED_ROUTE_BIN

* libmemcached: the real library answers through libmemcached_route (a C
  program calling memcached_generate_hash) for several pools and settings;
* twemproxy: nutcracker in front of loopback memcached servers; keys are set
  through it, then each memcached is asked which keys it holds;
* nginx: `hash $arg_k consistent` over loopback backends that answer with
  their own address.

Every comparison routes at least 10,000 keys with `ringroute route --compat`
and requires every key on the same server. Servers and proxies listen on
free loopback ports and are stopped at the end, also on failure.
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

RINGROUTE, LMROUTE = sys.argv[1], sys.argv[2]
KEYS = [f"key-{i}" for i in range(10_000)] + [f"user:{i}:profile" for i in range(2_000)]
WORK = tempfile.mkdtemp(prefix="ringroute-compat.")
PROCS = []
RESULTS = {"passed": 0, "failed": 0}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def start(args, what, port):
    log = open(os.path.join(WORK, f"{what}.log"), "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    PROCS.append(proc)
    wait_port(port, proc, what)
    return proc


def ringroute(args, keys):
    data = "".join(k + "\n" for k in keys).encode()
    out = subprocess.run([RINGROUTE, "route", *args], input=data, capture_output=True, check=True)
    pairs = (line.split("\t", 1) for line in out.stdout.decode().splitlines())
    return dict(pairs)


def compare(title, want, got):
    differ = [k for k in want if got.get(k) != want[k]]
    if differ or len(want) < 10_000:
        RESULTS["failed"] += 1
        sample = ", ".join(f"{k}: peer {want[k]} ringroute {got.get(k)}" for k in differ[:5])
        print(f"FAIL {title}: {len(differ)} of {len(want)} keys differ ({sample})")
    else:
        RESULTS["passed"] += 1
        print(f"ok   {title}: {len(want)} keys on the same server")


# ------------------------------------------------------------- libmemcached
LM_POOLS = {
    "upstream fixture pool, weights 600..100": [
        "10.0.1.1:11211=600", "10.0.1.2:11211=300", "10.0.1.3:11211=200", "10.0.1.4:11211=350",
        "10.0.1.5:11211=1000", "10.0.1.6:11211=800", "10.0.1.7:11211=950", "10.0.1.8:11211=100",
    ],
    "weights 1,6,6,6,6, mixed ports": [
        "cache-a:11211=1", "cache-b:11212=6", "cache-c:22122=6", "10.0.0.4:11211=6", "10.0.0.5:7000=6",
    ],
    "12 equal servers on port 21000+": [f"10.1.0.{i}:{21000 + i}=1" for i in range(12)],
}
LM_SETTINGS = [
    ("KETAMA_WEIGHTED (md5)", [], []),
    ("KETAMA_SPY", ["--spy"], ["--ketama-spy"]),
    ("KETAMA unweighted (one_at_a_time)", ["--unweighted"], ["--ketama-unweighted"]),
    ("KETAMA_WEIGHTED + fnv1a_32", ["--hash", "fnv1a_32"], ["--hash", "fnv1a_32"]),
    ("KETAMA_WEIGHTED + crc32", ["--hash", "crc32"], ["--hash", "crc32"]),
    ("KETAMA unweighted + murmur", ["--unweighted", "--hash", "murmur"], ["--ketama-unweighted", "--hash", "murmur"]),
    ("KETAMA unweighted + jenkins", ["--unweighted", "--hash", "jenkins"], ["--ketama-unweighted", "--hash", "jenkins"]),
    ("KETAMA unweighted + fnv1a_64", ["--unweighted", "--hash", "fnv1a_64"], ["--ketama-unweighted", "--hash", "fnv1a_64"]),
]


def check_libmemcached():
    data = "".join(k + "\n" for k in KEYS).encode()
    for pool, servers in LM_POOLS.items():
        for title, c_flags, cli_flags in LM_SETTINGS:
            if "--unweighted" in c_flags and any(not s.endswith("=1") for s in servers):
                continue  # a weight above 1 turns weighting on: covered above
            out = subprocess.run([LMROUTE, *c_flags, *servers], input=data, capture_output=True, check=True)
            want = dict(line.split("\t", 1) for line in out.stdout.decode().splitlines())
            got = ringroute(["--compat", "libmemcached", *cli_flags, *(f"--node={s}" for s in servers)], KEYS)
            # ringroute prints the node name; libmemcached host:port.
            got = {k: v.rsplit("=", 1)[0] for k, v in got.items()}
            compare(f"libmemcached 1.1 {title}, {pool}", want, got)


# ---------------------------------------------------------------- twemproxy
def memcached(port):
    return start(["memcached", "-u", "root", "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-m", "32"],
                 f"memcached-{port}", port)


def mc_command(sock_file, sock, payload, until):
    sock.sendall(payload)
    lines = []
    while True:
        line = sock_file.readline()
        if not line:
            raise RuntimeError("connection closed")
        lines.append(line)
        if until(line):
            return lines


def set_through(port, keys):
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rb")
        for i in range(0, len(keys), 200):
            batch = keys[i:i + 200]
            s.sendall(b"".join(f"set {k} 0 0 1\r\nx\r\n".encode() for k in batch))
            for _ in batch:
                line = f.readline()
                if line != b"STORED\r\n":
                    raise RuntimeError(f"twemproxy answered {line!r}")


def held_keys(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rb")
        lines = mc_command(f, s, b"lru_crawler metadump all\r\n", lambda l: l == b"END\r\n")
    keys = []
    for line in lines[:-1]:
        field = line.split(b" ", 1)[0]
        if field.startswith(b"key="):
            keys.append(urllib.parse.unquote(field[4:].decode()))
    return keys


def check_twemproxy():
    pools = [
        ("fnv1a_64 (default), weights 1,3,2,1", "fnv1a_64", None, [(1, None), (3, None), (2, None), (1, None)]),
        ("md5, hash_tag {}, named servers, weights 1,6,6", "md5", "{}",
         [(1, "alpha"), (6, "beta"), (6, "gamma")]),
        ("one_at_a_time, weights 1,6,6,6,6", "one_at_a_time", None, [(1, None), (6, None), (6, None), (6, None), (6, None)]),
    ]
    conf = []
    plans = []
    for p, (title, hash_name, tag, servers) in enumerate(pools):
        listen = free_port()
        ports = [free_port() for _ in servers]
        for port in ports:
            memcached(port)
        conf.append(f"pool{p}:\n  listen: 127.0.0.1:{listen}\n  hash: {hash_name}\n"
                    f"  distribution: ketama\n  auto_eject_hosts: false\n  timeout: 2000\n")
        if tag:
            conf.append(f"  hash_tag: \"{tag}\"\n")
        conf.append("  servers:\n")
        nodes = []
        for port, (weight, name) in zip(ports, servers):
            conf.append(f"   - 127.0.0.1:{port}:{weight}" + (f" {name}" if name else "") + "\n")
            # The CLI takes no whitespace in names: name@host:port.
            node = (f"{name}@" if name else "") + f"127.0.0.1:{port}"
            nodes.append((node, weight, port))
        plans.append((title, hash_name, tag, listen, nodes))
    path = os.path.join(WORK, "nutcracker.yml")
    with open(path, "w") as f:
        f.write("".join(conf))
    stats = free_port()
    nut = start(["nutcracker", "-c", path, "-s", str(stats), "-o", os.path.join(WORK, "nut.log"), "-v", "4"],
                "nutcracker", plans[0][3])
    for title, hash_name, tag, listen, nodes in plans:
        wait_port(listen, nut, "nutcracker pool")
        keys = KEYS if not tag else [f"{k}:{{u{i % 977}}}" if i % 2 else k for i, k in enumerate(KEYS)]
        set_through(listen, keys)
        want = {}
        for node, _, port in nodes:
            for k in held_keys(port):
                want[k] = node
        args = ["--compat", "twemproxy", "--hash", hash_name]
        if tag:
            args += ["--hash-tag", tag]
        args += [f"--node={n}={w}" for n, w, _ in nodes]
        got = {k: v for k, v in ringroute(args, keys).items()}
        compare(f"twemproxy 0.5.0 {title}", want, got)


# -------------------------------------------------------------------- nginx
def check_nginx():
    weights = [1, 3, 2, 1, 5]
    backends = [free_port() for _ in weights]
    front = free_port()
    servers = "".join(f"    server 127.0.0.1:{p} weight={w};\n" for p, w in zip(backends, weights))
    sites = "".join(
        f"  server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"127.0.0.1:{p}\"; }} }}\n"
        for p in backends)
    temp = "".join(f"  {d}_temp_path {WORK}/{d};\n" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {WORK}/nginx.pid;\n"
            f"error_log {WORK}/nginx-error.log;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n  access_log off;\n{temp}"
            f"  upstream pool {{\n    hash $arg_k consistent;\n{servers}    keepalive 8;\n  }}\n"
            f"  server {{ listen 127.0.0.1:{front}; location / {{ proxy_pass http://pool; "
            f"proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n{sites}}}\n")
    path = os.path.join(WORK, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    start(["nginx", "-p", WORK, "-c", path, "-e", os.path.join(WORK, "nginx-error.log")], "nginx", front)
    conn = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
    want = {}
    for k in KEYS:
        conn.request("GET", f"/?k={k}")
        resp = conn.getresponse()
        want[k] = resp.read().decode()
    got = ringroute(["--compat", "nginx", *(f"--node=127.0.0.1:{p}={w}" for p, w in zip(backends, weights))], KEYS)
    compare("nginx 1.22 hash $arg_k consistent, weights 1,3,2,1,5", want, got)


def main():
    try:
        for check in (check_libmemcached, check_twemproxy, check_nginx):
            try:
                check()
            except Exception as e:  # a peer that cannot run is a failure
                RESULTS["failed"] += 1
                print(f"FAIL {check.__name__}: {e}")
    finally:
        for proc in PROCS:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in PROCS:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        if RESULTS["failed"] and os.environ.get("KEEP_LOGS"):
            print(f"logs kept in {WORK}")
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    print(f"test-compat: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
