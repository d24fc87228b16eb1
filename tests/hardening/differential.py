#!/usr/bin/env python3
"""Differential testing of request parsing and framing: firmware-server
against nginx.

A generator builds malformed and borderline requests (mutations of valid
GET, Content-Length and chunked requests: whitespace, duplicate and
conflicting headers, odd chunk sizes, odd versions, long lines, bare CR and
LF, obs-fold, NUL, non-ASCII, methods and targets). Each is sent to both
servers followed by a pipelined `GET /pipe.txt`, and the outcome compared:
the status of the first response, and whether the pipelined request was
answered (that is, where each server decided the first message ended).
Every disagreement must be listed, with its RFC 9112 (or 9110) section, in
tests/hardening/differential-justified.txt; an unlisted one fails the run.

  tests/hardening/differential.py [--bin PATH] [--show-all] [--only SUBSTRING]

Needs nginx (Debian: nginx-light). Both servers get the same docroot and
comparable limits (request head 8 KiB, body 1 MiB).
"""

import argparse
import os
import re
import shutil
import socket
import sys
import time

from common import Fws, bench, default_bin, make_site

HERE = os.path.dirname(os.path.abspath(__file__))
JUSTIFIED = os.path.join(HERE, "differential-justified.txt")
PIPE = b"GET /pipe.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


class DiffNginx(bench.Server):
    def command(self, port):
        d = os.path.join(self.workdir, "nginx")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                "daemon off;\nworker_processes 1;\n"
                f"pid {d}/nginx.pid;\nerror_log {d}/error.log crit;\n"
                "events { worker_connections 256; }\n"
                "http {\n  access_log off;\n  client_header_buffer_size 8k;\n"
                "  large_client_header_buffers 4 8k;\n  client_max_body_size 1m;\n"
                "  client_header_timeout 3s;\n  client_body_timeout 3s;\n"
                f"  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n"
                f"  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n"
                "  default_type application/octet-stream;\n"
                f"  server {{ listen 127.0.0.1:{port}; server_name a; root {self.docroot}; }}\n}}\n"
            )
        return ["nginx", "-c", conf, "-p", d]


