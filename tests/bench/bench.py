#!/usr/bin/env python3
"""Side-by-side benchmark: firmware-server, nginx and lighttpd in one run.

Each server is started by this script with a generated config on a loopback
high port, one worker, access logs off, sendfile on, serving the same
generated docroot. The server is pinned to CPU 0 and wrk to CPU 1; servers
are interleaved round by round (A B C A B C ...) so the ratios are measured
side by side on a shared, noisy machine. Every process started is stopped,
and the whole run is bounded in time.

CGI scenarios (g: hello-world shell script, h: the same in C, compiled
with cc at bench time) run firmware-server's CGI plugin, lighttpd's mod_cgi
and nginx + fcgiwrap (Debian fcgiwrap, one process, pinned with nginx);
their CPU column counts the whole process tree, reaped CGI children included
(cutime/cstime): `tests/bench/bench.py --scenarios g,h`. fcgiwrap ignores
SIGCHLD, so the kernel never adds its CGI children's time to it: nginx's CPU
column leaves the scripts out and is not comparable (the summary says so).

Usage: tests/bench/bench.py [--rounds 3] [--duration 5] [--scenarios a,b,c]
                            [--servers fws,nginx,lighttpd] [--out DIR]
                            [--bin target/release/firmware-server] [--callgrind]
Needs: wrk, nginx, lighttpd, taskset (Debian: wrk nginx-light lighttpd util-linux),
valgrind for --callgrind.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCENARIOS = {
    # name: (description, path, connections, extra wrk headers)
    "a": ("1 KiB, keep-alive, 100 conns", "/1k.bin", 100, []),
    "b": ("200 KiB, keep-alive, 100 conns", "/200k.bin", 100, []),
    "c": ("1 KiB, new connection per request", "/1k.bin", 100, ["Connection: close"]),
    "d": ("1 KiB, keep-alive, 1000 conns", "/1k.bin", 1000, []),
    "e": ("304 revalidation (If-None-Match)", "/1k.bin", 100, ["If-None-Match: {etag}"]),
    "f": ("1 MiB file, 64 KiB Range requests", "/1m.bin", 100, ["Range: bytes=524288-589823"]),
    "g": ("hello CGI, shell script", "/cgi-bin/hello.sh", 8, []),
    "h": ("hello CGI, C program", "/cgi-bin/hello.cgi", 8, []),
    # Scaling: (a) and (c) again with two workers (nginx: worker_processes
    # 2, lighttpd: server.max-worker = 2), the server on both CPUs and wrk
    # with two threads sharing them.
    "a2": ("1 KiB, keep-alive, 100 conns, 2 workers", "/1k.bin", 100, []),
    "c2": ("1 KiB, new connection per request, 2 workers", "/1k.bin", 100, ["Connection: close"]),
}
TWO_WORKERS = {"a2": "a", "c2": "c"}
CGI_SCENARIOS = {"g", "h"}
# FastCGI (php-fpm started per server, pinned with it on CPU 0; "own CPU"
# is the server's process tree without php-fpm). page.php sends a small
# dynamic part plus a file: m=readfile streams it through FastCGI,
# m=offload asks the server to send it (X-Sendfile for firmware-server and
# lighttpd, X-Accel-Redirect for nginx), m=zc uses X-ZeroCopy (only
# firmware-server has it; the others are not run for those scenarios).
SCENARIOS.update({
    "i": ("php-fpm hello world", "/hello.php", 8, []),
    "j": ("PHP + 100 KiB via readfile()", "/page.php?m=readfile&f=100k.bin", 8, []),
    "k": ("PHP + 100 KiB offloaded (X-Sendfile / X-Accel)", "/page.php?m=offload&f=100k.bin", 8, []),
    "l": ("PHP + 100 KiB via X-ZeroCopy", "/page.php?m=zc&f=100k.bin", 8, []),
    "m": ("PHP + 1 MiB via readfile()", "/page.php?m=readfile&f=1m.bin", 8, []),
    "n": ("PHP + 1 MiB offloaded (X-Sendfile / X-Accel)", "/page.php?m=offload&f=1m.bin", 8, []),
    "o": ("PHP + 1 MiB via X-ZeroCopy", "/page.php?m=zc&f=1m.bin", 8, []),
})
FCGI_SCENARIOS = {"i", "j", "k", "l", "m", "n", "o"}
ZC_ONLY = {"l", "o"}

HELLO_PHP = "<?php echo 'Hello, world!', \"\\n\";\n"
# The dynamic part, then the file: $FILES is where the files live (outside
# the docroot, as offloaded files usually are).
PAGE_PHP = """<?php
$f = basename($_GET['f'] ?? '1m.bin');
$path = getenv('FILES') . '/' . $f;
$m = $_GET['m'] ?? 'readfile';
$pre = '<p>Hello ' . htmlspecialchars($_SERVER['REMOTE_ADDR']) . ' at ' . date('c') . "</p>\\n";
header('Content-Type: application/octet-stream');
if ($m === 'offload') {
    if (isset($_SERVER['NGINX'])) { header('X-Accel-Redirect: /files/' . $f); }
    else { header('X-Sendfile: ' . $path); }
    exit;
}
if ($m === 'zc') {
    header('X-ZeroCopy: ' . strlen($pre) . '/' . strlen($path));
    echo $pre, $path;
    exit;
}
echo $pre;
readfile($path);
"""


def php_fpm_bin():
    for d in ("/usr/sbin", "/usr/bin"):
        try:
            names = sorted(n for n in os.listdir(d) if n.startswith("php-fpm"))
        except OSError:
            continue
        if names:
            return os.path.join(d, names[-1])
    return None


def start_php_fpm(workdir, tag, files):
    """php-fpm on a Unix socket, 2 static children, pinned to CPU 0."""
    d = os.path.join(workdir, f"fpm-{tag}")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    sock = os.path.join(d, "php.sock")
    conf = os.path.join(d, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write(
            f"[global]\nerror_log = {d}/fpm.log\npid = {d}/fpm.pid\ndaemonize = no\n"
            f"[www]\nlisten = {sock}\nlisten.mode = 0666\npm = static\npm.max_children = 2\n"
            f"pm.max_requests = 0\nclear_env = yes\nenv[FILES] = {files}\n"
            + ("user = www-data\ngroup = www-data\n" if os.getuid() == 0 else "")
        )
    p = subprocess.Popen(
        ["taskset", "-c", "0", php_fpm_bin(), "-F", "-R", "-n", "-y", conf, "-p", d],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 10
    while not os.path.exists(sock):
        if time.time() > deadline:
            raise RuntimeError("php-fpm did not start")
        time.sleep(0.05)
    return p, sock

HELLO_SH = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nHello, world!\\n'\n"
HELLO_C = (
    "#include <stdio.h>\n"
    "int main(void) { fputs(\"Content-Type: text/plain\\r\\n\\r\\nHello, world!\\n\", stdout); return 0; }\n"
)


def make_cgi_bin(docroot, workdir):
    """cgi-bin/hello.sh and cgi-bin/hello.cgi (compiled with cc)."""
    d = os.path.join(docroot, "cgi-bin")
    os.makedirs(d, mode=0o755, exist_ok=True)
    with open(os.path.join(d, "hello.sh"), "w") as f:
        f.write(HELLO_SH)
    src = os.path.join(workdir, "hello.c")
    with open(src, "w") as f:
        f.write(HELLO_C)
    subprocess.run(["cc", "-O2", "-o", os.path.join(d, "hello.cgi"), src], check=True)
    for n in ("hello.sh", "hello.cgi"):
        os.chmod(os.path.join(d, n), 0o755)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tree_pids(pid):
    """pid and all its descendants."""
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        for line in out.split():
            pids.extend(tree_pids(int(line)))
    except OSError:
        pass
    return pids


def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """utime + stime + cutime + cstime: reaped children (CGI) count too."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15])
    except (OSError, IndexError, ValueError):
        return 0


