"""Reliability: a full segment (push_max_reserved_memory 1M). Publishes get
507 (never 500, never a crash), what is stored is still served, and after
DELETE or expiry publishing works again with the segment's used bytes back
where they started."""
import os

import requests

from client import publish
from conftest import WAIT, wait_until

HTTP = "push_max_reserved_memory 1M; push_min_message_buffer_length 0;"
BODY = 48 * 1024


def used(server):
    r = requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT)
    return r.json()["segment_used"]


def fill(server, prefix):
    """Publishes until the segment is full; returns the stored bodies."""
    stored = {}
    for i in range(200):
        body = os.urandom(BODY)
        r = publish(server.pub_url(f"{prefix}{i}"), body)
        if r.status_code == 507:
            assert b"segment is full" in r.content
            return stored
        assert r.status_code == 202, r.status_code
        stored[f"{prefix}{i}"] = body
    raise AssertionError("a 1M segment took 200 messages of 48 KiB")


def test_full_segment_recovers_after_delete(pushrelay):
    server = pushrelay(http=HTTP, mode="interval-poll")
    start = used(server)
    workers = server.worker_pids()
    stored = fill(server, "d")
    assert len(stored) >= 5
    # Refused again; a subscriber creating a channel gets its 304 if the channel
    # still fits, else a 507 (never a 500).
    assert publish(server.pub_url("one-more"), os.urandom(BODY)).status_code == 507
    assert requests.get(server.sub_url("brand-new"), timeout=WAIT).status_code in (304, 507)
    for channel, body in stored.items():
        assert requests.get(server.sub_url(channel), timeout=WAIT).content == body
    for channel in stored:
        assert requests.delete(server.pub_url(channel), timeout=WAIT).status_code == 200
    wait_until(lambda: used(server) <= start + 4096, what="used bytes back to the start")
    assert publish(server.pub_url("again"), os.urandom(BODY)).status_code == 202
    assert server.worker_pids() == workers
    assert "[alert]" not in server.error_log


def test_full_segment_recovers_after_expiry(pushrelay):
    server = pushrelay(pub_extra="push_message_timeout 1s; push_channel_timeout 1s;",
                       http=HTTP)
    start = used(server)
    fill(server, "e")
    wait_until(lambda: used(server) <= start + 4096, timeout=WAIT,
               what="expiry to give the segment back")
    stored = fill(server, "f")
    assert len(stored) >= 5
