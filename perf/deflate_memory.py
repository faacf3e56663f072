#!/usr/bin/env python3
"""Server memory per connection with and without permessage-deflate (issue 20, inbound half).

Usage: python3 perf/deflate_memory.py src/Server/bin/Release/net10.0/FastWs.Server.dll [connections=2000]

Starts a fresh FastWs server per scenario (ports 18480/18481), opens N WebSocket connections from this process,
optionally sends one ping on each (plain, or compressed as RFC 7692 says), and reads /ws/stats before and after.
The idle trim (TrimMinAllocatedBytes=0) runs a compacting collection before each reading, so gcHeapBytes is the
live heap. Numbers are per connection: RSS growth and live GC heap growth.
"""
import base64, json, os, socket, struct, subprocess, sys, time, urllib.request, zlib

DLL = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
WS, HTTP = 18480, 18481

def stats():
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/ws/stats") as r:
        return json.load(r)["memory"]

def frame(payload, rsv1):
    first = 0x81 | (0x40 if rsv1 else 0)
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([first, 0x80 | n]) if n < 126 else bytes([first, 0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

def compress(data):
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]

def recv_until(s, marker):
    buf = b""
    while marker not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    return buf

def connect(offer, send_compressed):
    s = socket.create_connection(("127.0.0.1", WS))
    key = base64.b64encode(os.urandom(16)).decode()
    ext = f"Sec-WebSocket-Extensions: {offer}\r\n" if offer else ""
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n".encode())
    head = recv_until(s, b"connected")
    assert b" 101 " in head, head
    if offer:
        assert b"Sec-WebSocket-Extensions: permessage-deflate" in head, head
    if send_compressed is not None:
        ping = b'{"type":"ping","id":"memory-check"}'
        s.sendall(frame(compress(ping), True) if send_compressed else frame(ping, False))
        recv_until(s, b"pong")
    return s

def scenario(name, offer, send_compressed, extra_args):
    server = subprocess.Popen(["dotnet", DLL, f"--FastWs:WebSocket:Port={WS}", f"--FastWs:Http:Port={HTTP}",
                               "--FastWs:Limits:MaxConnections=0", "--FastWs:Limits:MaxConnectionsPerIp=0",
                               "--FastWs:Limits:MaxMessagesPerWindow=0", "--FastWs:Memory:TrimAfterIdle=00:00:01", "--FastWs:Memory:TrimMinAllocatedBytes=0",
                               "--Logging:LogLevel:Default=Warning", *extra_args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                stats(); break
            except Exception:
                time.sleep(0.1)
        # a few connections first, so one-time costs (first-call paths, zlib's first load) are not counted per connection
        warm = [connect(offer, send_compressed) for _ in range(20)]
        time.sleep(3)  # the idle trim's compacting collection runs after 1 s of quiet: both readings follow one
        before = stats()
        socks = [connect(offer, send_compressed) for _ in range(N)]
        time.sleep(3)
        after = stats()
        rss = (after["workingSetBytes"] - before["workingSetBytes"]) / N
        heap = (after["gcHeapBytes"] - before["gcHeapBytes"]) / N
        print(f"{name:58s} RSS {rss/1024:7.2f} KiB/conn   GC heap {heap/1024:6.2f} KiB/conn", flush=True)
        for s in socks + warm:
            s.close()
    finally:
        server.terminate()
        server.wait()

scenario("no extension offered", None, None, [])
scenario("no extension offered, one plain ping each", None, False, [])
scenario("deflate negotiated, nothing sent", "permessage-deflate; client_max_window_bits", None, [])
scenario("deflate, one compressed ping each (default: no takeover)", "permessage-deflate; client_max_window_bits", True, [])
scenario("deflate, one compressed ping each, ClientContextTakeover", "permessage-deflate; client_max_window_bits", True, ["--FastWs:Compression:ClientContextTakeover=true"])
