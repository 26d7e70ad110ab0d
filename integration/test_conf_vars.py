"""The conf language as the push locations see it: protocol.md "Conf: the shape"
(`set` variables, location matching, inheritance) and "Server-wide" allow/deny."""
import subprocess

import pytest
import requests

from conftest import WAIT, PushRelay
from client import channel_info, message_count, publish


def servers(pub_locations, sub_locations=""):
    """Server blocks for the fixture: the given publisher locations, then a plain
    interval-poll subscriber /sub?id= to read what they stored."""
    def escaped(text):  # the fixture fills {pub}/{sub} with str.format
        return text.replace("{", "{{").replace("}", "}}")
    return ("server {{ listen 127.0.0.1:{pub};\n" + escaped(pub_locations) + "\n}}\n"
            "server {{ listen 127.0.0.1:{sub};\n"
            "location /sub {{ set $push_channel_id $arg_id; push_subscriber interval-poll; }}\n"
            + escaped(sub_locations) + "\n}}\n")


def read(server, channel):
    """The oldest message on a channel as seen by /sub, or None (304)."""
    r = requests.get(f"{server.base_sub}/sub?id={channel}", timeout=WAIT)
    if r.status_code == 304:
        return None
    assert r.status_code == 200, r.status_code
    return r.content


# ---- set $push_channel_id ----------------------------------------------------

def test_set_from_a_named_argument(pushrelay):
    """Conf: `set` with `$arg_NAME`."""
    server = pushrelay(servers=servers(
        "location /pub { set $push_channel_id $arg_channel; push_publisher; }"))
    assert publish(f"{server.base_pub}/pub?x=1&channel=news&id=other", b"a").status_code == 202
    assert read(server, "news") == b"a"
    assert read(server, "other") is None


def test_set_from_a_request_header(pushrelay):
    """Conf: `set` with `$http_NAME` (dashes as underscores, any case)."""
    server = pushrelay(servers=servers(
        "location /pub { set $push_channel_id $http_x_channel_name; push_publisher; }"))
    r = publish(f"{server.base_pub}/pub", b"by-header", {"X-Channel-Name": "hdr"})
    assert r.status_code == 202
    assert read(server, "hdr") == b"by-header"
    r = publish(f"{server.base_pub}/pub", b"no header")
    assert r.status_code == 400
    assert r.text == "No channel id provided."


def test_set_from_the_uri(pushrelay):
    """Conf: `set` with `$uri` (the path without the query)."""
    server = pushrelay(servers=servers(
        "location /chan/ { set $push_channel_id $uri; push_publisher; }",
        "location /chan/ { set $push_channel_id $uri; push_subscriber interval-poll; }"))
    assert publish(f"{server.base_pub}/chan/abc?ignored=1", b"uri").status_code == 202
    assert requests.get(f"{server.base_sub}/chan/abc", timeout=WAIT).content == b"uri"
    assert requests.get(f"{server.base_sub}/chan/abd", timeout=WAIT).status_code == 304
    assert channel_info(f"{server.base_pub}/chan/abc")["messages"] == 1


def test_set_from_regex_captures(pushrelay):
    """Conf: `~ regex` locations with `$1`..`$9` captures usable in `set`."""
    server = pushrelay(servers=servers(
        r"location ~ ^/p/(\w+)/(\w+)$ { set $push_channel_id $2; push_publisher; }"))
    assert publish(f"{server.base_pub}/p/room/kitchen", b"cap2").status_code == 202
    assert read(server, "kitchen") == b"cap2"
    assert read(server, "room") is None


def test_set_concatenates_literal_text_and_variables(pushrelay):
    """Conf: `set` with literal text and concatenations."""
    server = pushrelay(servers=servers(
        'location /pub { set $push_channel_id "room_$arg_id-$http_x_part"; push_publisher; }'))
    assert publish(f"{server.base_pub}/pub?id=7", b"cat", {"X-Part": "b"}).status_code == 202
    assert read(server, "room_7-b") == b"cat"


def test_push_id_is_an_alias(pushrelay):
    """Conf: `set $push_channel_id` alias `$push_id`; push_sender / push_listener
    aliases."""
    server = pushrelay(servers=servers(
        "location /pub { set $push_id $arg_id; push_sender; }",
        "location /listen { set $push_id $arg_id; push_listener interval-poll; }"))
    assert publish(f"{server.base_pub}/pub?id=alias", b"al").status_code == 202
    assert requests.get(f"{server.base_sub}/listen?id=alias", timeout=WAIT).content == b"al"


# ---- location matching -------------------------------------------------------

