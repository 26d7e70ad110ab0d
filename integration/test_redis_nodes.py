"""Redis mode with 3 nodes and 1 real Redis (shared/scale-out.md, "What must hold"): one id per
message on every node, delivery to every node once and in order, node loss, Redis outage, stall
and dropped connections, DELETE, summed counts, one subscription per node and O(1) commands per
publish, HUP, Idempotency-Key, a node cut off by ACL, and the documented least privilege.

Each node is a PushRelay master with 2 workers and a relay process; every wait is bounded."""
import os
import re
import secrets
import signal
import threading
import time
from collections import Counter

import pytest
import requests

from conftest import WAIT, PushRelay, alive, children_of, wait_until
from client import Held, channel_info, message_id, parse_http_date, publish, wait_for_subscribers

WORKERS = 2
PUBLISHED = (201, 202)
# Redis answers within push_redis_command_timeout (1s) or the request gets 503: a bound on one
# publish with Redis down or stalled, with room for a loaded 2-core machine.
UNAVAILABLE_WITHIN = 2.5
# How long after Redis accepts again a node must publish: 1.5 s in the contract, plus one
# command timeout for a POST that waited on the reconnecting connection, plus room.
BACK_WITHIN = 3.0
# A node's share of a channel's subscribers lives this long unless renewed (scale-out.md).
LEASE = 30.0
# The least privilege of scale-out.md "AUTH and ACL", after `ACL SETUSER <user> on >PASS`.
LEAST_PRIVILEGE = ("resetkeys ~{ns}:* resetchannels &{ns}:* -@all +@connection +@read +@write "
                   "+@scripting +@pubsub -@dangerous -script|flush +info +time +cluster|slots")


class Node(PushRelay):
    """A pushrelay in Redis mode on loopback ports of its own."""

    def __init__(self, directory, url, namespace):
        super().__init__(directory, workers=WORKERS, http=f"""
    push_redis_url {url};
    push_redis_namespace {namespace};
    push_redis_connect_timeout 1s;
    push_redis_command_timeout 1s;
""")

    def processes(self):
        return [self.proc.pid, *children_of(self.proc.pid)]

    def kill(self):
        """SIGKILL the master and every child at once, as a machine that dies."""
        pids = self.processes()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=WAIT)
        wait_until(lambda: not any(alive(pid) for pid in pids),
                   what="every process of the node dead")
        self.proc.stdout.close()
        self.proc.stderr.close()

    def wait_ready(self, timeout=WAIT):
        """Until a publish on this node is answered 201/202 (Redis connected, scripts loaded)."""
        return publish_when_up(self, "ready", b"ready", timeout)


def publish_when_up(node, channel, body, timeout=BACK_WITHIN, headers=None):
    """Publishes until an answer is 201/202 (each 503 is retried); returns that answer."""
    answers = []

    def attempt():
        answers.append(publish(node.pub_url(channel), body, headers=headers))
        return answers[-1].status_code in PUBLISHED

    try:
        wait_until(attempt, timeout=timeout, what=f"a publish on {node.pub} answered 201/202")
    except AssertionError as error:
        last = answers[-1] if answers else None
        raise AssertionError(f"{error}; last answer: {last and (last.status_code, last.text)}\n"
                             f"{node.error_log[-3000:]}") from None
    return answers[-1]


def posted(node, channel, body, headers=None):
    r = publish(node.pub_url(channel), body, headers=headers)
    assert r.status_code in PUBLISHED, (r.status_code, r.text, node.error_log[-3000:])
    return r


def ident(response):
    """A message's id as an ordered pair: (Last-Modified in seconds, Etag)."""
    return parse_http_date(response.headers["Last-Modified"]), int(response.headers["Etag"])


def since(response):
    return message_id(response) if response is not None else {}


def get(node, channel, after=None):
    """A subscriber GET for the message after `after` (a response), or the oldest."""
    return requests.get(node.sub_url(channel), headers=since(after), timeout=WAIT)


def hold(node, channel, after=None):
    return Held(node.sub_url(channel), since(after))


def message(response, body):
    """Asserts the response carries the message `body`; returns it."""
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.content == body
    return response


