#!/usr/bin/env python3
"""What a burst of bad passwords does to other clients' latency.

Starts firmware-server with ONE worker, a bcrypt-protected prefix (/admin/)
and a public file, then for each scenario measures the latency of public-file
requests from one keep-alive client (one request every 5 ms) while attacker
processes send wrong passwords for /admin/ as fast as they can, each on its
own keep-alive connection:

  baseline       no attack
  spread         N attackers, each from its own source address (127.0.0.2..),
                 default auth settings: the per-worker hashing budget is what
                 holds them back (the per-address lockout does not trigger
                 before each address has failed fail_limit times)
  one-address    N attackers all from 127.0.0.1: the lockout stops the hashing
  budget-only    like "spread" with fail_limit = 0: only the hashing budget
  unguarded      like "spread" but with fail_limit = 0 and verify_budget = "1s"
                 (the largest budget): roughly what no defence costs

Only loopback addresses are used; every loop is bounded in time.

Usage (build the release binary with the auth plugin first):
  cargo build --release -p firmware-server --no-default-features --features auth
  python3 tests/bench/auth_burst.py --bin target/release/firmware-server \
      [--cost 10] [--attackers 8] [--seconds 5]
Needs Apache's htpasswd (Debian apache2-utils).
"""

import argparse
import base64
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def read_response(sock, buf):
    """Reads one response from a keep-alive socket; returns (status, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    return status, rest[n:]


def attacker(port, source, stop_at, counts, idx):
    """Sends wrong passwords until stop_at; counts statuses in counts[idx]."""
    auth = base64.b64encode(b"admin:wrong-%d" % idx).decode()
    req = (
        "GET /admin/secret.txt HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Basic {auth}\r\n\r\n"
    ).encode()
    got = {}
    sock = None
    buf = b""
    while time.monotonic() < stop_at:
        try:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.bind((source, 0))
                sock.settimeout(10)
                sock.connect(("127.0.0.1", port))
                buf = b""
            sock.sendall(req)
            status, buf = read_response(sock, buf)
            got[status] = got.get(status, 0) + 1
        except (OSError, ConnectionError, ValueError):
            got["reconnect"] = got.get("reconnect", 0) + 1
            if sock is not None:
                sock.close()
            sock = None
    counts[idx] = got


def measure(port, seconds):
    """Public-file latencies (ms) from one keep-alive client."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
    lat = []
    buf = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        sock.sendall(req)
        status, buf = read_response(sock, buf)
        lat.append((time.perf_counter() - t0) * 1000)
        assert status == 200, status
        time.sleep(0.005)
    sock.close()
    return lat


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, int(round(p / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def start_server(binary, cfg_path, root):
    p = subprocess.Popen(
        [binary, "--root", root, "--config", cfg_path, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            return p, int(m.group(1))
    p.kill()
    raise SystemExit("server did not start")


def scenario(name, binary, tmp, root, settings, attackers, sources, seconds):
    cfg = os.path.join(tmp, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(
            "[server]\nworkers = 1\n\n[[auth]]\nprefix = \"/admin/\"\n"
            f"realm = \"bench\"\nhtpasswd = \"{tmp}/htpasswd\"\n{settings}"
        )
    proc, port = start_server(binary, cfg, root)
    try:
        time.sleep(0.3)
        counts = mp.Manager().dict()
        stop_at = time.monotonic() + seconds + 0.5
        procs = [
            mp.Process(target=attacker, args=(port, sources[i % len(sources)], stop_at, counts, i))
            for i in range(attackers)
        ]
        for p in procs:
            p.start()
        if attackers:
            time.sleep(0.5)  # let the burst get going
        lat = sorted(measure(port, seconds))
        for p in procs:
            p.join(timeout=seconds + 15)
            if p.is_alive():
                p.kill()
        total = {}
        for c in counts.values():
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
        return {
            "name": name,
            "n": len(lat),
            "p50": pct(lat, 50),
            "p90": pct(lat, 90),
            "p99": pct(lat, 99),
            "max": lat[-1] if lat else float("nan"),
            "attack": total,
            "attack_rate": sum(v for k, v in total.items() if k != "reconnect") / seconds,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("FWS_BIN", "target/release/firmware-server"))
    ap.add_argument("--cost", type=int, default=10, help="bcrypt cost of the protected user")
    ap.add_argument("--attackers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    if not shutil.which("htpasswd"):
        raise SystemExit("needs htpasswd (apt-get install apache2-utils)")
    if not os.path.exists(args.bin):
        raise SystemExit(f"no binary at {args.bin}")
    tmp = tempfile.mkdtemp(prefix="fws-auth-burst-")
    try:
        root = os.path.join(tmp, "www")
        os.makedirs(os.path.join(root, "admin"))
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><title>public</title>public page\n")
        with open(os.path.join(root, "admin", "secret.txt"), "w") as f:
            f.write("secret\n")
        subprocess.run(
            ["htpasswd", "-c", "-b", "-B", "-C", str(args.cost), f"{tmp}/htpasswd", "admin", "right-password"],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        spread = [f"127.0.0.{i + 2}" for i in range(args.attackers)]
        runs = [
            ("baseline", "", 0, ["127.0.0.1"]),
            ("spread", "", args.attackers, spread),
            ("one-address", "", args.attackers, ["127.0.0.1"]),
            ("budget-only", "\n[[auth]]\nfail_limit = 0\n", args.attackers, spread),
            ("unguarded", "\n[[auth]]\nfail_limit = 0\nverify_budget = \"1s\"\n", args.attackers, spread),
        ]
        print(f"binary {args.bin}, bcrypt cost {args.cost}, {args.attackers} attacker connections, "
              f"{args.seconds:g} s per scenario, 1 worker")
        print(f"{'scenario':<12} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}  attacker responses")
        for name, settings, n, sources in runs:
            r = scenario(name, args.bin, tmp, root, settings, n, sources, args.seconds)
            attack = ", ".join(f"{k}: {v}" for k, v in sorted(r["attack"].items(), key=str)) or "-"
            print(f"{r['name']:<12} {r['n']:>5} {r['p50']:>8.2f} {r['p90']:>8.2f} {r['p99']:>8.2f} "
                  f"{r['max']:>8.2f}  {attack} ({r['attack_rate']:.0f}/s)")
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