def test_exact_location_beats_prefix(pushrelay):
    """Conf: locations match like nginx's: `= /exact` before the longest prefix."""
    server = pushrelay(servers=servers(
        "location /pub { set $push_channel_id $arg_id; push_publisher; }\n"
        "location = /pub/exact { set $push_channel_id exact_$arg_id; push_publisher; }"))
    publish(f"{server.base_pub}/pub/exact?id=1", b"exact")
    publish(f"{server.base_pub}/pub/exactly?id=1", b"prefix")
    assert read(server, "exact_1") == b"exact"
    assert read(server, "1") == b"prefix"


def test_longest_prefix_wins_and_regex_in_order(pushrelay):
    """Conf: longest prefix; `~ regex` / `~* regex` first match in order, before
    the prefix."""
    server = pushrelay(servers=servers(
        "location /p { set $push_channel_id short_$arg_id; push_publisher; }\n"
        "location /p/long { set $push_channel_id long_$arg_id; push_publisher; }\n"
        "location ~* ^/P/RX { set $push_channel_id rx1_$arg_id; push_publisher; }\n"
        "location ~ ^/p/rx { set $push_channel_id rx2_$arg_id; push_publisher; }"))
    publish(f"{server.base_pub}/p/other?id=1", b"short")
    publish(f"{server.base_pub}/p/long/x?id=1", b"long")
    publish(f"{server.base_pub}/p/rx/y?id=1", b"regex")
    assert read(server, "short_1") == b"short"
    assert read(server, "long_1") == b"long"
    assert read(server, "rx1_1") == b"regex"
    assert read(server, "rx2_1") is None


def test_directives_inherit_and_override(pushrelay):
    """Conf: directives inherit http → server → location."""
    server = pushrelay(http="push_max_message_buffer_length 2;", servers=servers(
        "push_max_message_buffer_length 3;\n"
        "location /pub3 { set $push_channel_id $arg_id; push_publisher; }\n"
        "location /pub4 { set $push_channel_id $arg_id; push_publisher;"
        " push_max_message_buffer_length 4; }"))
    for path, channel in (("/pub3", "three"), ("/pub4", "four")):
        for i in range(6):
            publish(f"{server.base_pub}{path}?id={channel}", b"x")
    assert message_count(f"{server.base_pub}/pub3?id=three") == 3
    assert message_count(f"{server.base_pub}/pub4?id=four") == 4


# ---- allow / deny ------------------------------------------------------------

@pytest.mark.parametrize("rules,allowed", [
    ("deny all;", False),
    ("deny 127.0.0.1;", False),
    ("deny 127.0.0.0/8;", False),
    ("allow 10.0.0.0/8; deny all;", False),
    ("allow 127.0.0.1; deny all;", True),
    ("allow 127.0.0.0/24; deny all;", True),
    ("deny 10.0.0.1; allow all;", True),
])
def test_allow_deny_on_the_publisher(pushrelay, rules, allowed):
    """Server-wide: `allow` / `deny` (CIDR) work in any location → 403, and a
    refused publish stores nothing."""
    server = pushrelay(mode="interval-poll", pub_extra=rules)
    r = publish(server.pub_url("acl"), b"x")
    assert r.status_code == (202 if allowed else 403)
    assert read(server, "acl") == (b"x" if allowed else None)


def test_deny_on_the_subscriber(pushrelay):
    """Server-wide: `allow` / `deny` work in any location (a subscriber one too)."""
    server = pushrelay(mode="interval-poll", sub_extra="deny all;")
    publish(server.pub_url("acl"), b"x")
    assert requests.get(server.sub_url("acl"), timeout=WAIT).status_code == 403


def test_deny_in_http_is_inherited(pushrelay):
    """Server-wide: allow/deny inherit http → location like every directive."""
    server = pushrelay(mode="interval-poll", http="deny all;")
    assert publish(server.pub_url("acl"), b"x").status_code == 403
    assert requests.get(server.sub_url("acl"), timeout=WAIT).status_code == 403


# ---- conf errors -------------------------------------------------------------

@pytest.mark.parametrize("http", [
    "push_min_message_buffer_length 3; push_max_message_buffer_length 2;",
    "push_subscriber_concurrency sometimes;",
    "push_store_messages maybe;",
    "push_message_timeout soon;",
])
def test_bad_push_directive_values_fail_the_conf_test(tmp_path, binary, http):
    """Directives: max buffer length < min is an error; a conf error names
    file:line and `pushrelay -t` reports it without starting."""
    server = PushRelay(tmp_path, http=http)
    result = subprocess.run(server.command("-t"), capture_output=True, text=True, timeout=WAIT)
    assert result.returncode != 0
    assert f"{server.conf}:" in result.stderr
