#!/usr/bin/env python3
"""Slow-client and flood attacks against firmware-server, nginx and lighttpd
in one run, each with a realistic router config (the mt7621-generic board's
[server] settings: 2 workers, 256 connections, 5 s header timeout, 10 s
keep-alive; nginx and lighttpd configured alike). The listen backlog is
raised from the board's 128 to 1024 for all three: at the normal client's
~5000 new connections per second on loopback, 128 overflowed under
slowloris for every server (SYNs dropped, 1 s client stalls), which
measured the kernel's queue rather than the servers.

For every (attack, server): a fresh server; a normal client's throughput
without the attack (baseline: the mean of a measurement before the attack
and one after the recovery); the attack started and given time to ramp
up; the normal client's throughput during it; the RSS peak of the server's
processes; then the attack stopped and the time until the normal client is
served again (recovery). The normal client is wrk loading the router's
start page on a new connection per request (a browser arriving), 4 at a
time. Attacks: slowhttptest slowloris (-H), slow body / R-U-Dead-Yet (-B),
slow read with a tiny receive window (-X), the range attack (-R: many
overlapping ranges), and an idle-connection flood of 4 x max_connections
(this script: connections that send one byte and nothing more, re-opened
as soon as the server drops them). firmware-server runs with
`reclaim_slots = true`; `fws-503` is the same without it.

  tests/hardening/attacks.py [--bin PATH] [--servers fws,nginx,lighttpd,fws-503]
                             [--attacks slowloris,slowbody,slowread,range,flood]
                             [--measure 10] [--json FILE]

Needs slowhttptest, wrk, nginx, lighttpd, taskset, prlimit (Debian:
slowhttptest wrk nginx-light lighttpd util-linux). The server runs on CPU
0, the normal client and the attacker on CPU 1. A new plugin's traffic
(CGI, FastCGI, TLS) is added as another normal-client URL in NORMAL_URLS.
"""

import argparse
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time

from common import Fws, bench, default_bin, get, kill_group, make_site

MAX_CONN = 256
# The normal client's page; a new plugin adds its URL here.
NORMAL_URLS = ["/index.html"]

BOARD_SERVER = (
    "workers = 2\nmax_connections = 256\nbacklog = 1024\nbuffer_size = 4096\nbuffers_per_worker = 32\n"
    'header_timeout = "5s"\nkeepalive_timeout = "10s"\nsend_timeout = "20s"\nmax_keepalive_requests = 200\n'
    'max_body_size = "32M"\nindex = ["index.html"]\ndefer_accept = true\n'
)


class RouterNginx(bench.Server):
    def command(self, port):
        d = os.path.join(self.workdir, "nginx")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                "daemon off;\nworker_processes 2;\nworker_rlimit_nofile 4096;\n"
                f"pid {d}/nginx.pid;\nerror_log {d}/error.log crit;\n"
                # worker_connections counts the listener too; 128 x 2 = 256 clients.
                "events { worker_connections 129; }\n"
                "http {\n  access_log off;\n  sendfile on;\n  tcp_nodelay on;\n"
                "  client_header_timeout 5s;\n  client_body_timeout 5s;\n  send_timeout 20s;\n"
                "  keepalive_timeout 10s;\n  keepalive_requests 200;\n  client_max_body_size 32m;\n"
                f"  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n"
                f"  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n"
                "  default_type application/octet-stream;\n"
                f"  server {{ listen 127.0.0.1:{port} backlog=1024 deferred; root {self.docroot}; }}\n}}\n"
            )
        return ["nginx", "-c", conf, "-p", d]


class RouterLighttpd(bench.Server):
    def command(self, port):
        d = os.path.join(self.workdir, "lighttpd")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(
                f'server.document-root = "{self.docroot}"\n'
                f'server.bind = "127.0.0.1"\nserver.port = {port}\n'
                f'server.errorlog = "{d}/error.log"\n'
                "server.max-connections = 256\nserver.max-fds = 1024\n"
                "server.max-read-idle = 5\nserver.max-write-idle = 20\n"
                "server.max-keep-alive-idle = 10\nserver.max-keep-alive-requests = 200\n"
                "server.max-request-size = 32768\n"
                'server.network-backend = "sendfile"\nserver.listen-backlog = 1024\n'
                'index-file.names = ( "index.html" )\n'
                'mimetype.assign = ( ".html" => "text/html", ".js" => "application/javascript", '
                '".bin" => "application/octet-stream" )\n'
            )
        return ["lighttpd", "-D", "-f", conf]


def make_server(name, work, www, binary):
    if name == "fws":
        return Fws(work, www, binary, server_extra=BOARD_SERVER + "reclaim_slots = true\n")
    if name == "fws-503":
        # The engine's default: a full server answers 503 instead of
        # reclaiming idle slots.
        return Fws(work, www, binary, server_extra=BOARD_SERVER)
    return {"nginx": RouterNginx, "lighttpd": RouterLighttpd}[name](name, work, www, None)


def wrk(port, seconds):
    """Requests per second of the normal client (new connection per request)."""
    out = []
    per = max(1, seconds // len(NORMAL_URLS))
    for path in NORMAL_URLS:
        r = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t1", "-c4", f"-d{per}s", "--timeout", "2s",
             "-H", "Connection: close", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=per + 60).stdout
        total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", r)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r)
        errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", r)
        n = int(total.group(1)) if total else 0
        bad = int(non2xx.group(1)) if non2xx else 0
        good = max(0, n - bad)
        out.append((good / per, n, bad, sum(int(x) for x in errs.groups()) if errs else 0))
    rps = sum(o[0] for o in out) / len(out)
    return rps, sum(o[2] for o in out), sum(o[3] for o in out)