def deliver(channel, after, subscribers, publisher, body):
    """Holds a subscriber on each node of `subscribers` for the message after `after`, waits
    until channel info counts them all, publishes `body` through `publisher` (201: someone
    waits) and returns what each subscriber got, checked to be that message with one id."""
    held = [hold(node, channel, after) for node in subscribers]
    wait_for_subscribers(publisher.pub_url(channel), len(subscribers))
    r = publish(publisher.pub_url(channel), body)
    assert r.status_code == 201, (r.status_code, r.text)
    got = [message(h.result(), body) for h in held]
    assert len({ident(g) for g in got}) == 1, [g.headers for g in got]
    return got[0]


def wait_for_status(url, status, timeout=2.0):
    """Until a GET of url answers `status`; the failure says what it answered last."""
    answers = []

    def answered():
        answers.append(requests.get(url, timeout=WAIT))
        return answers[-1].status_code == status

    try:
        wait_until(answered, timeout=timeout, what=f"{status} from {url}")
    except AssertionError as error:
        raise AssertionError(f"{error}; last: {answers[-1].status_code} {answers[-1].text!r}") \
            from None


def read_until(node, channel, last, after=None, limit=50):
    """The messages a client iterating on `node` from `after` gets, in order, up to the one with
    body `last`; each GET waits as long as a held one may (a node still resyncing answers late)."""
    got = []
    while not got or got[-1].content != last:
        assert len(got) < limit, [r.content for r in got]
        r = get(node, channel, got[-1] if got else after)
        got.append(message(r, r.content))
    return got


def iterate(node, channel, after=None, limit=50):
    """Every message a client iterating on `node` gets at once from `after` on, in order, until
    a GET is not answered within a second (held: nothing newer); returns them and that held
    GET. For "nothing more": a message it should have would come late, not never."""
    got = []
    while len(got) < limit:
        held = hold(node, channel, after)
        try:
            wait_until(held.done, timeout=1.0, what="an answer at once")
        except AssertionError:
            return got, held
        r = held.result()
        message(r, r.content)
        got.append(r)
        after = r
    raise AssertionError(f"more than {limit} messages on {channel}")


@pytest.fixture
def node_factory(tmp_path, redis):
    """start(url=None, ready=True): a Node on the test's Redis and namespace (start.namespace;
    url: another user's), waited until it publishes unless ready is False. Every node is
    stopped after."""
    namespace = "t" + secrets.token_hex(4)
    started = []

    def start(url=None, ready=True):
        node = Node(tmp_path / f"node{len(started)}", url or redis.url, namespace)
        started.append(node)
        node.start()
        if ready:
            node.wait_ready()
        return node

    start.namespace = namespace
    yield start
    for node in started:
        node.stop()


@pytest.fixture
def nodes(node_factory):
    """Three nodes, each publishing."""
    return [node_factory() for _ in range(3)]


def channel():
    return "c" + secrets.token_hex(4)


# --- 1. one id everywhere -------------------------------------------------------------------

def test_a_message_has_one_id_on_every_node_and_ids_only_grow(nodes):
    a, b, c = nodes
    ch = channel()
    posted(a, ch, b"first")
    first = [message(get(node, ch), b"first") for node in nodes]
    assert len({ident(r) for r in first}) == 1, [r.headers for r in first]

    previous = first[0]
    for i, publisher in enumerate([b, c, a, c, b, a]):
        body = f"m{i}".encode()
        posted(publisher, ch, body)
        copies = [message(get(node, ch, previous), body) for node in nodes]
        assert len({ident(r) for r in copies}) == 1, [r.headers for r in copies]
        assert ident(copies[0]) > ident(previous)
        previous = copies[0]


# --- 2. delivery to every node, once, in order ------------------------------------------------

def test_held_subscribers_on_every_node_get_a_message_once(nodes):
    a, b, c = nodes
    ch = channel()
    posted(a, ch, b"start")
    start = message(get(a, ch), b"start")
    first = deliver(ch, start, nodes, b, b"one")
    # Once each: re-polling with the id just received holds again, and the next message is next.
    second = deliver(ch, first, nodes, c, b"two")
    assert ident(second) > ident(first)


