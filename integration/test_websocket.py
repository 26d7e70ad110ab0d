"""The WebSocket transport (transports.md "WebSocket", "Publishing by WebSocket", "Stream end",
"Message id", transport selection row 1). python3-websockets is the real client where a client's
view is the point (ws+meta.nchan negotiated and read, publishing); raw sockets where bytes matter
(the 101 head, handshake errors, frame headers, close frames) and for hostile clients. Every wait
is bounded (WAIT) and waits on an event (a frame, a close, the server's counts), never a sleep."""
import asyncio
import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import time

import requests
import websockets

from client import publish, wait_for_subscribers
from conftest import DEFAULT_SERVERS, WAIT, wait_until

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def start(pushrelay, mode="websocket long-poll", sub_extra="", pub_extra="", **options):
    return pushrelay(mode=mode, sub_extra=sub_extra, pub_extra=pub_extra, **options)


def client_frame(opcode, payload=b"", fin=True, mask=True, length=None):
    """A client frame (test code: the product never encodes frames by hand)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload) if length is None else length
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWS:
    """A WebSocket client on a raw socket: the handshake's bytes, then frames as bytes."""

    def __init__(self, port, path, headers=None, key=SAMPLE_KEY, handshake=True, one_byte=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buf = b""
        self.closed = False
        if not handshake:
            return
        lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: Upgrade",
                 "Upgrade: websocket"]
        fields = {"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key}
        fields.update(headers or {})
        lines += [f"{k}: {v}" for k, v in fields.items() if v is not None]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if one_byte:
            for i in range(len(request)):
                self.sock.sendall(request[i:i + 1])
        else:
            self.sock.sendall(request)
        self.head = self.read_until(b"\r\n\r\n").decode()

    def fill(self):
        deadline = time.monotonic() + WAIT
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            raise EOFError("connection closed")
        self.buf += chunk

    def read_until(self, marker):
        while marker not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(marker, 1)
        return head + marker

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(first byte, payload, header bytes) of the next server frame."""
        head = self.read_exact(2)
        assert head[1] & 0x80 == 0, "server frames are unmasked"
        n = head[1] & 0x7F
        ext = b""
        if n == 126:
            ext = self.read_exact(2)
            n = struct.unpack("!H", ext)[0]
        elif n == 127:
            ext = self.read_exact(8)
            n = struct.unpack("!Q", ext)[0]
        return head[0], self.read_exact(n), head + ext

    def read_close(self):
        """The close frame's (code, reason), skipping PINGs; then the TCP close must follow."""
        while True:
            first, payload, _ = self.read_frame()
            if first & 0x0F == CLOSE:
                assert first == 0x88
                code = struct.unpack("!H", payload[:2])[0] if payload else None
                return code, payload[2:]
            assert first & 0x0F == PING, first

    def wait_eof(self):
        try:
            while True:
                self.fill()
        except EOFError:
            return self.buf
        except ConnectionResetError:
            return self.buf

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def sub_path(channel, query=""):
    return f"/sub?id={channel}{query}"


def healthy(server, channel="health"):
    """A following publish and long-poll succeed: the workers still serve."""
    assert publish(server.pub_url(channel), b"ok").status_code in (201, 202)
    r = requests.get(server.sub_url(channel), timeout=WAIT)
    assert r.status_code == 200 and r.content == b"ok"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, WAIT))


# ---- handshake ----

