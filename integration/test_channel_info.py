"""Channel info: protocol.md "Channel info (compat)": the four formats byte for
byte, the Accept choice and echoed Content-Type, `requested`, the counts."""
import pytest
import requests

from conftest import WAIT, wait_until
from client import Held, channel_info, publish, wait_for_subscribers


def expected_body(fmt, n, s, k):
    if fmt == "plain":
        return (f"queued messages: {n}\r\nlast requested: {s} sec. ago (-1=never)\r\n"
                f"active subscribers: {k}").encode()
    if fmt in ("json", "x-json"):
        return f'{{"messages": {n}, "requested": {s}, "subscribers": {k}}}'.encode()
    if fmt in ("yaml", "x-yaml"):
        return f"---\r\nmessages: {n}\r\nrequested: {s}\r\nsubscribers: {k}\r\n\r\n".encode()
    assert fmt == "xml"
    return ('<?xml version="1.0" encoding="UTF-8" ?>\r\n<channel>\r\n'
            f"  <messages>{n}</messages>\r\n  <requested>{s}</requested>\r\n"
            f"  <subscribers>{k}</subscribers>\r\n</channel>").encode()


FORMATS = ["plain", "json", "x-json", "yaml", "x-yaml", "xml"]
TYPES = [f"{family}/{fmt}" for family in ("text", "application") for fmt in FORMATS]


@pytest.mark.parametrize("content_type", TYPES)
def test_each_format_byte_for_byte(pushrelay, content_type):
    """Channel info: text/plain, json, yaml, xml bodies exactly as written, chosen
    by Accept; the response's Content-Type echoes the type matched."""
    server = pushrelay()
    publish(server.pub_url("fmt"), b"one")
    publish(server.pub_url("fmt"), b"two")
    r = requests.get(server.pub_url("fmt"), headers={"Accept": content_type}, timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == content_type
    fmt = content_type.split("/")[1]
    assert r.content == expected_body(fmt, 2, -1, 0)
    assert r.headers["Content-Length"] == str(len(r.content))


@pytest.mark.parametrize("accept,chosen", [
    ("text/html, application/xml;q=0.9, application/json", "application/xml"),
    ("image/png, text/yaml", "text/yaml"),
    ("application/x-json,text/plain", "application/x-json"),
    ("*/*", "text/plain"),
    ("text/html", "text/plain"),
    (None, "text/plain"),
])
def test_accept_picks_the_first_known_type(pushrelay, accept, chosen):
    """Channel info: chosen by Accept: the first of text/ or application/ +
    plain|json|x-json|yaml|x-yaml|xml; default text/plain."""
    server = pushrelay()
    publish(server.pub_url("acc"), b"x")
    r = requests.get(server.pub_url("acc"), headers={"Accept": accept}, timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == chosen
    assert r.content == expected_body(chosen.split("/")[1], 1, -1, 0)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "text/x-yaml",
                                          "application/xml"])
def test_post_and_delete_answer_in_the_chosen_format(pushrelay, content_type):
    """Channel info: the publisher's POST and DELETE bodies use the same formats."""
    server = pushrelay()
    fmt = content_type.split("/")[1]
    r = publish(server.pub_url("pd"), b"x", {"Accept": content_type})
    assert r.status_code == 202
    assert r.headers["Content-Type"] == content_type
    assert r.content == expected_body(fmt, 1, -1, 0)
    r = requests.delete(server.pub_url("pd"), headers={"Accept": content_type}, timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == content_type
    assert r.content == expected_body(fmt, 1, -1, 0)


def test_requested_is_minus_one_until_a_subscriber_asks_then_seconds(pushrelay):
    """Channel info: `requested` is the seconds since a subscriber last asked, or
    -1 if never."""
    server = pushrelay(mode="interval-poll")
    publish(server.pub_url("rq"), b"x")
    assert channel_info(server.pub_url("rq"))["requested"] == -1
    assert requests.get(server.sub_url("rq"), timeout=WAIT).status_code == 200
    assert channel_info(server.pub_url("rq"))["requested"] in (0, 1)
    info = wait_until(lambda: (lambda i: i if i["requested"] >= 2 else None)(
        channel_info(server.pub_url("rq"))), what="requested to reach 2 seconds")
    assert info["requested"] <= 3
    r = requests.get(server.pub_url("rq"), headers={"Accept": "text/plain"}, timeout=WAIT)
    assert b"\r\nlast requested: " in r.content
    assert r.content != expected_body("plain", 1, -1, 0)
    # Asking again resets it.
    assert requests.get(server.sub_url("rq"), timeout=WAIT).status_code == 200
    assert channel_info(server.pub_url("rq"))["requested"] in (0, 1)


def test_subscribers_counts_held_subscribers_in_every_format(pushrelay):
    """Channel info: active subscribers K counts the held subscribers."""
    server = pushrelay()
    held = [Held(server.sub_url("cnt")) for _ in range(2)]
    wait_for_subscribers(server.pub_url("cnt"), 2)
    for content_type in ("text/plain", "application/json", "application/yaml", "text/xml"):
        r = requests.get(server.pub_url("cnt"), headers={"Accept": content_type}, timeout=WAIT)
        fmt = content_type.split("/")[1]
        # The subscribers asked moments ago: 0 or, across a second boundary, 1.
        assert r.content in (expected_body(fmt, 0, 0, 2), expected_body(fmt, 0, 1, 2))
    assert publish(server.pub_url("cnt"), b"x").status_code == 201
    assert [h.result().status_code for h in held] == [200, 200]
    wait_for_subscribers(server.pub_url("cnt"), 0)