def test_a_client_alternating_nodes_gets_every_message_once_in_order(nodes):
    ch = channel()
    bodies = [f"m{i}".encode() for i in range(9)]
    for i, body in enumerate(bodies[:4]):  # stored before the client comes
        posted(nodes[i % 3], ch, body)
    got, after = [], None
    for i, body in enumerate(bodies):
        node = nodes[i % 3]
        if i < 4:
            r = get(node, ch, after)
        else:  # held on one node, published through another
            held = hold(node, ch, after)
            wait_for_subscribers(node.pub_url(ch), 1)
            posted(nodes[(i + 1) % 3], ch, body)
            r = held.result()
        got.append(message(r, r.content))
        after = r
    assert [r.content for r in got] == bodies
    ids = [ident(r) for r in got]
    assert ids == sorted(set(ids)), ids
    extra, held = iterate(nodes[0], ch, after)
    assert extra == [], [r.content for r in extra]


# --- 3. node loss ------------------------------------------------------------------------------

def test_a_killed_node_loses_nothing_for_clients_that_move(nodes):
    a, b, c = nodes
    ch = channel()
    for body in (b"m0", b"m1", b"m2"):
        posted(a, ch, body)
    got = read_until(b, ch, b"m2")
    assert [r.content for r in got] == [b"m0", b"m1", b"m2"]
    held = hold(b, ch, got[-1])
    wait_for_subscribers(a.pub_url(ch), 1)

    b.kill()
    with pytest.raises(requests.RequestException):
        held.result()
    posted(a, ch, b"m3")
    posted(c, ch, b"m4")
    # The client moves to C with its last Last-Modified/Etag: exactly the next message.
    m3 = message(get(c, ch, got[-1]), b"m3")
    assert ident(m3) > ident(got[-1])

    b.start()
    b.wait_ready()
    m4 = message(get(b, ch, m3), b"m4")
    assert ident(m4) > ident(m3)
    assert ident(message(get(a, ch, m3), b"m4")) == ident(m4)
    m5 = deliver(ch, m4, [b], c, b"m5")
    assert ident(m5) > ident(m4)


def test_a_killed_nodes_share_of_the_subscribers_lapses_within_30_s(nodes):
    a, b, c = nodes
    ch = channel()
    posted(a, ch, b"m0")
    m0 = message(get(a, ch), b"m0")
    held = [hold(b, ch, m0), hold(b, ch, m0)]
    wait_for_subscribers(c.pub_url(ch), 2)
    b.kill()
    for h in held:
        with pytest.raises(requests.RequestException):
            h.result()
    # B's lease (30 s) is all that counts its waiters now; nobody renews it.
    wait_until(lambda: channel_info(c.pub_url(ch))["subscribers"] == 0, timeout=LEASE + 3,
               what="the dead node's subscribers to lapse")


# --- 4. Redis outage ---------------------------------------------------------------------------

def assert_unavailable(node, ch, body):
    start = time.monotonic()
    r = publish(node.pub_url(ch), body)
    elapsed = time.monotonic() - start
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers.get("Retry-After") == "1", r.headers
    assert r.text.startswith("Redis unavailable:"), r.text
    assert elapsed < UNAVAILABLE_WITHIN, elapsed
    return r


def test_redis_outage_keeps_held_subscribers_and_loses_nothing(nodes, redis):
    a, b, c = nodes
    ch = channel()
    posted(b, ch, b"m0")
    m0 = message(get(a, ch), b"m0")
    m1 = deliver(ch, m0, [a, c], b, b"m1")  # the channel is live on A and C
    held = [hold(node, ch, m1) for node in (a, c)]
    wait_for_subscribers(b.pub_url(ch), 2)

    redis.stop(keep_data=True)
    for node in nodes:
        assert_unavailable(node, ch, b"refused")
    # A live channel's subscribers are served from the cache meanwhile, never a 5xx.
    message(get(a, ch, m0), b"m1")
    assert not any(h.done() for h in held), [h.result().status_code for h in held if h.done()]

    redis.start()
    publish_when_up(b, ch, b"m2")
    m2 = [message(h.result(), b"m2") for h in held]
    assert ident(m2[0]) == ident(m2[1]) > ident(m1)

    # Iterating from the start on a node that had no subscriber: each message once, in order.
    got = read_until(c, ch, b"m2")
    assert [r.content for r in got] == [b"m0", b"m1", b"m2"]
    assert [ident(r) for r in got] == [ident(m0), ident(m1), ident(m2[0])]
    extra, held = iterate(c, ch, got[-1])
    assert extra == [], [r.content for r in extra]
    wait_for_subscribers(a.pub_url(ch), 1)
    posted(a, ch, b"m3")
    assert ident(message(held.result(), b"m3")) > ident(m2[0])


