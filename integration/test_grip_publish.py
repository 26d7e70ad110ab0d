"""GRIP publish API (push_grip_publish): shared/grip.md "Publish API", the item field and format
tables, "GRIP channels and push channels: one namespace" (an item is never stored and never
reaches a push subscriber), and "Ordering, de-duplication" through response holds once
push_grip_proxy locations hold (skipped, with the reason, while they do not)."""
import http.client
import json
import os
import signal
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from conftest import WAIT, wait_until
from client import Held, channel_info, publish, server_sockets_by_worker, wait_for_subscribers
from grip_origin import origin  # noqa: F401 (a fixture)

NOT_ACCEPTABLE = b"Not Acceptable. Supported formats are text/plain and application/json.\n"

# The publish API at `location /grip/` on the publisher port and at `location /` on the
# subscriber port (where /sub, a longer prefix, still subscribes). {origin} is filled in below.
SERVERS = """
    server {{{{
        listen 127.0.0.1:{{pub}};
        location /pub {{{{ set $push_channel_id $arg_id; push_publisher; }}}}
        location = /status {{{{ push_stub_status; }}}}
        location /grip/ {{{{ push_grip_publish; }}}}
        location /app/ {{{{ push_grip_proxy http://127.0.0.1:{origin}; }}}}
    }}}}
    server {{{{
        listen 127.0.0.1:{{sub}};
        location /sub {{{{ set $push_channel_id $arg_id; push_subscriber long-poll; }}}}
        location / {{{{ push_grip_publish; }}}}
    }}}}
"""


def hold_route(request):
    """GET /app/hold?ch=a&ch=b: `Grip-Hold: response` on those channels (timeout 3 s, body
    "timeout\n")."""
    channels = parse_qs(urlparse(request.path).query).get("ch", ["c"])
    return (200, [("Grip-Hold", "response")] + [("Grip-Channel", c) for c in channels] +
            [("Grip-Timeout", "3"), ("Content-Type", "text/plain")], b"timeout\n")


@pytest.fixture
def grip(pushrelay, origin):
    origin.routes["/app/hold"] = hold_route
    origin.routes["/app/plain"] = lambda request: (200, [], b"")
    server = pushrelay(servers=SERVERS.format(origin=origin.port), workers=2,
                       http="client_max_body_size 64k; push_grip_message_wait 2s; "
                            "push_grip_hold_timeout_min 1s;")
    server.api = f"{server.base_pub}/grip/"
    server.root_api = f"{server.base_sub}/"
    server.origin = origin
    return server


def items(*items):
    return json.dumps({"items": list(items)}).encode()


def stream_item(channel="c", **fields):
    return {"channel": channel, "formats": {"http-stream": {"content": "x"}}, **fields}


def post(url, body=b"", headers=None):
    return requests.post(url, data=body, headers=headers or {}, timeout=WAIT)


# ---- the reply table ----------------------------------------------------------------------

@pytest.mark.parametrize("where", ["api", "root_api"])
def test_get_on_the_prefix_is_the_banner(grip, where):
    """Row: GET on the prefix itself → 200 text/plain `pushrelay GRIP API\\n` (location /grip/
    and location /)."""
    r = requests.get(getattr(grip, where), timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain"
    assert r.content == b"pushrelay GRIP API\n"


@pytest.mark.parametrize("path", ["publish", "publish/", "publish/?x=1"])
@pytest.mark.parametrize("where", ["api", "root_api"])
def test_post_publish_is_200_published(grip, where, path):
    """Row: POST publish or publish/ → 200 `Published\\n` (query ignored: decision)."""
    r = post(getattr(grip, where) + path, items(stream_item()))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain"
    assert r.content == b"Published\n"


@pytest.mark.parametrize("accept, json_reply", [
    ("application/json", True), ("application/*", True), ("text/plain", False),
    ("*/*", False), ("text/*", False), ("text/plain, application/json", True),
    ("application/json, text/plain", False), ("image/png, application/json", True),
])
def test_reply_format_follows_accept(grip, accept, json_reply):
    """Row: `{"message":"Published"}\\n` as application/json; the last known type decides."""
    r = post(grip.api + "publish/", items(stream_item()), {"Accept": accept})
    assert r.status_code == 200
    if json_reply:
        assert r.headers["Content-Type"] == "application/json"
        assert r.content == b'{"message":"Published"}\n'
    else:
        assert r.headers["Content-Type"] == "text/plain"
        assert r.content == b"Published\n"


@pytest.mark.parametrize("accept, reply, content_type", [
    (None, b"Updated\n", "text/plain"),
    ("application/json", b'{"message":"Updated"}\n', "application/json"),
])
@pytest.mark.parametrize("path", ["recover", "recover/"])
def test_post_recover_is_200_updated_without_a_body(grip, path, accept, reply, content_type):
    """Row: POST recover or recover/ → 200 Updated; no body needed (decision)."""
    headers = {"Accept": accept} if accept else {}
    r = post(grip.api + path, b"", headers)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == content_type
    assert r.content == reply


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["publish/", "recover"])
def test_another_method_is_405_with_allow(grip, method, path):
    """Row: another method on those → 405, Allow: POST, `Method not allowed: GET.\\n`."""
    r = requests.request(method, grip.api + path, timeout=WAIT)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.content == f"Method not allowed: {method}.\n".encode()