def test_handshake_101_head(pushrelay):
    """WebSocket: the exact 101 head; no Sec-WebSocket-Protocol when not offered; no extension
    (permessage-deflate ignored); the RFC 6455 sample key."""
    server = start(pushrelay)
    ws = RawWS(server.sub, sub_path("h"),
               {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
    assert ws.head == ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       f"Connection: upgrade\r\nSec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n\r\n")
    ws.close()
    key = base64.b64encode(os.urandom(16)).decode()
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    ws = RawWS(server.sub, sub_path("h"), {"Sec-WebSocket-Protocol": "chat, ws+meta.nchan"},
               key=key)
    assert ws.head == ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       f"Connection: upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                       "Sec-WebSocket-Protocol: ws+meta.nchan\r\n\r\n")
    ws.close()


def test_handshake_errors(pushrelay):
    """WebSocket handshake errors: 400 text/plain with Nchan's texts."""
    server = start(pushrelay)
    for fields, body in (
            ({"Sec-WebSocket-Version": None}, b"No Sec-Websocket-Version header present"),
            ({"Sec-WebSocket-Version": "8"},
             b"Unsupported websocket protocol version (only version 13 is supported)"),
            ({"Sec-WebSocket-Key": None}, b"No Sec-Websocket-Key header present")):
        headers = {"Connection": "Upgrade", "Upgrade": "websocket",
                   "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": SAMPLE_KEY}
        headers.update(fields)
        headers = {k: v for k, v in headers.items() if v is not None}
        r = requests.get(server.sub_url("e"), headers=headers, timeout=WAIT)
        assert r.status_code == 400
        assert r.headers["Content-Type"] == "text/plain"
        assert r.content == body


def test_row1_forbidden(pushrelay):
    """Transport selection row 1: an upgrade on a subscriber without websocket, or on an
    http-only publisher, is 403 with an empty body (not served by another row)."""
    server = start(pushrelay, mode="long-poll eventsource",
                   servers=DEFAULT_SERVERS.replace("push_publisher;", "push_publisher http;"))
    headers = {"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": SAMPLE_KEY,
               "Accept": "text/event-stream"}
    for url in (server.sub_url("f"), server.pub_url("f")):
        r = requests.get(url, headers=headers, timeout=WAIT)
        assert r.status_code == 403 and r.content == b"", url
    # The publisher still takes HTTP.
    assert publish(server.pub_url("f"), b"x").status_code == 202


def test_handshake_one_byte_at_a_time(pushrelay):
    """Hostile: a handshake sent one byte per packet still gets its 101 and frames."""
    server = start(pushrelay)
    ws = RawWS(server.sub, sub_path("slow"), one_byte=True)
    assert ws.head.startswith("HTTP/1.1 101 ")
    wait_for_subscribers(server.pub_url("slow"), 1)
    publish(server.pub_url("slow"), b"hi")
    assert ws.read_frame()[:2] == (0x81, b"hi")
    ws.close()


# ---- subscribers ----

def test_websockets_client_meta(pushrelay):
    """Real clients: python3-websockets negotiates ws+meta.nchan and reads it: `id: <id>\\n`,
    `content-type:` only when the publisher sent one, then the body."""
    server = start(pushrelay)

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{server.sub}{sub_path('m')}",
                                      subprotocols=["ws+meta.nchan"]) as ws:
            assert ws.subprotocol == "ws+meta.nchan"
            await asyncio.to_thread(wait_for_subscribers, server.pub_url("m"), 1)
            await asyncio.to_thread(publish, server.pub_url("m"), b"hi",
                                    {"Content-Type": "text/plain"})
            await asyncio.to_thread(publish, server.pub_url("m"), b"m")
            return [await ws.recv(), await ws.recv()]

    first, second = run(go())
    assert re.fullmatch(r"id: \d+:0\ncontent-type: text/plain\n\nhi", first), first
    assert re.fullmatch(r"id: \d+:1\n\nm", second), second


def test_websockets_client_plain_and_opcodes(pushrelay):
    """Without subprotocol the payload is the body. Opcode: binary for Content-Type exactly
    application/octet-stream or a body that is not UTF-8 (decision), text otherwise."""
    server = start(pushrelay)
    publish(server.pub_url("p"), b"text")
    publish(server.pub_url("p"), b"bytes", {"Content-Type": "application/octet-stream"})
    publish(server.pub_url("p"), b"\xff\xfe")
    publish(server.pub_url("p"), b"json", {"Content-Type": "application/octet-stream; x=1"})

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{server.sub}{sub_path('p')}") as ws:
            assert ws.subprotocol is None
            return [await ws.recv() for _ in range(4)]

    assert run(go()) == ["text", b"bytes", b"\xff\xfe", "json"]


