"""Security: a subscriber flood cannot take what publishing needs.

The subscriber port faces the internet. Interval-polls for absent channels
create nothing (304); long-polls create channels that live only while held
and draw from push_max_subscriber_memory (default 25% of the segment), past
which a subscriber creating a channel gets 503 with Retry-After. Publishing
keeps 201/202 throughout, and once the held subscribers leave, subscribers
get in again. Run at 4M (the issue's case) and at the default 128M."""
import re
import select
import socket
import time

import requests

from conftest import WAIT, wait_until

SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub {{ set $push_channel_id $arg_id; push_publisher; }}
        location = /status {{ push_stub_status; }}
    }}
    server {{
        listen 127.0.0.1:{sub};
        location /sub {{ set $push_channel_id $arg_id; push_subscriber long-poll; }}
        location /poll {{ set $push_channel_id $arg_id; push_subscriber interval-poll; }}
    }}
"""

STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def status(server):
    return requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT).json()


def assert_publishing_works(server, channel):
    r = requests.post(server.pub_url(channel), data=b"still publishing", timeout=WAIT)
    assert r.status_code in (201, 202), (r.status_code, r.text)


def poll_flood(server, connections, per_connection, prefix):
    """Each connection pipelines `per_connection` interval-polls for distinct
    absent channels; every one must get 304."""
    for c in range(connections):
        requests_bytes = b"".join(
            b"GET /poll?id=%s-%d-%d HTTP/1.1\r\nHost: x\r\n\r\n" % (prefix.encode(), c, i)
            for i in range(per_connection))
        with socket.create_connection(("127.0.0.1", server.sub), timeout=WAIT) as s:
            s.sendall(requests_bytes)
            received = b""
            deadline = time.monotonic() + WAIT
            while len(STATUS.findall(received)) < per_connection:
                assert time.monotonic() < deadline, "the interval-polls were not all answered"
                chunk = s.recv(1 << 20)
                assert chunk, "the server closed a pipelining connection"
                received += chunk
        assert set(STATUS.findall(received)) == {b"304"}


def readable(s):
    """Whether s has bytes (or a close) to read now; poll, since the fds pass select()'s 1024."""
    poller = select.poll()
    poller.register(s, select.POLLIN)
    return bool(poller.poll(0))


class Holds:
    """Long-poll subscribers for distinct new channels, each on its own
    held connection, opened in batches until one is refused."""

    def __init__(self, server, id_bytes):
        self.server = server
        self.id_bytes = id_bytes
        self.held = []
        self.refusals = []  # the raw responses of refused subscribers

    def channel(self, n):
        return f"{n:08d}".ljust(self.id_bytes, "x")

    def open_batch(self, size):
        """Sends `size` holds; returns once each is either counted as held by
        the server or refused."""
        batch = []
        for _ in range(size):
            s = socket.create_connection(("127.0.0.1", self.server.sub), timeout=WAIT)
            n = len(self.held) + len(self.refusals) + len(batch)
            s.sendall(f"GET /sub?id={self.channel(n)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            batch.append(s)
        expected = len(self.held) + len(batch)

        def settled():
            for s in list(batch):
                if readable(s):
                    self.refusals.append(s.recv(65536))
                    s.close()
                    batch.remove(s)
            return status(self.server)["subscribers"] == expected - (size - len(batch))

        wait_until(settled, what="every hold held or refused")
        self.held.extend(batch)

    def close(self):
        for s in self.held:
            s.close()
        self.held = []


def flood(server, id_bytes, batch, max_holds, polls):
    poll_flood(server, *polls, prefix="absent")
    figures = status(server)
    assert figures["channels"] == 0, "interval-polls created channels"
    assert_publishing_works(server, "before")

    holds = Holds(server, id_bytes)
    while not holds.refusals:
        assert len(holds.held) < max_holds, "the subscriber share never filled"
        holds.open_batch(batch)
        assert_publishing_works(server, f"during{len(holds.held)}")
    figures = status(server)
    share = figures["subscriber_share_total"]
    assert share == figures["segment_total"] // 100 * 25
    assert share - (512 + id_bytes) < figures["subscriber_share_used"] <= share

    refusal = holds.refusals[0]
    assert refusal.startswith(b"HTTP/1.1 503 "), refusal[:200]
    assert b"\r\nRetry-After: 5\r\n" in refusal
    assert b"push_max_subscriber_memory" in refusal
    # Past the bound: publishing to new channels still works, subscribing to a
    # channel that exists too; only creating one is refused.
    for i in range(20):
        assert_publishing_works(server, f"after{i}")
    r = requests.get(server.sub_url("after0"), timeout=WAIT)
    assert r.status_code == 200 and r.content == b"still publishing"
    r = requests.get(server.sub_url(holds.channel(99_999_999)), timeout=WAIT)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    poll_flood(server, 2, 100, prefix="full")

    # The held subscribers leave: their channels go at once, and so does the bound.
    holds.close()
    wait_until(lambda: status(server)["subscribers"] == 0, what="the holds to be forgotten")
    wait_until(lambda: status(server)["subscriber_share_used"] == 0,
               what="the subscriber share to be free")
    again = Holds(server, id_bytes)
    again.open_batch(5)
    assert not again.refusals and len(again.held) == 5
    again.close()
    assert "[alert]" not in server.error_log


def test_flood_on_a_4m_segment(pushrelay):
    # 1 KB ids: about 700 holds fill the 1 MB share.
    server = pushrelay(workers=2, servers=SERVERS, worker_connections=4096,
                       http="push_max_reserved_memory 4M;")
    flood(server, id_bytes=1000, batch=100, max_holds=2000, polls=(60, 1000))


def test_flood_on_the_default_segment(pushrelay):
    # 11 KB ids (the request line stays under the 16 KB header limit): about 2,900 holds fill
    # the 32 MB share.
    server = pushrelay(workers=2, servers=SERVERS, worker_connections=8192,
                       http="push_max_channel_id_length 12000;")
    flood(server, id_bytes=11000, batch=500, max_holds=6000, polls=(10, 1000))