@pytest.mark.parametrize("path", ["publishx", "pub", "publish/x", "x/publish/"])
def test_any_other_path_is_404(grip, path):
    """Row: any other path → 404 `Not Found\\n`."""
    r = post(grip.api + path, items(stream_item()))
    assert r.status_code == 404
    assert r.content == b"Not Found\n"


@pytest.mark.parametrize("path", ["", "publish/", "recover/"])
def test_unacceptable_accept_is_406(grip, path):
    """Row: Accept naming no known type → 406, text/plain."""
    r = post(grip.api + path, items(stream_item()), {"Accept": "image/png"})
    assert r.status_code == 406
    assert r.headers["Content-Type"] == "text/plain"
    assert r.content == NOT_ACCEPTABLE


@pytest.mark.parametrize("body, text", [
    (b"", b"Body is not valid JSON.\n"),
    (b"{", b"Body is not valid JSON.\n"),
    (b"[]", b"Invalid format.\n"),
    (b'"items"', b"Invalid format.\n"),
    (b"{}", b"Invalid format: object does not contain 'items'\n"),
    (b'{"items": {}}', b"Invalid format: object contains 'items' with wrong type\n"),
    (b'{"items": "x"}', b"Invalid format: object contains 'items' with wrong type\n"),
])
def test_malformed_bodies_are_400_with_pushpin_texts(grip, body, text):
    """Rows: body not JSON / not an object / no items / items not an array → 400, text/plain
    whatever Accept says."""
    r = post(grip.api + "publish/", body, {"Accept": "application/json"})
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "text/plain"
    assert r.content == text


# The item field and format tables, end to end: one fault each.
ITEM_FAULTS = [
    ("x", "publish item object is not an object"),
    ({}, "publish item object does not contain 'channel'"),
    ({"channel": 5, "http-stream": {"content": ""}},
     "publish item object contains 'channel' with wrong type"),
    ({"channel": "", "http-stream": {"content": ""}},
     "publish item object contains 'channel' with invalid value"),
    ({"channel": "c" * 1025, "http-stream": {"content": ""}},
     "publish item object contains 'channel' with invalid value"),
    ({"channel": "c", "id": 3, "http-stream": {"content": ""}},
     "publish item object contains 'id' with wrong type"),
    ({"channel": "c", "prev-id": 2, "http-stream": {"content": ""}},
     "publish item object contains 'prev-id' with wrong type"),
    ({"channel": "c", "no-seq": "yes", "http-stream": {"content": ""}},
     "publish item object contains 'no-seq' with wrong type"),
    ({"channel": "c"}, "no formats specified"),
    ({"channel": "c", "formats": {}}, "no formats specified"),
    ({"channel": "c", "formats": []}, "publish item object contains 'formats' with wrong type"),
    ({"channel": "c", "http-response": {"action": "refresh"}},
     "'http-response' contains 'action' with unknown value"),
    ({"channel": "c", "http-response": {"code": 1000, "body": ""}},
     "'http-response' contains 'code' with invalid value"),
    ({"channel": "c", "http-response": {"code": "abc", "body": ""}},
     "'http-response' contains 'code' with wrong type"),
    ({"channel": "c", "http-response": {"headers": "x", "body": ""}},
     "'http-response' contains 'headers' with wrong type"),
    ({"channel": "c", "http-response": {"body-bin": "!!"}},
     "'http-response' contains 'body-bin' with invalid value"),
    ({"channel": "c", "http-response": {"body-patch": []}},
     "'http-response' contains 'body-patch', which is not supported"),
    ({"channel": "c", "http-response": {}},
     "'http-response' does not contain 'body', 'body-bin', or 'body-patch'"),
    ({"channel": "c", "http-stream": {}},
     "'http-stream' does not contain 'content' or 'content-bin'"),
    ({"channel": "c", "http-stream": {"action": "x"}},
     "'http-stream' contains 'action' with unknown value"),
]


