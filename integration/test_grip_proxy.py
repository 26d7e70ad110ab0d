"""The GRIP proxy location (shared/grip.md "Proxying", "GRIP instructions", "Response hold",
"Stream hold", "Reliability", "Across workers"). Each test names the grip.md row it checks. Origins are python http.server
instances in a thread, told per test what to answer; pushrelay runs on free loopback ports."""
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from client import publish, server_sockets_by_worker, wait_for_subscribers
from grip_origin import Origin, origin  # noqa: F401 (origin: a fixture)
from conftest import WAIT, alive, free_port, wait_until

SIG_KEY = "s3cret"


GRIP_SERVERS = """
    server {{{{
        listen 127.0.0.1:{{pub}};
        location /pub {{{{ set $push_channel_id $arg_id; push_publisher; }}}}
        location = /status {{{{ push_stub_status; }}}}
        location /grip/ {{{{ push_grip_publish; }}}}
    }}}}
    server {{{{
        listen 127.0.0.1:{{sub}};
        location / {{{{
            push_grip_proxy http://127.0.0.1:{port};
            {extra}
        }}}}
    }}}}
"""


@pytest.fixture
def grip(pushrelay, origin):
    """Starts pushrelay with a GRIP proxy location in front of `origin`."""

    def start(extra="", http="", workers=2, port=None):
        servers = GRIP_SERVERS.format(port=port or origin.port, extra=extra)
        http = f"push_grip_sig_key {SIG_KEY}; push_grip_hold_timeout_min 1s; {http}"
        relay = pushrelay(servers=servers, http=http, workers=workers)
        relay.url = relay.base_sub
        return relay

    return start


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def valid_sig(token, key):
    head, claims, sig = token.split(".")
    mac = hmac.new(key.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(mac, b64url_decode(sig)) and \
        json.loads(b64url_decode(claims))["exp"] > time.time()


def make_sig(key, exp_in=3600):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    head = part({"alg": "HS256", "typ": "JWT"}) + "." + part({"iss": "x", "exp": int(time.time()) + exp_in})
    mac = hmac.new(key.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# ---- Proxying ----

def test_plain_response_status_reason_headers_verbatim_and_request_rules(grip, origin):
    """Proxying: request line, Host unchanged; removed / added headers; plain response row."""
    origin.routes["/plain"] = lambda r: (203, [("__reason", "Fine Indeed"), ("X-A", "1"),
                                               ("X-A", "2"), ("Content-Type", "text/x")], b"hello")
    relay = grip()
    r = requests.post(relay.url + "/plain?q=1", data=b"payload", timeout=WAIT, headers={
        "Accept-Encoding": "gzip", "Connection": "keep-alive, X-Hop", "X-Hop": "h",
        "Grip-Last": "forged; last-id=1", "X-Forwarded-For": "10.0.0.1", "X-Keep": "k"})
    assert (r.status_code, r.reason, r.text) == (203, "Fine Indeed", "hello")
    assert r.raw.headers.getlist("X-A") == ["1", "2"]
    assert r.headers["Content-Length"] == "5"
    assert len(r.raw.headers.getlist("Server")) == 1 and r.headers["Server"] == "pushrelay"
    seen = origin.requests[-1]
    assert seen.command == "POST" and seen.path == "/plain?q=1" and seen.body == b"payload"
    assert seen.headers["Host"] == f"127.0.0.1:{relay.sub}"
    for gone in ("Accept-Encoding", "X-Hop", "Grip-Last"):
        assert gone not in seen.headers, gone
    assert seen.headers["X-Keep"] == "k"
    assert seen.headers["Grip-Feature"] == "status, link:next"
    assert valid_sig(seen.headers["Grip-Sig"], SIG_KEY)
    assert seen.headers["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"  # append (default)


@pytest.mark.parametrize("mode,expected", [("replace", "127.0.0.1"), ("off", "10.0.0.1")])
def test_x_forwarded_for_modes(grip, origin, mode, expected):
    """Conf: push_grip_x_forwarded_for replace / off."""
    origin.routes["/"] = lambda r: (200, [], b"ok")
    relay = grip(extra=f"push_grip_x_forwarded_for {mode};")
    requests.get(relay.url + "/", headers={"X-Forwarded-For": "10.0.0.1"}, timeout=WAIT)
    assert origin.requests[-1].headers["X-Forwarded-For"] == expected


def test_trusted_request_passes_grip_headers_and_response_untouched(grip, origin):
    """Proxying: a trusted request (valid Grip-Sig under push_grip_upstream_key)."""
    origin.routes["/t"] = lambda r: (200, [("Grip-Hold", "response"), ("Grip-Channel", "c")], b"raw")
    relay = grip(extra="push_grip_upstream_key up;")
    r = requests.get(relay.url + "/t", timeout=WAIT,
                     headers={"Grip-Sig": make_sig("up"), "Grip-Last": "c; last-id=1"})
    assert r.text == "raw" and r.headers["Grip-Hold"] == "response"
    seen = origin.requests[-1]
    assert seen.headers["Grip-Last"] == "c; last-id=1" and "Grip-Feature" not in seen.headers
    # Signed with another key: not trusted, its Grip-* headers go.
    origin.routes["/t"] = lambda r: (200, [], b"plain")
    requests.get(relay.url + "/t", timeout=WAIT, headers={"Grip-Sig": make_sig("nope"),
                                                          "Grip-Last": "c; last-id=1"})
    assert "Grip-Last" not in origin.requests[-1].headers


def test_large_chunked_body_streams_through(grip, origin):
    """Proxying: chunked or close-delimited → chunked, streamed as it arrives."""
    block = bytes(range(256)) * 4096  # 1 MiB

    def big(r):
        r.send_response(200)
        r.send_header("Transfer-Encoding", "chunked")
        r.end_headers()
        for _ in range(16):
            r.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
        r.wfile.write(b"0\r\n\r\n")

    origin.routes["/big"] = big
    relay = grip()
    r = requests.get(relay.url + "/big", stream=True, timeout=WAIT)
    assert r.headers["Transfer-Encoding"] == "chunked"
    digest, n = hashlib.sha256(), 0
    for piece in r.iter_content(65536):
        digest.update(piece)
        n += len(piece)
    assert n == 16 * len(block)
    assert digest.digest() == hashlib.sha256(block * 16).digest()


def test_head_and_304_have_no_body(grip, origin):
    """Proxying: HEAD, 1xx, 204, 304: no body."""
    origin.routes["/h"] = lambda r: (200, [("Content-Length", "42")], b"" if r.command == "HEAD" else b"x" * 42)
    origin.routes["/n"] = lambda r: (304, [("Content-Length", "0")], b"")
    relay = grip()
    r = requests.head(relay.url + "/h", timeout=WAIT)
    assert r.status_code == 200 and r.headers["Content-Length"] == "42"
    assert requests.get(relay.url + "/n", timeout=WAIT).status_code == 304
    assert requests.get(relay.url + "/h", timeout=WAIT).text == "x" * 42  # connection still good


def test_502_when_origin_refuses(grip):
    """Proxying: origin refused → 502 text/plain, the compat body."""
    relay = grip(port=free_port())
    r = requests.get(relay.url + "/", timeout=WAIT)
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/plain"
    assert r.text == "Error while proxying to origin.\n"


def test_502_on_read_timeout_with_debug_reason(grip, origin):
    """Proxying: read timeout → 502; push_grip_debug: the reason."""
    origin.routes["/slow"] = lambda r: (time.sleep(3), (200, [], b"late"))[1]
    relay = grip(extra="push_grip_read_timeout 1s; push_grip_debug on;")
    r = requests.get(relay.url + "/slow", timeout=WAIT)
    assert r.status_code == 502 and "timeout" in r.text


def test_502_on_malformed_response(grip, origin):
    """Proxying: malformed before the header → 502."""
    def junk(r):
        r.wfile.write(b"NOT HTTP\r\n\r\n")
    origin.routes["/junk"] = junk
    relay = grip()
    assert requests.get(relay.url + "/junk", timeout=WAIT).status_code == 502


def test_413_without_contacting_origin(grip, origin):
    """Proxying: body over client_max_body_size → 413, origin not contacted."""
    origin.routes["/"] = lambda r: (200, [], b"ok")
    relay = grip(extra="client_max_body_size 10;")
    r = requests.post(relay.url + "/", data=b"x" * 100, timeout=WAIT)
    assert r.status_code == 413 and origin.requests == []


def test_websocket_upgrade_is_501(grip, origin):
    """Proxying: Upgrade: websocket request → 501."""
    relay = grip()
    r = requests.get(relay.url + "/", timeout=WAIT, headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    assert r.status_code == 501 and origin.requests == []


def test_origin_failing_mid_body_cuts_the_client(grip, origin):
    """Proxying: origin fails after the client's response started → closed, no last chunk."""
    def cut(r):
        r.send_response(200)
        r.send_header("Transfer-Encoding", "chunked")
        r.end_headers()
        r.wfile.write(b"5\r\nhello\r\n")
        r.wfile.flush()
        r.connection.shutdown(socket.SHUT_RDWR)
    origin.routes["/cut"] = cut
    relay = grip()
    s = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
    s.sendall(b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    assert b"5\r\nhello\r\n" in data and not data.endswith(b"0\r\n\r\n")


# ---- GRIP instructions ----

def instruct(body, status=200):
    """An application/grip-instruct answer with `body` (a dict goes as JSON)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return status, [("Content-Type", "application/grip-instruct")], raw


HELD_C = [("Grip-Hold", "response"), ("Grip-Channel", "c")]
STREAM_C = [("Grip-Hold", "stream"), ("Grip-Channel", "c")]
MALFORMED = {
    "hold mode": (200, [("Grip-Hold", "forever"), ("Grip-Channel", "c")], b""),
    "hold without channel": (200, [("Grip-Hold", "response")], b""),
    "empty channel name": (200, [("Grip-Hold", "response"), ("Grip-Channel", "a, ; prev-id=1")], b""),
    "timeout not a number": (200, HELD_C + [("Grip-Timeout", "soon")], b""),
    "negative timeout": (200, HELD_C + [("Grip-Timeout", "-1")], b""),
    "keep-alive empty data": (200, STREAM_C + [("Grip-Keep-Alive", "; format=raw")], b""),
    "keep-alive format": (200, STREAM_C + [("Grip-Keep-Alive", "x; format=hex")], b""),
    "keep-alive mode": (200, STREAM_C + [("Grip-Keep-Alive", "x; mode=sometimes")], b""),
    "keep-alive cstring escape": (200, STREAM_C + [("Grip-Keep-Alive", "x\\q; format=cstring")], b""),
    "status over 999": (200, [("Grip-Status", "1000")], b""),
    "status not a number": (200, HELD_C + [("Grip-Status", "OK")], b""),
    "link without <URI>": (200, STREAM_C + [("Grip-Link", "/next; rel=next")], b""),
    "link timeout 0": (200, STREAM_C + [("Grip-Link", "</next>; rel=next; timeout=0")], b""),
    "instruct not JSON": instruct(b"{not json"),
    "instruct not an object": instruct(b"[]"),
    "instruct status not 200": instruct({"response": {"body": "x"}}, status=201),
    "instruct no channels": instruct({"hold": {"mode": "response", "channels": []}}),
    "instruct channel name not a string": instruct({"hold": {"channels": [{"name": 5}]}}),
    "instruct hold mode": instruct({"hold": {"mode": "forever", "channels": [{"name": "c"}]}}),
    "instruct timeout": instruct({"hold": {"channels": [{"name": "c"}], "timeout": "x"}}),
    "instruct keep-alive": instruct({"hold": {"mode": "stream", "channels": [{"name": "c"}],
                                              "keep-alive": {"content": ""}}}),
    "instruct response code": instruct({"response": {"code": 1000}}),
    "instruct body-bin": instruct({"response": {"body-bin": "not base64!"}}),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_instructions_are_502_and_the_worker_lives_on(grip, origin, case):
    """GRIP instructions: every malformed Grip-* header (Grip-Hold, Grip-Channel empty name,
    Grip-Timeout, Grip-Keep-Alive, Grip-Status, Grip-Link) and instruct body → 502; the worker
    that parsed it is unharmed."""
    origin.routes["/bad"] = lambda r: MALFORMED[case]
    origin.routes["/ok"] = lambda r: (200, [], b"fine")
    relay = grip(workers=1, extra="push_grip_debug on;")
    workers = relay.worker_pids()
    r = requests.get(relay.url + "/bad", timeout=WAIT)
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/plain"
    assert r.text != "Error while proxying to origin.\n" and r.text.endswith("\n")  # the reason
    assert requests.get(relay.url + "/ok", timeout=WAIT).text == "fine"
    assert relay.worker_pids() == workers


def test_no_hold_applies_grip_status_and_strips_grip_headers(grip, origin):
    """Proxying (GRIP response without Grip-Hold) + Grip-Status row."""
    origin.routes["/"] = lambda r: (200, [("Grip-Status", "299 Custom"), ("X-Keep", "1")], b"body")
    relay = grip()
    r = requests.get(relay.url + "/", timeout=WAIT)
    assert (r.status_code, r.reason, r.text) == (299, "Custom", "body")
    assert r.headers["X-Keep"] == "1" and not any(h.lower().startswith("grip-") for h in r.headers)


def test_instruct_body_without_hold(grip, origin):
    """Instruct body: no hold = the `response` replaces the HTTP response."""
    instruct = {"response": {"code": 201, "headers": {"X-I": "y"}, "body": "from json"}}
    origin.routes["/"] = lambda r: (200, [("Content-Type", "application/grip-instruct")],
                                    json.dumps(instruct).encode())
    relay = grip()
    r = requests.get(relay.url + "/", timeout=WAIT)
    assert (r.status_code, r.text, r.headers["X-I"]) == (201, "from json", "y")


def test_instruct_body_over_max_size_is_502(grip, origin):
    """Limits: GRIP response body over push_grip_max_instruct_size → 502."""
    origin.routes["/"] = lambda r: (200, [("Content-Type", "application/grip-instruct")], b" " * 5000)
    relay = grip(extra="push_grip_max_instruct_size 1k;")
    assert requests.get(relay.url + "/", timeout=WAIT).status_code == 502


# ---- Response hold ----

def hold_route(channel, timeout=None, extra=()):
    headers = [("Grip-Hold", "response"), ("Grip-Channel", channel), ("Content-Type", "text/plain"),
               ("X-Hold", "h"), *extra]
    if timeout is not None:
        headers.append(("Grip-Timeout", str(timeout)))
    return lambda r: (200, headers, b"timed out\n")


def test_response_hold_timeout_sends_the_hold_response(grip, origin):
    """Response hold: timeout → the hold response exactly; Grip-Timeout clamped to the min."""
    origin.routes["/"] = hold_route("t", timeout=0, extra=[("Grip-Status", "408 Waited")])
    relay = grip()
    started = time.monotonic()
    r = requests.get(relay.url + "/", timeout=WAIT)
    elapsed = time.monotonic() - started
    assert (r.status_code, r.reason, r.text, r.headers["X-Hold"]) == (408, "Waited", "timed out\n", "h")
    assert 0.9 <= elapsed < 4
    assert r.raw.headers.getlist("Date").__len__() == 1  # ours, not the origin's too


def test_response_holds_across_workers_released_by_a_push_message(grip, origin):
    """GRIP and push channels: one namespace; a push publish reaches holds on every worker."""
    origin.routes["/"] = hold_route("news")
    relay = grip(workers=2)
    pub = f"{relay.base_pub}/pub?id=news"
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(requests.get, relay.url + "/", timeout=WAIT) for _ in range(6)]
        wait_for_subscribers(pub, 6)
        r = publish(pub, b"hello", {"Content-Type": "text/x-news"})
        assert r.status_code == 201
        for f in futures:
            got = f.result()
            assert (got.status_code, got.text) == (200, "hello")
            assert got.headers["Content-Type"] == "text/x-news" and got.headers["X-Hold"] == "h"
    wait_for_subscribers(pub, 0)


def test_several_channels_one_answer(grip, origin):
    """Response hold: an item on any of its channels; the hold leaves every channel."""
    origin.routes["/"] = lambda r: (200, [("Grip-Hold", "response"), ("Grip-Channel", "a, b")], b"")
    relay = grip()
    with ThreadPoolExecutor(1) as pool:
        f = pool.submit(requests.get, relay.url + "/", timeout=WAIT)
        wait_for_subscribers(f"{relay.base_pub}/pub?id=a", 1)
        wait_for_subscribers(f"{relay.base_pub}/pub?id=b", 1)
        publish(f"{relay.base_pub}/pub?id=b", b"on b")
        assert f.result().text == "on b"
    wait_for_subscribers(f"{relay.base_pub}/pub?id=a", 0)


def test_a_push_delete_leaves_grip_holds_waiting(grip, origin):
    """One namespace: DELETE concerns push subscribers only; GRIP holds are untouched (the hold
    gets the next publish)."""
    origin.routes["/"] = hold_route("d", timeout=30)
    relay = grip(workers=1)
    pub = f"{relay.base_pub}/pub?id=d"
    with ThreadPoolExecutor(1) as pool:
        hold = pool.submit(requests.get, relay.url + "/", timeout=WAIT)
        wait_for_subscribers(pub, 1)
        assert requests.delete(pub, timeout=WAIT).status_code == 200
        wait_for_subscribers(pub, 1)  # the hold, on the channel created anew
        assert not hold.done()
        publish(pub, b"after the delete")
        r = hold.result()
        assert (r.status_code, r.text) == (200, "after the delete")


def test_client_close_leaves_the_channel(grip, origin):
    """Response hold: client closes → the hold leaves every channel at once."""
    origin.routes["/"] = hold_route("gone")
    relay = grip()
    s = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    pub = f"{relay.base_pub}/pub?id=gone"
    wait_for_subscribers(pub, 1)
    status = lambda: requests.get(f"{relay.base_pub}/status?format=json", timeout=WAIT).json()
    wait_until(lambda: status()["grip_response_subscribers"] == 1, what="the hold on the status page")
    s.close()
    wait_for_subscribers(pub, 0)
    assert status()["grip_response_subscribers"] == 0


# ---- Stream hold ----

def open_stream(relay, path):
    """A raw client connection that sent GET `path`; read it with read_until()."""
    s = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def read_until(s, data, done):
    """Reads from `s` onto `data` until done(data); returns it."""
    while not done(data):
        piece = s.recv(65536)
        assert piece, f"closed before the expected bytes; got {data!r}"
        data += piece
    return data


def test_stream_hold_initial_body_then_published_bodies(grip, origin):
    """Stream hold: hold starts (status, headers, initial body, chunked); a push message appended."""
    origin.routes["/s"] = lambda r: (200, [("Grip-Hold", "stream"), ("Grip-Channel", "s"),
                                           ("Content-Type", "text/plain")], b"start\n")
    relay = grip()
    s = open_stream(relay, "/s")
    data = read_until(s, b"", lambda d: b"start\n" in d)
    assert b"Transfer-Encoding: chunked" in data and b"Content-Length" not in data.split(b"\r\n\r\n")[0]
    pub = f"{relay.base_pub}/pub?id=s"
    wait_for_subscribers(pub, 1)
    publish(pub, b"event one\n")
    read_until(s, data, lambda d: b"event one\n" in d)
    s.close()
    wait_for_subscribers(pub, 0)


def test_stream_hold_keep_alive(grip, origin):
    """GRIP instructions: Grip-Keep-Alive, idle mode, written after N s without a send."""
    origin.routes["/k"] = lambda r: (200, [("Grip-Hold", "stream"), ("Grip-Channel", "k"),
                                           ("Grip-Keep-Alive", "ping\\n; format=cstring; timeout=1")], b"")
    relay = grip()
    s = open_stream(relay, "/k")
    read_until(s, b"", lambda d: d.count(b"ping\n") >= 2)
    s.close()


def test_stream_hold_prev_id_without_next_link_is_502(grip, origin):
    """Stream hold: a channel with prev-id but no Grip-Link next → 502, nothing sent."""
    origin.routes["/"] = lambda r: (200, [("Grip-Hold", "stream"), ("Grip-Channel", "p; prev-id=1")], b"x")
    relay = grip()
    assert requests.get(relay.url + "/", timeout=WAIT).status_code == 502


def test_stream_client_reading_too_slowly_is_disconnected(grip, origin):
    """Stream hold: more than push_grip_stream_buffer unsent → disconnected."""
    origin.routes["/s"] = lambda r: (200, [("Grip-Hold", "stream"), ("Grip-Channel", "slow")], b"")
    relay = grip(extra="push_grip_stream_buffer 64k;")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the client never reads
    s.connect(("127.0.0.1", relay.sub))
    s.sendall(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
    pub = f"{relay.base_pub}/pub?id=slow"
    wait_for_subscribers(pub, 1)
    body = b"x" * 65536
    session = requests.Session()
    for _ in range(200):
        publish(pub, body, session=session)
        info = requests.get(pub, headers={"Accept": "application/json"}, timeout=WAIT)
        if info.status_code == 200 and info.json()["subscribers"] == 0:
            break
    wait_for_subscribers(pub, 0)
    s.close()


def worker_rss_kib(relay):
    total = 0
    for pid in relay.worker_pids():
        with open(f"/proc/{pid}/status") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return total


def test_slow_client_slows_the_origin_instead_of_buffering(grip, origin):
    """Proxying: body streamed as it arrives; a slow client slows the origin read (issue 12)."""
    block = b"y" * (1 << 20)
    sent = []

    def big(r):
        r.send_response(200)
        r.send_header("Content-Length", str(64 * len(block)))
        r.end_headers()
        try:
            for _ in range(64):
                r.wfile.write(block)
                sent.append(len(block))
        except OSError:
            pass

    origin.routes["/big"] = big
    relay = grip(workers=1)
    before = worker_rss_kib(relay)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", relay.sub))
    s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.5)  # the client reads nothing: the origin must stall well before 64 MiB
    assert sum(sent) < 32 * len(block)
    assert worker_rss_kib(relay) - before < 16 * 1024
    got = 0
    while got < 64 * len(block):
        piece = s.recv(1 << 20)
        assert piece
        got += len(piece)
    assert got >= 64 * len(block)  # head + the whole body, Content-Length framed
    s.close()


def poll_until_held(url, tries=5):
    """GET `url` again while it gets the hold response at once: an old worker may accept the
    connection just before it sees the reload, and a stopping worker answers a new hold so (the
    client polls again, as a real one does)."""
    for _ in range(tries):
        started = time.monotonic()
        r = requests.get(url, timeout=WAIT)
        if r.text != "timed out\n" or time.monotonic() - started > 1:
            return r
    raise AssertionError(f"{url}: answered at once {tries} times")


def test_reload_keeps_holds_on_the_old_workers_until_they_end(grip, origin):
    """Across workers: during a HUP reload publishes reach holds on old and new workers; an old
    worker keeps its holds until they end, then exits."""
    origin.routes["/"] = hold_route("r", timeout=30)
    relay = grip()
    pub = f"{relay.base_pub}/pub?id=r"
    with ThreadPoolExecutor(3) as pool:
        held_before = [pool.submit(requests.get, relay.url + "/", timeout=WAIT) for _ in range(2)]
        wait_for_subscribers(pub, 2)
        old = set(relay.worker_pids())
        relay.signal(signal.SIGHUP)
        wait_until(lambda: len(set(relay.worker_pids()) - old) == 2, what="two new workers")
        held_after = pool.submit(poll_until_held, relay.url + "/")
        wait_for_subscribers(pub, 3)
        assert all(not f.done() for f in held_before), "a reload answered a hold"
        publish(pub, b"across the reload")
        for f in held_before + [held_after]:
            r = f.result()
            assert (r.status_code, r.text) == (200, "across the reload")
    wait_until(lambda: set(relay.worker_pids()).isdisjoint(old),
               what=f"the old workers {sorted(old)} exiting once their holds ended")


def test_reload_closes_holds_left_at_worker_shutdown_timeout(pushrelay, origin):
    """Across workers: an old worker keeps its holds until worker_shutdown_timeout, then closes
    them (the client sees the connection end, no response)."""
    origin.routes["/"] = hold_route("late", timeout=30)
    relay = pushrelay(servers=GRIP_SERVERS.format(port=origin.port, extra=""), workers=1,
                      main="worker_shutdown_timeout 1s;", http=f"push_grip_sig_key {SIG_KEY};")
    pub = f"{relay.base_pub}/pub?id=late"
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(requests.get, relay.base_sub + "/", timeout=WAIT)
        wait_for_subscribers(pub, 1)
        relay.signal(signal.SIGHUP)
        with pytest.raises(requests.ConnectionError):
            held.result()
    wait_for_subscribers(pub, 0)


def publish_items(relay, *items):
    r = requests.post(f"{relay.base_pub}/grip/publish/", json={"items": list(items)}, timeout=WAIT)
    assert r.status_code == 200, r.text


def test_grip_item_answers_response_holds_on_every_worker(grip, origin):
    """Response hold: http-response send item, on holds across 2 workers (publish API)."""
    origin.routes["/"] = hold_route("items")
    relay = grip(workers=2)
    pub = f"{relay.base_pub}/pub?id=items"
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(requests.get, relay.url + "/", timeout=WAIT) for _ in range(6)]
        wait_for_subscribers(pub, 6)
        publish_items(relay, {"channel": "items", "formats": {"http-response": {
            "code": 202, "reason": "Taken", "headers": {"X-Hold": "item"}, "body": "from item"}}})
        for f in futures:
            r = f.result()
            assert (r.status_code, r.reason, r.text) == (202, "Taken", "from item")
            assert r.headers["X-Hold"] == "item" and r.headers["Content-Length"] == "9"
    wait_for_subscribers(pub, 0)


def test_grip_hint_item_rerequests_with_grip_last(grip, origin):
    """Response hold: action hint → re-request with Grip-Last for the channel's prev-id."""
    calls = []

    def route(r):
        calls.append(r.headers.get("Grip-Last"))
        if len(calls) == 1:
            return (200, [("Grip-Hold", "response"), ("Grip-Channel", "h; prev-id=5")], b"")
        return (200, [], b"fresh answer")

    origin.routes["/"] = route
    relay = grip()
    with ThreadPoolExecutor(1) as pool:
        f = pool.submit(requests.get, relay.url + "/", timeout=WAIT)
        wait_for_subscribers(f"{relay.base_pub}/pub?id=h", 1)
        publish_items(relay, {"channel": "h", "formats": {"http-response": {"action": "hint"}}})
        assert f.result().text == "fresh answer"
    assert calls == [None, "h; last-id=5"]


def test_grip_stream_items_then_close_keeps_the_connection(grip, origin):
    """Stream hold: http-stream send appended; close → terminating chunk, connection reusable."""
    origin.routes["/s"] = lambda r: (200, [("Grip-Hold", "stream"), ("Grip-Channel", "st")], b"")
    origin.routes["/after"] = lambda r: (200, [], b"next")
    relay = grip()
    s = open_stream(relay, "/s")
    wait_for_subscribers(f"{relay.base_pub}/pub?id=st", 1)
    publish_items(relay, {"channel": "st", "formats": {"http-stream": {"content": "one\n"}}},
                  {"channel": "st", "formats": {"http-stream": {"content-bin": "dHdvCg=="}}},
                  {"channel": "st", "formats": {"http-stream": {"action": "close"}}})
    data = read_until(s, b"", lambda d: d.endswith(b"0\r\n\r\n"))
    assert b"4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n" in data
    s.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_until(s, b"", lambda d: d.endswith(b"next")).startswith(b"HTTP/1.1 200")


# ---- Reliability: next links ----

def stream_hold(channels, link=None, body=b""):
    """A header-form stream hold on `channels` (Grip-Channel values), with a next link."""
    headers = [("Grip-Hold", "stream"), ("Content-Type", "text/plain")]
    headers += [("Grip-Channel", c) for c in channels]
    if link:
        headers.append(("Grip-Link", link))
    return 200, headers, body


def stream_item(channel, content=None, action="send", **ids):
    item = {"channel": channel, "formats": {"http-stream": {"action": action}}}
    if content is not None:
        item["formats"]["http-stream"]["content"] = content
    item.update({k.replace("_", "-"): v for k, v in ids.items()})
    return item


def recorded(calls, answer):
    """A route that appends each request's (method, headers) to `calls`, then answers with
    answer(request). (origin.requests holds handlers, which a keep-alive connection reuses.)"""
    def route(r):
        calls.append((r.command, r.headers))
        return answer(r)
    return route


def test_next_link_fetched_on_hint_with_grip_last(grip, origin):
    """Reliability: an http-stream hint fetches the next link (Stream hold: hint row), a GET with
    Grip-Sig, Grip-Feature and one Grip-Last per channel with a prev-id; its body is appended."""
    origin.routes["/s"] = lambda r: stream_hold(["nl; prev-id=1", "other"], "</next>; rel=next")
    calls = []
    origin.routes["/next"] = recorded(calls, lambda r: stream_hold(
        ["nl; prev-id=2"], "</next>; rel=next", b"from link\n"))
    relay = grip()
    s = open_stream(relay, "/s")
    wait_for_subscribers(f"{relay.base_pub}/pub?id=nl", 1)
    publish_items(relay, stream_item("nl", action="hint", prev_id="1"))
    data = read_until(s, b"", lambda d: b"from link\n" in d)
    [(method, headers)] = calls
    assert method == "GET" and headers["Host"] == "x"  # the client's
    assert headers.get_all("Grip-Last") == ["nl; last-id=1"]
    assert valid_sig(headers["Grip-Sig"], SIG_KEY)
    assert headers["Grip-Feature"] == "status, link:next"
    # The stream goes on at the answer's prev-id.
    publish_items(relay, stream_item("nl", "three\n", id="3", prev_id="2"))
    read_until(s, data, lambda d: b"three\n" in d)
    s.close()


def test_next_link_fetched_on_gap(grip, origin):
    """Reliability: (1) a stream item's prev-id is not its channel's: it is dropped, the link
    fetched with the channel's last id."""
    origin.routes["/s"] = lambda r: stream_hold(["gap; prev-id=1"], "<next>; rel=next")
    calls = []
    origin.routes["/next"] = recorded(calls, lambda r: stream_hold(
        ["gap; prev-id=9"], "<next>; rel=next", b"refetched\n"))
    relay = grip()
    s = open_stream(relay, "/s")
    wait_for_subscribers(f"{relay.base_pub}/pub?id=gap", 1)
    publish_items(relay, stream_item("gap", "lost\n", id="9", prev_id="8"))
    data = read_until(s, b"", lambda d: b"refetched\n" in d)
    assert b"lost" not in data
    assert calls[0][1]["Grip-Last"] == "gap; last-id=1"
    s.close()


def test_next_link_fetched_when_the_first_prev_id_is_behind_the_channel(grip, origin):
    """Reliability: (3) the first hold's prev-id conflicts with the channel's known L (the id of
    the last item sent on it, server-wide): the link is fetched at once."""
    origin.routes["/s"] = lambda r: stream_hold(["behind; prev-id=1"], "</next>; rel=next")
    calls = []
    origin.routes["/next"] = recorded(calls, lambda r: stream_hold(
        ["behind; prev-id=2"], "</next>; rel=next", b"caught up\n"))
    relay = grip()
    publish_items(relay, stream_item("behind", "missed\n", id="2"))  # L = 2, no hold yet
    s = open_stream(relay, "/s")
    data = read_until(s, b"", lambda d: b"caught up\n" in d)
    assert b"missed" not in data
    assert calls[0][1]["Grip-Last"] == "behind; last-id=1"
    publish_items(relay, stream_item("behind", "three\n", id="3", prev_id="2"))
    read_until(s, data, lambda d: b"three\n" in d)
    s.close()


def test_next_link_fetched_when_a_channel_is_quiet(grip, origin):
    """Reliability: (2) not every channel had an item within the link timeout."""
    origin.routes["/s"] = lambda r: stream_hold(["qa", "qb"], "</next>; rel=next; timeout=1")
    calls = []
    origin.routes["/next"] = recorded(calls, lambda r: stream_hold(["qa", "qb"], None, b"checked\n"))
    relay = grip()
    started = time.monotonic()
    s = open_stream(relay, "/s")
    wait_for_subscribers(f"{relay.base_pub}/pub?id=qb", 1)
    publish_items(relay, stream_item("qa", "a only\n"))
    read_until(s, b"", lambda d: b"checked\n" in d)
    assert time.monotonic() - started >= 0.9 and len(calls) == 1
    s.close()


def test_next_link_answer_replaces_the_channels(grip, origin):
    """Reliability: the link's instructions replace the current ones: its new channels take
    items, the old ones no longer do."""
    origin.routes["/s"] = lambda r: stream_hold(["old"], "</next>; rel=next")
    origin.routes["/next"] = lambda r: stream_hold(["new"], None, b"switched\n")
    relay = grip(workers=1)
    s = open_stream(relay, "/s")
    wait_for_subscribers(f"{relay.base_pub}/pub?id=old", 1)
    publish_items(relay, stream_item("old", action="hint"))
    data = read_until(s, b"", lambda d: b"switched\n" in d)
    wait_for_subscribers(f"{relay.base_pub}/pub?id=new", 1)
    wait_for_subscribers(f"{relay.base_pub}/pub?id=old", 0)
    publish_items(relay, stream_item("old", "to old\n"), stream_item("new", "to new\n"))
    data = read_until(s, data, lambda d: b"to new\n" in d)
    assert b"to old" not in data
    s.close()


def test_failed_next_link_is_retried_after_a_second(grip, origin):
    """Reliability: a failed fetch with nothing of it sent is retried after 1 s (+0–1 s)."""
    times = []

    def flaky(r):
        times.append(time.monotonic())
        if len(times) == 1:
            return 503, [], b"busy"
        return stream_hold(["retry"], None, b"second try\n")

    origin.routes["/s"] = lambda r: stream_hold(["retry"], "</next>; rel=next")
    origin.routes["/next"] = flaky
    relay = grip()
    s = open_stream(relay, "/s")
    wait_for_subscribers(f"{relay.base_pub}/pub?id=retry", 1)
    publish_items(relay, stream_item("retry", action="hint"))
    data = read_until(s, b"", lambda d: b"second try\n" in d)
    assert b"busy" not in data
    assert len(times) == 2 and 0.9 <= times[1] - times[0] < 2.5
    s.close()


@pytest.mark.parametrize("link", ["<http://127.0.0.2:1/next>; rel=next",
                                  "<//example.com/next>; rel=next"])
def test_next_link_to_another_origin_is_502(grip, origin, link):
    """GRIP instructions: Grip-Link, an absolute URI must name the location's origin → 502."""
    origin.routes["/s"] = lambda r: stream_hold(["c"], link, b"never sent")
    relay = grip(extra="push_grip_debug on;")
    r = requests.get(relay.url + "/s", timeout=WAIT)
    assert r.status_code == 502 and "another host" in r.text


# ---- Across workers; origin failures ----

def test_killed_worker_drops_only_its_own_holds(grip, origin):
    """Across workers: a worker crash drops only its own clients; the holds on the other worker
    still get the publish."""
    origin.routes["/"] = hold_route("kw", timeout=60)
    relay = grip(workers=2)
    pub = f"{relay.base_pub}/pub?id=kw"
    clients = []
    while len(clients) < 16:  # until both workers hold some (a handful is nearly always enough)
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(s)
        wait_for_subscribers(pub, len(clients))
        held = server_sockets_by_worker(relay)
        if all(held.values()):
            break
    assert all(held.values()), f"one worker holds every client: {held}"
    victim, survivor = list(held)
    os.kill(victim, signal.SIGKILL)
    port = lambda s: s.getsockname()[1]
    for s in clients:
        if port(s) in held[victim]:
            try:
                assert s.recv(65536) == b""
            except ConnectionResetError:
                pass
    wait_until(lambda: not alive(victim) and len(relay.worker_pids()) == 2, what="a new worker")
    wait_for_subscribers(pub, len(held[survivor]))
    assert publish(pub, b"after the kill").status_code in (201, 202)
    for s in clients:
        if port(s) in held[survivor]:
            read_until(s, b"", lambda d: d.endswith(b"after the kill"))
        s.close()


def stalling_after_part(headers):
    """An origin route that sends `headers`, Content-Length 100 and 4 bytes of body, then stalls
    for 3 s."""
    def stall(r):
        r.send_response(200)
        for name, value in headers + [("Content-Length", "100")]:
            r.send_header(name, value)
        r.end_headers()
        r.wfile.write(b"part")
        r.wfile.flush()
        time.sleep(3)
    return stall


def test_origin_stalling_mid_grip_body_is_502(grip, origin):
    """Proxying: the origin stops between two reads of a GRIP body (read timeout) → 502."""
    origin.routes["/"] = stalling_after_part(HELD_C)
    relay = grip(extra="push_grip_read_timeout 1s;")
    started = time.monotonic()
    assert requests.get(relay.url + "/", timeout=WAIT).status_code == 502
    assert time.monotonic() - started < 2.9


def test_origin_stalling_mid_plain_body_cuts_the_client(grip, origin):
    """Proxying: the origin stops mid-body after the client's response began → the client is
    cut (no complete body) after push_grip_read_timeout."""
    origin.routes["/"] = stalling_after_part([])
    relay = grip(extra="push_grip_read_timeout 1s;")
    s = socket.create_connection(("127.0.0.1", relay.sub), timeout=WAIT)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\npart")
    assert time.monotonic() - started < 2.9
    s.close()
