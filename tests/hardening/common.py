"""Shared helpers of the hardening scripts (faults, attacks, differential,
soak): starting firmware-server with a generated config, raw HTTP, process
figures from /proc. The side-by-side servers (nginx, lighttpd) and their
configs come from tests/bench/bench.py."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import bench  # noqa: E402  (tests/bench/bench.py: Server, Nginx, Lighttpd, /proc helpers)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def default_bin():
    for p in (os.environ.get("FWS_BIN"), os.path.join(ROOT, "target/release/firmware-server"),
              os.path.join(ROOT, "target/debug/firmware-server")):
        if p and os.path.exists(p):
            return p
    sys.exit("no firmware-server binary: set FWS_BIN or cargo build")


def make_site(files=None):
    """A world-readable temp dir with a docroot `www` holding the files of
    a router's web UI (sizes typical of one) plus `files`."""
    work = tempfile.mkdtemp(prefix="fws-hard-")
    os.chmod(work, 0o755)
    www = os.path.join(work, "www")
    os.makedirs(os.path.join(www, "js"), mode=0o755)
    os.makedirs(os.path.join(www, "css"), mode=0o755)
    content = {
        "index.html": b"<!doctype html><title>router</title>" + b"x" * 2000,
        "js/app.js": os.urandom(96 * 1024),
        "css/app.css": b"body{margin:0}" * 900,
        "logo.png": os.urandom(8 * 1024),
        "1k.bin": os.urandom(1024),
        "200k.bin": os.urandom(200 * 1024),
        "1m.bin": os.urandom(1024 * 1024),
    }
    content.update(files or {})
    for rel, data in content.items():
        p = os.path.join(www, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o644)
    return work, www


class Fws(bench.Server):
    """firmware-server with a board-sized config (2 workers' worth of
    slots on a small router) plus `extra` config text."""

    def __init__(self, workdir, docroot, binary, extra="", server_extra="", prefix=None,
                 pin=True):
        class A:
            bin = binary
        super().__init__("firmware-server", workdir, docroot, A)
        self.extra = extra
        self.server_extra = server_extra
        self.prefix = prefix or []
        self.pin = pin
        self.stderr_path = os.path.join(workdir, "fws.stderr")

    def command(self, port):
        conf = os.path.join(self.workdir, "fws.conf")
        with open(conf, "w") as f:
            f.write(
                "[server]\n"
                f'listen = ["127.0.0.1:{port}"]\n'
                f'root = "{self.docroot}"\n'
                + self.server_extra
                + 'log_level = "warn"\n'
                + self.extra
            )
        return self.prefix + [self.args.bin, "--config", conf]

    def start(self):
        self.port = bench.free_port()
        cmd = self.command(self.port)
        if self.pin:
            cmd = ["taskset", "-c", "0"] + cmd
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err,
                                     start_new_session=True)
        if not bench.wait_port(self.port):
            self.stop()
            raise RuntimeError(f"firmware-server did not start: {' '.join(cmd)}\n{self.stderr()}")

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def main_pid(self):
        # With a wrapper (sh -c 'ulimit ...; exec ...') the pid is the server's.
        return self.proc.pid


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def zombies(pid):
    out = subprocess.run(["ps", "-o", "stat=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return sum(1 for s in out.split() if s.startswith("Z"))


def alive(proc):
    return proc is not None and proc.poll() is None


def http(port, raw, timeout=5.0, want_body=True):
    """Sends raw bytes on a new connection; returns (status, headers, body)
    of the first response, or (None, error, b"")."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(raw if isinstance(raw, bytes) else raw.encode())
            return read_response(s, want_body)
    except OSError as e:
        return None, str(e), b""


def read_response(s, want_body=True):
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(65536)
        if not c:
            return None, "closed", data
        data += c
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    status = int(m.group(1)) if m else None
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0") or 0)
    if want_body:
        while len(rest) < n:
            c = s.recv(65536)
            if not c:
                break
            rest += c
    return status, headers, rest


def get(port, path, headers=None, timeout=5.0):
    h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return http(port, f"GET {path} HTTP/1.1\r\nHost: router\r\nConnection: close\r\n{h}\r\n", timeout)


def cpu_seconds(pid):
    return bench.cpu_ticks(pid) / CLK_TCK


def kill_group(proc):
    if proc and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(pred, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


class Reader:
    """Buffered responses on one socket (pipelining: bytes of the next
    response stay in the buffer)."""

    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")

    def response(self, head_request=False):
        line = self.f.readline(65536)
        if not line:
            return None, "closed", b""
        m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
        status = int(m.group(1)) if m else None
        headers = {}
        while True:
            l = self.f.readline(65536)
            if l in (b"\r\n", b"\n", b""):
                break
            k, _, v = l.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_request or status in (204, 304) else int(headers.get("content-length", "0") or 0)
        body = self.f.read(n) if n else b""
        return status, headers, body

    def close(self):
        self.f.close()
        self.sock.close()
