"""Client helpers shared by the integration tests: publish, read channel
info, wait for the server's counts (the event a held-subscriber test awaits
instead of sleeping), and a subscriber held on its own connection."""
import email.utils
import os
import re
import threading

import requests

from conftest import WAIT, wait_until


def publish(url, body=b"", headers=None, method="POST", session=None):
    """Publishes body to a publisher URL; returns the response."""
    return (session or requests).request(method, url, data=body, headers=headers or {},
                                         timeout=WAIT)


def channel_info(pub_url, accept="application/json"):
    """The publisher's GET channel info as a dict, or None for 404 (no channel)."""
    r = requests.get(pub_url, headers={"Accept": accept}, timeout=WAIT)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def subscriber_count(pub_url):
    info = channel_info(pub_url)
    return None if info is None else info["subscribers"]


def message_count(pub_url):
    info = channel_info(pub_url)
    return None if info is None else info["messages"]


def wait_for_subscribers(pub_url, n):
    """Waits (bounded) until the server counts exactly n subscribers on the channel. An
    absent channel counts none: one a subscriber made goes with its last subscriber."""
    wait_until(lambda: (subscriber_count(pub_url) or 0) == n,
               what=f"{n} subscribers at {pub_url}")


def wait_for_messages(pub_url, n, timeout=WAIT):
    wait_until(lambda: message_count(pub_url) == n, timeout=timeout,
               what=f"{n} queued messages at {pub_url}")


def message_id(response):
    """The (Last-Modified, Etag) of a response, as headers to send back."""
    return {"If-Modified-Since": response.headers["Last-Modified"],
            "If-None-Match": response.headers["Etag"]}


def http_date(seconds):
    return email.utils.formatdate(seconds, usegmt=True)


def parse_http_date(text):
    return email.utils.parsedate_to_datetime(text).timestamp()


class Held:
    """A subscriber GET on its own connection in a thread: it may be held by the
    server for as long as WAIT; result() joins and returns the response."""

    def __init__(self, url, headers=None, method="GET"):
        self.response = None
        self.error = None
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}, method),
                                        daemon=True)
        self._thread.start()

    def _run(self, url, headers, method):
        try:
            with requests.Session() as session:
                self.response = session.request(method, url, headers=headers, timeout=WAIT)
        except Exception as error:  # reported by result()
            self.error = error

    def done(self):
        return not self._thread.is_alive()

    def result(self, timeout=WAIT + 2):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "subscriber still held"
        if self.error is not None:
            raise self.error
        return self.response


EXPOSED = "Last-Modified, Etag"


def assert_cors(response, origin="*"):
    assert response.headers.get("Access-Control-Allow-Origin") == origin
    assert response.headers.get("Access-Control-Expose-Headers") == EXPOSED


def server_sockets_by_worker(server, port=None):
    """{worker pid: set of client ports} for the connections each worker holds on `port` (the
    subscriber port by default), read from /proc (the fd's socket inode, and /proc/net/tcp's row
    of it)."""
    port = server.sub if port is None else port
    peers = {}  # inode -> client port, for established connections to the subscriber port
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":
            peers[int(fields[9])] = int(fields[2].split(":")[1], 16)
    held = {}
    for pid in server.worker_pids():
        ports = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.fullmatch(r"socket:\[(\d+)\]", link)
            if m and int(m.group(1)) in peers:
                ports.add(peers[int(m.group(1))])
        held[pid] = ports
    return held


class IteratingSubscriber(threading.Thread):
    """Iterates one channel with Last-Modified/Etag until it sees `END` (at most `requests`
    requests), on a new connection per request: a kept-alive one may meet a worker closing it
    (a reload, an upgrade), which is not what the tests using it are about."""

    def __init__(self, server, channel, requests_at_most=2000):
        super().__init__(daemon=True)
        self.server, self.channel, self.requests_at_most = server, channel, requests_at_most
        self.bodies, self.statuses, self.errors = [], [], []

    def run(self):
        headers = {"Connection": "close"}
        for _ in range(self.requests_at_most):
            try:
                r = requests.get(self.server.sub_url(self.channel), headers=headers, timeout=WAIT)
            except requests.RequestException as e:
                self.errors.append(repr(e))
                return
            self.statuses.append(r.status_code)
            if r.status_code == 304:
                continue
            if r.status_code != 200:
                return
            headers = {"Connection": "close", "If-Modified-Since": r.headers["Last-Modified"],
                       "If-None-Match": r.headers["Etag"]}
            if r.content == b"END":
                return
            self.bodies.append(r.content.decode())


def publish_once(server, channel, body):
    """POST on a new connection (see IteratingSubscriber); returns the status."""
    return publish(server.pub_url(channel), body, {"Connection": "close"}).status_code



class RoundRobinPublisher(threading.Thread):
    """Publishes m0, m1, ... to ch0 .. ch<channels-1> in turn, each on a new connection, until
    stopped (at most `messages_at_most`), recording what each channel was sent and every status:
    the load under which a reload or an upgrade must lose nothing."""

    def __init__(self, server, channels, messages_at_most=3000):
        super().__init__(daemon=True)
        self.server, self.channels, self.messages_at_most = server, channels, messages_at_most
        self.sent = {c: [] for c in range(channels)}
        self.statuses = []
        self.done = threading.Event()

    def run(self):
        for n in range(self.messages_at_most):
            if self.done.is_set():
                return
            c = n % self.channels
            self.statuses.append(publish_once(self.server, f"ch{c}", f"m{n}"))
            self.sent[c].append(f"m{n}")

    def wait_for(self, published, what="publishing under way"):
        wait_until(lambda: len(self.statuses) >= published, what=what)

    def finish(self):
        """Stops, then ends every channel with `END` (IteratingSubscriber's last message)."""
        self.done.set()
        self.join(WAIT)
        for c in range(self.channels):
            assert publish_once(self.server, f"ch{c}", "END") in (201, 202)

    def check(self, subscribers):
        """Every publish accepted; each subscriber of ch<c> got exactly what ch<c> was sent."""
        assert set(self.statuses) <= {201, 202}
        for s in subscribers:
            s.join(WAIT * 3)
            assert not s.is_alive(), f"subscriber of {s.channel} did not finish"
            assert s.errors == []
            assert set(getattr(s, "statuses", [200])) <= {200, 304}
            sent = self.sent[int(s.channel[2:])]
            assert s.bodies == sent, f"{s.channel}: got {len(s.bodies)} of {len(sent)}"