def test_frame_lengths(pushrelay):
    """Server frames: FIN, RSV 0, unmasked, one frame per message, lengths 7 bits (<=125),
    126 + 16 bits, 127 + 64 bits."""
    server = start(pushrelay)
    sizes = (0, 125, 126, 65535, 65536)
    ws = RawWS(server.sub, sub_path("len"))
    wait_for_subscribers(server.pub_url("len"), 1)
    for n in sizes:
        publish(server.pub_url("len"), b"a" * n)
    expected = [b"\x81\x00", b"\x81\x7d", b"\x81\x7e\x00\x7e", b"\x81\x7e\xff\xff",
                b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"]
    for n, head in zip(sizes, expected):
        first, payload, header = ws.read_frame()
        assert header == head and payload == b"a" * n
    ws.close()


def test_client_ping_pong_and_close_echo(pushrelay):
    """Client frames: PING → PONG with the same payload; PONG ignored; close → the server
    echoes code and reason and closes TCP."""
    server = start(pushrelay)
    ws = RawWS(server.sub, sub_path("c"))
    ws.send(client_frame(PING, b"abc"))
    assert ws.read_frame()[:2] == (0x8A, b"abc")
    ws.send(client_frame(PONG, b"unasked"))
    ws.send(client_frame(CLOSE, close_payload(4000, b"bye")))
    assert ws.read_frame()[:2] == (0x88, close_payload(4000, b"bye"))
    assert ws.wait_eof() == b""
    wait_for_subscribers(server.pub_url("c"), 0)


def test_subscriber_publishing_refused_1008(pushrelay):
    """Client text/binary on a subscriber → close 1008 `Publishing not allowed.`; TCP closes
    when the client's close arrives."""
    server = start(pushrelay)
    ws = RawWS(server.sub, sub_path("n"))
    ws.send(client_frame(TEXT, b"let me publish"))
    assert ws.read_close() == (1008, b"Publishing not allowed.")
    ws.send(client_frame(CLOSE, close_payload(1008)))
    assert ws.wait_eof() == b""
    healthy(server)


def test_ping_interval_and_dead_client(pushrelay):
    """push_websocket_ping_interval: an empty PING each period; answered, the connection stays;
    when the next is due without a PONG: close 1000 with no reason, then TCP close."""
    server = start(pushrelay, sub_extra="push_websocket_ping_interval 300ms;")
    ws = RawWS(server.sub, sub_path("ping"))
    assert ws.read_frame()[:2] == (0x89, b"")
    ws.send(client_frame(PONG, b""))
    assert ws.read_frame()[:2] == (0x89, b"")
    first, payload, _ = ws.read_frame()
    assert (first, payload) == (0x88, close_payload(1000))
    assert ws.wait_eof() == b""
    wait_for_subscribers(server.pub_url("ping"), 0)


# ---- publishing ----

def test_publish_by_websocket(pushrelay):
    """Publishing by WebSocket: each text frame is one POST with the handshake's Content-Type,
    binary with application/octet-stream; each is answered by one text frame with the channel
    info of an HTTP POST, in the format of the handshake's Accept (plain text, then JSON)."""
    server = start(pushrelay)
    url = f"ws://127.0.0.1:{server.pub}/pub?id=wp"

    async def go():
        async with websockets.connect(url, extra_headers={"Content-Type": "text/x-chat"}) as ws:
            await ws.send("hello")
            plain = await ws.recv()
        async with websockets.connect(url, extra_headers={"Accept": "application/json"}) as ws:
            await ws.send(b"\x00\x01")
            js = await ws.recv()
        return plain, js

    plain, js = run(go())
    assert isinstance(plain, str) and plain.startswith("queued messages: 1\r\n"), plain
    assert "last requested: -1 sec. ago" in plain
    assert json.loads(js) == {"messages": 2, "requested": -1, "subscribers": 0}
    r = requests.get(server.sub_url("wp"), timeout=WAIT)
    assert (r.headers["Content-Type"], r.content) == ("text/x-chat", b"hello")
    r = requests.get(server.sub_url("wp"), timeout=WAIT, headers={
        "If-Modified-Since": r.headers["Last-Modified"], "If-None-Match": r.headers["Etag"]})
    assert (r.headers["Content-Type"], r.content) == ("application/octet-stream", b"\x00\x01")


def test_publish_reaches_websocket_subscriber(pushrelay):
    """A frame published by WebSocket reaches a WebSocket subscriber on another connection
    (201: someone waited); the status page counts the subscriber as a WebSocket one."""
    server = start(pushrelay)
    sub = RawWS(server.sub, sub_path("relay"))
    wait_for_subscribers(server.pub_url("relay"), 1)
    # The worker counts the waiter in the channel first and in its per-transport figure just
    # after: another worker answering the status page may see the one before the other.
    status = lambda: requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT).json()
    wait_until(lambda: status()["websocket_subscribers"] == 1,
               what="the WebSocket subscriber on the status page")
    pub = RawWS(server.pub, "/pub?id=relay", {"Accept": "application/json"})
    pub.send(client_frame(TEXT, b"through"))
    assert sub.read_frame()[:2] == (0x81, b"through")
    first, reply, _ = pub.read_frame()
    assert first == 0x81 and json.loads(reply)["subscribers"] == 1


