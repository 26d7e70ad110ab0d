"""Subscriber GET: protocol.md "Message identity" and "Subscriber (GET)", both
long-poll and interval-poll columns, and the push_* directives that act on
subscribers.

The client helpers (publish, channel_info, Held, ...) live in client.py.
"""
import socket
import time

import pytest
import requests

from client import (Held, assert_cors, channel_info, http_date, message_count, message_id,
                    parse_http_date, publish, subscriber_count, wait_for_messages,
                    wait_for_subscribers)
from conftest import WAIT, wait_until

MODES = ["long-poll", "interval-poll"]

VARY = "If-None-Match, If-Modified-Since"

# One publisher location and two subscriber locations (long-poll at /sub,
# interval-poll at /isub) on the same channels.
BOTH_MODES_SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub {{
            set $push_channel_id $arg_id;
            push_publisher;
            {pub_extra}
        }}
    }}
    server {{
        listen 127.0.0.1:{sub};
        location /sub {{
            set $push_channel_id $arg_id;
            push_subscriber long-poll;
            {sub_extra}
        }}
        location /isub {{
            set $push_channel_id $arg_id;
            push_subscriber interval-poll;
            {sub_extra}
        }}
    }}
"""


# ---- Subscriber: a message matches ------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_a_matching_message_is_200_with_its_headers(pushrelay, mode):
    """Subscriber: a message matches → 200: body, the publisher's Content-Type,
    Last-Modified, Etag, Vary, exact Content-Length (both columns)."""
    server = pushrelay(mode=mode)
    body = b'{"hello": "world"}'
    before = int(time.time())
    assert publish(server.pub_url("m"), body, {"Content-Type": "application/json"}).status_code \
        == 202
    r = requests.get(server.sub_url("m"), timeout=WAIT)
    assert r.status_code == 200
    assert r.content == body
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Content-Length"] == str(len(body))
    assert r.headers["Vary"] == VARY
    assert before <= parse_http_date(r.headers["Last-Modified"]) <= time.time() + 1
    assert r.headers["Etag"] == "0"
    assert_cors(r)


@pytest.mark.parametrize("mode", MODES)
def test_no_content_type_means_default_type(pushrelay, mode):
    """Subscriber: a message matches → Content-Type none: default_type, text/plain."""
    server = pushrelay(mode=mode)
    publish(server.pub_url("plain"), b"x")
    r = requests.get(server.sub_url("plain"), timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize("mode", MODES)
def test_configured_default_type_applies_when_publisher_sends_none(pushrelay, mode):
    """Subscriber: a message matches → Content-Type none: `default_type`."""
    server = pushrelay(mode=mode, http="default_type application/octet-stream;")
    publish(server.pub_url("dt"), b"x")
    r = requests.get(server.sub_url("dt"), timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"


# ---- Subscriber: nothing newer yet ------------------------------------------

def test_long_poll_is_held_until_a_message_is_published(pushrelay):
    """Subscriber: nothing newer yet / long-poll → held until a message is
    published, then the same 200."""
    server = pushrelay()
    held = Held(server.sub_url("wait"))
    wait_for_subscribers(server.pub_url("wait"), 1)
    assert not held.done()
    r = publish(server.pub_url("wait"), b"news", {"Content-Type": "text/x-news"})
    assert r.status_code == 201
    got = held.result()
    assert got.status_code == 200
    assert got.content == b"news"
    assert got.headers["Content-Type"] == "text/x-news"
    assert got.headers["Etag"] == "0"
    assert got.headers["Vary"] == VARY
    assert_cors(got)


def test_long_poll_with_the_latest_id_is_held_for_the_next(pushrelay):
    """Subscriber: nothing newer yet / long-poll (after the last stored message) →
    held until the next message is published."""
    server = pushrelay()
    publish(server.pub_url("next"), b"one")
    first = requests.get(server.sub_url("next"), timeout=WAIT)
    assert first.content == b"one"
    held = Held(server.sub_url("next"), message_id(first))
    wait_for_subscribers(server.pub_url("next"), 1)
    assert publish(server.pub_url("next"), b"two").status_code == 201
    assert held.result().content == b"two"


def test_interval_poll_answers_304_echoing_the_id(pushrelay):
    """Subscriber: nothing newer yet / interval-poll → 304, echoing Last-Modified
    and Etag."""
    server = pushrelay(mode="interval-poll")
    publish(server.pub_url("ip"), b"one")
    first = requests.get(server.sub_url("ip"), timeout=WAIT)
    assert first.status_code == 200
    again = requests.get(server.sub_url("ip"), headers=message_id(first), timeout=WAIT)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert again.headers["Etag"] == first.headers["Etag"]
    assert_cors(again)


def test_interval_poll_on_an_empty_channel_is_304(pushrelay):
    """Subscriber: nothing newer yet (no message at all) / interval-poll → 304."""
    server = pushrelay(mode="interval-poll")
    r = requests.get(server.sub_url("empty"), timeout=WAIT)
    assert r.status_code == 304
    assert r.content == b""


# ---- Subscriber: the requested message expired or was dropped ---------------

@pytest.mark.parametrize("mode", MODES)
def test_a_dropped_message_gives_the_oldest_stored(pushrelay, mode):
    """Subscriber: the requested message expired or was dropped → the oldest
    stored message (decision: not the module's 204)."""
    server = pushrelay(mode=mode, http="push_message_buffer_length 2;")
    publish(server.pub_url("drop"), b"a")
    a = requests.get(server.sub_url("drop"), timeout=WAIT)
    assert a.content == b"a"
    for body in (b"b", b"c", b"d"):
        publish(server.pub_url("drop"), body)
    assert message_count(server.pub_url("drop")) == 2
    r = requests.get(server.sub_url("drop"), headers=message_id(a), timeout=WAIT)
    assert r.status_code == 200
    assert r.content == b"c"


# The same channel through two publisher locations: /pub-short's messages
# expire after 1s, /pub's after the default hour.
SHORT_AND_LONG_TIMEOUT_SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub {{ set $push_channel_id $arg_id; push_publisher; }}
        location /pub-short {{
            set $push_channel_id $arg_id; push_publisher; push_message_timeout 1s;
        }}
    }}
    server {{
        listen 127.0.0.1:{sub};
        location /sub {{ set $push_channel_id $arg_id; push_subscriber {mode}; }}
    }}