class Server:
    def __init__(self, name, workdir, docroot, args):
        self.name = name
        self.workdir = workdir
        self.docroot = docroot
        self.args = args
        self.proc = None
        self.port = None
        # Helper processes outside the server's tree (fcgiwrap).
        self.helpers = []

    def command(self, port):
        raise NotImplementedError

    def start(self):
        self.port = free_port()
        cmd = self.command(self.port)
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0" if self.args.workers == 1 else "0,1"] + cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {' '.join(cmd)}")
        time.sleep(0.2)

    def pids(self):
        pids = tree_pids(self.proc.pid)
        for h in self.helpers:
            pids += tree_pids(h.pid)
        return pids

    def rss_kb(self):
        return sum(proc_status_kb(p, "VmRSS") for p in self.pids())

    def hwm_kb(self):
        return sum(proc_status_kb(p, "VmHWM") for p in self.pids())

    def cpu(self):
        return sum(cpu_ticks(p) for p in self.pids())

    def own_cpu(self):
        """The server's tree only (not php-fpm, fcgiwrap)."""
        return sum(cpu_ticks(p) for p in tree_pids(self.proc.pid))

    def fpm(self):
        """php-fpm for the FastCGI scenarios (a helper: stopped with us)."""
        if not self.args.fcgi:
            return None
        p, sock = start_php_fpm(self.workdir, self.name, self.args.files)
        self.helpers.append(p)
        return sock

    def stop(self):
        for h in self.helpers:
            if h.poll() is None:
                try:
                    os.killpg(h.pid, signal.SIGTERM)
                    h.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    os.killpg(h.pid, signal.SIGKILL)
                    h.wait()
        self.helpers = []
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class FirmwareServer(Server):
    def command(self, port):
        conf = os.path.join(self.workdir, "fws.conf")
        with open(conf, "w") as f:
            f.write(
                "[server]\n"
                f'listen = ["127.0.0.1:{port}"]\n'
                f'root = "{self.docroot}"\n'
                f"workers = {self.args.workers}\n"
                "max_connections = 2048\n"
                "max_keepalive_requests = 0\n"
                'log_level = "error"\n'
            )
            if self.args.cgi:
                f.write('\n[cgi]\nprefix = "/cgi-bin"\nmax_processes = 64\n')
            sock = self.fpm()
            if sock:
                f.write(f'\n[fastcgi]\nroute = ".php=unix:{sock}"\noffload_dirs = ["{self.args.files}"]\nzerocopy_buffer = 65536\n')
        return [self.args.bin, "--config", conf]