def test_publish_not_utf8_1007(pushrelay):
    """Publishing by WebSocket: a text frame that is not UTF-8 → close 1007
    `Invalid text frame (not UTF8).`; nothing is published."""
    server = start(pushrelay)
    ws = RawWS(server.pub, "/pub?id=u8")
    ws.send(client_frame(TEXT, b"caf\xe9"))
    assert ws.read_close() == (1007, b"Invalid text frame (not UTF8).")
    ws.wait_eof()
    assert requests.get(server.pub_url("u8"), timeout=WAIT).status_code == 404
    healthy(server)


# ---- stream end and resume ----

def test_stream_end_deleted(pushrelay):
    """Stream end, channel deleted: close 1001 `410 Gone`."""
    server = start(pushrelay)
    ws = RawWS(server.sub, sub_path("d"))
    wait_for_subscribers(server.pub_url("d"), 1)
    publish(server.pub_url("d"), method="DELETE")
    assert ws.read_close() == (1001, b"410 Gone")
    ws.send(client_frame(CLOSE, close_payload(1001)))
    assert ws.wait_eof() == b""


def test_stream_end_timeout(pushrelay):
    """Stream end, push_subscriber_timeout: close 1000 `408 Request Timeout`."""
    server = start(pushrelay, sub_extra="push_subscriber_timeout 1s;")
    ws = RawWS(server.sub, sub_path("t"))
    assert ws.read_close() == (1000, b"408 Request Timeout")
    ws.wait_eof()


def test_stream_end_graceful_stop(pushrelay):
    """Stream end, graceful stop (QUIT): subscribers and publishers close 1001 `Going Away`,
    and the workers exit."""
    server = start(pushrelay)
    sub = RawWS(server.sub, sub_path("g"))
    pub = RawWS(server.pub, "/pub?id=g")
    wait_for_subscribers(server.pub_url("g"), 1)
    server.signal(signal.SIGQUIT)
    assert sub.read_close() == (1001, b"Going Away")
    assert pub.read_close() == (1001, b"Going Away")
    sub.send(client_frame(CLOSE, close_payload(1001)))
    sub.wait_eof()
    pub.wait_eof()
    server.proc.wait(timeout=WAIT)