def test_redis_restarted_empty_keeps_ids_growing(nodes, redis):
    a, b, c = nodes
    ch = channel()
    posted(b, ch, b"m0")
    m0 = message(get(a, ch), b"m0")
    m1 = deliver(ch, m0, [a], b, b"m1")
    # At the start of a second by Redis's clock, so that m2, m3 and, after the restart, m4 most
    # likely share it: m4's id then grows only if the node re-seeds the channel's last id.
    wait_until(lambda: int(redis.cli("TIME")[1]) < 100_000, timeout=2.0, what="a new second")
    for body in (b"m2", b"m3"):
        posted(c, ch, body)
    got = read_until(a, ch, b"m3", m1)
    assert [r.content for r in got] == [b"m2", b"m3"]
    held = hold(a, ch, got[-1])
    wait_for_subscribers(a.pub_url(ch), 1)

    redis.stop(keep_data=False)
    redis.start()
    publish_when_up(c, ch, b"m4")
    m4 = message(get(b, ch, got[-1]), b"m4")
    assert ident(m4) > ident(got[-1]), (m4.headers, got[-1].headers)
    # The waiter held on A through the restart is kept and gets it.
    assert ident(message(held.result(), b"m4")) == ident(m4)
    for node in (a, b):
        publish_when_up(node, "after-" + ch, b"x")


# --- 5. DELETE --------------------------------------------------------------------------------

def test_delete_on_one_node_gives_410_everywhere_then_404(nodes):
    a, b, c = nodes
    ch = channel()
    posted(a, ch, b"m0")
    m0 = message(get(b, ch), b"m0")
    held = [hold(node, ch, m0) for node in (b, c)]
    wait_for_subscribers(a.pub_url(ch), 2)
    r = requests.delete(a.pub_url(ch), timeout=WAIT)
    assert r.status_code == 200, (r.status_code, r.text)
    assert [h.result().status_code for h in held] == [410, 410]
    for node in nodes:
        wait_for_status(node.pub_url(ch), 404)


# --- 6. summed counts --------------------------------------------------------------------------

def test_channel_info_sums_subscribers_over_nodes(nodes):
    a, b, c = nodes
    ch = channel()
    posted(c, ch, b"m0")
    m0 = message(get(a, ch), b"m0")
    held = [hold(a, ch, m0), hold(a, ch, m0), hold(b, ch, m0)]
    for node in nodes:
        wait_until(lambda: (channel_info(node.pub_url(ch)) or {}).get("subscribers") == 3,
                   timeout=3.0, what=f"3 subscribers reported by {node.pub}")
    posted(c, ch, b"m1")
    assert [message(h.result(), b"m1").content for h in held] == [b"m1"] * 3
    wait_until(lambda: channel_info(c.pub_url(ch))["subscribers"] == 0, timeout=3.0,
               what="no subscribers once all were answered")
    assert channel_info(b.pub_url(ch))["messages"] == 2


# --- 7. one subscription per node, O(1) commands per publish ------------------------------------

def relay_owner(nodes, name):
    """The index of the node whose relay process named the connection `name`
    (pushrelay:<host>:<pid>:<role>), or None."""
    m = re.fullmatch(r"pushrelay:.*:(\d+):[^:]*", name)
    for i, node in enumerate(nodes):
        if m and int(m.group(1)) in node.relay_pids():
            return i
    return None


