"""HTTP handling common to every location: routing, malformed input, pipelining."""
import socket
import subprocess

import requests

from client import Held, publish, wait_for_subscribers
from conftest import WAIT


def raw_exchange(port, data, expect_responses=1):
    """Sends raw bytes; returns everything read until the peer closes or the
    expected number of responses arrived (by counting status lines)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        s.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1 ") < expect_responses or not _complete(received):
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _complete(received):
    # Every response so far has its full body (Content-Length bodies only).
    rest = received
    while rest:
        head, sep, after = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(after) < length:
            return False
        rest = after[length:]
    return True


def test_unmatched_location_is_404(pushrelay):
    server = pushrelay()
    r = requests.get(f"{server.base_sub}/nothing-here", timeout=WAIT)
    assert r.status_code == 404


def test_garbage_is_400_and_closed(pushrelay):
    server = pushrelay()
    data = raw_exchange(server.sub, b"THIS IS NOT HTTP\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in data


def test_two_pipelined_requests_on_one_connection(pushrelay):
    server = pushrelay()
    requests.post(server.pub_url("pipe"), data=b"hello", timeout=WAIT)
    one = "GET /pub?id=pipe HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    two = "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    data = raw_exchange(server.pub, one + two, expect_responses=2)
    first, second = data.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"200 ")
    assert b"queued messages: 1" in first
    assert second.startswith(b"404 ")


def test_a_response_to_head_has_no_body(pushrelay):
    """Server-wide: HEAD gets the status and headers only, so a keep-alive
    connection stays in sync (the next response parses)."""
    server = pushrelay()
    head = b"HEAD /sub?id=h HTTP/1.1\r\nHost: x\r\n\r\n"
    nothing = b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    data = raw_exchange(server.sub, head + nothing, expect_responses=2)
    first, second = data.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"405 ")
    assert first.endswith(b"\r\n\r\n")
    assert second.startswith(b"404 ")


def test_held_connections_have_tcp_keepalive(pushrelay):
    """Server-wide: a held subscriber whose host vanishes without a FIN is found
    by TCP keepalive probes (ss shows the server side's keepalive timer)."""
    server = pushrelay()
    held = Held(server.sub_url("ka"))
    wait_for_subscribers(server.pub_url("ka"), 1)
    out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{server.sub} )"],
                         capture_output=True, text=True, timeout=WAIT).stdout
    assert "timer:(keepalive" in out, out
    assert publish(server.pub_url("ka"), b"x").status_code == 201
    assert held.result().content == b"x"