class Flood:
    """Idle connections beyond max_connections, re-opened when dropped."""

    def __init__(self, port, n):
        self.port, self.n = port, n
        self.stop_flag = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.opened = 0

    def start(self):
        self.t.start()

    def run(self):
        socks = {}
        poller = select.poll()
        while not self.stop_flag:
            while len(socks) < self.n and not self.stop_flag:
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    # One byte, so that TCP_DEFER_ACCEPT does not hide the
                    # connection from the server; then nothing more.
                    s.send(b"G")
                    s.setblocking(False)
                    socks[s.fileno()] = s
                    poller.register(s, select.POLLIN)
                    self.opened += 1
                except OSError:
                    time.sleep(0.05)
                    break
            # Drop the ones the server closed (readable: EOF, 503 or reset).
            for fd, _ in poller.poll(200):
                s = socks.pop(fd, None)
                if s is None:
                    continue
                poller.unregister(fd)
                s.close()
        for s in socks.values():
            s.close()

    def stop(self):
        self.stop_flag = True
        self.t.join(timeout=10)


def slowhttptest(mode, port, seconds, conns):
    url = f"http://127.0.0.1:{port}"
    args = {
        "slowloris": ["-H", "-i", "3", "-x", "24", "-u", url + "/index.html"],
        "slowbody": ["-B", "-i", "3", "-s", "65536", "-x", "10", "-u", url + "/index.html"],
        "slowread": ["-X", "-w", "16", "-y", "64", "-n", "3", "-z", "16", "-k", "3", "-u", url + "/1m.bin"],
        "range": ["-R", "-a", "1", "-b", "3000", "-u", url + "/js/app.js"],
    }[mode]
    cmd = ["prlimit", "--nofile=8192:8192", "taskset", "-c", "1", "slowhttptest", "-c", str(conns),
           "-r", "400", "-l", str(seconds), "-p", "3", "-v", "0"] + args
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def recovery(port, limit=60.0):
    """Seconds until 5 consecutive requests are served within 1 s each."""
    t0 = time.time()
    ok = 0
    while time.time() - t0 < limit:
        st, _, _ = get(port, NORMAL_URLS[0], timeout=1.0)
        ok = ok + 1 if st == 200 else 0
        if ok >= 5:
            return time.time() - t0
        if st != 200:
            time.sleep(0.05)
    return None


def run_one(name, attack, binary, measure, ramp):
    work, www = make_site()
    srv = make_server(name, work, www, binary)
    srv.start()
    res = {"server": name, "attack": attack}
    attacker = None
    try:
        time.sleep(0.3)
        base, _, _ = wrk(srv.port, measure)
        res["before_rps"] = round(base, 1)
        conns = 4 * MAX_CONN
        if attack == "flood":
            attacker = Flood(srv.port, conns)
            attacker.start()
        else:
            attacker = slowhttptest(attack, srv.port, ramp + measure + 30, conns)
        peak = [srv.rss_kb()]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], srv.rss_kb())
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(ramp)
        during, non2xx, errs = wrk(srv.port, measure)
        stop.set()
        sampler.join()
        res.update(during_rps=round(during, 1), fraction=round(during / base, 3) if base else 0.0,
                   non2xx=non2xx, socket_errors=errs, rss_peak_kb=peak[0])
        if attack == "flood":
            attacker.stop()
        else:
            kill_group(attacker)
        attacker = None
        rec = recovery(srv.port)
        res["recovery_s"] = round(rec, 2) if rec is not None else None
        # The machine is shared and noisy: the baseline is the mean of the
        # normal client's throughput before and after the attack.
        after, _, _ = wrk(srv.port, measure)
        res["after_rps"] = round(after, 1)
        base = (base + after) / 2
        res["baseline_rps"] = round(base, 1)
        res["fraction"] = round(during / base, 3) if base else 0.0
        res["alive"] = srv.proc.poll() is None
    finally:
        if attacker is not None:
            if isinstance(attacker, Flood):
                attacker.stop()
            else:
                kill_group(attacker)
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--servers", default="fws,nginx,lighttpd")
    ap.add_argument("--attacks", default="slowloris,slowbody,slowread,range,flood")
    ap.add_argument("--measure", type=int, default=10)
    ap.add_argument("--ramp", type=int, default=6)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    for tool in ("slowhttptest", "wrk", "taskset", "prlimit"):
        if not shutil.which(tool):
            sys.exit(f"attacks: {tool} not found (Debian: apt-get install slowhttptest wrk util-linux)")
    results = []
    for attack in args.attacks.split(","):
        for name in args.servers.split(","):
            r = run_one(name, attack, args.bin, args.measure, args.ramp)
            print(json.dumps(r), flush=True)
            results.append(r)
    print()
    print("| attack | server | baseline req/s | during req/s | fraction | non-2xx | socket errors | RSS peak | recovery |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        rec = f"{r['recovery_s']} s" if r.get("recovery_s") is not None else "not within 60 s"
        print(f"| {r['attack']} | {r['server']} | {r['baseline_rps']} | {r['during_rps']} | "
              f"{r['fraction'] * 100:.0f}% | {r['non2xx']} | {r['socket_errors']} | "
              f"{r['rss_peak_kb'] / 1024:.1f} MiB | {rec} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    bad = [r for r in results if r["server"] == "fws" and (r["fraction"] < 0.9 or not r["alive"])]
    for r in bad:
        print(f"firmware-server below 90% (or dead) under {r['attack']}", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