def test_stream_end_reload_and_resume(pushrelay):
    """Stream end, reload (HUP): subscribers and publishers close 1012 `Service Restart`;
    reconnecting with last_event_id (Message id rule 5) gets every message published since,
    none twice."""
    server = start(pushrelay)
    publish(server.pub_url("r"), b"m0")
    pub = RawWS(server.pub, "/pub?id=r")
    ws = RawWS(server.sub, sub_path("r"), {"Sec-WebSocket-Protocol": "ws+meta.nchan"})
    first, payload, _ = ws.read_frame()
    last_id = re.match(rb"id: (\d+:\d+)\n", payload).group(1).decode()
    wait_for_subscribers(server.pub_url("r"), 1)
    old = set(server.worker_pids())
    server.signal(signal.SIGHUP)
    assert ws.read_close() == (1012, b"Service Restart")
    assert pub.read_close() == (1012, b"Service Restart")
    ws.wait_eof()
    pub.wait_eof()
    wait_until(lambda: set(server.worker_pids()).isdisjoint(old)
               and len(server.worker_pids()) == server.workers, what="new workers")
    publish(server.pub_url("r"), b"m1")
    publish(server.pub_url("r"), b"m2")

    async def resume():
        url = (f"ws://127.0.0.1:{server.sub}"
               + sub_path("r", "&last_event_id=" + last_id.replace(":", "%3A")))
        async with websockets.connect(url, subprotocols=["ws+meta.nchan"]) as c:
            got = [await c.recv(), await c.recv()]
            await asyncio.to_thread(publish, server.pub_url("r"), b"m3")
            got.append(await c.recv())
            return got

    bodies = [m.split("\n\n", 1)[1] for m in run(resume())]
    assert bodies == ["m1", "m2", "m3"]


# ---- hostile clients ----

def test_unmasked_and_fragmented_control_frames(pushrelay):
    """Hostile: an unmasked client frame, and a control frame without FIN → close 1002
    (protocol error); the worker serves on."""
    server = start(pushrelay)
    for frame in (client_frame(PING, b"x", mask=False), client_frame(PING, b"x", fin=False)):
        ws = RawWS(server.sub, sub_path("x"))
        ws.send(frame)
        assert ws.read_close() == (1002, b""), frame
        ws.wait_eof()
    healthy(server)


def test_malformed_frames(pushrelay):
    """Hostile: a reserved opcode, RSV bits set, a continuation with nothing to continue, a
    64-bit length with its top bit set: each gets a close 1002 and the worker serves on."""
    server = start(pushrelay)
    bad = [bytes([0x83, 0x80]) + b"\0\0\0\0",          # opcode 3 (reserved)
           bytes([0xC1, 0x80]) + b"\0\0\0\0",          # RSV1 without an extension
           client_frame(0x0, b"x"),                    # continuation first
           bytes([0x82, 0xFF]) + b"\x80" + b"\0" * 7 + b"\0\0\0\0"]  # length >= 2^63
    for frame in bad:
        ws = RawWS(server.pub, "/pub?id=mal")
        ws.send(frame)
        assert ws.read_close() == (1002, b""), frame
        ws.wait_eof()
    healthy(server)


def test_oversize_message(pushrelay):
    """Hostile: a publish frame over client_max_body_size → close 1009 before the payload is
    read; nothing is published."""
    server = start(pushrelay, pub_extra="client_max_body_size 1k;")
    ws = RawWS(server.pub, "/pub?id=big")
    # The header and a first piece of a 1 TiB payload: wslay judges the length there.
    ws.send(client_frame(BINARY, b"x" * 100, length=1 << 40))
    assert ws.read_close() == (1009, b"")
    ws.wait_eof()
    assert requests.get(server.pub_url("big"), timeout=WAIT).status_code == 404
    healthy(server)