class Nginx(Server):
    def command(self, port):
        d = os.path.join(self.workdir, "nginx")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                f"daemon off;\nworker_processes {self.args.workers};\n"
                f"pid {d}/nginx.pid;\nerror_log {d}/error.log error;\n"
                "events { worker_connections 4096; }\n"
                "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
                "  keepalive_requests 1000000;\n  keepalive_timeout 60;\n"
                f"  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n"
                f"  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n"
                "  default_type application/octet-stream;\n"
                f"  server {{ listen 127.0.0.1:{port}; root {self.docroot};{self.cgi_location()}{self.fcgi_location()} }}\n}}\n"
            )
        return ["nginx", "-c", conf, "-p", d]

    def fcgi_location(self):
        sock = self.fpm()
        if not sock:
            return ""
        return (
            " location ~ \\.php$ { include /etc/nginx/fastcgi_params;"
            " fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"
            " fastcgi_param NGINX 1; fastcgi_keep_conn on;"
            f" fastcgi_pass unix:{sock}; }}"
            f" location /files/ {{ internal; alias {self.args.files}/; }}"
        )

    def cgi_location(self):
        """fcgiwrap, started here (one process, pinned with nginx)."""
        if not self.args.cgi:
            return ""
        fport = free_port()
        self.helpers.append(
            subprocess.Popen(
                ["taskset", "-c", "0", "fcgiwrap", "-c", "1", "-s", f"tcp:127.0.0.1:{fport}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        if not wait_port(fport):
            raise RuntimeError("fcgiwrap did not start")
        return (
            " location /cgi-bin/ { include /etc/nginx/fastcgi_params;"
            " fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"
            f" fastcgi_pass 127.0.0.1:{fport}; }}"
        )


class Lighttpd(Server):
    def command(self, port):
        d = os.path.join(self.workdir, "lighttpd")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(
                f'server.document-root = "{self.docroot}"\n'
                f'server.bind = "127.0.0.1"\nserver.port = {port}\n'
                f'server.errorlog = "{d}/error.log"\n'
                "server.max-keep-alive-requests = 1000000\n"
                "server.max-keep-alive-idle = 60\n"
                "server.max-connections = 4096\n"
                "server.max-fds = 8192\n"
                'server.network-backend = "sendfile"\n'
                'mimetype.assign = ( ".bin" => "application/octet-stream" )\n'
            )
            if self.args.workers > 1:
                f.write(f"server.max-worker = {self.args.workers}\n")
            if self.args.cgi:
                f.write('server.modules += ( "mod_cgi" )\ncgi.assign = ( ".sh" => "", ".cgi" => "" )\n')
            sock = self.fpm()
            if sock:
                f.write(
                    'server.modules += ( "mod_fastcgi" )\n'
                    f'fastcgi.server = ( ".php" => (( "socket" => "{sock}", "check-local" => "enable",'
                    ' "allow-x-send-file" => "enable", "x-sendfile-docroot" => ( "' + self.args.files + '" ) )) )\n'
                )
        return ["lighttpd", "-D", "-f", conf]


SERVERS = {"fws": FirmwareServer, "nginx": Nginx, "lighttpd": Lighttpd}


def etag_of(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    m = re.search(rb"(?im)^etag:\s*(.+?)\r$", data)
    return m.group(1).decode() if m else '"none"'


def run_wrk(port, path, conns, headers, duration, workers=1):
    cpus, threads = ("1", 1) if workers == 1 else ("0,1", 2)
    cmd = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs += int(m.group(1))
    xfer = re.search(r"Transfer/sec:\s*([\d.]+)([KMG]?B)", out)
    mbps = 0.0
    if xfer:
        mbps = float(xfer.group(1)) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[xfer.group(2)]
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "mbps": mbps,
        "errors": errs,
        "output": out,
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def callgrind_instructions(args, docroot, workdir, requests=20000):
    """Instructions per request for scenario (a), counted by callgrind."""
    results = {}
    args.workers = 1
    for name in ("fws", "lighttpd"):
        srv = SERVERS[name](name, workdir, docroot, args)
        port = free_port()
        out = os.path.join(workdir, f"callgrind.{name}")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=yes"] + srv.command(port)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            if not wait_port(port, 60):
                raise RuntimeError(f"{name} under valgrind did not start")
            # Measure a fixed number of keep-alive requests, minus the start-up cost
            # (counted with a short warm-up run subtracted out).
            subprocess.run(["ab", "-q", "-k", "-c", "10", "-n", "1000", f"http://127.0.0.1:{port}/1k.bin"], capture_output=True, timeout=300)
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], capture_output=True, timeout=60)
            subprocess.run(["ab", "-q", "-k", "-c", "10", "-n", str(requests), f"http://127.0.0.1:{port}/1k.bin"], capture_output=True, timeout=600)
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], capture_output=True, timeout=60)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        best = 0
        for fn in os.listdir(workdir):
            if fn.startswith(f"callgrind.{name}"):
                with open(os.path.join(workdir, fn)) as f:
                    for line in f:
                        if line.startswith("summary:") or line.startswith("totals:"):
                            best = max(best, int(line.split()[1]))
        results[name] = best / requests if best else None
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--scenarios", default="a,b,c,d,e,f,a2,c2")
    ap.add_argument("--servers", default="fws,nginx,lighttpd")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/firmware-server"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--max-seconds", type=int, default=1800)
    args = ap.parse_args()
    args.workers = 1
    args.cgi = bool(CGI_SCENARIOS & set(args.scenarios.split(",")))
    args.fcgi = bool(FCGI_SCENARIOS & set(args.scenarios.split(",")))

    for tool in ["wrk", "taskset"] + [{"nginx": "nginx", "lighttpd": "lighttpd"}.get(s, "") for s in args.servers.split(",")]:
        if tool and not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (Debian: apt-get install wrk nginx-light lighttpd)")
    if not os.path.exists(args.bin):
        sys.exit(f"bench: {args.bin} not found (cargo build --release)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench: needs 2 CPUs (server on one, wrk on the other)")

    started = time.time()
    workdir = tempfile.mkdtemp(prefix="fws-bench-")
    # nginx's worker runs unprivileged: the docroot must be world-readable.
    os.chmod(workdir, 0o755)
    docroot = os.path.join(workdir, "www")
    os.makedirs(docroot, mode=0o755)
    for name, size in (("1k.bin", 1024), ("200k.bin", 200 * 1024), ("1m.bin", 1024 * 1024)):
        with open(os.path.join(docroot, name), "wb") as f:
            f.write(os.urandom(size))
        os.chmod(os.path.join(docroot, name), 0o644)
    args.files = os.path.join(workdir, "files")
    if args.fcgi:
        if not php_fpm_bin():
            sys.exit("bench: php-fpm not found (Debian: apt-get install php-fpm)")
        os.makedirs(args.files, mode=0o755)
        for name, size in (("100k.bin", 100 * 1024), ("1m.bin", 1024 * 1024)):
            with open(os.path.join(args.files, name), "wb") as f:
                f.write(os.urandom(size))
            os.chmod(os.path.join(args.files, name), 0o644)
        for name, text in (("hello.php", HELLO_PHP), ("page.php", PAGE_PHP)):
            with open(os.path.join(docroot, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(docroot, name), 0o644)
    if args.cgi:
        for tool in ["cc"] + (["fcgiwrap"] if "nginx" in args.servers.split(",") else []):
            if not shutil.which(tool):
                sys.exit(f"bench: {tool} not found (Debian: apt-get install gcc fcgiwrap)")
        make_cgi_bin(docroot, workdir)

    servers = args.servers.split(",")
    scenarios = args.scenarios.split(",")
    results = {sc: {s: [] for s in servers} for sc in scenarios}
    cg = {}
    try:
        for rnd in range(args.rounds):
            for sc in scenarios:
                desc, path, conns, headers = SCENARIOS[sc]
                for name in servers:
                    if sc in ZC_ONLY and name != "fws":
                        continue
                    if time.time() - started > args.max_seconds:
                        raise TimeoutError("time budget used up")
                    args.workers = 2 if sc in TWO_WORKERS else 1
                    srv = SERVERS[name](name, workdir, docroot, args)
                    srv.start()
                    try:
                        idle = srv.rss_kb()
                        hdrs = [h.format(etag=etag_of(srv.port, path)) for h in headers]
                        load = loadavg()
                        cpu0, own0 = srv.cpu(), srv.own_cpu()
                        t0 = time.monotonic()
                        r = run_wrk(srv.port, path, conns, hdrs, args.duration, args.workers)
                        cpu1, own1 = srv.cpu(), srv.own_cpu()
                        elapsed = time.monotonic() - t0
                        r.update(
                            # Share of one CPU the server used: under 100 with
                            # one worker, the load generator was the limit.
                            busy_pct=(cpu1 - cpu0) / CLK_TCK / elapsed * 100 if elapsed else None,
                            idle_rss_kb=idle,
                            peak_rss_kb=srv.hwm_kb(),
                            cpu_us_per_req=(cpu1 - cpu0) * 1e6 / CLK_TCK / r["requests"] if r["requests"] else None,
                            own_cpu_us_per_req=(own1 - own0) * 1e6 / CLK_TCK / r["requests"] if r["requests"] else None,
                            load_before=load,
                        )
                        del r["output"]
                        results[sc][name].append(r)
                        print(
                            f"round {rnd + 1} ({sc}) {name:9s} {r['rps']:10.0f} req/s  errors {r['errors']}  "
                            f"cpu {r['cpu_us_per_req'] or 0:6.1f} us/req (own {r['own_cpu_us_per_req'] or 0:.1f})  {r.get('mbps', 0):.0f} MB/s  rss idle {idle} kB peak {r['peak_rss_kb']} kB  load {load:.2f}",
                            flush=True,
                        )
                    finally:
                        srv.stop()
        cg = callgrind_instructions(args, docroot, workdir) if args.callgrind else {}
    except TimeoutError as e:
        print(f"bench: {e}; reporting what was measured", file=sys.stderr)
        cg = {}

    # Summary.
    lines = [
        f"Machine: {os.cpu_count()} CPUs, {os.uname().release}; server on CPU 0, wrk (1 thread) on CPU 1; "
        f"{args.rounds} rounds x {args.duration}s, medians (min-max).",
        "",
        "| scenario | server | req/s | min-max | errors | vs nginx | vs lighttpd | CPU us/req | CPU vs best peer | server busy % | RSS idle kB | RSS peak kB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    summary = {}
    for sc in scenarios:
        summary[sc] = {}
        for name in servers:
            rs = results[sc][name]
            if not rs:
                continue
            rps = [r["rps"] for r in rs]
            cpus = [r["cpu_us_per_req"] for r in rs if r["cpu_us_per_req"]]
            summary[sc][name] = {
                "rps_median": statistics.median(rps),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "errors": sum(r["errors"] for r in rs),
                "cpu_us_per_req": statistics.median(cpus) if cpus else None,
                "busy_pct": statistics.median(r["busy_pct"] for r in rs) if all(r.get("busy_pct") is not None for r in rs) else None,
                "idle_rss_kb": max(r["idle_rss_kb"] for r in rs),
                "peak_rss_kb": max(r["peak_rss_kb"] for r in rs),
            }
        for name in servers:
            s = summary[sc].get(name)
            if not s:
                continue

            def ratio(peer, key="rps_median"):
                p = summary[sc].get(peer)
                return f"{s[key] / p[key]:.2f}" if p and p.get(key) and s.get(key) else "-"

            peers = [summary[sc][p]["cpu_us_per_req"] for p in ("nginx", "lighttpd") if p in summary[sc] and summary[sc][p]["cpu_us_per_req"]]
            cpu_ratio = f"{s['cpu_us_per_req'] / min(peers):.2f}" if peers and s["cpu_us_per_req"] else "-"
            lines.append(
                f"| ({sc}) {SCENARIOS[sc][0]} | {name} | {s['rps_median']:.0f} | {s['rps_min']:.0f}-{s['rps_max']:.0f} | {s['errors']} | "
                f"{ratio('nginx')} | {ratio('lighttpd')} | {s['cpu_us_per_req'] or 0:.1f} | {cpu_ratio} | "
                f"{s['busy_pct'] or 0:.0f} | {s['idle_rss_kb']} | {s['peak_rss_kb']} |"
            )
    pairs = [(two, one) for two, one in TWO_WORKERS.items() if two in summary and one in summary]
    if pairs:
        lines += [
            "",
            "Scaling: requests/s with two workers on both CPUs (wrk with two threads sharing them) over one worker "
            "on CPU 0 (wrk on CPU 1). On a 2-CPU machine the load generator shares the CPUs, so compare servers.",
            "",
            "| server | " + " | ".join(f"({two}) / ({one})" for two, one in pairs) + " |",
            "| --- | " + " | ".join("---" for _ in pairs) + " |",
        ]
        for name in servers:
            cells = []
            for two, one in pairs:
                a, b = summary[two].get(name), summary[one].get(name)
                cells.append(f"{a['rps_median'] / b['rps_median']:.2f}" if a and b and b["rps_median"] else "-")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if args.fcgi:
        lines += [
            "",
            "FastCGI (php-fpm, 2 children, pinned with the server on CPU 0): own CPU = the server without php-fpm.",
            "",
            "| scenario | server | req/s | MB/s | CPU us/req (all) | own CPU us/req | own CPU vs lighttpd |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for sc in scenarios:
            if sc not in FCGI_SCENARIOS:
                continue
            own = {}
            for name in servers:
                rs = results[sc][name]
                vals = [r["own_cpu_us_per_req"] for r in rs if r.get("own_cpu_us_per_req")]
                if vals:
                    own[name] = statistics.median(vals)
            for name in servers:
                rs = results[sc][name]
                if not rs:
                    continue
                s_ = summary[sc][name]
                mb = statistics.median(r["mbps"] for r in rs)
                rel = f"{own[name] / own['lighttpd']:.2f}" if name in own and own.get("lighttpd") else "-"
                lines.append(
                    f"| ({sc}) {SCENARIOS[sc][0]} | {name} | {s_['rps_median']:.0f} | {mb:.0f} | "
                    f"{s_['cpu_us_per_req'] or 0:.1f} | {own.get(name, 0):.1f} | {rel} |"
                )
    if args.cgi and "nginx" in servers:
        lines += [
            "",
            "CGI scenarios: nginx's CPU counts nginx and fcgiwrap only — fcgiwrap ignores SIGCHLD, "
            "so its scripts' CPU is never added to it; compare CPU with lighttpd, whose mod_cgi reaps its children.",
        ]
    if cg:
        lines += ["", "Instructions per request, scenario (a), callgrind: " + ", ".join(f"{k} {v:.0f}" if v else f"{k} -" for k, v in cg.items())]
    table = "\n".join(lines)
    print()
    print(table)
    out = args.out or workdir
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump({"summary": summary, "rounds": results, "callgrind": cg}, f, indent=1)
    print(f"\nwritten: {out}/bench.md, {out}/bench.json")
    if out != workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
