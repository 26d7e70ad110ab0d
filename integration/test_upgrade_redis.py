"""Binary upgrade (USR2) of a node in Redis mode (issue 14): two nodes on one real redis-server;
node A is upgraded while node B publishes to channels A's subscribers iterate. During the overlap
both of A's masters run, each with its relay, both feeding the one segment cache; the relay
socketpair and the node id are handed over (doc/decisions.md, "Binary upgrade").

A channel first asked for while the new master's relay is stopped (SIGSTOP) is held by the old
relay alone: after the old master left, its subscribers must still get B's messages, which needs
the new relay to take it on when the old one exits."""
import os
import re
import signal
import socket
import threading

import requests

from client import (Held, IteratingSubscriber, RoundRobinPublisher, message_id, publish_once,
                    wait_for_subscribers)
from conftest import DEFAULT_SERVERS, WAIT, alive, children_of, is_relay, wait_until
from test_redis_nodes import Node, publish_when_up
from test_upgrade import BUFFER, CopiedBinaryRelay

CHANNELS = 3
SUBSCRIBERS_PER_CHANNEL = 2
LATE_CHANNELS = 3
STORED = ["s0", "s1", "s2"]


def redis_conf(url, namespace):
    return f"""
    {BUFFER}
    push_redis_url {url};
    push_redis_namespace {namespace};
    push_redis_connect_timeout 1s;
    push_redis_command_timeout 1s;
"""


# The default servers plus an EventSource location beside the long-poll one.
SERVERS = DEFAULT_SERVERS.replace("""            {sub_extra}
        }}""", """            {sub_extra}
        }}
        location /es {{
            set $push_channel_id $arg_id;
            push_subscriber eventsource;
        }}""")


class EventSource(threading.Thread):
    """An EventSource client on one channel until it reads `END`: when the server ends the
    stream (a worker stopping), it reconnects with Last-Event-ID, as a browser does."""

    def __init__(self, server, channel):
        super().__init__(daemon=True)
        self.server, self.channel = server, channel
        self.bodies, self.errors = [], []
        self.last_id = "0:0"  # from the oldest stored: the channel is empty at the start
        self.connects = 0

    def run(self):
        for _ in range(50):
            self.connects += 1
            try:
                if self.stream():
                    return
            except OSError as e:
                self.errors.append(repr(e))
                return

    def stream(self):
        """One connection; whether END came."""
        with socket.create_connection(("127.0.0.1", self.server.sub), timeout=WAIT) as sock:
            sock.sendall(f"GET /es?id={self.channel} HTTP/1.1\r\nHost: a\r\n"
                         f"Accept: text/event-stream\r\nLast-Event-ID: {self.last_id}\r\n\r\n"
                         .encode())
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 200"):
                self.errors.append(head.decode(errors="replace"))
                return True
            while True:
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    fields = dict(line.split(": ", 1) for line in event.decode().split("\n")
                                  if not line.startswith(":"))
                    if "data" not in fields:
                        continue
                    self.last_id = fields["id"]
                    if fields["data"] == "END":
                        return True
                    self.bodies.append(fields["data"])
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                buffer += chunk


class UpgradableNode(CopiedBinaryRelay):
    """Node A: a Redis-mode node run from its own copy of the binary."""

    def __init__(self, directory, url, namespace):
        super().__init__(directory, workers=2, http=redis_conf(url, namespace), servers=SERVERS)

    def wait_ready(self):
        return publish_when_up(self, "ready", b"ready", WAIT)

    def upgrade(self):
        """USR2 to the running master with the binary replaced; returns the new master's pid
        once its pid file is written and its workers and relay run."""
        old = self.proc.pid
        self.install_binary()
        os.kill(old, signal.SIGUSR2)
        new = wait_until(lambda: (self.pid_in(self.pid_file) not in (None, old)
                                  and self.pid_in(self.pid_file)),
                         what="the new master's pid file")
        self.adopted.append(new)
        wait_until(lambda: len(self.processes_of(new)[0]) == self.workers
                   and len(self.processes_of(new)[1]) == 1,
                   what="the new master's workers and relay")
        return new

    def processes_of(self, master):
        """(workers, relays) of `master`, alive."""
        children = [p for p in children_of(master) if alive(p)]
        return ([p for p in children if not is_relay(p)], [p for p in children if is_relay(p)])

    def status(self):
        return requests.get(f"{self.base_pub}/status?format=json", timeout=WAIT).json()


def node_ids(log):
    return set(re.findall(r"start redis relay process \d+ \(node ([0-9a-f]+)\)", log))


