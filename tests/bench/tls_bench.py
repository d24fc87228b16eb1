#!/usr/bin/env python3
"""HTTPS side by side: firmware-server, nginx and lighttpd (OpenSSL), one
worker each, ECDSA P-256, the server pinned to CPU 0 and the clients to
CPU 1 (the server classes of bench.py, with TLS listeners).

Per server and round:
  - full TLS 1.3 handshakes (`openssl s_time -new`, no resumption) and
    resumed TLS 1.2 ones (`openssl s_time -reuse`: s_time cannot resume 1.3): server CPU µs per connection,
    from /proc/PID/stat (one client cannot saturate a server's handshakes,
    so compare CPU, not connections per second);
  - 1 KiB over HTTPS keep-alive (`wrk -t1 -c100`): req/s and CPU µs/request;
  - RSS idle and with N idle HTTPS keep-alive connections (idle_conns.py).

Usage: tests/bench/tls_bench.py [--bin target/release/firmware-server]
         [--rounds 3] [--duration 5] [--idle 1000]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402


class FwsTls(bench.FirmwareServer):
    def command(self, port):
        conf = os.path.join(self.workdir, "fws-tls.conf")
        with open(conf, "w") as f:
            f.write(
                "[server]\n"
                f'listen = ["127.0.0.1:{bench.free_port()}"]\n'
                f'root = "{self.docroot}"\n'
                "workers = 1\nmax_connections = 2048\nmax_keepalive_requests = 0\n"
                'log_level = "error"\n'
                "[[tls]]\n"
                f'listen = "127.0.0.1:{port}"\n'
                f'cert = "{self.args.cert}"\nkey = "{self.args.key}"\n'
            )
        return [self.args.bin, "--config", conf]


class NginxTls(bench.Nginx):
    def command(self, port):
        cmd = super().command(port)
        conf = cmd[2]
        text = open(conf).read().replace(
            f"listen 127.0.0.1:{port};",
            f"listen 127.0.0.1:{port} ssl; ssl_certificate {self.args.cert}; "
            f"ssl_certificate_key {self.args.key}; ssl_protocols TLSv1.2 TLSv1.3; "
            "ssl_session_cache shared:S:1m;",
        )
        open(conf, "w").write(text)
        return cmd


class LighttpdTls(bench.Lighttpd):
    def command(self, port):
        cmd = super().command(port)
        conf = cmd[-1]
        with open(conf, "a") as f:
            f.write(
                'server.modules += ( "mod_openssl" )\nssl.engine = "enable"\n'
                f'ssl.pemfile = "{self.args.cert}"\nssl.privkey = "{self.args.key}"\n'
            )
        return cmd


SERVERS = {"fws": FwsTls, "nginx": NginxTls, "lighttpd": LighttpdTls}


def s_time(port, mode, duration):
    # s_time cannot resume TLS 1.3 sessions (it never waits for the
    # tickets), so resumption is measured with TLS 1.2 session IDs; it
    # prints an "r" per resumed connection, checked below.
    version = "-tls1_3" if mode == "-new" else "-tls1_2"
    cmd = ["taskset", "-c", "1", "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
           mode, "-time", str(duration), version]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.findall(r"(\d+) connections in [\d.]+s", out) or re.findall(r"(\d+) connections in", out)
    n = int(m[-1]) if m else 0
    if mode == "-reuse" and sum(l.count("r") for l in out.splitlines() if l and set(l) <= set("r*.")) < n // 2:
        print(f"warning: port {port}: most -reuse connections were not resumed", file=sys.stderr)
    return n


def https_wrk(port, duration):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c100", f"-d{duration}s",
           f"https://127.0.0.1:{port}/1k.bin"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    return (int(total.group(1)) if total else 0), (float(rps.group(1)) if rps else 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/firmware-server")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--servers", default="fws,nginx,lighttpd")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    work = tempfile.mkdtemp(prefix="fws-tls-bench-")
    docroot = os.path.join(work, "www")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "1k.bin"), "wb") as f:
        f.write(b"x" * 1024)
    args.cert = os.path.join(work, "cert.pem")
    args.key = os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", args.key, "-out", args.cert, "-subj", "/CN=localhost",
                    "-days", "30"], check=True, capture_output=True)
    os.chmod(args.key, 0o600)
    names = args.servers.split(",")
    res = {n: {"full": [], "resumed": [], "ka_rps": [], "ka_cpu": []} for n in names}
    mem = {}
    for _ in range(args.rounds):
        for n in names:
            s = SERVERS[n](n, work, docroot, args)
            s.start()
            try:
                for key, mode in (("full", "-new"), ("resumed", "-reuse")):
                    c0 = s.cpu()
                    conns = s_time(s.port, mode, args.duration)
                    c1 = s.cpu()
                    res[n][key].append((c1 - c0) * 1e6 / bench.CLK_TCK / max(1, conns))
                c0 = s.cpu()
                reqs, rps = https_wrk(s.port, args.duration)
                c1 = s.cpu()
                res[n]["ka_rps"].append(rps)
                res[n]["ka_cpu"].append((c1 - c0) * 1e6 / bench.CLK_TCK / max(1, reqs))
                if n not in mem:
                    idle = s.rss_kb()
                    out = subprocess.run(
                        [sys.executable, os.path.join(HERE, "idle_conns.py"), "--port", str(s.port),
                         "--pid"] + [str(p) for p in s.pids()] + ["-n", str(args.idle), "--path", "/1k.bin",
                                                                  "--tls"],
                        capture_output=True, text=True, timeout=300).stdout.strip()
                    mem[n] = (idle, out)
            finally:
                s.stop()
    med = statistics.median
    print("| server | full handshake CPU µs | resumed CPU µs | HTTPS keep-alive 1 KiB req/s | CPU µs/req |")
    print("| --- | --- | --- | --- | --- |")
    for n in names:
        r = res[n]
        print(f"| {n} | {med(r['full']):.0f} | {med(r['resumed']):.0f} | {med(r['ka_rps']):.0f} | {med(r['ka_cpu']):.1f} |")
    print()
    for n in names:
        print(f"{n}: RSS idle {mem[n][0]} kB; {mem[n][1]}")


if __name__ == "__main__":
    main()
