"""A real GRIP app in front of pushrelay: integration/grip_app/app.js, built on npm's
@fanoutio/serve-grip and publishing with @fanoutio/grip's Publisher, set up exactly as for a stock
Pushpin (control URI = the push_grip_publish location, Pushpin's `iss=pushpin` + key); only the
proxy's address differs. Covers shared/grip.md end to end through the libraries: response and
stream holds, Grip-Timeout, Grip-Keep-Alive, several channels per hold, body-bin / content-bin,
items built from Format objects, holds on both workers, and Grip-Sig checked by the library's own
validateSig. The app's npm modules come from `make test-deps` (npm ci in integration/grip_app);
without them these tests skip, or fail under PUSHRELAY_REQUIRE_BROWSER (`make test`)."""
import base64
import json
import os
import select
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from client import wait_for_subscribers
from conftest import WAIT, accepts, free_port, missing_npm_modules, require, wait_until

APP_DIR = Path(__file__).resolve().parent / "grip_app"
APP_MODULES = ("@fanoutio/grip", "@fanoutio/serve-grip")
KEY = "app-s3cret"

# Client side (sub) proxies to the app; the control URI is a server of its own at `location /`,
# as Pushpin's port 5561; channel info and the status page on the pub side. Formatted twice:
# here ({app}, {control}), then by PushRelay ({pub}, {sub}).
SERVERS = """
    server {{{{
        listen 127.0.0.1:{{pub}};
        location /pub {{{{ set $push_channel_id $arg_id; push_publisher; }}}}
        location = /status {{{{ push_stub_status; }}}}
    }}}}
    server {{{{
        listen 127.0.0.1:{{sub}};
        location / {{{{ push_grip_proxy http://127.0.0.1:{app}; }}}}
    }}}}
    server {{{{
        listen 127.0.0.1:{control};
        location / {{{{ push_grip_publish; allow 127.0.0.1; deny all; }}}}
    }}}}
"""


