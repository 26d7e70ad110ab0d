"""Publisher methods: protocol.md "Publisher", and the push_* directives that
decide what is stored (store_messages, buffer lengths, timeouts, recipients)."""
import os
import time

import pytest
import requests

from conftest import WAIT, wait_until
from client import (Held, channel_info, message_count, message_id, publish,
                             wait_for_messages, wait_for_subscribers)

def plain_info(messages, requested, subscribers):
    return (f"queued messages: {messages}\r\nlast requested: {requested} sec. ago (-1=never)\r\n"
            f"active subscribers: {subscribers}").encode()


# ---- POST / PUT --------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_publish_without_subscribers_is_202_with_channel_info(pushrelay, method):
    """Publisher: POST (and PUT as POST) → 202 Accepted when no subscriber got it;
    body: channel info."""
    server = pushrelay()
    r = publish(server.pub_url("p"), b"hello", method=method)
    assert r.status_code == 202
    assert r.headers["Content-Type"] == "text/plain"
    assert r.content == plain_info(1, -1, 0)
    r = publish(server.pub_url("p"), b"again", method=method)
    assert r.status_code == 202
    assert r.content == plain_info(2, -1, 0)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_publish_to_a_held_subscriber_is_201(pushrelay, method):
    """Publisher: POST / PUT → 201 Created if at least one subscriber got it."""
    server = pushrelay()
    held = Held(server.sub_url("p"))
    wait_for_subscribers(server.pub_url("p"), 1)
    r = publish(server.pub_url("p"), b"hello", method=method)
    assert r.status_code == 201
    assert r.content.startswith(b"queued messages: 1\r\n")
    assert held.result().content == b"hello"


def test_publish_body_follows_accept(pushrelay):
    """Publisher: POST → body: channel info, in the format chosen by Accept."""
    server = pushrelay()
    r = publish(server.pub_url("acc"), b"x", {"Accept": "application/json"})
    assert r.status_code == 202
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"messages": 1, "requested": -1, "subscribers": 0}


def test_content_type_travels_with_the_message(pushrelay):
    """Publisher: POST → the request's Content-Type travels with the message."""
    server = pushrelay(mode="interval-poll")
    types = ["application/json", "text/html; charset=utf-8", "image/png", "x-custom/thing"]
    for t in types:
        publish(server.pub_url("ct"), t.encode(), {"Content-Type": t})
    headers = {}
    for t in types:
        r = requests.get(server.sub_url("ct"), headers=headers, timeout=WAIT)
        assert r.content == t.encode()
        assert r.headers["Content-Type"] == t
        headers = message_id(r)