@pytest.mark.parametrize("item, what", ITEM_FAULTS, ids=[w for _, w in ITEM_FAULTS])
def test_an_invalid_item_is_400_and_nothing_is_delivered(grip, item, what):
    """Row: an invalid item → 400 `Invalid format: <what>\\n`, no item of the request
    delivered (a valid item before it does not reach the channel either)."""
    before = status(grip)["grip_items_published"]
    r = post(grip.api + "publish/", items(stream_item("first"), item))
    assert r.status_code == 400
    assert r.content == f"Invalid format: {what}\n".encode()
    assert status(grip)["grip_items_published"] == before
    assert channel_info(grip.pub_url("first")) is None  # nothing went to its channel


@pytest.mark.parametrize("item", [
    {"channel": "c", "http-response": {"body": "b"}},  # JSON style: formats on the item
    {"channel": "c", "formats": {"http-response": {"code": "204", "body-bin": "aGk="}}},
    {"channel": "c", "formats": {"http-response": {"headers": [["A", "b"]], "body": ""}}},
    {"channel": "c", "formats": {"http-stream": {"action": "close"}}},
    {"channel": "c", "formats": {"ws-message": {"content": "later"}}},  # accepted, ignored
    {"channel": "c", "formats": {"unknown": {}, "http-stream": {"content-bin": ""}}},
    {"channel": "c", "id": "1", "prev-id": "0", "no-seq": True, "meta": {}, "size": 3,
     "formats": {"http-stream": {"content": "x"}}},
], ids=["json-style", "code-string-body-bin", "header-list", "close", "ws-message",
        "unknown-format", "every-field"])
def test_valid_items_publish(grip, item):
    """The item field and format tables: what is accepted."""
    r = post(grip.api + "publish/", items(item))
    assert r.status_code == 200, r.content


def test_body_over_client_max_body_size_is_413(grip):
    """Row: body over client_max_body_size → 413 (64k in this conf)."""
    big = items({"channel": "c", "formats": {"http-stream": {"content": "x" * 70000}}})
    r = post(grip.api + "publish/", big)
    assert r.status_code == 413


def test_a_full_segment_is_507_and_publishes_nothing(pushrelay):
    """Row: the shared segment cannot take the items → 507, text reason, nothing delivered
    (a 1M segment filled with stored push messages; every item of the request is refused)."""
    servers = """
        server {{
            listen 127.0.0.1:{pub};
            location /pub {{ set $push_channel_id $arg_id; push_publisher; }}
            location = /status {{ push_stub_status; }}
            location /grip/ {{ push_grip_publish; }}
        }}
        server {{ listen 127.0.0.1:{sub}; location /sub {{ push_subscriber; }} }}
    """
    server = pushrelay(servers=servers, workers=1,
                       http="push_max_reserved_memory 1M; push_min_message_buffer_length 0;")
    for i in range(200):
        if publish(server.pub_url(f"fill{i}"), os.urandom(48 * 1024)).status_code == 507:
            break
    else:
        raise AssertionError("a 1M segment took 200 messages of 48 KiB")
    body = items(*[{"channel": f"g{i}", "formats": {"http-stream": {"content": "x" * 20000}}}
                   for i in range(3)])
    r = post(f"{server.base_pub}/grip/publish/", body, {"Accept": "application/json"})
    assert r.status_code == 507
    assert r.headers["Content-Type"] == "text/plain"
    assert b"none was published" in r.content
    assert status(server)["grip_items_published"] == 0
    assert all(channel_info(server.pub_url(f"g{i}")) is None for i in range(3))
    assert "[alert]" not in server.error_log