def test_client_that_never_reads(pushrelay):
    """Hostile: a subscriber that never reads is cut off once 4 MiB are unsent; the others on
    the channel get every message and the worker serves on."""
    server = start(pushrelay, workers=1)
    slow = RawWS(server.sub, sub_path("flood"))
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    fast = RawWS(server.sub, sub_path("flood"))
    wait_for_subscribers(server.pub_url("flood"), 2)
    body = b"z" * (512 * 1024)
    for i in range(24):
        publish(server.pub_url("flood"), body)
        assert fast.read_frame()[1] == body
    wait_for_subscribers(server.pub_url("flood"), 1)
    wait_until(lambda: "unsent, closing" in server.error_log, what="the cut-off's log line")
    healthy(server)
    fast.close()
    slow.close()


# ---- multiplexing ----

MUX_SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub {{ set $push_channel_id $arg_id; push_publisher; }}
        location /mpub {{ push_channel_id $arg_a $arg_b; push_publisher websocket; }}
    }}
    server {{
        listen 127.0.0.1:{sub};
        location /multi {{ push_channel_id $arg_a $arg_b; push_subscriber websocket; }}
    }}
"""


def test_multiplexed_websocket(pushrelay):
    """Multiplexing, any transport: a WebSocket on two channels gets each message once with the
    multiplexed id in its ws+meta.nchan `id:` line (`T:[0],-`, then `T:0,[0]` in the same
    second or `T':-,[0]` in the next); a publish by WebSocket to two channels stores one copy in
    each; deleting one channel closes 1001 `410 Gone`."""
    server = start(pushrelay, servers=MUX_SERVERS)
    ws = RawWS(server.sub, "/multi?a=ma&b=mb", {"Sec-WebSocket-Protocol": "ws+meta.nchan"})
    wait_for_subscribers(server.pub_url("ma"), 1)
    wait_for_subscribers(server.pub_url("mb"), 1)
    publish(server.pub_url("ma"), b"one")
    publish(server.pub_url("mb"), b"two")
    first = ws.read_frame()[1]
    second = ws.read_frame()[1]
    m = re.fullmatch(rb"id: (\d+):\[0\],-\n\none", first)
    assert m, first
    assert re.fullmatch(rb"id: " + m.group(1) + rb":0,\[0\]\n\ntwo", second) or \
        re.fullmatch(rb"id: \d+:-,\[0\]\n\ntwo", second), second
    pub = RawWS(server.pub, "/mpub?a=ma&b=mb", {"Accept": "application/json"})
    pub.send(client_frame(TEXT, b"both"))
    assert json.loads(pub.read_frame()[1])["messages"] == 4  # two stored in each channel
    assert [ws.read_frame()[1].endswith(b"\n\nboth") for _ in range(2)] == [True, True]
    publish(server.pub_url("mb"), method="DELETE")
    assert ws.read_close() == (1001, b"410 Gone")
    pub.close()


def test_limit_conn_counts_an_open_websocket(pushrelay):
    """limit_conn (limits.md) caps open WebSockets per address as it caps held long-polls: the
    count lasts until the session closes, not until the 101."""
    server = pushrelay(mode="websocket long-poll", workers=1,
                       http="limit_conn_zone $binary_remote_addr zone=addr:1m;",
                       sub_extra="limit_conn addr 1;")
    first = RawWS(server.sub, sub_path("lc"))
    assert first.head.startswith("HTTP/1.1 101"), first.head
    refused = RawWS(server.sub, sub_path("lc"))
    assert refused.head.startswith("HTTP/1.1 503"), refused.head
    refused.sock.close()
    first.sock.close()

    def admitted():
        ws = RawWS(server.sub, sub_path("lc"))
        ws.sock.close()
        return ws.head.startswith("HTTP/1.1 101")
    wait_until(admitted, what="the count given back when the WebSocket closed")