def test_one_subscription_connection_per_node_whatever_the_channels(nodes, redis):
    channels = [channel() for _ in range(20)]
    held = [hold(node, ch) for ch in channels for node in nodes]
    wait_until(lambda: sum(int(p.get("sub", 0)) for p in redis.clients("pubsub")) >= 60,
               what="each node subscribed to the 20 channels")
    subscribers = redis.clients("pubsub")
    names = [p.get("name", "") for p in subscribers]
    assert len(subscribers) == 3, names
    assert sorted(relay_owner(nodes, name) for name in names) == [0, 1, 2], names
    assert all(int(p["sub"]) >= 20 for p in subscribers), subscribers
    assert not any(h.done() for h in held)


class Iterating(threading.Thread):
    """A subscriber iterating from `after` on one node until it has `count` messages."""

    def __init__(self, node, ch, after, count):
        super().__init__(daemon=True)
        self.node, self.ch, self.after, self.count = node, ch, after, count
        self.got, self.error = [], None
        self.start()

    def run(self):
        try:
            while len(self.got) < self.count:
                r = get(self.node, self.ch, self.after)
                assert r.status_code == 200, (r.status_code, r.text)
                self.got.append(r.content)
                self.after = r
        except Exception as error:  # reported by the test
            self.error = error


def mark(server, text):
    """ECHOes `text` so that a MONITOR stream can be cut there; returns cmdstat_evalsha calls."""
    server.cli("ECHO", text)
    return server.command_calls("evalsha")


def commands_per_publish_run(nodes, server, subscribers_per_node, publishes=20):
    """Publishes `publishes` messages (through A, B, C in turn) to a channel with iterating
    subscribers held on nodes; returns (the commands the publishes cost, as MONITOR saw them:
    every client command but PINGs, the `count` script that records waiters (5 keys) and the
    marks; the cmdstat_evalsha increase less those count calls)."""
    ch = channel()
    posted(nodes[0], ch, b"m0")
    m0 = message(get(nodes[0], ch), b"m0")
    total = sum(subscribers_per_node)
    clients = [Iterating(node, ch, m0, publishes)
               for node, n in zip(nodes, subscribers_per_node) for _ in range(n)]
    wait_for_subscribers(nodes[0].pub_url(ch), total)
    wanted = sum(1 for n in subscribers_per_node if n)
    wait_until(lambda: any(int(v) == wanted for v in subscribed_nodes(server, ch)),
               what=f"{wanted} nodes subscribed to {ch}")

    monitor = server.monitor()
    before = mark(server, "start-" + ch)
    for i in range(publishes):
        posted(nodes[i % 3], ch, f"p{i}".encode())
        try:
            wait_until(lambda: all(len(cl.got) > i or cl.error for cl in clients),
                       what=f"every subscriber got p{i}")
        except AssertionError as error:
            behind = [(nodes.index(cl.node), cl.got[-1:]) for cl in clients if len(cl.got) <= i]
            raise AssertionError(f"{error}; (node, last got) of those behind: {behind}") from None
    for cl in clients:
        cl.join(WAIT)
        assert cl.error is None, cl.error
        assert cl.got == [f"p{k}".encode() for k in range(publishes)]
    after = mark(server, "end-" + ch)
    wait_until(lambda: any("end-" + ch in line for line in monitor.lines), what="the end mark")
    seen = monitor.stop()
    start = next(i for i, (_, args) in enumerate(seen) if args[1:] == ["start-" + ch])
    end = next(i for i, (_, args) in enumerate(seen) if args[1:] == ["end-" + ch])
    window = [args for client, args in seen[start + 1:end] if client != "lua"]
    counts = [a for a in window if a[0].lower() == "evalsha" and a[2] == "5"]
    cost = [a for a in window if a[0].lower() not in ("ping", "info") and a not in counts]
    return cost, after - before - len(counts)


def subscribed_nodes(server, ch):
    """PUBSUB NUMSUB of each Redis channel whose name holds `ch`."""
    names = [n for n in server.cli("PUBSUB", "CHANNELS", "*") if ch in n]
    reply = server.cli("PUBSUB", "NUMSUB", *names) if names else []
    return reply[1::2]


