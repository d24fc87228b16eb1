#!/usr/bin/env python3
"""TLS client helper for tests/plugin_tls.rs (Python's ssl module).

Modes (each prints one result line; exit 0 unless the helper itself failed):
  get HOST PORT SNI CAFILE PATH          -> "STATUS VERSION BODY"
  onebyte HOST PORT SNI CAFILE PATH      -> ClientHello and every record sent
                                            one byte at a time; "STATUS BODY"
  loop HOST PORT SNI CAFILE PATH SECS    -> requests in a loop over new
                                            handshakes for SECS seconds;
                                            "ok=N failed=M fingerprints=K"
  fingerprint HOST PORT SNI              -> SHA-256 of the server certificate
"""
import hashlib
import socket
import ssl
import sys
import time


def ctx(cafile):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(cafile)
    c.set_alpn_protocols(["http/1.1"])
    return c


def request(s, sni, path):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def get(host, port, sni, cafile, path):
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx(cafile).wrap_socket(raw, server_hostname=sni) as s:
            status, body = request(s, sni, path)
            cert = s.getpeercert(binary_form=True)
            return status, s.version(), body, hashlib.sha256(cert).hexdigest()


def onebyte(host, port, sni, cafile, path):
    c = ctx(cafile)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = c.wrap_bio(inc, out, server_hostname=sni)
    raw = socket.create_connection((host, int(port)), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pump_out():
        data = out.read()
        for i in range(len(data)):
            raw.sendall(data[i:i + 1])
            time.sleep(0.001)

    def pump_in():
        b = raw.recv(65536)
        if not b:
            inc.write_eof()
        inc.write(b)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump_out()
            pump_in()
    pump_out()
    obj.write(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
    pump_out()
    data = b""
    while True:
        try:
            b = obj.read(65536)
            if not b:
                break
            data += b
        except ssl.SSLWantReadError:
            pump_in()
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def main():
    mode = sys.argv[1]
    a = sys.argv[2:]
    if mode == "get":
        status, version, body, _ = get(*a[:5])
        print(status, version, body.decode(errors="replace").strip())
    elif mode == "onebyte":
        status, body = onebyte(*a[:5])
        print(status, body.decode(errors="replace").strip())
    elif mode == "loop":
        end = time.time() + float(a[5])
        ok = failed = 0
        prints = set()
        while time.time() < end:
            try:
                status, _, body, fp = get(*a[:5])
                if status == 200:
                    ok += 1
                    prints.add(fp)
                else:
                    failed += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                print("failure:", repr(e), file=sys.stderr)
                failed += 1
        print(f"ok={ok} failed={failed} fingerprints={len(prints)}")
    elif mode == "fingerprint":
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        with socket.create_connection((a[0], int(a[1])), timeout=10) as raw:
            with c.wrap_socket(raw, server_hostname=a[2]) as s:
                print(hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest())
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