"""


@pytest.mark.parametrize("mode", MODES)
def test_an_expired_message_gives_the_oldest_stored(pushrelay, mode):
    """Subscriber: the requested message expired → the oldest stored message."""
    server = pushrelay(mode=mode, servers=SHORT_AND_LONG_TIMEOUT_SERVERS)
    publish(f"{server.base_pub}/pub-short?id=exp", b"old")
    old = requests.get(server.sub_url("exp"), timeout=WAIT)
    assert old.content == b"old"
    publish(server.pub_url("exp"), b"new")
    publish(server.pub_url("exp"), b"newer")
    wait_for_messages(server.pub_url("exp"), 2)
    r = requests.get(server.sub_url("exp"), headers=message_id(old), timeout=WAIT)
    assert r.status_code == 200
    assert r.content == b"new"


@pytest.mark.parametrize("mode", MODES)
def test_a_message_expiring_behind_a_live_one_is_skipped(pushrelay, mode):
    """Subscriber: a message that expired is never served, even while an older
    message that expires later is still stored (push_message_timeout: once
    expired it is neither served nor counted)."""
    server = pushrelay(mode=mode, servers=SHORT_AND_LONG_TIMEOUT_SERVERS)
    publish(server.pub_url("behind"), b"long")
    publish(f"{server.base_pub}/pub-short?id=behind", b"short")
    publish(server.pub_url("behind"), b"long too")
    first = requests.get(server.sub_url("behind"), timeout=WAIT)
    assert first.content == b"long"
    wait_for_messages(server.pub_url("behind"), 2)
    r = requests.get(server.sub_url("behind"), headers=message_id(first), timeout=WAIT)
    assert r.status_code == 200
    assert r.content == b"long too"


# ---- Subscriber: deleted while held, 403s, 409s, timeout ---------------------

def test_channel_deleted_while_held_is_410(pushrelay):
    """Subscriber: channel deleted while held / long-poll → 410 Gone."""
    server = pushrelay()
    held = Held(server.sub_url("gone"))
    wait_for_subscribers(server.pub_url("gone"), 1)
    assert requests.delete(server.pub_url("gone"), timeout=WAIT).status_code == 200
    r = held.result()
    assert r.status_code == 410
    assert_cors(r)


@pytest.mark.parametrize("mode", MODES)
def test_authorized_channels_only_refuses_unknown_channels(pushrelay, mode):
    """Subscriber: push_authorized_channels_only on and no channel → 403; once a
    publisher has created it, subscribing works."""
    server = pushrelay(mode=mode, sub_extra="push_authorized_channels_only on;")
    r = requests.get(server.sub_url("auth"), timeout=WAIT)
    assert r.status_code == 403
    assert_cors(r)
    assert channel_info(server.pub_url("auth")) is None
    publish(server.pub_url("auth"), b"ok")
    r = requests.get(server.sub_url("auth"), timeout=WAIT)
    assert r.status_code == 200
    assert r.content == b"ok"


@pytest.mark.parametrize("path", ["/sub", "/isub"])
def test_max_channel_subscribers_reached_is_403(pushrelay, path):
    """Subscriber: push_max_channel_subscribers reached → 403 (long-poll and
    interval-poll)."""
    server = pushrelay(servers=BOTH_MODES_SERVERS, sub_extra="push_max_channel_subscribers 1;")
    held = Held(f"{server.base_sub}/sub?id=max")
    wait_for_subscribers(server.pub_url("max"), 1)
    r = requests.get(f"{server.base_sub}{path}?id=max", timeout=WAIT)
    assert r.status_code == 403
    assert_cors(r)
    assert subscriber_count(server.pub_url("max")) == 1
    assert publish(server.pub_url("max"), b"m").status_code == 201
    assert held.result().status_code == 200


def test_concurrency_first_refuses_the_newcomer_with_409(pushrelay):
    """Subscriber: concurrency `first`, a subscriber already waits → the new one:
    409 Conflict."""
    server = pushrelay(sub_extra="push_subscriber_concurrency first;")
    first = Held(server.sub_url("first"))
    wait_for_subscribers(server.pub_url("first"), 1)
    second = requests.get(server.sub_url("first"), timeout=WAIT)
    assert second.status_code == 409
    assert_cors(second)
    assert not first.done()
    assert publish(server.pub_url("first"), b"to-first").status_code == 201
    assert first.result().content == b"to-first"


def test_concurrency_last_evicts_the_earlier_with_409(pushrelay):
    """Subscriber: concurrency `last` → every earlier waiting subscriber: 409."""
    server = pushrelay(sub_extra="push_subscriber_concurrency last;")
    earlier = Held(server.sub_url("last"))
    wait_for_subscribers(server.pub_url("last"), 1)
    later = Held(server.sub_url("last"))
    r = earlier.result()
    assert r.status_code == 409
    assert_cors(r)
    wait_for_subscribers(server.pub_url("last"), 1)
    assert publish(server.pub_url("last"), b"to-last").status_code == 201
    assert later.result().content == b"to-last"


def test_concurrency_broadcast_holds_everyone(pushrelay):
    """Directive push_subscriber_concurrency: default broadcast → every waiting
    subscriber gets the message."""
    server = pushrelay()
    held = [Held(server.sub_url("bc")) for _ in range(3)]
    wait_for_subscribers(server.pub_url("bc"), 3)
    assert publish(server.pub_url("bc"), b"all").status_code == 201
    assert [h.result().content for h in held] == [b"all"] * 3


def test_subscriber_timeout_is_304(pushrelay):
    """Subscriber: push_subscriber_timeout passes / long-poll → 304 Not Modified."""
    server = pushrelay(sub_extra="push_subscriber_timeout 1s;")
    started = time.monotonic()
    r = requests.get(server.sub_url("st"), timeout=WAIT)
    elapsed = time.monotonic() - started
    assert r.status_code == 304
    assert 0.5 <= elapsed < WAIT
    assert_cors(r)
    # The channel this subscriber made, never published to, goes with it (was: stayed with 0).
    wait_until(lambda: channel_info(server.pub_url("st")) is None, what="the channel to go")


# ---- Subscriber: 400, OPTIONS, 405 -------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", ["", "?id=", "?other=1"])
def test_no_channel_id_is_400(pushrelay, mode, query):
    """Subscriber: no channel id / empty id → 400 `No channel id provided.`"""
    server = pushrelay(mode=mode)
    r = requests.get(f"{server.base_sub}/sub{query}", timeout=WAIT)
    assert r.status_code == 400
    assert r.text == "No channel id provided."
    assert_cors(r)


@pytest.mark.parametrize("mode", MODES)
def test_options_gives_the_cors_headers(pushrelay, mode):
    """Subscriber: OPTIONS → 200, Access-Control-Allow-Origin, -Allow-Headers,
    -Allow-Methods: GET, OPTIONS, -Max-Age."""
    server = pushrelay(mode=mode)
    r = requests.options(server.sub_url("opt"), headers={"Origin": "http://page.test"},
                         timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Headers"] == \
        "If-None-Match, If-Modified-Since, Cache-Control, Origin, Etag"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    assert int(r.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_with_allow(pushrelay, mode, method):
    """Subscriber: any other method → 405, `Allow: GET, OPTIONS`."""
    server = pushrelay(mode=mode)
    r = requests.request(method, server.sub_url("m405"), data=b"x", timeout=WAIT)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, OPTIONS"
    assert_cors(r)


def test_a_closed_held_client_is_forgotten(pushrelay):
    """Subscriber: a client that closes while held is forgotten at once (counts
    stay right)."""
    server = pushrelay()
    request = f"GET /sub?id=bye HTTP/1.1\r\nHost: 127.0.0.1:{server.sub}\r\n\r\n".encode()
    sockets = [socket.create_connection(("127.0.0.1", server.sub), timeout=WAIT) for _ in range(3)]
    for s in sockets:
        s.sendall(request)
    wait_for_subscribers(server.pub_url("bye"), 3)
    sockets.pop().close()
    wait_for_subscribers(server.pub_url("bye"), 2)
    for s in sockets:
        s.close()
    wait_for_subscribers(server.pub_url("bye"), 0)
    assert publish(server.pub_url("bye"), b"nobody").status_code == 202


# ---- Message identity --------------------------------------------------------

def fetch_all(session, url, n):
    """Iterates a channel from its oldest message, sending each id back; returns
    the n responses."""
    responses = []
    headers = {}
    for _ in range(n):
        r = session.get(url, headers=headers, timeout=WAIT)
        assert r.status_code == 200, r.status_code
        responses.append(r)
        headers = message_id(r)
    return responses


def publish_within_one_second(server, prefix, n):
    """Publishes n messages quickly to a fresh channel until all n fall in one
    second (bounded retries); returns (channel, their responses in order)."""
    session = requests.Session()
    for attempt in range(5):
        channel = f"{prefix}{attempt}"
        for i in range(n):
            assert publish(server.pub_url(channel), f"m{i}".encode(), session=session) \
                .status_code == 202
        responses = fetch_all(session, server.sub_url(channel), n)
        assert [r.content for r in responses] == [f"m{i}".encode() for i in range(n)]
        if len({r.headers["Last-Modified"] for r in responses}) == 1:
            return channel, responses
    pytest.fail(f"{n} publishes never fell within one second")


def test_tags_count_up_within_one_second(pushrelay):
    """Message identity: the tag is the previous message's tag + 1 when both share
    a second → five messages in one second carry Etag 0..4."""
    server = pushrelay(mode="interval-poll")
    _, responses = publish_within_one_second(server, "tags", 5)
    assert [r.headers["Etag"] for r in responses] == ["0", "1", "2", "3", "4"]


def test_tag_restarts_at_zero_in_a_new_second(pushrelay):
    """Message identity: the tag is 0 when the previous message has another time;
    search finds the first stored message with a later time."""
    server = pushrelay(mode="interval-poll")
    publish(server.pub_url("sec"), b"a")
    publish(server.pub_url("sec"), b"b")
    a, b = fetch_all(requests.Session(), server.sub_url("sec"), 2)
    second_of_b = parse_http_date(b.headers["Last-Modified"])
    wait_until(lambda: time.time() >= second_of_b + 1, what="the next second")
    publish(server.pub_url("sec"), b"c")
    c = requests.get(server.sub_url("sec"), headers=message_id(b), timeout=WAIT)
    assert c.content == b"c"
    assert c.headers["Etag"] == "0"
    assert parse_http_date(c.headers["Last-Modified"]) > second_of_b
    # Same time as b with any greater tag: nothing more in b's second, so the
    # later-time message c is next.
    r = requests.get(server.sub_url("sec"), timeout=WAIT, headers={
        "If-Modified-Since": b.headers["Last-Modified"], "If-None-Match": "99"})
    assert r.content == b"c"
    assert a.content == b"a"


@pytest.mark.parametrize("etag", ['"2"', "2"])
def test_if_none_match_quoted_or_not_names_the_tag(pushrelay, etag):
    """Message identity: sending back If-Modified-Since / If-None-Match asks for
    the next message; a quoted If-None-Match "3" means tag 3 (decision)."""
    server = pushrelay(mode="interval-poll")
    channel, responses = publish_within_one_second(server, "quoted", 5)
    r = requests.get(server.sub_url(channel), timeout=WAIT, headers={
        "If-Modified-Since": responses[0].headers["Last-Modified"], "If-None-Match": etag})
    assert r.status_code == 200
    assert r.content == b"m3"
    assert r.headers["Etag"] == "3"


@pytest.mark.parametrize("mode", MODES)
def test_no_if_modified_since_asks_for_the_oldest(pushrelay, mode):
    """Message identity: no If-Modified-Since asks for the oldest stored message."""
    server = pushrelay(mode=mode)
    for body in (b"first", b"second", b"third"):
        publish(server.pub_url("oldest"), body)
    for _ in range(2):
        r = requests.get(server.sub_url("oldest"), timeout=WAIT)
        assert r.status_code == 200
        assert r.content == b"first"


def test_search_semantics(pushrelay):
    """Message identity: search → the first stored message with a later time, or
    the same time and a greater tag; nothing newer → 304 (interval-poll)."""
    server = pushrelay(mode="interval-poll")
    channel, responses = publish_within_one_second(server, "search", 4)
    url = server.sub_url(channel)
    same_second = responses[0].headers["Last-Modified"]

    def get(since, tag=None):
        headers = {"If-Modified-Since": since}
        if tag is not None:
            headers["If-None-Match"] = tag
        return requests.get(url, headers=headers, timeout=WAIT)

    assert get(http_date(946684800)).content == b"m0"  # long before: the oldest
    assert get(same_second, "0").content == b"m1"
    assert get(same_second, "1").content == b"m2"
    assert get(same_second, "2").content == b"m3"
    assert get(same_second, "3").status_code == 304
    assert get(http_date(time.time() + 3600), "0").status_code == 304
    # An earlier second than every message: the oldest, whatever the tag.
    earlier = http_date(parse_http_date(same_second) - 1)
    assert get(earlier, "7").content == b"m0"


# ---- push_* directives acting on subscribers ---------------------------------

@pytest.mark.parametrize("header", [{"Cache-Control": "no-cache"}, {"Pragma": "no-cache"}])
def test_ignore_queue_on_no_cache_waits_for_the_next_message(pushrelay, header):
    """Directive push_ignore_queue_on_no_cache on: `Cache-Control: no-cache` (or
    `Pragma: no-cache`) skips the queue: wait for the next new message."""
    server = pushrelay(sub_extra="push_ignore_queue_on_no_cache on;")
    publish(server.pub_url("nc"), b"queued")
    held = Held(server.sub_url("nc"), header)
    wait_for_subscribers(server.pub_url("nc"), 1)
    assert publish(server.pub_url("nc"), b"fresh").status_code == 201
    assert held.result().content == b"fresh"
    # Without the header the queue is still read.
    assert requests.get(server.sub_url("nc"), timeout=WAIT).content == b"queued"


def test_no_cache_is_ignored_without_the_directive(pushrelay):
    """Directive push_ignore_queue_on_no_cache: default off → no-cache still
    reads the queue."""
    server = pushrelay()
    publish(server.pub_url("nc"), b"queued")
    r = requests.get(server.sub_url("nc"), headers={"Cache-Control": "no-cache"}, timeout=WAIT)
    assert r.content == b"queued"


def test_allow_origin_is_sent_on_every_response(pushrelay):
    """Directive push_allow_origin: the CORS origin sent on OPTIONS and on every
    response (decision)."""
    origin = "https://app.example.test"
    server = pushrelay(http=f"push_allow_origin {origin};")
    responses = [
        requests.options(server.sub_url("o"), timeout=WAIT),
        requests.options(server.pub_url("o"), timeout=WAIT),
        requests.get(server.pub_url("o"), timeout=WAIT),  # 404
        publish(server.pub_url("o"), b"x"),
        requests.get(server.pub_url("o"), timeout=WAIT),
        requests.get(server.sub_url("o"), timeout=WAIT),
        requests.get(f"{server.base_sub}/sub", timeout=WAIT),  # 400
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 202, 200, 200, 400]
    for r in responses:
        assert r.headers.get("Access-Control-Allow-Origin") == origin, r.status_code


GROUP_SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub-a {{ set $push_channel_id $arg_id; push_publisher; push_channel_group a; }}
        location /pub-b {{ set $push_channel_id $arg_id; push_publisher; push_channel_group b; }}
    }}
    server {{
        listen 127.0.0.1:{sub};
        location /sub-a {{
            set $push_channel_id $arg_id; push_subscriber interval-poll; push_channel_group a;
        }}
        location /sub-b {{
            set $push_channel_id $arg_id; push_subscriber interval-poll; push_channel_group b;
        }}
    }}
"""