def test_redis_commands_per_publish_do_not_grow_with_subscribers(nodes, redis):
    one, one_evalsha = commands_per_publish_run(nodes, redis, [1, 0, 0])
    many, many_evalsha = commands_per_publish_run(nodes, redis, [10, 10, 10])
    assert abs(many_evalsha - one_evalsha) <= 2, (one_evalsha, many_evalsha)
    assert abs(len(many) - len(one)) <= 2, (command_kinds(one), command_kinds(many))
    assert len(one) <= 3 * 20, command_kinds(one)


def command_kinds(commands):
    """How many of each command (a script: EVALSHA, its sha and its number of keys)."""
    return Counter(" ".join(args[:3] if args[0].lower() == "evalsha" else args[:1])
                   for args in commands)


# --- Redis stalled, connections dropped ---------------------------------------------------------

def held_on_a_and_b(nodes):
    """A channel C published m0 and m1 to, which A and B have read, and a long-poll held on each
    of A and B after m1: (channel, m1's response, the two holds)."""
    a, b, c = nodes
    ch = channel()
    posted(c, ch, b"m0")
    m0 = message(get(a, ch), b"m0")
    m1 = deliver(ch, m0, [a, b], c, b"m1")
    held = [hold(node, ch, m1) for node in (a, b)]
    wait_for_subscribers(c.pub_url(ch), 2)
    return ch, m1, held


def test_a_redis_stall_is_503_or_late_and_loses_nothing(nodes, redis):
    a, b, c = nodes
    ch, m1, held = held_on_a_and_b(nodes)

    stall = redis.debug_sleep(3)
    wait_until(lambda: not redis_answers(redis), timeout=2.0, what="Redis to stall")
    start = time.monotonic()
    during = publish(c.pub_url(ch), b"during")
    elapsed = time.monotonic() - start
    if during.status_code == 503:
        assert elapsed < UNAVAILABLE_WITHIN, elapsed
        assert during.headers.get("Retry-After") == "1", during.headers
        assert during.text.startswith("Redis unavailable:"), during.text
    else:
        assert during.status_code in PUBLISHED, (during.status_code, during.text)
    stall.join(WAIT)
    assert not stall.is_alive()

    publish_when_up(c, ch, b"after")
    for h in held:
        r = h.result()
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.content in (b"during", b"after")
    got = read_until(b, ch, b"after", m1)
    if during.status_code in PUBLISHED:
        expected = [[b"during", b"after"]]
    elif "not published" in during.text:
        expected = [[b"after"]]
    else:  # "outcome unknown": stored or not, but once
        expected = [[b"during", b"after"], [b"after"]]
    assert [r.content for r in got] in expected, (during.text, [r.content for r in got])
    ids = [ident(r) for r in got]
    assert ids == sorted(set(ids)), ids
    extra, _ = iterate(b, ch, got[-1])
    assert extra == [], [r.content for r in extra]


def redis_answers(server):
    try:
        return server.cli("PING", timeout=0.3) == "PONG"
    except OSError:
        return False


@pytest.mark.parametrize("kind", ["pubsub", "normal"])
def test_nodes_reconnect_after_client_kill(nodes, redis, kind):
    a, b, c = nodes
    ch, m1, held = held_on_a_and_b(nodes)

    killed = redis.client_kill("TYPE", kind)
    # Each node has a command connection; the relays of A and B (holding waiters) subscribe.
    assert killed >= (2 if kind == "pubsub" else 3), killed
    publish_when_up(c, ch, b"after")
    results = [h.result() for h in held]
    assert [r.content for r in results] == [b"after", b"after"], \
        [(r.status_code, r.text) for r in results]
    assert ident(results[0]) == ident(results[1]) > ident(m1)
    assert [r.content for r in read_until(c, ch, b"after", m1)] == [b"after"]


# --- HUP --------------------------------------------------------------------------------------