def cases():
    """(name, raw request) pairs; names are stable (the justified list
    refers to them)."""
    G = b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"
    out = [("valid-get", G)]

    def get_with(name, headers, line=b"GET /index.html HTTP/1.1"):
        out.append((name, line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"))

    def post(name, headers, body):
        out.append((name, b"POST /index.html HTTP/1.1\r\nHost: a\r\n" + b"".join(h + b"\r\n" for h in headers)
                    + b"\r\n" + body))

    # Request line whitespace and versions.
    for name, line in [
        ("two-spaces-after-method", b"GET  /index.html HTTP/1.1"),
        ("two-spaces-before-version", b"GET /index.html  HTTP/1.1"),
        ("tab-separators", b"GET\t/index.html\tHTTP/1.1"),
        ("trailing-space-after-version", b"GET /index.html HTTP/1.1 "),
        ("leading-space", b" GET /index.html HTTP/1.1"),
        ("http-1.0", b"GET /index.html HTTP/1.0"),
        ("http-1.2", b"GET /index.html HTTP/1.2"),
        ("http-1.10", b"GET /index.html HTTP/1.10"),
        ("http-2.0", b"GET /index.html HTTP/2.0"),
        ("http-3.0", b"GET /index.html HTTP/3.0"),
        ("http-01.1", b"GET /index.html HTTP/01.1"),
        ("http-lowercase", b"GET /index.html http/1.1"),
        ("http-no-minor", b"GET /index.html HTTP/1"),
        ("http-0.9", b"GET /index.html"),
        ("method-lowercase", b"get /index.html HTTP/1.1"),
        ("method-unknown", b"FOO /index.html HTTP/1.1"),
        ("method-nul", b"G\x00T /index.html HTTP/1.1"),
        ("method-non-ascii", b"G\xc3\x89T /index.html HTTP/1.1"),
        ("target-absolute", b"GET http://a/index.html HTTP/1.1"),
        ("target-absolute-other-host", b"GET http://b/index.html HTTP/1.1"),
        ("target-asterisk-get", b"GET * HTTP/1.1"),
        ("target-asterisk-options", b"OPTIONS * HTTP/1.1"),
        ("target-no-slash", b"GET index.html HTTP/1.1"),
        ("target-fragment", b"GET /index.html#x HTTP/1.1"),
        ("target-nul", b"GET /index\x00.html HTTP/1.1"),
        ("target-raw-utf8", b"GET /caf\xc3\xa9.html HTTP/1.1"),
        ("target-raw-0xff", b"GET /\xff.html HTTP/1.1"),
        ("target-space-encoded", b"GET /a%20b.html HTTP/1.1"),
        ("target-dotdot", b"GET /../index.html HTTP/1.1"),
        ("target-encoded-dotdot", b"GET /%2e%2e/index.html HTTP/1.1"),
        ("target-backslash", b"GET /\\index.html HTTP/1.1"),
        ("target-bad-escape", b"GET /%zz HTTP/1.1"),
        ("target-encoded-nul", b"GET /index.html%00 HTTP/1.1"),
        ("connect-method", b"CONNECT a:443 HTTP/1.1"),
    ]:
        get_with(name, [b"Host: a"], line)
    # Line endings.
    out += [
        ("bare-lf-everywhere", b"GET /index.html HTTP/1.1\nHost: a\n\n"),
        ("bare-lf-request-line", b"GET /index.html HTTP/1.1\nHost: a\r\n\r\n"),
        ("bare-lf-final", b"GET /index.html HTTP/1.1\r\nHost: a\r\n\n"),
        ("bare-cr-request-line", b"GET /index.html HTTP/1.1\rHost: a\r\n\r\n"),
        ("bare-cr-in-value", b"GET /index.html HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
        ("leading-crlf", b"\r\nGET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("leading-crlf-x3", b"\r\n\r\n\r\nGET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]
    # Header syntax.
    for name, hs in [
        ("space-before-colon", [b"Host: a", b"X-A : b"]),
        ("space-before-colon-host", [b"Host : a"]),
        ("space-in-name", [b"Host: a", b"X A: b"]),
        ("empty-name", [b"Host: a", b": b"]),
        ("no-colon", [b"Host: a", b"XA"]),
        ("empty-value", [b"Host: a", b"X-A:"]),
        ("obs-fold", [b"Host: a", b"X-A: b", b" c"]),
        ("obs-fold-tab", [b"Host: a", b"X-A: b", b"\tc"]),
        ("obs-fold-first", [b" X-A: b", b"Host: a"]),
        ("nul-in-value", [b"Host: a", b"X-A: b\x00c"]),
        ("nul-in-name", [b"Host: a", b"X\x00A: b"]),
        ("non-ascii-value", [b"Host: a", b"X-A: caf\xc3\xa9\xff"]),
        ("non-ascii-name", [b"Host: a", b"X-\xc3\xa9: b"]),
        ("ctl-in-value", [b"Host: a", b"X-A: b\x01c"]),
        ("del-in-value", [b"Host: a", b"X-A: b\x7fc"]),
        ("tab-in-value", [b"Host: a", b"X-A: b\tc"]),
        ("no-host-1.1", []),
        ("empty-host", [b"Host:"]),
        ("two-hosts", [b"Host: a", b"Host: b"]),
        ("two-same-hosts", [b"Host: a", b"Host: a"]),
        ("host-with-space", [b"Host: a b"]),
        ("host-bad-port", [b"Host: a:99x"]),
        ("host-userinfo", [b"Host: u@a"]),
        ("host-ipv6", [b"Host: [::1]:80"]),
        ("expect-100", [b"Host: a", b"Expect: 100-continue"]),
        ("expect-unknown", [b"Host: a", b"Expect: foo"]),
        ("connection-close", [b"Host: a", b"Connection: close"]),
        ("many-headers-100", [b"Host: a"] + [b"X-%d: v" % i for i in range(100)]),
        ("header-4k", [b"Host: a", b"X-A: " + b"v" * 4000]),
        ("header-9k", [b"Host: a", b"X-A: " + b"v" * 9000]),
        ("te-on-get", [b"Host: a", b"Transfer-Encoding: chunked"]),
        ("cl-zero-on-get", [b"Host: a", b"Content-Length: 0"]),
    ]:
        get_with(name, hs)
    get_with("request-line-3k", [b"Host: a"], b"GET /" + b"a" * 3000 + b" HTTP/1.1")
    get_with("request-line-9k", [b"Host: a"], b"GET /" + b"a" * 9000 + b" HTTP/1.1")
    # Content-Length framing (POST to a static file: 405 for both, and the
    # body must be skipped exactly).
    for name, hs, body in [
        ("cl-valid", [b"Content-Length: 5"], b"hello"),
        ("cl-two-same", [b"Content-Length: 5", b"Content-Length: 5"], b"hello"),
        ("cl-two-different", [b"Content-Length: 5", b"Content-Length: 6"], b"hello!"),
        ("cl-list-same", [b"Content-Length: 5, 5"], b"hello"),
        ("cl-plus", [b"Content-Length: +5"], b"hello"),
        ("cl-minus", [b"Content-Length: -5"], b"hello"),
        ("cl-leading-zeros", [b"Content-Length: 005"], b"hello"),
        ("cl-hex", [b"Content-Length: 0x5"], b"hello"),
        ("cl-space-inside", [b"Content-Length: 5 5"], b"hello"),
        ("cl-empty", [b"Content-Length:"], b"hello"),
        ("cl-huge", [b"Content-Length: 99999999999999999999999"], b"hello"),
        ("cl-too-large-body", [b"Content-Length: 2000000"], b""),
        ("cl-and-te", [b"Content-Length: 5", b"Transfer-Encoding: chunked"], b"0\r\n\r\n"),
        ("te-and-cl", [b"Transfer-Encoding: chunked", b"Content-Length: 5"], b"0\r\n\r\n"),
    ]:
        post(name, hs, body)
    # Chunked framing.
    for name, hs, body in [
        ("chunked-valid", [b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("chunked-ext", [b"Transfer-Encoding: chunked"], b"5;a=b;c=\"d\"\r\nhello\r\n0\r\n\r\n"),
        ("chunked-ext-bws", [b"Transfer-Encoding: chunked"], b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
        ("chunked-trailer", [b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\nX-T: v\r\n\r\n"),
        ("chunked-upper-hex", [b"Transfer-Encoding: chunked"], b"A\r\nhellohello\r\n0\r\n\r\n"),
        ("chunked-leading-zeros", [b"Transfer-Encoding: chunked"], b"0005\r\nhello\r\n0\r\n\r\n"),
        ("chunked-0x-prefix", [b"Transfer-Encoding: chunked"], b"0x5\r\nhello\r\n0\r\n\r\n"),
        ("chunked-plus", [b"Transfer-Encoding: chunked"], b"+5\r\nhello\r\n0\r\n\r\n"),
        ("chunked-minus", [b"Transfer-Encoding: chunked"], b"-5\r\nhello\r\n0\r\n\r\n"),
        ("chunked-space-before-size", [b"Transfer-Encoding: chunked"], b" 5\r\nhello\r\n0\r\n\r\n"),
        ("chunked-trailing-space-size", [b"Transfer-Encoding: chunked"], b"5 \r\nhello\r\n0\r\n\r\n"),
        ("chunked-huge-size", [b"Transfer-Encoding: chunked"], b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ("chunked-lf-only", [b"Transfer-Encoding: chunked"], b"5\nhello\n0\n\n"),
        ("chunked-missing-data-crlf", [b"Transfer-Encoding: chunked"], b"5\r\nhello0\r\n\r\n"),
        ("chunked-too-long-data", [b"Transfer-Encoding: chunked"], b"3\r\nhello\r\n0\r\n\r\n"),
        ("chunked-bare-cr-in-ext", [b"Transfer-Encoding: chunked"], b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
        ("chunked-obs-fold-trailer", [b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"),
        ("te-chunked-twice", [b"Transfer-Encoding: chunked, chunked"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-two-fields", [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-gzip-chunked", [b"Transfer-Encoding: gzip, chunked"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-chunked-gzip", [b"Transfer-Encoding: chunked, gzip"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-identity", [b"Transfer-Encoding: identity"], b""),
        ("te-uppercase", [b"Transfer-Encoding: CHUNKED"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-space-value", [b"Transfer-Encoding:  chunked "], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-xchunked", [b"Transfer-Encoding: xchunked"], b"5\r\nhello\r\n0\r\n\r\n"),
        ("te-empty", [b"Transfer-Encoding:"], b""),
        ("te-http10", [b"Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"),
    ]:
        post(name, hs, body)
    # The HTTP/1.0 + TE case needs a 1.0 request line.
    out[-1] = ("te-http10", out[-1][1].replace(b"HTTP/1.1", b"HTTP/1.0", 1))
    return out


def outcome(port, raw, timeout=3.0):
    """(status of the first response or 'closed'/'timeout', pipelined
    request answered?)"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            try:
                s.sendall(raw + PIPE)
            except OSError:
                pass
            data = b""
            end = time.time() + timeout
            while time.time() < end:
                try:
                    c = s.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    break
                if not c:
                    break
                data += c
                if b"PIPE-OK" in data:
                    break
    except OSError as e:
        return (f"error:{e.errno}", False)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    first = int(m.group(1)) if m else ("closed" if not data else "garbage")
    piped = b"PIPE-OK" in data
    return (first, piped)


def load_justified():
    out = {}
    with open(JUSTIFIED) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, fws, nginx, why = [x.strip() for x in line.split("|", 3)]
            out[name] = (fws, nginx, why)
    return out


def show(o):
    return f"{o[0]}{'+pipe' if o[1] else ''}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--show-all", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    if not shutil.which("nginx"):
        sys.exit("differential: nginx not found (Debian: apt-get install nginx-light)")
    work, www = make_site({"pipe.txt": b"PIPE-OK\n"})
    fws = Fws(work, www, args.bin, pin=False,
              server_extra='buffer_size = 8192\nmax_body_size = "1M"\nheader_timeout = "3s"\n')
    ngx = DiffNginx("nginx", work, www, None)
    justified = load_justified()
    unexplained = []
    stale = []
    total = agree = 0
    try:
        fws.start()
        ngx.start()
        for name, raw in cases():
            if args.only and args.only not in name:
                continue
            total += 1
            a = outcome(fws.port, raw)
            b = outcome(ngx.port, raw)
            same = a == b
            agree += same
            if same:
                if name in justified:
                    stale.append(name)
                if args.show_all:
                    print(f"  same     {name}: {show(a)}")
                continue
            j = justified.get(name)
            if j and j[0] == show(a) and j[1] == show(b):
                print(f"  justified {name}: firmware-server {show(a)}, nginx {show(b)} -- {j[2]}")
            else:
                unexplained.append((name, a, b))
                print(f"  DIFFERENT {name}: firmware-server {show(a)}, nginx {show(b)}"
                      + (f" (listed as {j[0]} / {j[1]})" if j else ""))
        if fws.proc.poll() is not None:
            unexplained.append(("(firmware-server exited)", None, None))
    finally:
        fws.stop()
        ngx.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{total} requests: {agree} agree, {total - agree - len(unexplained)} justified differences, "
          f"{len(unexplained)} unexplained")
    for name in stale:
        print(f"  note: {name} is listed as a difference but both servers now agree")
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
