#!/usr/bin/env python3
"""Soak: a mixed load against firmware-server with a board-sized config
(the mt7621-generic board's [server] settings, access log to a file),
checking every response, then the process's health.

  tests/hardening/soak.py [--minutes 10] [--bin PATH] [--clients 6]

Load, from several client processes: static hits (the web UI's files,
bodies checked byte for byte), Range requests (206 with the exact bytes),
revalidations (304 with If-None-Match), misses (404), keep-alive
connections and a new connection per request, pipelined batches, and bad
requests (400, connection closed). A new plugin adds its kind of request
to KINDS (e.g. a CGI script, a FastCGI route, the TLS listener).

Pass criteria (exit 1 otherwise): 0 unexpected responses or socket
errors; RSS flat (the mean over the last window within 5% of the first
window; a window is a minute, or a sixth of a shorter run); the
descriptor count back to its idle value after the load; no zombie child
processes; the server alive throughout.
"""

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import shutil
import socket
import statistics
import sys
import time

from common import Fws, Reader, default_bin, fd_count, get, make_site, read_response, zombies

BOARD = (
    "workers = 2\nmax_connections = 256\nbacklog = 128\nbuffer_size = 4096\nbuffers_per_worker = 32\n"
    'header_timeout = "5s"\nkeepalive_timeout = "10s"\nsend_timeout = "20s"\nmax_keepalive_requests = 200\n'
    'max_body_size = "32M"\nindex = ["index.html"]\n'
)
FILES = ["/index.html", "/js/app.js", "/css/app.css", "/logo.png", "/1k.bin", "/200k.bin"]
KINDS = ["static", "range", "revalidate", "missing", "pipelined", "bad", "new_connection"]


class Unexpected(Exception):
    pass


def request(path, extra=b"", method=b"GET"):
    return method + b" " + path.encode() + b" HTTP/1.1\r\nHost: router\r\n" + extra + b"\r\n"


def check(cond, what):
    if not cond:
        raise Unexpected(what)


