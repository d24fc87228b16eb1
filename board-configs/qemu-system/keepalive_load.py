#!/usr/bin/env python3
"""Keep-alive load for the boot test (boot.sh): RSS inside the guest while N
keep-alive connections are held.

Opens N connections to the server through QEMU's forwarded port, makes two
requests on each (so every connection has been through the request path and
stays in keep-alive), waits until the guest has rewritten
/guest/status.txt after the last connection was made, reads the server's
VmRSS, VmHWM and descriptor count from it, then makes one more request on
every connection to prove they were all still held. A connection idle for
half the server's keep-alive timeout (--keepalive) makes another request
first, so a slow (emulated) run does not outlast the timeout: any connection
the server closes is an error. Bounded in time; closes everything it opened.
Prints one line:
  connections=N rss_kb=.. anon_kb=.. file_kb=.. hwm_kb=.. fds=.. mem_available_kb=.. idle_rss_kb=..

Usage: keepalive_load.py --url http://127.0.0.1:PORT [-n 200] [--path /index.html] [--keepalive 10]
"""
import argparse
import resource
import socket
import sys
import time
import urllib.parse
import urllib.request

DEADLINE = time.monotonic() + 240


def fail(msg):
    sys.exit(f"keepalive_load: {msg}")


def status(base):
    """The guest's status file as a dict (fresh connection, closed after)."""
    with urllib.request.urlopen(base + "/guest/status.txt", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0].rstrip(":")] = parts[1]
    return out


def fresh_status(base, after):
    """Waits until the guest has written a status newer than sequence `after`."""
    while time.monotonic() < DEADLINE:
        st = status(base)
        if int(st.get("seq", 0)) > after:
            return st
        time.sleep(0.3)
    fail("the guest's status file was not refreshed")


START = time.monotonic()
WHERE = ""


def request(sock, host, path):
    """One GET on a keep-alive connection; returns the status code."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            fail(f"the server closed a keep-alive connection ({WHERE}, "
                 f"{time.monotonic() - START:.1f} s after the start)")
        data += chunk
        if len(data) > 65536:
            fail("response head too large")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    code = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
        if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
            fail(f"the server answered Connection: close ({lines[0]!r})")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            fail("the server closed a connection mid-body")
        body += chunk
    return code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--path", default="/index.html")
    ap.add_argument("--keepalive", type=float, default=5.0,
                    help="the server's keep-alive timeout in seconds")
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    host, port = u.hostname, u.port or 80
    base = args.url.rstrip("/")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.n + 64)), hard))

    idle = status(base)
    socks = []
    last = []

    def get(i):
        code = request(socks[i], host, args.path)
        last[i] = time.monotonic()
        if code != 200:
            fail(f"GET {args.path} answered {code} ({WHERE})")

    def refresh():
        """A request on every connection idle for half the keep-alive timeout."""
        global WHERE
        for i in range(len(socks)):
            if time.monotonic() - last[i] > args.keepalive / 2:
                WHERE = f"connection {i + 1}, keep-alive refresh"
                get(i)

    try:
        global WHERE
        for i in range(args.n):
            if time.monotonic() > DEADLINE:
                fail("time budget used up while connecting")
            socks.append(socket.create_connection((host, port), timeout=20))
            last.append(time.monotonic())
            WHERE = f"connection {i + 1}, first requests"
            get(i)
            get(i)
            refresh()
        refresh()
        after = int(status(base)["seq"])
        st = fresh_status(base, after)
        # A sample may predate the last connections reaching the guest
        # (user-mode networking relays them): take newer ones, keeping the
        # connections alive, until it shows them or the budget runs out.
        while int(st.get("fds", 0)) < args.n and time.monotonic() < DEADLINE - 5:
            refresh()
            st = fresh_status(base, int(st["seq"]))
        for i, s in enumerate(socks):
            WHERE = f"connection {i + 1}, request after holding"
            code = request(s, host, args.path)
            if code != 200:
                fail(f"GET {args.path} on a held connection answered {code}")
        fds = int(st.get("fds", 0))
        if fds < args.n:
            fail(f"the server holds {fds} descriptors, fewer than the {args.n} connections")
        print(f"connections={len(socks)} rss_kb={st.get('VmRSS')} anon_kb={st.get('RssAnon')} "
              f"file_kb={st.get('RssFile')} hwm_kb={st.get('VmHWM')} fds={fds} "
              f"mem_available_kb={st.get('MemAvailable')} idle_rss_kb={idle.get('VmRSS')}")
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    main()