def test_channel_groups_do_not_share_channels(pushrelay):
    """Directive push_channel_group: namespace, the key is `group/id` → two
    locations with different groups don't share a channel."""
    server = pushrelay(servers=GROUP_SERVERS)
    assert publish(f"{server.base_pub}/pub-a?id=x", b"for-a").status_code == 202
    assert publish(f"{server.base_pub}/pub-b?id=x", b"for-b").status_code == 202
    assert publish(f"{server.base_pub}/pub-a?id=x", b"for-a-2").status_code == 202
    assert channel_info(f"{server.base_pub}/pub-a?id=x")["messages"] == 2
    assert channel_info(f"{server.base_pub}/pub-b?id=x")["messages"] == 1
    a = requests.get(f"{server.base_sub}/sub-a?id=x", timeout=WAIT)
    b = requests.get(f"{server.base_sub}/sub-b?id=x", timeout=WAIT)
    assert (a.content, b.content) == (b"for-a", b"for-b")
    assert channel_info(f"{server.base_pub}/pub-b?id=y") is None
    publish(f"{server.base_pub}/pub-a?id=y", b"only-a")
    assert channel_info(f"{server.base_pub}/pub-b?id=y") is None
    assert requests.get(f"{server.base_sub}/sub-b?id=y", timeout=WAIT).status_code == 304


@pytest.mark.parametrize("mode", MODES)
def test_max_channel_id_length_refuses_longer_ids_with_400(pushrelay, mode):
    """Directive push_max_channel_id_length: longer ids are refused (decision:
    400, not the module's silent truncation)."""
    server = pushrelay(mode=mode, http="push_max_channel_id_length 10;")
    assert publish(server.pub_url("a" * 10), b"fits").status_code == 202
    assert requests.get(server.sub_url("a" * 10), timeout=WAIT).content == b"fits"
    assert requests.get(server.sub_url("a" * 11), timeout=WAIT).status_code == 400
    assert publish(server.pub_url("a" * 11), b"long").status_code == 400
    assert channel_info(server.pub_url("a" * 10))["messages"] == 1


def test_default_max_channel_id_length_is_1024(pushrelay):
    """Directive push_max_channel_id_length: default 1024."""
    server = pushrelay()
    assert publish(server.pub_url("b" * 1024), b"fits").status_code == 202
    assert publish(server.pub_url("b" * 1025), b"long").status_code == 400