def test_replies_keep_the_connection_alive(grip):
    """Replies keep the connection alive (Pushpin closes after each): one connection, a reply
    of every kind."""
    conn = http.client.HTTPConnection("127.0.0.1", grip.pub, timeout=WAIT)
    try:
        requests_made = [("GET", "/grip/", b"", 200), ("POST", "/grip/publish/",
                         items(stream_item()), 200), ("POST", "/grip/publish/", b"{", 400),
                         ("GET", "/grip/publish/", b"", 405), ("POST", "/grip/nope", b"", 404),
                         ("POST", "/grip/recover", b"", 200)]
        sock = None
        for method, path, body, code in requests_made:
            conn.request(method, path, body=body)
            r = conn.getresponse()
            r.read()
            assert r.status == code, (method, path)
            assert (r.getheader("Connection") or "").lower() != "close"
            sock = sock or conn.sock
            assert conn.sock is sock, "the connection was reopened"
    finally:
        conn.close()


# ---- one namespace, bridged one way ----------------------------------------------------------

def status(server):
    return requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT).json()


def test_an_item_is_not_stored_and_never_reaches_push_subscribers(grip):
    """One namespace: an item POSTed to publish/ is not stored and a push subscriber never sees
    it (a long-poll subscriber on the same channel stays held), while a push_publisher message
    still reaches it."""
    held = Held(grip.sub_url("shared"))
    wait_for_subscribers(grip.pub_url("shared"), 1)
    before = status(grip)
    r = post(grip.api + "publish/", items(
        {"channel": "shared", "formats": {"http-response": {"body": "grip"},
                                          "http-stream": {"content": "grip"}}}))
    assert r.status_code == 200
    info = channel_info(grip.pub_url("shared"))
    assert info["messages"] == 0
    assert info["subscribers"] == 1
    after = status(grip)
    assert after["grip_items_published"] == before["grip_items_published"] + 1
    assert after["messages"] == before["messages"]
    # The push message still goes through, and is stored. Deliveries keep the channel's order,
    # so had the item reached the push subscriber it would have answered with it first.
    assert publish(grip.pub_url("shared"), b"push").status_code == 201
    assert held.result().content == b"push"
    assert channel_info(grip.pub_url("shared"))["messages"] == 1


def test_item_channels_take_the_publish_locations_group(pushrelay):
    """One namespace: the publish location's push_channel_group applies to item channels (the
    item went to group g: the ungrouped channel is untouched)."""
    servers = """
        server {{
            listen 127.0.0.1:{pub};
            location /pub {{ set $push_channel_id $arg_id; push_publisher; }}
            location /gpub {{ set $push_channel_id $arg_id; push_publisher;
                              push_channel_group g; }}
            location /grip/ {{ push_grip_publish; push_channel_group g; }}
        }}
        server {{ listen 127.0.0.1:{sub}; location /sub {{ push_subscriber; }} }}
    """
    server = pushrelay(servers=servers, workers=1)
    assert post(f"{server.base_pub}/grip/publish/", items(stream_item("x"))).status_code == 200
    assert channel_info(f"{server.base_pub}/pub?id=x") is None
    assert channel_info(f"{server.base_pub}/gpub?id=x") == {
        "messages": 0, "requested": -1, "subscribers": 0}


# ---- ordering and de-duplication, through response holds ---------------------------------------

def response_item(channel, body, **fields):
    return {"channel": channel, "formats": {"http-response": {"body": body}}, **fields}


def hold(grip, channels):
    query = "&".join(f"ch={c}" for c in channels)
    return Held(f"{grip.base_pub}/app/hold?{query}")


@pytest.fixture
def holds(grip):
    """Skips while push_grip_proxy locations do not hold yet (501, or the origin never asked)."""
    r = requests.get(f"{grip.base_pub}/app/plain", timeout=WAIT)
    if r.status_code == 501 or not grip.origin.requests:
        pytest.skip("push_grip_proxy does not proxy yet (the proxy work is not merged): "
                    f"GET /app/plain answered {r.status_code}")
    # One connection takes every publish of a test: these tests check the rules; their reach
    # across workers is checked below ("server-wide").
    grip.publisher = requests.Session()
    yield grip
    grip.publisher.close()


def send(grip, url, body):
    return grip.publisher.post(url, data=body, timeout=WAIT)