@pytest.mark.parametrize("size", [0, 1, 255, 65536, 1024 * 1024 - 1])
def test_bodies_are_binary_safe(pushrelay, size):
    """Publisher: bodies are binary-safe: any bytes, any length up to the limit,
    byte-exact to every subscriber."""
    server = pushrelay(http="client_max_body_size 1m;")
    body = os.urandom(size)
    if size >= 256:
        body = bytes(range(256)) + body[256:]  # every byte value, NUL included
    assert publish(server.pub_url("bin"), body,
                   {"Content-Type": "application/octet-stream"}).status_code == 202
    r = requests.get(server.sub_url("bin"), timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(size)
    assert r.content == body


def test_chunked_request_body_is_stored_whole(pushrelay):
    """Publisher: POST with a chunked body (Server-wide: chunked request bodies) →
    the whole body is the message."""
    server = pushrelay()
    parts = [b"alpha-", os.urandom(3000), b"-omega"]
    r = requests.post(server.pub_url("chunk"), data=iter(parts), timeout=WAIT)
    assert r.status_code == 202
    assert requests.get(server.sub_url("chunk"), timeout=WAIT).content == b"".join(parts)


# ---- GET / DELETE ------------------------------------------------------------

def test_get_is_200_with_info_or_404_empty(pushrelay):
    """Publisher: GET → 200 + channel info, or 404 (empty body) if there is no
    such channel."""
    server = pushrelay()
    r = requests.get(server.pub_url("none"), timeout=WAIT)
    assert r.status_code == 404
    assert r.content == b""
    publish(server.pub_url("some"), b"x")
    r = requests.get(server.pub_url("some"), timeout=WAIT)
    assert r.status_code == 200
    assert r.content == plain_info(1, -1, 0)
    # A GET does not create the channel.
    assert requests.get(server.pub_url("none"), timeout=WAIT).status_code == 404


def test_delete_is_200_then_channel_and_messages_are_gone(pushrelay):
    """Publisher: DELETE → 200 + channel info; the channel and its messages are
    gone; 404 if absent."""
    server = pushrelay(mode="interval-poll")
    publish(server.pub_url("del"), b"one")
    publish(server.pub_url("del"), b"two")
    r = requests.delete(server.pub_url("del"), timeout=WAIT)
    assert r.status_code == 200
    assert r.content.startswith(b"queued messages: ")
    assert requests.get(server.pub_url("del"), timeout=WAIT).status_code == 404
    assert requests.get(server.sub_url("del"), timeout=WAIT).status_code == 304
    r = requests.delete(server.pub_url("never"), timeout=WAIT)
    assert r.status_code == 404


def test_delete_sends_410_to_every_held_subscriber(pushrelay):
    """Publisher: DELETE → every held subscriber gets 410."""
    server = pushrelay()
    held = [Held(server.sub_url("del410")) for _ in range(3)]
    wait_for_subscribers(server.pub_url("del410"), 3)
    assert requests.delete(server.pub_url("del410"), timeout=WAIT).status_code == 200
    assert [h.result().status_code for h in held] == [410] * 3
    assert requests.get(server.pub_url("del410"), timeout=WAIT).status_code == 404


# ---- OPTIONS / 405 / 413 / 400s ----------------------------------------------

def test_options_gives_the_cors_headers(pushrelay):
    """Publisher: OPTIONS → 200, CORS headers, Allow-Methods: GET, POST, PUT,
    DELETE, OPTIONS, -Allow-Headers: Content-Type, Origin."""
    server = pushrelay()
    r = requests.options(server.pub_url("opt"), timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE, OPTIONS"
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, Origin"


@pytest.mark.parametrize("method", ["PATCH", "PROPFIND", "TRACE"])
def test_other_methods_are_405_with_allow(pushrelay, method):
    """Publisher: other → 405, `Allow: GET, POST, PUT, DELETE, OPTIONS`."""
    server = pushrelay()
    r = requests.request(method, server.pub_url("m405"), timeout=WAIT)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST, PUT, DELETE, OPTIONS"
    assert requests.get(server.pub_url("m405"), timeout=WAIT).status_code == 404


def test_body_over_client_max_body_size_is_413_and_stores_nothing(pushrelay):
    """Publisher: a body over client_max_body_size gets 413 and stores nothing."""
    server = pushrelay(http="client_max_body_size 1k;")
    assert publish(server.pub_url("big"), b"k" * 1024).status_code == 202
    r = publish(server.pub_url("big"), b"x" * 1025)
    assert r.status_code == 413
    assert message_count(server.pub_url("big")) == 1
    assert publish(server.pub_url("fresh"), b"y" * 4096).status_code == 413
    assert channel_info(server.pub_url("fresh")) in (None, {"messages": 0, "requested": -1,
                                                            "subscribers": 0})
    assert requests.get(server.sub_url("big"), timeout=WAIT).content == b"k" * 1024


def test_no_channel_id_on_the_publisher_is_400(pushrelay):
    """Subscriber: no channel id / empty id → 400 `No channel id provided.`; the
    publisher uses the same channel id rule (the module sent 404 on both)."""
    server = pushrelay()
    for url in (f"{server.base_pub}/pub", f"{server.base_pub}/pub?id="):
        r = publish(url, b"x")
        assert r.status_code == 400
        assert r.text == "No channel id provided."


# ---- message/http ------------------------------------------------------------

def test_message_http_sets_status_headers_and_body(pushrelay):
    """Publisher: Content-Type message/http → subscribers receive that status,
    those headers and that body."""
    server = pushrelay(mode="interval-poll")
    inner = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Relay-Test: yes\r\n\r\n"
             b'{"a": 1}')
    assert publish(server.pub_url("mh"), inner, {"Content-Type": "message/http"}).status_code \
        == 202
    r = requests.get(server.sub_url("mh"), timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Relay-Test"] == "yes"
    assert r.content == b'{"a": 1}'
    assert r.headers["Content-Length"] == "8"
    assert r.headers["Etag"] == "0"


def test_message_http_status_travels_to_a_held_subscriber(pushrelay):
    """Publisher: Content-Type message/http → subscribers receive that status."""
    server = pushrelay()
    held = Held(server.sub_url("mh"))
    wait_for_subscribers(server.pub_url("mh"), 1)
    inner = b"HTTP/1.1 203 Non-Authoritative Information\r\nX-From: relay\r\n\r\npayload"
    assert publish(server.pub_url("mh"), inner, {"Content-Type": "message/http"}).status_code \
        == 201
    r = held.result()
    assert r.status_code == 203
    assert r.headers["X-From"] == "relay"
    assert r.content == b"payload"


@pytest.mark.parametrize("body", [b"not an http response", b"HTTP/1.1 200 OK\r\nBroken header",
                                  b"", b"HTTP/1.1 abc OK\r\n\r\nx"])
def test_malformed_message_http_is_400(pushrelay, body):
    """Publisher: a malformed message/http body gets 400 at publish time."""
    server = pushrelay()
    r = publish(server.pub_url("bad"), body, {"Content-Type": "message/http"})
    assert r.status_code == 400
    assert channel_info(server.pub_url("bad")) in (None, {"messages": 0, "requested": -1,
                                                          "subscribers": 0})


@pytest.mark.parametrize("content_type", ["Message/HTTP", "MESSAGE/http; msgtype=response"])
def test_message_http_is_recognised_in_any_case(pushrelay, content_type):
    """Publisher: media types are case-insensitive (RFC 9110): a malformed body sent as
    Message/HTTP is refused at publish time, and a valid one is unpacked on delivery."""
    server = pushrelay()
    assert publish(server.pub_url("case"), b"not an http response",
                   {"Content-Type": content_type}).status_code == 400
    inner = b"HTTP/1.1 203 Relayed\r\nX-From: relay\r\n\r\npayload"
    assert publish(server.pub_url("case"), inner, {"Content-Type": content_type}).status_code \
        == 202
    r = requests.get(server.sub_url("case"), timeout=WAIT)
    assert r.status_code == 203
    assert r.headers["X-From"] == "relay"
    assert r.content == b"payload"


# ---- 507 ---------------------------------------------------------------------

def test_full_segment_is_507_and_recovers_after_delete(pushrelay):
    """Publisher: when the segment is full a publish gets 507 Insufficient
    Storage with a text reason; nothing already stored is harmed; publishing
    works again once messages are deleted."""
    server = pushrelay(http="push_max_reserved_memory 2m; client_max_body_size 1m; "
                            "push_max_message_buffer_length 100;")
    bodies = []
    status = None
    for i in range(20):
        body = os.urandom(256 * 1024)
        status = publish(server.pub_url(f"fill{i}"), body)
        if status.status_code == 507:
            break
        assert status.status_code == 202
        bodies.append(body)
    assert status.status_code == 507
    assert status.text.strip() != ""
    assert bodies, "not even one message fitted"
    for i, body in enumerate(bodies):
        assert requests.get(server.sub_url(f"fill{i}"), timeout=WAIT).content == body
    for i in range(len(bodies)):
        assert requests.delete(server.pub_url(f"fill{i}"), timeout=WAIT).status_code == 200
    body = os.urandom(256 * 1024)
    assert publish(server.pub_url("after"), body).status_code == 202
    assert requests.get(server.sub_url("after"), timeout=WAIT).content == body


# ---- push_* directives: what is stored ---------------------------------------

def test_store_messages_off_delivers_only_to_waiting_subscribers(pushrelay):
    """Directive push_store_messages off: deliver to waiting subscribers only,
    store nothing."""
    server = pushrelay(http="push_store_messages off;")
    r = publish(server.pub_url("ns"), b"lost")
    assert r.status_code == 202
    assert r.content.startswith(b"queued messages: 0\r\n")
    held = Held(server.sub_url("ns"))
    wait_for_subscribers(server.pub_url("ns"), 1)
    assert publish(server.pub_url("ns"), b"live").status_code == 201
    assert held.result().content == b"live"
    assert channel_info(server.pub_url("ns"))["messages"] == 0


def test_max_message_buffer_length_drops_the_oldest(pushrelay):
    """Directive push_max_message_buffer_length: at most this many; the oldest
    goes first."""
    server = pushrelay(http="push_max_message_buffer_length 3;")
    for i in range(5):
        publish(server.pub_url("max"), f"m{i}".encode())
    assert message_count(server.pub_url("max")) == 3
    assert requests.get(server.sub_url("max"), timeout=WAIT).content == b"m2"


def test_default_max_message_buffer_length_is_10(pushrelay):
    """Directive push_max_message_buffer_length: default 10."""
    server = pushrelay()
    for i in range(12):
        publish(server.pub_url("ten"), f"m{i}".encode())
    assert message_count(server.pub_url("ten")) == 10
    assert requests.get(server.sub_url("ten"), timeout=WAIT).content == b"m2"


def test_message_buffer_length_sets_min_and_max(pushrelay):
    """Directive push_message_buffer_length: sets min = max (at most n stored, and
    count-based removal never goes below n)."""
    server = pushrelay(mode="interval-poll",
                       http="push_message_buffer_length 2; push_min_message_recipients 1;")
    for i in range(4):
        publish(server.pub_url("exact"), f"m{i}".encode())
    assert message_count(server.pub_url("exact")) == 2
    m2 = requests.get(server.sub_url("exact"), timeout=WAIT)
    assert m2.content == b"m2"
    m3 = requests.get(server.sub_url("exact"), headers=message_id(m2), timeout=WAIT)
    assert m3.content == b"m3"
    publish(server.pub_url("exact"), b"m4")
    # m3 was received as often as push_min_message_recipients asks, but the
    # minimum of 2 keeps it (with a minimum of 1 it would go).
    assert message_count(server.pub_url("exact")) == 2
    assert requests.get(server.sub_url("exact"), timeout=WAIT).content == b"m3"


def assert_stays(predicate, seconds, what):
    """Polls predicate through a bounded window longer than the timeout under
    test: it must hold every time. (Nothing happening is not an event one can
    await, so this is an observation window, not synchronisation.)"""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), what
        time.sleep(0.1)


def assert_messages_stay(pub_url, n, seconds):
    assert_stays(lambda: message_count(pub_url) == n, seconds, f"{n} messages stay")


def test_message_timeout_beats_min_message_buffer_length(pushrelay):
    """Directive push_min_message_buffer_length: kept against count-based removal,
    never against expiry (decision); push_message_timeout: once expired a message
    is neither served nor counted; push_channel_timeout: the channel expiry
    emptied goes after this."""
    server = pushrelay(mode="interval-poll",
                       http="push_min_message_buffer_length 2; push_message_timeout 1s; "
                            "push_channel_timeout 1s;")
    publish(server.pub_url("min"), b"m0")
    publish(server.pub_url("min"), b"m1")
    assert message_count(server.pub_url("min")) == 2
    wait_until(lambda: message_count(server.pub_url("min")) in (0, None),
               what="both messages to expire, below the minimum")
    assert requests.get(server.sub_url("min"), timeout=WAIT).status_code == 304
    wait_until(lambda: channel_info(server.pub_url("min")) is None,
               what="the channel expiry emptied to go")


def test_message_timeout_expires_messages(pushrelay):
    """Directive push_message_timeout: a message expires after this."""
    server = pushrelay(mode="interval-poll",
                       http="push_message_timeout 1s; push_min_message_buffer_length 0;")
    publish(server.pub_url("to"), b"short-lived")
    assert requests.get(server.sub_url("to"), timeout=WAIT).status_code == 200
    wait_until(lambda: message_count(server.pub_url("to")) in (0, None),
               what="the message to expire")
    assert requests.get(server.sub_url("to"), timeout=WAIT).status_code == 304


def test_message_timeout_0_never_expires(pushrelay):
    """Directive push_message_timeout: 0 = never."""
    server = pushrelay(http="push_message_timeout 0; push_min_message_buffer_length 0;")
    publish(server.pub_url("never"), b"forever")
    assert_messages_stay(server.pub_url("never"), 1, seconds=2.0)


def test_channel_timeout_removes_an_empty_channel(pushrelay):
    """Directive push_channel_timeout: an empty channel (no message, no
    subscriber) is removed after this."""
    server = pushrelay(http="push_channel_timeout 1s; push_message_timeout 1s; "
                            "push_min_message_buffer_length 0;")
    publish(server.pub_url("ct"), b"x")
    assert channel_info(server.pub_url("ct")) is not None
    wait_until(lambda: channel_info(server.pub_url("ct")) is None, what="the channel to go")


def test_channel_timeout_keeps_a_channel_with_a_message(pushrelay):
    """Directive push_channel_timeout: only an empty channel is removed."""
    server = pushrelay(http="push_channel_timeout 1s;")
    publish(server.pub_url("keep"), b"x")
    assert_messages_stay(server.pub_url("keep"), 1, seconds=2.5)


def test_channel_timeout_keeps_a_channel_with_a_held_subscriber(pushrelay):
    """Directive push_channel_timeout: a channel with a subscriber is not empty."""
    server = pushrelay(http="push_channel_timeout 1s;")
    held = Held(server.sub_url("sub"))
    wait_for_subscribers(server.pub_url("sub"), 1)
    assert_stays(lambda: (channel_info(server.pub_url("sub")) or {}).get("subscribers") == 1,
                 2.5, "the channel and its subscriber stay")
    assert publish(server.pub_url("sub"), b"still here").status_code == 201
    assert held.result().content == b"still here"


def test_min_message_recipients_drops_after_n_receipts(pushrelay):
    """Directive push_min_message_recipients: a message above min length is
    dropped once received n times (the module checks the oldest message when
    the next one is published, so the test looks after a publish)."""
    server = pushrelay(mode="interval-poll",
                       http="push_min_message_recipients 2; push_min_message_buffer_length 0;")
    publish(server.pub_url("rc"), b"a")
    assert requests.get(server.sub_url("rc"), timeout=WAIT).content == b"a"
    publish(server.pub_url("rc"), b"b")
    assert message_count(server.pub_url("rc")) == 2  # "a" was received once only
    assert requests.get(server.sub_url("rc"), timeout=WAIT).content == b"a"
    publish(server.pub_url("rc"), b"c")
    assert message_count(server.pub_url("rc")) == 2  # "a" went after its 2nd receipt
    assert requests.get(server.sub_url("rc"), timeout=WAIT).content == b"b"


def test_min_message_recipients_keeps_min_length(pushrelay):
    """Directive push_min_message_recipients: only a message above min length is
    dropped."""
    server = pushrelay(mode="interval-poll", http="push_min_message_recipients 1;")
    publish(server.pub_url("rc"), b"kept")
    for _ in range(3):
        assert requests.get(server.sub_url("rc"), timeout=WAIT).content == b"kept"
    assert message_count(server.pub_url("rc")) == 1


def test_delete_oldest_received_message(pushrelay):
    """Directive push_delete_oldest_received_message on: drop the oldest message
    once delivered if above min length."""
    server = pushrelay(mode="interval-poll",
                       http="push_delete_oldest_received_message on; "
                            "push_min_message_buffer_length 1;")
    for body in (b"a", b"b", b"c"):
        publish(server.pub_url("do"), body)
    a = requests.get(server.sub_url("do"), timeout=WAIT)
    assert a.content == b"a"
    assert message_count(server.pub_url("do")) == 2
    b = requests.get(server.sub_url("do"), headers=message_id(a), timeout=WAIT)
    assert b.content == b"b"
    assert message_count(server.pub_url("do")) == 1
    c = requests.get(server.sub_url("do"), headers=message_id(b), timeout=WAIT)
    assert c.content == b"c"
    assert message_count(server.pub_url("do")) == 1


def test_publisher_responses_carry_allow_origin(pushrelay):
    """Directive push_allow_origin: default `*`, on OPTIONS and on every response."""
    server = pushrelay()
    for r in (publish(server.pub_url("o"), b"x"), requests.get(server.pub_url("o"), timeout=WAIT),
              requests.delete(server.pub_url("o"), timeout=WAIT)):
        assert r.headers.get("Access-Control-Allow-Origin") == "*"