def client(port, www, seconds, seed, out):
    rnd = random.Random(seed)
    content = {}
    for p in FILES:
        with open(os.path.join(www, p.lstrip("/")), "rb") as f:
            content[p] = f.read()
    etags = {}
    counts = {k: 0 for k in KINDS}
    errors = []
    end = time.time() + seconds
    conn = None
    used = 0
    while time.time() < end:
        kind = rnd.choice(KINDS)
        try:
            if conn is None or used >= 150:
                if conn:
                    conn.close()
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                rd = Reader(conn)
                used = 0
            if kind == "static":
                p = rnd.choice(FILES)
                conn.sendall(request(p))
                st, h, body = rd.response()
                check(st == 200 and body == content[p], f"static {p}: {st}, {len(body)} bytes")
                etags[p] = h.get("etag")
            elif kind == "range":
                p = rnd.choice(FILES)
                n = len(content[p])
                a = rnd.randrange(n)
                b = rnd.randrange(a, n)
                conn.sendall(request(p, f"Range: bytes={a}-{b}\r\n".encode()))
                st, h, body = rd.response()
                check(st == 206 and body == content[p][a:b + 1]
                      and h.get("content-range") == f"bytes {a}-{b}/{n}", f"range {p} {a}-{b}: {st}")
            elif kind == "revalidate":
                p = rnd.choice(FILES)
                if p not in etags:
                    conn.sendall(request(p, method=b"HEAD"))
                    st, h, _ = rd.response(head_request=True)
                    check(st == 200, f"HEAD {p}: {st}")
                    etags[p] = h.get("etag")
                conn.sendall(request(p, f"If-None-Match: {etags[p]}\r\n".encode()))
                st, _, body = rd.response()
                check(st == 304 and body == b"", f"revalidate {p}: {st}")
            elif kind == "missing":
                conn.sendall(request(f"/missing-{rnd.randrange(1000)}.html"))
                st, _, _ = rd.response()
                check(st == 404, f"missing: {st}")
            elif kind == "pipelined":
                ps = [rnd.choice(FILES) for _ in range(rnd.randrange(2, 8))]
                conn.sendall(b"".join(request(p) for p in ps))
                for p in ps:
                    st, _, body = rd.response()
                    check(st == 200 and body == content[p], f"pipelined {p}: {st}")
                used += len(ps) - 1
            elif kind == "bad":
                bad = rnd.choice([
                    b"GET /index.html HTTP/1.1\r\nHost: router\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                    b"GET /index.html HTTP/1.1\r\nHost: router\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                    b"GET /../../etc/passwd HTTP/1.1\r\nHost: router\r\n\r\n",
                    b"GET /index.html HTTP/1.1\r\nHost: router\r\nX: a\x00b\r\n\r\n",
                    b"GET /index.html HTTP/1.1\r\n\r\n",
                ])
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(bad)
                    st, _, _ = read_response(s)
                    check(st == 400, f"bad request: {st}")
            elif kind == "new_connection":
                p = rnd.choice(FILES)
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(request(p, b"Connection: close\r\n"))
                    st, _, body = read_response(s)
                    check(st == 200 and body == content[p], f"new connection {p}: {st}")
                    check(s.recv(1) == b"", "not closed after Connection: close")
            counts[kind] += 1
            used += 1
        except (Unexpected, OSError) as e:
            errors.append(f"{kind}: {e!r}")
            if conn:
                conn.close()
            conn = None
    if conn:
        conn.close()
    out.put((counts, errors[:20], len(errors)))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--clients", type=int, default=6)
    args = ap.parse_args()
    seconds = args.minutes * 60
    work, www = make_site()
    log = os.path.join(work, "access.log")
    srv = Fws(work, www, args.bin, pin=False, server_extra=BOARD,
              extra=f'[logger]\naccess = "file:{log}"\n')
    srv.start()
    failures = []
    try:
        pid = srv.main_pid()
        # Warm up: every file on connections held open at once, so that
        # each worker's open-file cache holds them all (the cache keeps a
        # file open until its slot is reused: that is its idle state).
        held = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(8)]
        for s in held:
            rd = Reader(s)
            for p in FILES + [f"/missing-{i}.html" for i in range(3)]:
                s.sendall(request(p))
                rd.response()
        for s in held:
            s.close()
        time.sleep(2)
        idle_fds = fd_count(pid)
        idle_rss = rss_kb(pid)
        q = mp.Queue()
        procs = [mp.Process(target=client, args=(srv.port, www, seconds, i, q)) for i in range(args.clients)]
        t0 = time.time()
        for p in procs:
            p.start()
        samples = []  # (t, rss, fds, threads)
        while any(p.is_alive() for p in procs):
            if srv.proc.poll() is not None:
                failures.append("the server exited during the load")
                break
            samples.append((time.time() - t0, rss_kb(pid), fd_count(pid), len(os.listdir(f"/proc/{pid}/task"))))
            time.sleep(1)
        results = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=10)
        elapsed = time.time() - t0
        counts = {k: sum(r[0][k] for r in results) for k in KINDS}
        total = sum(counts.values())
        nerr = sum(r[2] for r in results)
        # Connections the clients closed are closed by the server too.
        time.sleep(1)
        back = 0.0
        t1 = time.time()
        while fd_count(pid) > idle_fds and time.time() - t1 < 15:
            time.sleep(0.2)
        back = time.time() - t1
        end_fds = fd_count(pid)
        window = 60 if seconds >= 360 else seconds / 6
        first = [s[1] for s in samples if s[0] <= window]
        last = [s[1] for s in samples if s[0] >= samples[-1][0] - window] if samples else []
        first_mean = statistics.mean(first) if first else 0
        last_mean = statistics.mean(last) if last else 0
        drift = (last_mean - first_mean) / first_mean if first_mean else 0
        z = zombies(pid)
        print(f"soak: {elapsed:.0f} s, {total} requests ({total / elapsed:.0f}/s) by {args.clients} clients: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))
        print(f"unexpected: {nerr}")
        for r in results:
            for e in r[1][:5]:
                print("  ", e)
        print(f"RSS: idle {idle_rss} KiB, first window mean {first_mean:.0f} KiB, last window mean "
              f"{last_mean:.0f} KiB ({drift * 100:+.1f}%), peak {max(s[1] for s in samples)} KiB")
        print(f"descriptors: idle {idle_fds}, peak {max(s[2] for s in samples)}, after the load {end_fds} "
              f"({back:.1f} s to settle); threads {samples[-1][3]}; zombies {z}; "
              f"access log {os.path.getsize(log)} bytes")
        if nerr:
            failures.append(f"{nerr} unexpected responses or socket errors")
        if abs(drift) > 0.05:
            failures.append(f"RSS not flat: {drift * 100:+.1f}% between the first and the last window")
        if end_fds > idle_fds:
            failures.append(f"descriptors not back to idle: {end_fds} > {idle_fds}")
        if z:
            failures.append(f"{z} zombie children")
        if srv.proc.poll() is not None:
            failures.append("the server is not running")
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
