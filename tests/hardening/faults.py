#!/usr/bin/env python3
"""Fault injection against firmware-server; prints what it observed for
each fault and exits non-zero if the server crashed or misbehaved.

  tests/hardening/faults.py [--bin PATH] [--only NAME,...]

Faults: descriptor exhaustion (the server under `prlimit --nofile=64`, then
far more connections than descriptors: does it keep serving, how much CPU
does it burn while out of descriptors, how long until it recovers), resets
mid-sendfile / mid-response / mid-upload (SIGPIPE), the access log on a
full disk (a 64 KiB tmpfs), the docroot missing at start, removed while
running and read-only, a file truncated or replaced while it is sent.
Mounting needs root; the full-disk and read-only cases are skipped (and
say so) without it. The deterministic cases are also black-box tests
(tests/faults.rs).
"""

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

from common import Fws, alive, cpu_seconds, default_bin, fd_count, get, kill_group, make_site, read_response, wait_until

RESULTS = []
FAILED = []


def report(fault, observed, ok=True):
    RESULTS.append((fault, observed, ok))
    print(f"[{'ok' if ok else 'FAIL'}] {fault}: {observed}", flush=True)
    if not ok:
        FAILED.append(fault)


def rst_close(s):
    """Close with SO_LINGER 0: the kernel sends a TCP reset."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def fault_descriptors(binary):
    work, www = make_site()
    limit = 64
    srv = Fws(work, www, binary, prefix=["prlimit", f"--nofile={limit}:{limit}"], pin=False,
              server_extra="workers = 1\nmax_connections = 1024\nheader_timeout = \"30s\"\n")
    srv.start()
    try:
        pid = srv.main_pid()
        idle_fds = fd_count(pid)
        held = []
        for _ in range(4 * limit):
            try:
                held.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
            except OSError:
                break
        time.sleep(0.5)
        # CPU burnt while out of descriptors, over 3 s.
        c0, t0 = cpu_seconds(pid), time.time()
        served = 0
        tries = 0
        while time.time() - t0 < 3:
            tries += 1
            st, _, _ = get(srv.port, "/index.html", timeout=0.5)
            served += st == 200
        cpu = (cpu_seconds(pid) - c0) / (time.time() - t0)
        fds_during = fd_count(pid)
        # The held connections can still be served on their own sockets.
        held_ok = 0
        held_status = {}
        for s in held[:20]:
            try:
                s.settimeout(3)
                s.sendall(b"GET /index.html HTTP/1.1\r\nHost: r\r\n\r\n")
                st, _, _ = read_response(s)
                held_ok += st == 200
            except OSError as e:
                st = type(e).__name__
            held_status[st] = held_status.get(st, 0) + 1
        for s in held:
            s.close()
        t1 = time.time()
        recovered = wait_until(lambda: get(srv.port, "/index.html", timeout=1)[0] == 200, 30)
        rec_s = time.time() - t1
        after = sum(get(srv.port, "/index.html")[0] == 200 for _ in range(50))
        time.sleep(1)
        fds_after = fd_count(pid)
        ok = alive(srv.proc) and recovered and after == 50 and cpu < 0.5
        report("descriptor exhaustion",
               f"nofile={limit}, {len(held)} connections held: CPU {cpu * 100:.0f}% of one core while out of "
               f"descriptors, fds {idle_fds} idle -> {fds_during} during -> {fds_after} after; "
               f"{held_ok}/20 held connections served (statuses {held_status}), {served}/{tries} new ones served during; "
               f"recovered {rec_s:.2f}s after the release, then {after}/50 served; "
               f"'pausing accepts' logged: {'pausing accepts' in srv.stderr()}", ok)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def fault_resets(binary):
    work, www = make_site({"big.bin": os.urandom(8 << 20)})
    # No open-file cache: descriptors held are then only the connections'.
    srv = Fws(work, www, binary, pin=False, server_extra="workers = 1\nfile_cache = 0\n")
    srv.start()
    try:
        pid = srv.main_pid()
        idle = fd_count(pid)
        n = 100
        for i in range(n):
            # Mid-sendfile.
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: r\r\n\r\n")
            s.recv(1000)
            rst_close(s)
            # Mid-response (pipelined small responses never read).
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: r\r\n\r\n" * 100)
            rst_close(s)
            # Mid-upload.
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"POST /index.html HTTP/1.1\r\nHost: r\r\nContent-Length: 1000000\r\n\r\n" + b"u" * 30000)
            rst_close(s)
        ok_after = sum(get(srv.port, "/index.html")[0] == 200 for _ in range(20))
        t0 = time.time()
        wait_until(lambda: fd_count(pid) <= idle, 40)
        back = time.time() - t0
        fds = fd_count(pid)
        if fds > idle:
            print("  descriptors still open:", sorted(os.readlink(f"/proc/{pid}/fd/{f}") for f in os.listdir(f"/proc/{pid}/fd")))
            print(subprocess.run(["ss", "-tanpi", "sport", "=", str(srv.port)], capture_output=True, text=True).stdout[:3000])
        ok = alive(srv.proc) and ok_after == 20 and fds <= idle
        report("client resets (SIGPIPE)",
               f"{n} resets each mid-sendfile (8 MiB file), mid-response (100 pipelined), mid-upload: "
               f"process alive: {alive(srv.proc)}, {ok_after}/20 served after, descriptors {idle} -> {fds} "
               f"({back:.1f}s after the last reset)", ok)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def fault_full_disk(binary):
    if os.geteuid() != 0:
        report("log on a full disk", "skipped: mounting a tmpfs needs root")
        return
    work, www = make_site()
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", logs], check=True)
    srv = None
    try:
        log = os.path.join(logs, "access.log")
        srv = Fws(work, www, binary, pin=False, server_extra="workers = 1\n",
                  extra=f'[logger]\naccess = "file:{log}"\nerror = "stderr"\n')
        srv.start()
        n = 3000
        ok = 0
        for start in range(0, n, 500):
            with socket.create_connection(("127.0.0.1", srv.port)) as s:
                for i in range(start, start + 500):
                    s.sendall(b"GET /index.html?" + str(i).encode() + b"x" * 200 + b" HTTP/1.1\r\nHost: r\r\n\r\n")
                    st, _, _ = read_response(s)
                    ok += st == 200
        size_full = os.path.getsize(log)
        df = shutil.disk_usage(logs)
        # Space comes back (log rotated away): does logging resume?
        os.truncate(log, 0)
        for _ in range(50):
            get(srv.port, "/index.html")
        time.sleep(1.5)
        size_after = os.path.getsize(log)
        errs = [l for l in srv.stderr().splitlines() if "No space" in l or "ENOSPC" in l or "log" in l.lower()]
        good = alive(srv.proc) and ok == n
        report("access log on a full disk (64 KiB tmpfs)",
               f"{ok}/{n} requests served while the log filled the disk ({size_full} bytes written, "
               f"{df.free} free); after freeing space the log grew to {size_after} bytes "
               f"({'logging resumed' if size_after > 0 else 'logging did not resume'}); "
               f"{len(errs)} log-related error lines on stderr"
               + (f", first: {errs[0][:120]!r}" if errs else ""), good)
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", logs])
        shutil.rmtree(work, ignore_errors=True)


def fault_docroot(binary):
    # Missing at start.
    work, www = make_site()
    shutil.rmtree(www)
    r = subprocess.run([binary, "--root", www, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=20)
    report("docroot missing at start", f"exit code {r.returncode}, stderr: {r.stderr.strip()[:160]!r}",
           r.returncode != 0 and "docroot" in r.stderr)
    shutil.rmtree(work, ignore_errors=True)
    # Removed while running.
    work, www = make_site()
    srv = Fws(work, www, binary, pin=False, server_extra="file_cache = 0\n")
    srv.start()
    try:
        before = get(srv.port, "/index.html")[0]
        shutil.rmtree(www)
        after = [get(srv.port, p)[0] for p in ("/index.html", "/", "/js/app.js")]
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("new")
        recreated = get(srv.port, "/index.html")[0]
        report("docroot removed while running",
               f"{before} before; after removal /index.html, /, /js/app.js -> {after}; "
               f"after recreating the directory -> {recreated} (the server keeps the directory it opened "
               f"at start, now deleted: a restart picks up the new one); alive: {alive(srv.proc)}",
               alive(srv.proc) and all(s in (403, 404) for s in after))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    # Read-only filesystem.
    if os.geteuid() != 0:
        report("docroot on a read-only filesystem", "skipped: mounting needs root")
        return
    work, www = make_site()
    ro = os.path.join(work, "ro")
    os.makedirs(ro)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", ro], check=True)
    srv = None
    try:
        shutil.copytree(www, ro, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
        srv = Fws(work, ro, binary, pin=False)
        srv.start()
        st = [get(srv.port, p)[0] for p in ("/index.html", "/js/app.js", "/missing")]
        report("docroot on a read-only filesystem", f"/index.html, /js/app.js, /missing -> {st}",
               st == [200, 200, 404])
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", ro])
        shutil.rmtree(work, ignore_errors=True)


def fault_truncate(binary):
    size = 32 << 20
    work, www = make_site({"big.bin": os.urandom(size)})
    srv = Fws(work, www, binary, pin=False)
    srv.start()
    try:
        path = os.path.join(www, "big.bin")
        with open(path, "rb") as f:
            original = f.read()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: r\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        os.truncate(path, 1000)
        closed = False
        try:
            while True:
                c = s.recv(1 << 20)
                if not c:
                    closed = True
                    break
                body += c
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        s.close()
        first_ok = body[:1000] == original[:min(1000, len(body))]
        report("file truncated while sent",
               f"Content-Length {size}, received {len(body)} bytes then "
               f"{'the connection was closed' if closed else 'NO close (hang)'}; first 1000 bytes correct: {first_ok}; "
               f"next GET -> {get(srv.port, '/big.bin')[0]} with {len(get(srv.port, '/big.bin')[2])} bytes",
               closed and len(body) < size and first_ok and alive(srv.proc))
        # Replaced (rename over) while sent.
        with open(path, "wb") as f:
            f.write(original)
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        tmp = os.path.join(work, "new.bin")
        with open(tmp, "wb") as f:
            f.write(b"new")
        os.rename(tmp, path)
        while True:
            c = s.recv(1 << 20)
            if not c:
                break
            body += c
        s.close()
        report("file replaced (renamed over) while sent",
               f"received {len(body)} of {size} bytes, identical to the old file: {body == original}",
               body == original)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


FAULTS = {
    "descriptors": fault_descriptors,
    "resets": fault_resets,
    "full_disk": fault_full_disk,
    "docroot": fault_docroot,
    "truncate": fault_truncate,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--only", default=",".join(FAULTS))
    args = ap.parse_args()
    for name in args.only.split(","):
        try:
            FAULTS[name](args.bin)
        except Exception as e:  # a harness error is a failure too
            report(name, f"harness error: {e!r}", False)
    print()
    print("| fault | observed |")
    print("|---|---|")
    for fault, observed, ok in RESULTS:
        print(f"| {fault}{'' if ok else ' (FAIL)'} | {observed} |")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
