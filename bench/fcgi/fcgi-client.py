#!/usr/bin/env python3
"""fcgi-client.py - sends N requests straight to a FastCGI unix socket, each
on a fresh connection with the parameters nginx's fastcgi_params sends
(keep_conn off), and prints the statuses and the answer sizes. Unlike
tests/e2e/fcgi-client it sends nginx's whole parameter set, which is what a
per-request cost has to scan. Used by
bench/fcgi/callgrind.sh; -v prints the start and end of the first answer.

usage: fcgi-client.py SOCK N URI [BODYFILE|-] [-v]"""
import socket, struct, sys, time
sock_path, n, uri = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = open(sys.argv[4], 'rb').read() if len(sys.argv) > 4 and sys.argv[4] != '-' else b''
verbose = '-v' in sys.argv
def nv(k, v):
    k, v = k.encode(), v.encode()
    def l(x): return bytes([len(x)]) if len(x) < 128 else struct.pack('>I', len(x) | 0x80000000)
    return l(k) + l(v) + k + v
def rec(t, content, rid=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack('>BBHHBB', 1, t, rid, len(content), pad, 0) + content + b'\0' * pad
method = 'POST' if body else 'GET'
params = [('QUERY_STRING', ''), ('REQUEST_METHOD', method), ('CONTENT_TYPE', 'application/json' if body else ''),
          ('CONTENT_LENGTH', str(len(body)) if body else ''), ('SCRIPT_NAME', uri), ('REQUEST_URI', uri),
          ('DOCUMENT_URI', uri), ('DOCUMENT_ROOT', '/usr/share/nginx/html'), ('SERVER_PROTOCOL', 'HTTP/1.1'),
          ('REQUEST_SCHEME', 'http'), ('GATEWAY_INTERFACE', 'CGI/1.1'), ('SERVER_SOFTWARE', 'nginx/1.24.0'),
          ('REMOTE_ADDR', '127.0.0.1'), ('REMOTE_PORT', '40000'), ('SERVER_ADDR', '127.0.0.1'), ('SERVER_PORT', '8080'),
          ('SERVER_NAME', ''), ('REDIRECT_STATUS', '200'), ('HTTP_HOST', '127.0.0.1:8080')]
if body:
    params += [('HTTP_CONTENT_LENGTH', str(len(body))), ('HTTP_CONTENT_TYPE', 'application/json')]
p = b''.join(nv(k, v) for k, v in params)
msg = rec(1, struct.pack('>HB5x', 1, 0)) + rec(4, p) + rec(4, b'')
if body:
    msg += rec(5, body)
msg += rec(5, b'')
t0 = time.time(); statuses = {}; nrec = 0; outlen = 0; first = None
for i in range(n):
    s = socket.socket(socket.AF_UNIX); s.connect(sock_path); s.sendall(msg)
    data = b''
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    off = 0; out = b''; recs = 0
    while off + 8 <= len(data):
        v, t, rid, cl, pl, _ = struct.unpack('>BBHHBB', data[off:off+8])
        if t == 6 and cl: out += data[off+8:off+8+cl]; recs += 1
        off += 8 + cl + pl
    st = out.split(b'\r\n', 1)[0]
    statuses[st] = statuses.get(st, 0) + 1
    nrec += recs; outlen += len(out)
    if first is None: first = out
dt = time.time() - t0
print(f'{n} reqs in {dt:.2f}s; statuses={statuses}; stdout records/resp={nrec/n:.2f}; bytes/resp={outlen/n:.0f}', file=sys.stderr)
if verbose: sys.stdout.buffer.write(first[:400] + b" ... " + first[-500:]); print()
