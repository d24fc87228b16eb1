#!/usr/bin/env python3
"""Memory with idle keep-alive connections.

Opens N connections to a running server, makes one request on each (so each
has been fully through the request path) and keeps them all open and idle,
then prints the server's VmRSS and VmHWM (summed over PIDs). Bounded in time;
closes everything it opened.

Usage: tests/bench/idle_conns.py --port PORT --pid PID [PID...] [-n 1000] [--path /1k.bin] [--tls]
(--tls: HTTPS, certificate not verified; the idle connections hold TLS state)
"""
import argparse
import resource
import socket
import ssl
import sys
import time


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pid", type=int, nargs="+", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--path", default="/")
    ap.add_argument("--hold", type=float, default=1.0, help="seconds to hold before reading RSS")
    ap.add_argument("--tls", action="store_true", help="connect with TLS (no verification)")
    args = ap.parse_args()
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.n + 64)), hard))

    rss = lambda f: sum(status_kb(p, f) for p in args.pid)
    before = rss("VmRSS")
    socks = []
    req = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    deadline = time.time() + 120
    try:
        for _ in range(args.n):
            s = socket.create_connection((args.host, args.port), timeout=10)
            if tls:
                s = tls.wrap_socket(s, server_hostname="localhost")
            s.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("server closed a connection")
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n")[0]:
                sys.exit(f"unexpected answer: {head[:80]!r}")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(body) < length:
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("server closed a connection mid-body")
                body += chunk
            socks.append(s)
            if time.time() > deadline:
                sys.exit("time budget used up")
        time.sleep(args.hold)
        during = rss("VmRSS")
        hwm = rss("VmHWM")
        print(f"connections={len(socks)} rss_before_kb={before} rss_with_idle_kb={during} hwm_kb={hwm} "
              f"per_connection_bytes={(during - before) * 1024 // max(1, len(socks))}")
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    main()