def test_an_upgrade_in_redis_mode_loses_nothing(redis, tmp_path):
    namespace = "up"
    a = UpgradableNode(tmp_path / "a", redis.url, namespace).start()
    b = Node(tmp_path / "b", redis.url, namespace)
    b.conf_text = b.conf_text.replace("push_redis_url", f"{BUFFER}\n    push_redis_url")
    b.conf.write_text(b.conf_text)
    b.start()
    try:
        scenario(a, b)
    finally:
        b.stop()
        a.stop()


def scenario(a, b):
    a.wait_ready()
    b.wait_ready()
    old = a.proc.pid
    old_workers = set(a.worker_pids())
    for body in STORED:
        assert publish_once(b, "stored", body) == 202

    subscribers = [IteratingSubscriber(a, f"ch{c}") for c in range(CHANNELS)
                   for _ in range(SUBSCRIBERS_PER_CHANNEL)]
    streams = [EventSource(a, f"ch{c}") for c in range(CHANNELS)]
    for s in subscribers + streams:
        s.start()
    for c in range(CHANNELS):
        wait_for_subscribers(b.pub_url(f"ch{c}"), SUBSCRIBERS_PER_CHANNEL + 1)

    publisher = RoundRobinPublisher(b, CHANNELS)
    publisher.start()
    publisher.wait_for(20)

    new = a.upgrade()
    # Once the new relay has taken on the cached channels (it does before it connects), channels
    # first asked for while it is stopped reach the old relay only.
    new_relay = a.processes_of(new)[1][0]
    wait_until(lambda: f"{new_relay}#0: redis: connected (relay)" in a.error_log,
               what="the new relay connected")
    os.kill(new_relay, signal.SIGSTOP)
    try:
        late = [IteratingSubscriber(a, f"late{c}") for c in range(LATE_CHANNELS)]
        for s in late:
            s.start()
        for c in range(LATE_CHANNELS):
            wait_for_subscribers(b.pub_url(f"late{c}"), 1)
    finally:
        os.kill(new_relay, signal.SIGCONT)

    published_before_quit = len(publisher.statuses)
    os.kill(old, signal.SIGQUIT)
    assert a.proc.wait(timeout=WAIT * 2) == 0
    wait_until(lambda: not any(alive(p) for p in old_workers), what="the old workers to exit")
    publisher.wait_for(published_before_quit + 20, "publishing on after the old master left")

    late_sent = [f"l{n}" for n in range(5)]
    for c in range(LATE_CHANNELS):
        for body in late_sent + ["END"]:
            assert publish_once(b, f"late{c}", body) in (201, 202)
    publisher.finish()
    publisher.check(subscribers + streams)
    for s in late:
        s.join(WAIT * 3)
        assert not s.is_alive(), f"subscriber of {s.channel} did not finish\n{a.error_log[-3000:]}"
        assert s.errors == []
        assert s.bodies == late_sent, f"{s.channel}: {s.bodies}"

    after_the_old_master_left(a, b, old, new)


def after_the_old_master_left(a, b, old, new):
    # Stored before the upgrade, never asked for on A until now.
    r = requests.get(a.sub_url("stored"), timeout=WAIT)
    got = []
    for _ in STORED:
        assert r.status_code == 200, (r.status_code, r.text)
        got.append(r.text)
        if len(got) < len(STORED):
            r = requests.get(a.sub_url("stored"), headers=message_id(r), timeout=WAIT)
    assert got == STORED

    # A channel first subscribed on A after the old master left.
    held = Held(a.sub_url("fresh"))
    wait_for_subscribers(b.pub_url("fresh"), 1)
    assert publish_once(b, "fresh", "f0") == 201
    r = held.result()
    assert (r.status_code, r.text) == (200, "f0")

    # Publishing on A reaches B's subscribers.
    held = Held(b.sub_url("back"))
    wait_for_subscribers(a.pub_url("back"), 1)
    assert publish_once(a, "back", "b0") == 201
    r = held.result()
    assert (r.status_code, r.text) == (200, "b0")

    log = a.error_log
    assert f"took over from master process {old}" in log
    # One node across the upgrade: leases, K frames and retry tokens stay the node's.
    assert len(node_ids(log)) == 1, node_ids(log)
    assert a.pid_in(a.pid_file) == new
    status = a.status()
    assert status["workers"] == a.workers, status
    assert status["redis_up"] in (1, True), status
    # The new relay holds every channel A's subscribers used (none was idle for 30 s).
    assert status["redis_channels"] >= CHANNELS + LATE_CHANNELS + 2, status