def held_on(grip, channel, n=1):
    """Waits until n holds count as subscribers of the channel (grip.md: they do)."""
    wait_for_subscribers(grip.pub_url(channel), n)


def test_an_item_reaches_a_response_hold(holds):
    """The publish side end to end: an item answers a hold with its body."""
    h = hold(holds, ["r1"])
    held_on(holds, "r1")
    assert send(holds, holds.api + "publish/", items(response_item("r1", "hello"))).status_code == 200
    assert h.result().content == b"hello"


def test_an_out_of_order_item_waits_for_its_predecessor(holds):
    """Ordering: an item whose prev-id is not L waits; its predecessor goes first, then it.
    Successive holds see 1, 2, 3 although 3 was published before 2."""
    assert send(holds, holds.api + "publish/", items(response_item("o", "1", id="1"))).status_code \
        == 200
    assert send(holds, holds.api + "publish/",
                items(response_item("o", "3", id="3", **{"prev-id": "2"}))).status_code == 200
    h = hold(holds, ["o"])
    held_on(holds, "o")
    assert send(holds, holds.api + "publish/",
                items(response_item("o", "2", id="2", **{"prev-id": "1"}))).status_code == 200
    assert h.result().content == b"2"
    # 3 went out right after 2, before this hold subscribed: GRIP keeps no history, so the
    # next hold gets the next item.
    h = hold(holds, ["o"])
    held_on(holds, "o")
    assert send(holds, holds.api + "publish/",
                items(response_item("o", "4", id="4", **{"prev-id": "3"}))).status_code == 200
    assert h.result().content == b"4", "L did not follow the released item 3"


def test_a_waiting_item_goes_after_the_message_wait(holds):
    """Ordering: with no predecessor, a waiting item goes anyway after push_grip_message_wait
    (2 s in this conf)."""
    assert send(holds, holds.api + "publish/", items(response_item("w", "1", id="1"))).status_code \
        == 200
    h = hold(holds, ["w"])
    held_on(holds, "w")
    started = time.monotonic()
    assert send(holds, holds.api + "publish/",
                items(response_item("w", "late", id="9", **{"prev-id": "8"}))).status_code == 200
    assert h.result().content == b"late"
    assert 1.6 <= time.monotonic() - started < 4


def test_a_repeated_id_is_dropped(holds):
    """De-duplication: an id seen on its channel within push_grip_id_cache_ttl is dropped."""
    assert send(holds, holds.api + "publish/", items(response_item("d", "a", id="x"))).status_code \
        == 200
    h = hold(holds, ["d"])
    held_on(holds, "d")
    assert send(holds, holds.api + "publish/", items(response_item("d", "again", id="x"))).status_code \
        == 200
    assert send(holds, holds.api + "publish/", items(response_item("d", "next", id="y"))).status_code \
        == 200
    assert h.result().content == b"next"


def test_items_of_one_request_go_in_array_order(holds):
    """Ordering: items of one request in array order (the first one answers the hold)."""
    h = hold(holds, ["a1"])
    held_on(holds, "a1")
    r = send(holds, holds.api + "publish/", items(response_item("a1", "first"),
                                           response_item("a1", "second")))
    assert r.status_code == 200
    assert h.result().content == b"first"


def test_recover_forgets_the_last_id_on_every_worker(holds):
    """Reliability `/recover`: every channel's L is forgotten, whichever worker took the recover
    (here a connection of its own, on any worker): an item naming an unknown prev-id then goes
    at once instead of waiting push_grip_message_wait."""
    assert send(holds, holds.api + "publish/", items(response_item("rc", "1", id="1"))) \
        .status_code == 200
    assert post(holds.api + "recover/").status_code == 200
    h = hold(holds, ["rc"])
    held_on(holds, "rc")
    started = time.monotonic()
    assert send(holds, holds.api + "publish/",
                items(response_item("rc", "after", id="5", **{"prev-id": "4"}))).status_code \
        == 200
    assert h.result().content == b"after"
    assert time.monotonic() - started < 1.5, "the item waited: L was not forgotten"


# ---- server-wide: sequencing state in the segment, /recover to every worker, figures ----------
# grip.md "Across workers". Each publish below is sent on a keep-alive connection that a known
# worker accepted, so a test says which worker takes which publish.