def test_hup_of_a_node_keeps_its_subscribers_and_it_publishes_after(nodes):
    a, b, c = nodes
    ch = channel()
    posted(a, ch, b"m0")
    m0 = message(get(b, ch), b"m0")
    m1 = deliver(ch, m0, [b], a, b"m1")
    held = hold(b, ch, m1)
    wait_for_subscribers(a.pub_url(ch), 1)

    reloads = b.error_log.count("reloaded")
    b.signal(signal.SIGHUP)
    wait_until(lambda: b.error_log.count("reloaded") > reloads, what="the reload of B")
    publish_when_up(b, ch, b"m2")
    r = held.result()
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code == 200:
        assert r.content == b"m2"
    m2 = message(get(b, ch, m1), b"m2")
    m3 = deliver(ch, m2, [b], c, b"m3")
    assert ident(m3) > ident(m2)


# --- Idempotency-Key ---------------------------------------------------------------------------

def test_the_same_idempotency_key_on_two_nodes_stores_one_message(nodes):
    a, b, c = nodes
    ch = channel()
    key = {"Idempotency-Key": "k-" + secrets.token_hex(8)}
    posted(a, ch, b"once", headers=key)
    posted(b, ch, b"once", headers=key)
    got = read_until(c, ch, b"once")
    extra, held = iterate(c, ch, got[-1])
    assert [r.content for r in got + extra] == [b"once"]
    assert channel_info(c.pub_url(ch))["messages"] == 1
    wait_for_subscribers(a.pub_url(ch), 1)
    posted(b, ch, b"next")
    assert ident(message(held.result(), b"next")) > ident(got[0])


# --- a node cut off, ACL -------------------------------------------------------------------------

def test_delete_while_a_node_is_cut_off_reaches_it_after_it_reconnects(node_factory, redis):
    redis.acl_setuser("nodec", "on", ">pw", "~*", "&*", "+@all")
    a, b = node_factory(), node_factory()
    c = node_factory(f"redis://nodec:pw@127.0.0.1:{redis.port}")
    ch = channel()
    posted(a, ch, b"m0")
    m0 = message(get(c, ch), b"m0")
    m1 = deliver(ch, m0, [c], b, b"m1")
    held = hold(c, ch, m1)
    wait_for_subscribers(a.pub_url(ch), 1)

    redis.acl_setuser("nodec", "off")
    assert redis.client_kill("USER", "nodec") >= 1
    r = requests.delete(a.pub_url(ch), timeout=WAIT)
    assert r.status_code == 200, (r.status_code, r.text)
    redis.acl_setuser("nodec", "on")
    back = time.monotonic()
    gone = held.result(timeout=5.0 + 2)
    assert gone.status_code == 410, (gone.status_code, gone.text, c.error_log[-3000:])
    assert time.monotonic() - back < 5.0
    for node in (a, b, c):
        wait_for_status(node.pub_url(ch), 404)


def test_the_documented_least_privilege_is_enough(node_factory, redis):
    rules = LEAST_PRIVILEGE.format(ns=node_factory.namespace).split()
    redis.acl_setuser("pushrelay", "on", ">pw", *rules)
    url = f"redis://pushrelay:pw@127.0.0.1:{redis.port}"
    a, b = node_factory(url), node_factory(url)
    ch = channel()
    posted(a, ch, b"m0")
    m0 = message(get(b, ch), b"m0")
    m1 = deliver(ch, m0, [a, b], b, b"m1")
    assert ident(m1) > ident(m0)
    assert "NOPERM" not in a.error_log + b.error_log


def test_a_user_without_scripting_gets_503_and_the_log_names_the_command(node_factory, redis):
    rules = LEAST_PRIVILEGE.format(ns=node_factory.namespace).replace("+@scripting ", "")
    redis.acl_setuser("noscript", "on", ">pw", *rules.split())
    a = node_factory(f"redis://noscript:pw@127.0.0.1:{redis.port}", ready=False)
    wait_until(lambda: "NOPERM" in a.error_log, what="NOPERM in the error log")
    r = publish(a.pub_url(channel()), b"x")
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.text.startswith("Redis unavailable:"), r.text
    lines = [line for line in a.error_log.splitlines() if "NOPERM" in line]
    assert all(re.search(r"script|evalsha", line, re.I) for line in lines), lines
    assert "[error]" in lines[0], lines
    assert "pw@" not in a.error_log
