"""Many subscribers on separate connections, spread over both workers:
protocol.md "Subscriber (GET)" ("A held request is answered in full by whichever
worker holds it, whichever worker stored the message"), the concurrency rows,
DELETE's 410, push_max_channel_subscribers, and "Counts are exact across all
workers" (Channel info)."""
import os

import requests

from conftest import WAIT, wait_until
from client import Held, channel_info, message_id, publish, wait_for_subscribers


def socket_fds(pid):
    """How many sockets process pid holds open."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed while we looked
            pass
    return count


def hold(server, channel, n, headers=None):
    held = [Held(server.sub_url(channel), headers) for _ in range(n)]
    wait_for_subscribers(server.pub_url(channel), n)
    return held


def test_fifty_subscribers_all_get_the_exact_message(pushrelay):
    """Subscriber: a held request is answered in full by whichever worker holds
    it → 50 held subscribers all get the exact body with 200; the publish gets
    201; the count reached exactly 50 across the workers."""
    server = pushrelay()
    held = hold(server, "fifty", 50)
    body = b"to all fifty: " + os.urandom(512)
    r = publish(server.pub_url("fifty"), body, {"Content-Type": "application/x-fifty"})
    assert r.status_code == 201
    responses = [h.result() for h in held]
    assert [x.status_code for x in responses] == [200] * 50
    assert all(x.content == body for x in responses)
    assert all(x.headers["Content-Type"] == "application/x-fifty" for x in responses)
    assert len({(x.headers["Last-Modified"], x.headers["Etag"]) for x in responses}) == 1
    wait_for_subscribers(server.pub_url("fifty"), 0)


def test_fifty_subscribers_are_spread_over_both_workers(pushrelay):
    """Subscriber: held on any worker → with 50 connections each worker holds
    some (its socket count grows), and the counts add up in the channel info."""
    server = pushrelay()
    pids = server.worker_pids()
    assert len(pids) == 2
    before = {pid: socket_fds(pid) for pid in pids}
    held = hold(server, "spread", 50)
    grown = {pid: socket_fds(pid) - before[pid] for pid in pids}
    # The fixture's readiness probes (a connect and close on each port) may
    # still be open in `before` and gone now.
    assert sum(grown.values()) >= 50 - 2, grown
    assert all(g > 0 for g in grown.values()), f"one worker holds every subscriber: {grown}"
    assert publish(server.pub_url("spread"), b"x").status_code == 201
    assert all(h.result().content == b"x" for h in held)


def test_twenty_rounds_on_fresh_connections(pushrelay):
    """Subscriber: held until a message is published, whichever worker stored
    it → 20 rounds, each with new subscriber and publisher connections."""
    server = pushrelay()
    last_id = None  # before the first message every subscriber waits
    for i in range(20):
        held = hold(server, "rounds", 2, headers=last_id)
        body = f"round {i}".encode()
        with requests.Session() as session:
            assert publish(server.pub_url("rounds"), body, session=session).status_code == 201
        responses = [h.result() for h in held]
        assert [r.content for r in responses] == [body, body]
        last_id = message_id(responses[0])
        wait_for_subscribers(server.pub_url("rounds"), 0)
    assert channel_info(server.pub_url("rounds"))["messages"] == 10


def test_one_mebibyte_binary_reaches_every_subscriber_byte_exact(pushrelay):
    """Publisher: bodies are binary-safe, byte-exact to every subscriber → 1 MiB
    of random bytes to 24 held subscribers on both workers."""
    server = pushrelay(http="client_max_body_size 2m;")
    held = hold(server, "mib", 24)
    body = os.urandom(1024 * 1024)
    r = publish(server.pub_url("mib"), body, {"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    for h in held:
        got = h.result()
        assert got.status_code == 200
        assert got.headers["Content-Length"] == str(len(body))
        assert got.content == body
    # A late subscriber reads the stored copy, also byte-exact.
    assert requests.get(server.sub_url("mib"), timeout=WAIT).content == body


def test_concurrency_first_across_workers(pushrelay):
    """Subscriber: concurrency `first`, a subscriber already waits → the new one:
    409 → of 12 concurrent subscribers exactly one waits, 11 get 409."""
    server = pushrelay(sub_extra="push_subscriber_concurrency first;")
    held = [Held(server.sub_url("first")) for _ in range(12)]
    wait_until(lambda: sum(h.done() for h in held) == 11, what="11 subscribers refused")
    assert subscriber_count_is(server, "first", 1)
    refused = [h for h in held if h.done()]
    assert [h.result().status_code for h in refused] == [409] * 11
    [waiting] = [h for h in held if not h.done()]
    assert publish(server.pub_url("first"), b"winner").status_code == 201
    assert waiting.result().content == b"winner"


def test_concurrency_last_across_workers_one_by_one(pushrelay):
    """Subscriber: concurrency `last` → every earlier waiting subscriber, on any
    worker: 409; 12 subscribers in turn, each evicting the one before."""
    server = pushrelay(sub_extra="push_subscriber_concurrency last;")
    previous = hold(server, "last", 1)[0]
    for _ in range(11):
        current = Held(server.sub_url("last"))
        assert previous.result().status_code == 409
        previous = current
    wait_for_subscribers(server.pub_url("last"), 1)
    assert publish(server.pub_url("last"), b"latest").status_code == 201
    assert previous.result().content == b"latest"


def test_concurrency_last_with_concurrent_subscribers(pushrelay):
    """Subscriber: concurrency `last` → of 12 concurrent subscribers all but one
    get 409, and one waits."""
    server = pushrelay(sub_extra="push_subscriber_concurrency last;")
    held = [Held(server.sub_url("lastc")) for _ in range(12)]
    wait_until(lambda: sum(h.done() for h in held) == 11, what="11 subscribers evicted")
    assert subscriber_count_is(server, "lastc", 1)
    assert [h.result().status_code for h in held if h.done()] == [409] * 11
    assert publish(server.pub_url("lastc"), b"x").status_code == 201
    assert [h.result().status_code for h in held].count(200) == 1


def test_delete_sends_410_to_subscribers_on_every_worker(pushrelay):
    """Publisher: DELETE → every held subscriber gets 410 → 12 subscribers over
    both workers."""
    server = pushrelay()
    held = hold(server, "del", 12)
    r = requests.delete(server.pub_url("del"), headers={"Accept": "application/json"},
                        timeout=WAIT)
    assert r.status_code == 200
    assert r.json()["subscribers"] == 12
    assert [h.result().status_code for h in held] == [410] * 12
    assert requests.get(server.pub_url("del"), timeout=WAIT).status_code == 404


def test_max_channel_subscribers_is_exact_with_ten_held(pushrelay):
    """Subscriber: push_max_channel_subscribers reached → 403 → ten are held, the
    eleventh is refused; once they are answered there is room again."""
    server = pushrelay(sub_extra="push_max_channel_subscribers 10;")
    held = hold(server, "cap", 10)
    extra = requests.get(server.sub_url("cap"), timeout=WAIT)
    assert extra.status_code == 403
    assert subscriber_count_is(server, "cap", 10)
    assert publish(server.pub_url("cap"), b"ten").status_code == 201
    assert [h.result().content for h in held] == [b"ten"] * 10
    wait_for_subscribers(server.pub_url("cap"), 0)
    again = hold(server, "cap", 10, headers=message_id(held[0].result()))
    assert publish(server.pub_url("cap"), b"again").status_code == 201
    assert [h.result().content for h in again] == [b"again"] * 10


def test_max_channel_subscribers_under_a_concurrent_rush(pushrelay):
    """Subscriber: push_max_channel_subscribers reached → 403 → 14 concurrent
    subscribers on both workers: exactly 10 held, 4 refused."""
    server = pushrelay(sub_extra="push_max_channel_subscribers 10;")
    held = [Held(server.sub_url("rush")) for _ in range(14)]
    wait_until(lambda: sum(h.done() for h in held) == 4, what="4 subscribers refused")
    assert subscriber_count_is(server, "rush", 10)
    assert [h.result().status_code for h in held if h.done()] == [403] * 4
    assert publish(server.pub_url("rush"), b"x").status_code == 201
    assert sorted(h.result().status_code for h in held) == [200] * 10 + [403] * 4


def subscriber_count_is(server, channel, n):
    info = channel_info(server.pub_url(channel))
    assert info is not None and info["subscribers"] == n, info
    return True