class WorkerConnection:
    """A keep-alive connection to the publisher port, and the pid of the worker serving it."""

    def __init__(self, server):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.pub, timeout=WAIT)
        self.request("GET", "/grip/")  # accepted and served: some worker holds it now
        port = self.conn.sock.getsockname()[1]
        self.pid = next(pid for pid, ports in server_sockets_by_worker(server, server.pub).items()
                        if port in ports)

    def request(self, method, path, body=None):
        self.conn.request(method, path, body=body)
        r = self.conn.getresponse()
        return r.status, r.read()

    def publish(self, *published):
        status, body = self.request("POST", "/grip/publish/", items(*published))
        assert status == 200, body
        return status

    def close(self):
        self.conn.close()


CONNECTIONS_TO_REACH_EVERY_WORKER = 200


def connect_to_every_worker(server, opened, n=1):
    """n new WorkerConnections per worker, as a list per worker. Every connection opened is
    appended to `opened` (for the caller to close): spares stay open meanwhile, which is what
    makes the workers' accept balancing hand the next ones to the others."""
    by_worker = {}
    # Bounded, and generous: under CPU load a worker may take a run of connections before the
    # accept balancing (its connection count in the segment) steers the next ones elsewhere.
    for _ in range(CONNECTIONS_TO_REACH_EVERY_WORKER):
        c = WorkerConnection(server)
        opened.append(c)
        mine = by_worker.setdefault(c.pid, [])
        if len(mine) < n:
            mine.append(c)
        if len(by_worker) == server.workers and all(len(v) == n for v in by_worker.values()):
            return list(by_worker.values())
    raise AssertionError(f"{CONNECTIONS_TO_REACH_EVERY_WORKER} connections did not reach every "
                         f"worker {n} times")


@pytest.fixture
def opened():
    connections = []
    yield connections
    for c in connections:
        c.close()


@pytest.fixture
def per_worker(holds, opened):
    """One WorkerConnection per worker of the `holds` server (2), in a list."""
    return [first for first, in connect_to_every_worker(holds, opened)]


def test_publishes_through_two_workers_are_ordered_server_wide(holds, per_worker):
    """Ordering across workers: an item whose predecessor is not out yet, taken by worker A,
    waits for that predecessor published through worker B, then follows at once."""
    a, b = per_worker
    a.publish(response_item("x1", "1", id="1"))
    a.publish(response_item("x1", "3", id="3", **{"prev-id": "2"}))
    h = hold(holds, ["x1"])
    held_on(holds, "x1")
    b.publish(response_item("x1", "2", id="2", **{"prev-id": "1"}))
    assert h.result().content == b"2"
    # 3 went right after 2, released by worker B: L is 3 for every worker.
    h = hold(holds, ["x1"])
    held_on(holds, "x1")
    started = time.monotonic()
    a.publish(response_item("x1", "4", id="4", **{"prev-id": "3"}))
    assert h.result().content == b"4"
    assert time.monotonic() - started < 1.5, "4 waited: L did not follow 3 server-wide"


def test_a_retry_through_another_worker_is_dropped(holds, per_worker):
    """De-duplication across workers: an id published through worker A and again through worker
    B is dropped, and counted on the status page."""
    a, b = per_worker
    before = status(holds)["grip_items_duplicate"]
    a.publish(response_item("x2", "first", id="r"))
    h = hold(holds, ["x2"])
    held_on(holds, "x2")
    b.publish(response_item("x2", "retry", id="r"))
    b.publish(response_item("x2", "next", id="s"))
    assert h.result().content == b"next"
    assert status(holds)["grip_items_duplicate"] == before + 1


def test_a_waiting_item_outlives_the_worker_that_took_it(holds, per_worker):
    """Across workers: an item waiting for its predecessor lives in the segment, so it goes
    after push_grip_message_wait (2 s here) even when the worker that took it was SIGKILLed; the
    status page counts it as waiting meanwhile."""
    a, _ = per_worker
    a.publish(response_item("x3", "1", id="1"))
    started = time.monotonic()
    a.publish(response_item("x3", "late", id="9", **{"prev-id": "8"}))
    assert status(holds)["grip_items_waiting"] == 1
    os.kill(a.pid, signal.SIGKILL)
    wait_until(lambda: a.pid not in holds.worker_pids(), what="the killed worker to go")
    h = hold(holds, ["x3"])
    held_on(holds, "x3")
    assert h.result().content == b"late"
    # The wait, and at most the surviving worker's poll (1 s) on top of it.
    assert 1.6 <= time.monotonic() - started < 4.5
    assert status(holds)["grip_items_waiting"] == 0


