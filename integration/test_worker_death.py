"""Worker death: a worker SIGKILLed at any moment (holding the store's lock or halfway through
storing a message included) is replaced at once, and the shared store stays consistent: no
message stored completely is lost or repeated, the dead worker's subscribers stop being counted,
nothing leaks. A worker that crashes writes the signal and a backtrace to the error log.
doc/shm-layout.md, "Crash consistency"."""
import os
import random
import re
import signal
import threading
import time

import requests

from client import channel_info, publish
from conftest import WAIT, wait_until

CHANNELS = 5
SUBSCRIBERS = 20
MESSAGES = 300
KILLS = 10
KILL_PACING = 0.3  # seconds between kills: pacing, not synchronisation
PUBLISH_PACING = 0.012  # spreads the 300 publishes over the kills
BODY_PAD = 1000  # bytes: large enough that leaked messages would show in the segment's use
RUN_DEADLINE = 60.0  # seconds for the whole exchange
HELD_TIMEOUT = 1.5  # a caught-up subscriber re-polls this often, to notice it is done
MAILBOX_BYTES = 1024 * 32 + 1088 * 8  # per slot, kept once created (doc/shm-layout.md)


CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout)


def start(pushrelay):
    return pushrelay(workers=2, http="push_max_message_buffer_length 1000;")


def segment_used(server):
    r = requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT)
    assert r.status_code == 200, r.text
    return r.json()["segment_used"]


def body_of(channel, index):
    return f"c{channel}-{index:04d}-".encode() + b"x" * BODY_PAD


def index_of(body):
    return int(body.split(b"-")[1])


class Subscriber(threading.Thread):
    """Follows one channel on fresh connections, re-polling with its last ids after any error,
    until it holds `target` messages (set once publishing is over) or the deadline passes."""

    def __init__(self, server, channel, deadline):
        super().__init__(daemon=True)
        self.url = server.sub_url(f"c{channel}")
        self.channel = channel
        self.deadline = deadline
        self.target = None
        self.received = []
        self.unexpected = []
        self.connection_errors = 0

    def run(self):
        ids = {}
        while time.monotonic() < self.deadline:
            if self.target is not None and len(self.received) >= self.target:
                return
            try:
                r = requests.get(self.url, headers={"Connection": "close", **ids},
                                 timeout=(WAIT, HELD_TIMEOUT))
            except CONNECTION_ERRORS:
                self.connection_errors += 1
                continue
            if r.status_code == 200:
                self.received.append(index_of(r.content))
                ids = {"If-Modified-Since": r.headers["Last-Modified"],
                       "If-None-Match": r.headers["Etag"]}
            elif r.status_code != 304:
                self.unexpected.append((r.status_code, r.text))


class Publisher(threading.Thread):
    """Publishes MESSAGES messages round-robin over the channels, one fresh connection each."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.acknowledged = {c: [] for c in range(CHANNELS)}
        self.statuses = []

    def run(self):
        for n in range(MESSAGES):
            channel, index = n % CHANNELS, n // CHANNELS
            try:
                r = publish(self.server.pub_url(f"c{channel}"), body_of(channel, index),
                            headers={"Connection": "close"})
            except CONNECTION_ERRORS:
                self.statuses.append("connection error")
            else:
                self.statuses.append(r.status_code)
                if r.status_code in (201, 202):
                    self.acknowledged[channel].append(index)
            time.sleep(PUBLISH_PACING)


def kill_workers(server, times, signo=signal.SIGKILL):
    """Kills a random current worker `times` times, each time waiting for its replacement."""
    victims = []
    for _ in range(times):
        time.sleep(KILL_PACING)
        victim = random.choice(server.worker_pids())
        os.kill(victim, signo)
        victims.append(victim)
        wait_until(lambda: victim not in server.worker_pids()
                   and len(server.worker_pids()) == server.workers,
                   what=f"worker {victim} to be replaced")
    return victims


def test_killed_workers_lose_no_stored_message_and_leak_nothing(pushrelay):
    server = start(pushrelay)
    used_at_start = segment_used(server)
    deadline = time.monotonic() + RUN_DEADLINE
    subscribers = [Subscriber(server, i % CHANNELS, deadline) for i in range(SUBSCRIBERS)]
    for s in subscribers:
        s.start()
    publisher = Publisher(server)
    publisher.start()

    kill_workers(server, KILLS)
    publisher.join(RUN_DEADLINE)
    assert not publisher.is_alive()

    # Whatever a publish cut off by a kill managed to store counts as published too.
    stored = {c: channel_info(server.pub_url(f"c{c}"))["messages"] for c in range(CHANNELS)}
    for s in subscribers:
        s.target = stored[s.channel]
    for s in subscribers:
        s.join(RUN_DEADLINE)
        assert not s.is_alive(), f"subscriber on c{s.channel} is stuck"

    assert all(status in (201, 202, "connection error") for status in publisher.statuses), \
        publisher.statuses
    for s in subscribers:
        assert not s.unexpected, s.unexpected
        acknowledged = publisher.acknowledged[s.channel]
        assert s.received == sorted(set(s.received)), \
            f"c{s.channel}: out of order or repeated: {s.received}"
        assert set(acknowledged) <= set(s.received), \
            f"c{s.channel}: lost {sorted(set(acknowledged) - set(s.received))}"
        assert len(s.received) == stored[s.channel]

    assert server.proc.poll() is None, "the master died"
    wait_until(lambda: len(server.worker_pids()) == server.workers, what="the configured workers")
    # The subscribers are gone: no dead worker's waiter may still be counted.
    wait_until(lambda: all(channel_info(server.pub_url(f"c{c}"))["subscribers"] == 0
                           for c in range(CHANNELS)), what="subscriber counts back to 0")

    for c in range(CHANNELS):
        assert requests.delete(server.pub_url(f"c{c}"), timeout=WAIT).status_code == 200
    # Both slots' mailboxes stay allocated; anything beyond them (and a little slack) leaked.
    leaked = segment_used(server) - used_at_start - 2 * MAILBOX_BYTES
    assert leaked < 8192, f"{leaked} bytes of the segment not given back"


def test_a_crashing_worker_logs_its_signal_and_a_backtrace(pushrelay):
    server = start(pushrelay)
    victim = kill_workers(server, 1, signal.SIGSEGV)[0]
    line = f"{victim}: worker process {victim} exited on signal 11"
    wait_until(lambda: line in server.error_log, what="the worker's own crash line")
    after = server.error_log.split(line, 1)[1]
    assert re.search(r"\[0x[0-9a-f]+\]", after), f"no backtrace frame after the line:\n{after}"
    assert server.proc.poll() is None