class App:
    """`node app.js` with its GRIP configuration; it prints its port once listening."""

    def __init__(self, control_uri, key, log_path):
        self.log_path = log_path
        env = dict(os.environ, GRIP_CONTROL_URI=control_uri, GRIP_KEY=key)
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(["node", "app.js"], cwd=APP_DIR, env=env,
                                         stdout=subprocess.PIPE, stderr=log, text=True)

    def wait_listening(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], WAIT)
        line = self.proc.stdout.readline() if ready else ""
        assert line, f"the GRIP app did not start: {self.log()}"
        self.port = json.loads(line)["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def publish(self, kind, **fields):
        """Makes the app publish one item with the library's Publisher (kind: response, stream
        or item); fails with what the control URI answered the library when it refuses."""
        r = requests.post(f"{self.url}/publish/{kind}", json=fields, timeout=WAIT)
        assert r.status_code == 200, f"{r.status_code} {r.text} {self.log()}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        self.proc.stdout.close()


@pytest.fixture
def grip_app(pushrelay, tmp_path):
    """start(relay_key=, workers=) -> (relay, app): the app configured with the control URI and
    KEY, then pushrelay in front of it signing Grip-Sig with relay_key."""
    require(missing_npm_modules(APP_DIR, APP_MODULES))
    apps = []

    def start(relay_key=KEY, workers=2):
        control = free_port()
        app = App(f"http://127.0.0.1:{control}/", KEY, tmp_path / f"app{len(apps)}.log")
        apps.append(app)
        app.wait_listening()
        relay = pushrelay(servers=SERVERS.format(app=app.port, control=control), workers=workers,
                          http=f"push_grip_sig_key {relay_key}; push_grip_hold_timeout_min 1s;")
        wait_until(lambda: accepts(control), what="the publish location")
        relay.url = relay.base_sub
        return relay, app

    yield start
    for app in apps:
        app.stop()


def channel(relay, name):
    return f"{relay.base_pub}/pub?id={name}"


def status(relay):
    return requests.get(f"{relay.base_pub}/status?format=json", timeout=WAIT).json()


def wait_for_holds(relay, kind, n):
    """Waits until the status page counts n GRIP holds of `kind` (response or stream)."""
    wait_until(lambda: status(relay)[f"grip_{kind}_subscribers"] == n,
               what=f"{n} GRIP {kind} holds on the status page")


def grip_headers(response):
    return [name for name in response.headers if name.lower().startswith("grip-")]


class Stream:
    """A raw client connection to a stream hold: the head, then the de-chunked body as it comes."""

    def __init__(self, relay, path):
        self.sock = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: app\r\n\r\n".encode())
        self.raw = b""
        self.body = b""
        self.ended = False
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        self.head, self.raw = self.raw.split(b"\r\n\r\n", 1)

    def _recv(self):
        piece = self.sock.recv(65536)
        assert piece, f"the stream closed; head and body so far: {self.raw!r} {self.body!r}"
        self.raw += piece

    def _dechunk(self):
        while not self.ended and b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return
            assert rest[size:size + 2] == b"\r\n", f"bad chunk framing: {self.raw!r}"
            self.body += rest[:size]
            self.raw = rest[size + 2:]
            self.ended = size == 0

    def read_until(self, done):
        """Reads until done(body) (or the terminating chunk with done=None); returns the body.
        Bounded by the socket's timeout (WAIT) on every read."""
        self._dechunk()
        while not (self.ended if done is None else done(self.body)):
            self._recv()
            self._dechunk()
        return self.body

    def close(self):
        self.sock.close()


# ---- Response hold ----

def test_response_hold_released_by_publish_http_response(grip_app):
    """Response hold: Publisher.publishHttpResponse → code, reason, body exact; published headers
    replace the hold response's of the same name, the others stay; no Grip-* header leaks."""
    relay, app = grip_app()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(requests.get, relay.url + "/hold/response?ch=news&timeout=30",
                           timeout=WAIT)
        wait_for_subscribers(channel(relay, "news"), 1)
        wait_for_holds(relay, "response", 1)
        app.publish("response", channel="news", code=201, reason="Created Here",
                    headers={"X-App": "published", "X-Extra": "e"}, body="hello from the app\n")
        r = held.result()
    assert (r.status_code, r.reason, r.text) == (201, "Created Here", "hello from the app\n")
    assert r.headers["X-App"] == "published" and r.headers["X-Extra"] == "e"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Length"] == str(len("hello from the app\n"))
    assert grip_headers(r) == []
    wait_for_subscribers(channel(relay, "news"), 0)
    wait_for_holds(relay, "response", 0)


@pytest.mark.parametrize("status,reason,body", [(200, "OK", "timed out\n"),
                                                (304, "Not Modified", "")])
def test_hold_timeout_sends_the_apps_response(grip_app, status, reason, body):
    """Response hold: setHoldLongPoll(1) → Grip-Timeout: 1; on timeout the app's own response.
    A 304 goes the way serve-grip sends it: status 200 with Grip-Status: 304, body dropped."""
    relay, _ = grip_app()
    started = time.monotonic()
    r = requests.get(relay.url + f"/hold/response?ch=idle&timeout=1&status={status}",
                     timeout=WAIT)
    elapsed = time.monotonic() - started
    assert (r.status_code, r.reason, r.text) == (status, reason, body)
    assert r.headers["X-App"] == "grip-app" and grip_headers(r) == []
    assert 0.9 <= elapsed < 4, elapsed


def test_one_hold_on_several_channels_released_by_any(grip_app):
    """GRIP instructions: addChannel([a, b, c]) → one Grip-Channel `a, b, c`; a publish to b
    answers the hold, which then leaves every channel."""
    relay, app = grip_app()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(requests.get, relay.url + "/hold/response?ch=a&ch=b&ch=c",
                           timeout=WAIT)
        for name in "abc":
            wait_for_subscribers(channel(relay, name), 1)
        app.publish("response", channel="b", body="on b")
        assert held.result().text == "on b"
    for name in "abc":
        wait_for_subscribers(channel(relay, name), 0)


def worker_holding(relay, client_port):
    """The worker pid whose socket is the server end of the client connection from client_port
    (the one /proc/net/tcp lists with that remote port, matched by inode)."""
    inodes = {}
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            if local_port == relay.sub and remote_port == client_port:
                inodes[f"socket:[{fields[9]}]"] = True
    for pid in relay.worker_pids():
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:  # closed while we looked
                pass
    return None


def test_publish_releases_holds_on_both_workers(grip_app):
    """Across workers: response holds on both workers (proven from /proc), one publish through
    the library answers every one of them with the same response."""
    relay, app = grip_app(workers=2)
    clients, holders = [], set()
    while len(holders) < 2:
        assert len(clients) < 40, f"every hold landed on one worker: {holders}"
        s = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
        s.sendall(b"GET /hold/response?ch=all HTTP/1.1\r\nHost: app\r\n\r\n")
        clients.append(s)
        wait_for_subscribers(channel(relay, "all"), len(clients))
        holders.add(wait_until(lambda: worker_holding(relay, s.getsockname()[1]),
                               what="the worker holding the connection"))
    app.publish("response", channel="all", code=200, headers={"X-Round": "1"}, body="to all\n")
    for s in clients:
        data = b""
        while not data.endswith(b"to all\n"):
            piece = s.recv(65536)
            assert piece, f"closed before the published body: {data!r}"
            data += piece
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nX-Round: 1\r\n" in data
        s.close()
    wait_for_subscribers(channel(relay, "all"), 0)


# ---- Stream hold ----

def test_stream_hold_gets_published_content_in_order_and_keep_alives(grip_app):
    """Stream hold: the app's initial body at once, chunked; publishHttpStream items appended in
    publish order; the keep-alive data after 1 s idle; HttpStreamFormat close → the terminating
    chunk."""
    relay, app = grip_app()
    stream = Stream(relay, "/hold/stream?ch=feed&keepalive=ka%0A&keepalive_timeout=1")
    assert stream.head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in stream.head and b"Grip-" not in stream.head
    assert stream.read_until(lambda b: b"[stream open]\n" in b).startswith(b"[stream open]\n")
    wait_for_subscribers(channel(relay, "feed"), 1)
    wait_for_holds(relay, "stream", 1)
    for text in ("one\n", "two\n", "three\n"):
        app.publish("stream", channel="feed", content=text)
    body = stream.read_until(lambda b: b"three\n" in b)
    assert body.replace(b"ka\n", b"") == b"[stream open]\none\ntwo\nthree\n"
    body = stream.read_until(lambda b: b.split(b"three\n", 1)[1].count(b"ka\n") >= 1)
    app.publish("stream", channel="feed", close=True)
    body = stream.read_until(None)
    assert body.split(b"three\n", 1)[1].replace(b"ka\n", b"") == b""
    stream.close()
    wait_for_subscribers(channel(relay, "feed"), 0)


@pytest.mark.parametrize("query,data", [
    ("keepalive=keep%09alive%0A", b"keep\talive\n"),  # the library writes format=cstring, \t
    ("keepalive_b64=" + base64.urlsafe_b64encode(b"\x00\xffka\n").decode(), b"\x00\xffka\n"),
], ids=["cstring", "base64"])
def test_keep_alive_data_as_the_library_encodes_it(grip_app, query, data):
    """GRIP instructions: setKeepAlive(text) → `; format=cstring` (\\t \\n escapes), setKeepAlive
    (Buffer) → `; format=base64`; either arrives byte-exact, every second while idle."""
    relay, _ = grip_app()
    stream = Stream(relay, f"/hold/stream?ch=ka&{query}&keepalive_timeout=1")
    assert stream.head.startswith(b"HTTP/1.1 200 OK\r\n"), stream.head
    body = stream.read_until(lambda b: b.count(data) >= 2)
    assert body == b"[stream open]\n" + data * body.count(data)
    stream.close()


# ---- Binary bodies, Item with several formats ----

def test_one_item_with_both_formats_carries_binary_bodies(grip_app):
    """Publish API: one Item of an HttpResponseFormat and an HttpStreamFormat with Buffer bodies
    (body-bin, content-bin) answers a response hold and feeds a stream hold on the same channel,
    every byte value intact."""
    relay, app = grip_app()
    response_bytes = bytes(range(256))
    stream_bytes = bytes(range(255, -1, -1)) + b"\r\n0\r\n\r\n"
    stream = Stream(relay, "/hold/stream?ch=bin")
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(requests.get, relay.url + "/hold/response?ch=bin", timeout=WAIT)
        wait_for_subscribers(channel(relay, "bin"), 2)
        app.publish("item", channel="bin",
                    response={"headers": {"Content-Type": "application/octet-stream"},
                              "body_b64": base64.b64encode(response_bytes).decode()},
                    stream={"content_b64": base64.b64encode(stream_bytes).decode()})
        r = held.result()
    assert r.content == response_bytes and r.headers["Content-Length"] == "256"
    assert r.headers["Content-Type"] == "application/octet-stream"
    body = stream.read_until(lambda b: len(b) >= len(b"[stream open]\n") + len(stream_bytes))
    assert body == b"[stream open]\n" + stream_bytes and not stream.ended
    stream.close()


# ---- Grip-Sig ----

def sig_report(url):
    r = requests.get(url + "/sig", timeout=WAIT)
    assert r.status_code == 200, r.text
    return r.json()


def test_grip_sig_is_valid_for_the_library(grip_app):
    """Proxying: Grip-Sig validates under the app's key with the library's validateSig and with
    Publisher.validateGripSig (iss pushpin, exp ahead); a request straight to the app has none."""
    relay, app = grip_app()
    through = sig_report(relay.url)
    assert through["present"] and through["validateSig"]
    assert through["publisher"] == {"isProxied": True, "needsSigned": True, "isSigned": True}
    assert through["serveGrip"]["isProxied"] and through["serveGrip"]["isSigned"]
    direct = sig_report(app.url)
    assert not direct["present"] and not direct["validateSig"]
    assert not direct["serveGrip"]["isProxied"]


def test_grip_sig_under_another_key_is_rejected_by_the_app(grip_app):
    """Proxying: pushrelay signing with a key the app does not have → validateSig false, the
    Publisher calls the request unproxied, and the app refuses to hold (403 passed through)."""
    relay, _ = grip_app(relay_key="not-the-apps-key")
    report = sig_report(relay.url)
    assert report["present"] and not report["validateSig"]
    assert report["publisher"] == {"isProxied": False, "needsSigned": True, "isSigned": False}
    r = requests.get(relay.url + "/hold/response?ch=x", timeout=WAIT)
    assert (r.status_code, r.text) == (403, "unsigned request\n")


def test_origin_connection_is_kept_alive(grip_app):
    """Proxying: pooled keep-alive connections per worker: requests in a row on one client
    connection (so one worker) reach the node app over one origin connection."""
    relay, _ = grip_app(workers=1)
    with requests.Session() as session:
        ports = {session.get(relay.url + "/sig", timeout=WAIT).json()["originPort"]
                 for _ in range(3)}
    assert len(ports) == 1, ports