def hold_on(connection, channel):
    """A response hold on `channel` through `connection`, so on its worker; in a thread."""
    result = {}

    def run():
        result["answer"] = connection.request("GET", f"/app/hold?ch={channel}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def recover_lines(server, pid):
    return sum(1 for line in server.error_log.splitlines()
               if f" {pid}#" in line and "GRIP recover" in line)


def test_recover_reaches_every_worker(holds, opened):
    """Reliability `/recover`: taken by one worker, every worker holding GRIP requests is told
    (its listener's GRIP recover event, logged per worker), and L is forgotten for all."""
    pairs = connect_to_every_worker(holds, opened, 2)
    a, b = (publisher for publisher, _ in pairs)
    per_worker = [a, b]
    threads = [hold_on(held, "x4") for _, held in pairs]
    held_on(holds, "x4", 2)
    before = {c.pid: recover_lines(holds, c.pid) for c in per_worker}
    a.publish(response_item("x5", "1", id="1"))
    assert post(holds.api + "recover/").status_code == 200
    for c in per_worker:
        wait_until(lambda: recover_lines(holds, c.pid) == before[c.pid] + 1,
                   what=f"worker {c.pid} to log the GRIP recover")
    for thread in threads:  # their hold timeout (3 s) answers them
        thread.join(WAIT)
        assert not thread.is_alive()
    h = hold(holds, ["x5"])
    held_on(holds, "x5")
    started = time.monotonic()
    b.publish(response_item("x5", "after", id="5", **{"prev-id": "4"}))
    assert h.result().content == b"after"
    assert time.monotonic() - started < 1.5, "the item waited: L was not forgotten"


def test_recover_refreshes_the_holds_of_every_worker(holds, opened):
    """Reliability `/recover`: every hold on every worker refreshes; a response hold re-requests
    (its origin answers afresh, here with a plain response)."""
    asked = []

    def once(request):
        asked.append(request.path)
        if len(asked) <= 2:  # the two holds; then their re-requests
            return (200, [("Grip-Hold", "response"), ("Grip-Channel", "x7"),
                          ("Grip-Timeout", "30")], b"timeout\n")
        return (200, [("Content-Type", "text/plain")], b"refreshed")

    holds.origin.routes["/app/once"] = once
    pairs = connect_to_every_worker(holds, opened, 2)
    answers = []
    threads = []
    for _, held in pairs:
        def run(connection=held):
            answers.append(connection.request("GET", "/app/once"))
        threads.append(threading.Thread(target=run, daemon=True))
        threads[-1].start()
    held_on(holds, "x7", 2)
    assert post(holds.api + "recover/").status_code == 200
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "a hold was not refreshed"
    assert len(asked) == 4
    assert answers == [(200, b"refreshed")] * 2


def test_rerequests_and_origin_errors_are_counted_server_wide(holds, per_worker):
    """Status figures: GRIP re-requests (a hint item) and origin errors (an invalid Grip-Hold:
    502), whichever worker holds or proxies, on every worker's status page."""
    calls = []

    def hinted(request):
        calls.append(request.path)
        if len(calls) == 1:
            return (200, [("Grip-Hold", "response"), ("Grip-Channel", "x6")], b"")
        return (200, [], b"fresh")

    holds.origin.routes["/app/hinted"] = hinted
    holds.origin.routes["/app/broken"] = lambda request: (200, [("Grip-Hold", "bogus")], b"")
    before = status(holds)
    h = Held(f"{holds.base_pub}/app/hinted")
    held_on(holds, "x6")
    per_worker[0].publish({"channel": "x6", "formats": {"http-response": {"action": "hint"}}})
    assert h.result().content == b"fresh"
    for c in per_worker:
        assert c.request("GET", "/app/broken")[0] == 502
    for c in per_worker:
        _, body = c.request("GET", "/status?format=json")
        after = json.loads(body)
        assert after["grip_rerequests"] == before["grip_rerequests"] + 1
        assert after["grip_origin_errors"] == before["grip_origin_errors"] + 2
