#!/usr/bin/env python3
"""Abandoned handshakes: N connections each send a real ClientHello (every
other one cut in half) and vanish. Watch the server's VmRSS before and after.
Usage: tests/bench/tls_abandon.py PORT N"""
import socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
# A real ClientHello from Python's ssl, cut in half, then the client vanishes.
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
o = ctx.wrap_bio(inc, out, server_hostname="localhost")
try: o.do_handshake()
except ssl.SSLWantReadError: pass
hello = out.read()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(hello if i % 2 else hello[: len(hello) // 2])
    s.close()
