"""Streams across workers (transports.md; issue 11, "Across workers"): 1,000 subscribers of
mixed transports (EventSource, HTTP chunked, multipart/mixed, long-poll, and WebSocket with
ws+meta.nchan when the binary has it) spread over 2 workers all get every message of a burst,
in order, once; then one worker is SIGKILLed while messages are published, exactly its clients
see their connection end, they reconnect with their last id (to the other worker or the
respawned one) and every message published across the kill arrives exactly once. The same with
a HUP reload in place of the kill (Stream end, reload): every client's connection ends, every
client resumes, nothing is lost or repeated.

Each transport resumes by a different rule of transports.md "Message id", Resume:
  long-poll   rule 1, If-Modified-Since + If-None-Match of its last message;
  multipart   rule 2, If-None-Match `<time>:<tag>` (Nchan's compound etag) from its last part;
  chunked     rule 3, an `Etag: <id>` request header. A chunked stream carries no id, so the
              client names its last body by the id the id-carrying clients of the channel saw
              for that body ("One message has the same id on every transport");
  eventsource rule 4, Last-Event-ID, as a browser's EventSource does;
  websocket   rule 5, last_event_id=<id> (URL-encoded), as NchanSubscriber does.

One asyncio loop drives every client (raw sockets; python3-websockets for WebSocket), the
publisher and the checks; every wait is bounded, none is a sleep standing for an event."""
import asyncio
import email.utils
import os
import re
import resource
import signal
import time
import urllib.parse

import pytest
import requests

from client import server_sockets_by_worker
from conftest import WAIT, alive, require_websocket

try:
    import websockets
except ImportError:  # reported by the test that needs it
    websockets = None

SUBSCRIBERS = 1000
CHANNELS = 4
BURST = 50          # messages per channel, published as fast as the publisher goes
ACROSS_KILL = 20    # messages per channel in the second phase; the kill after half of them
DEADLINE = 40.0     # seconds for each phase's deliveries to complete
CONNECTING = 200    # connections opened at once (the listen backlog is finite)
MAX_CONNECTIONS = 5  # per client: 1, 1 more after the kill or reload; more: cut again and again

HTTP_KINDS = ["eventsource", "chunked", "multipart", "longpoll"]


def body_of(channel, index):
    return f"c{channel}-m{index:03d}"


class Closed(Exception):
    """The connection ended (EOF, reset, or a stream end)."""


class Shared:
    """What every client of the test shares: the server, the ids seen per body (for chunked
    resumes), and a condition notified on each new id."""

    def __init__(self, server):
        self.server = server
        self.ids = {}                 # body -> id, as the id-carrying transports served it
        self.id_mismatches = []       # (body, id, another id): one message, two ids
        self.new_id = asyncio.Condition()
        self.stopping = False

    async def learn(self, body, message_id):
        known = self.ids.setdefault(body, message_id)
        if known != message_id:
            self.id_mismatches.append((body, known, message_id))
        async with self.new_id:
            self.new_id.notify_all()

    async def id_of(self, body):
        async with self.new_id:
            await asyncio.wait_for(self.new_id.wait_for(lambda: body in self.ids), WAIT)
        return self.ids[body]


class Client:
    """One subscriber of `kind` on channel `channel`: it follows the channel on a connection,
    and on any end reconnects with its last id until the test stops."""

    def __init__(self, shared, kind, channel):
        self.shared, self.kind, self.channel = shared, kind, channel
        self.bodies, self.ids = [], []
        self.lm_etag = None           # long-poll: (Last-Modified, Etag) of its last message
        self.connections = 0          # connections opened (1 + reconnections)
        self.local_port = None        # of the current connection
        self.registered = asyncio.Event()  # head received (streams) / first request sent
        self.errors = []

    async def run(self):
        while not self.shared.stopping:
            if self.connections == MAX_CONNECTIONS:
                # Each end here is a server's doing (a kill, a reload, a crash): a client
                # reconnecting this often is looping on one; the test reports it, not waits.
                self.errors.append(f"{MAX_CONNECTIONS} connections, each ended by the server")
                return
            self.connections += 1
            try:
                if self.kind == "websocket":
                    await self.websocket()
                else:
                    await self.http()
            except (Closed, ConnectionError, asyncio.IncompleteReadError, OSError,
                    *(() if websockets is None else (websockets.ConnectionClosed,
                                                      websockets.InvalidHandshake))):
                pass
            except Exception as error:  # noqa: BLE001 (reported by the test)
                self.errors.append(repr(error))
                return

    async def got(self, body, message_id):
        self.bodies.append(body)
        self.ids.append(message_id)
        if message_id is not None:
            await self.shared.learn(body, message_id)

    # HTTP transports -------------------------------------------------------------------------

    async def request_head(self):
        query = f"id=c{self.channel}"
        last_id = self.ids[-1] if self.ids else None
        headers = {"eventsource": {"Accept": "text/event-stream"}, "chunked": {"TE": "chunked"},
                   "multipart": {"Accept": "multipart/mixed"}, "longpoll": {}}[self.kind]
        headers = dict(headers)
        if self.kind == "longpoll":
            if self.lm_etag:
                headers["If-Modified-Since"], headers["If-None-Match"] = self.lm_etag
        elif self.bodies:
            if self.kind == "eventsource":
                headers["Last-Event-ID"] = last_id
            elif self.kind == "multipart":
                headers["If-None-Match"] = last_id
            else:
                headers["Etag"] = await self.shared.id_of(self.bodies[-1])
        lines = [f"GET /sub?{query} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def http(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.shared.server.sub)
        self.local_port = writer.get_extra_info("sockname")[1]
        try:
            if self.kind == "longpoll":
                await self.long_poll(reader, writer)
                return
            writer.write(await self.request_head())
            head = await read_head(reader)
            if not head.startswith("HTTP/1.1 200"):
                raise AssertionError(f"{self.kind}: {head!r}")
            self.registered.set()
            await {"eventsource": self.eventsource, "chunked": self.chunked,
                   "multipart": self.multipart}[self.kind](reader, head)
        finally:
            writer.close()

    async def eventsource(self, reader, head):
        assert await reader.readexactly(6) == b": hi\n\n"
        while True:
            event = await read_until(reader, b"\n\n")
            fields = dict(line.split(": ", 1) for line in event.decode()[:-2].split("\n"))
            await self.got(fields["data"], fields["id"])

    async def chunked(self, reader, head):
        while True:
            size = int(await read_until(reader, b"\r\n"), 16)
            if size == 0:
                raise Closed()
            chunk = await reader.readexactly(size + 2)
            await self.got(chunk[:-2].decode(), None)

    async def multipart(self, reader, head):
        boundary = re.search(r"boundary=([0-9A-Za-z]{32})", head).group(1).encode()
        assert await reader.readexactly(2 + len(boundary)) == b"--" + boundary
        while True:
            after = await reader.readexactly(2)
            if after == b"--":
                raise Closed()
            assert after == b"\r\n", after
            part_head = (await read_until(reader, b"\r\n\r\n")).decode()
            body = (await read_until(reader, b"\r\n--" + boundary))[:-len(boundary) - 4]
            last_modified = re.search(r"Last-Modified: ([^\r]+)\r\n", part_head).group(1)
            etag = re.search(r"Etag: ([^\r]+)\r\n", part_head).group(1)
            await self.got(body.decode(), f"{unix_time(last_modified)}:{etag}")

    async def long_poll(self, reader, writer):
        while True:
            writer.write(await self.request_head())
            self.registered.set()
            head = await read_head(reader)
            if head.startswith("HTTP/1.1 304"):
                # No body. A reload (or push_subscriber_timeout) answers a held long-poll so;
                # its Last-Modified and Etag echo the request's, and the client takes them as
                # NchanSubscriber does (it takes them from every response).
                if "\r\nLast-Modified: " in head:
                    self.lm_etag = (re.search(r"\r\nLast-Modified: ([^\r]+)", head).group(1),
                                    re.search(r"\r\nEtag: ([^\r]+)", head).group(1))
                if "\r\nConnection: close" in head:
                    return
                continue
            body = await reader.readexactly(
                int(re.search(r"\r\nContent-Length: (\d+)", head).group(1)))
            if not head.startswith("HTTP/1.1 200"):
                raise AssertionError(f"long-poll: {head!r}")
            last_modified = re.search(r"\r\nLast-Modified: ([^\r]+)", head).group(1)
            etag = re.search(r"\r\nEtag: ([^\r]+)", head).group(1)
            self.lm_etag = (last_modified, etag)
            await self.got(body.decode(), f"{unix_time(last_modified)}:{etag}")
            if "\r\nConnection: close" in head:
                return

    # WebSocket -------------------------------------------------------------------------------

    async def websocket(self):
        url = f"ws://127.0.0.1:{self.shared.server.sub}/sub?id=c{self.channel}"
        if self.ids:
            url += "&last_event_id=" + urllib.parse.quote(self.ids[-1], safe="")
        async with websockets.connect(url, subprotocols=["ws+meta.nchan"], compression=None,
                                      ping_interval=None, close_timeout=1,
                                      open_timeout=WAIT) as ws:
            assert ws.subprotocol == "ws+meta.nchan"
            self.local_port = ws.local_address[1]
            self.registered.set()
            async for frame in ws:
                m = re.fullmatch(r"id: ([^\n]+)\n(?:content-type: [^\n]*\n)?\n(.*)", frame,
                                 re.S)
                assert m, frame
                await self.got(m.group(2), m.group(1))


async def read_head(reader):
    return (await read_until(reader, b"\r\n\r\n")).decode()


async def read_until(reader, separator):
    try:
        return await reader.readuntil(separator)
    except asyncio.IncompleteReadError:
        raise Closed() from None


def unix_time(http_date):
    return int(email.utils.parsedate_to_datetime(http_date).timestamp())


async def post(server, body):
    """POST on a new connection; the status, or None if the connection broke (the publish
    may or may not have been stored: the worker that took it may have been the one killed)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.pub)
        channel = body.split("-")[0]
        writer.write((f"POST /pub?id={channel} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                      f"Connection: close\r\n\r\n{body}").encode())
        status = int((await asyncio.wait_for(read_head(reader), WAIT)).split(" ")[1])
        writer.close()
        return status
    except (Closed, ConnectionError, OSError):
        return None


STATUS_KEY = {"eventsource": "eventsource_subscribers", "chunked": "chunked_subscribers",
              "multipart": "multipart_subscribers", "longpoll": "longpoll_subscribers",
              "websocket": "websocket_subscribers"}


def counted(server, clients):
    """Whether the status page counts every client, and each under its transport."""
    r = requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT)
    assert r.status_code == 200, r.text
    figures = r.json()
    want = {key: sum(1 for c in clients if STATUS_KEY[c.kind] == key)
            for key in STATUS_KEY.values()}
    return figures["subscribers"] == len(clients) and {k: figures[k] for k in want} == want


async def until(predicate, what, timeout=DEADLINE, clients=()):
    """Polls predicate (bounded) while the loop keeps serving the clients; fails at once when
    one of `clients` has stopped on an error."""
    deadline = time.monotonic() + timeout
    while not predicate():
        errors = [(c.kind, c.errors) for c in clients if c.errors]
        assert not errors, f"{len(errors)} subscribers failed: {errors[:5]}"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def in_thread(function, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(f"fd hard limit {hard} < {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return soft


@pytest.mark.parametrize("disruption", ["kill", "reload"])
@pytest.mark.parametrize("with_websocket", [False, True], ids=["http", "with-websocket"])
def test_thousand_mixed_streams_across_workers_and_a_killed_worker(pushrelay, with_websocket,
                                                                   disruption):
    """Across workers: 1,000 subscribers of every transport (WebSocket in the with-websocket
    case, a fifth of them) on 2 workers (both hold some; the status page counts 1,000, each
    under its transport) all get a burst of 50 messages per channel in order, once, with
    the same id for one message on every id-carrying transport (Message id). Then one worker is
    SIGKILLed between two halves of 20 more messages per channel: exactly the clients it held
    lose their connection, they resume with their last id (each transport by its own Resume
    rule) and every message published across the kill arrives exactly once, in order; the
    status page counts 1,000 again, each under its transport (the dead worker's forgotten).
    reload: a HUP in place of the kill; every stream ends (Stream end, reload) and every
    long-poll gets its 304 with Connection: close, so every client resumes, exactly once each
    message."""
    kinds = list(HTTP_KINDS)
    if with_websocket:
        require_websocket()
        assert websockets is not None, "no python3-websockets: apt-get install python3-websockets"
        kinds.append("websocket")
    old_soft = raise_fd_limit(SUBSCRIBERS * 2 + 1000)
    server = pushrelay(workers=2, mode="long-poll eventsource chunked multipart-mixed"
                       + (" websocket" if "websocket" in kinds else ""),
                       http="push_max_message_buffer_length 1000;")
    try:
        asyncio.run(asyncio.wait_for(scenario(server, kinds, disruption), 3 * DEADLINE))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (old_soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


async def scenario(server, kinds, disruption):
    shared = Shared(server)
    clients = [Client(shared, kinds[i % len(kinds)], (i // len(kinds)) % CHANNELS)
               for i in range(SUBSCRIBERS)]
    gate = asyncio.Semaphore(CONNECTING)

    async def launch(client):
        async with gate:
            task = asyncio.create_task(client.run())
            tasks.append(task)
            registered = asyncio.create_task(client.registered.wait())
            await asyncio.wait([registered, task], timeout=WAIT,
                               return_when=asyncio.FIRST_COMPLETED)
            registered.cancel()
            if not client.registered.is_set():
                raise AssertionError(f"a {client.kind} subscriber not registered after "
                                     f"{client.connections} connections: {client.errors}")

    tasks = []
    try:
        await asyncio.gather(*(launch(c) for c in clients))
        await phases(server, shared, clients, kinds, disruption)
    finally:
        shared.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)


async def phases(server, shared, clients, kinds, disruption):
    # Phase 1: all registered and counted, on both workers.
    await until(lambda: counted(server, clients), f"the status page to count {SUBSCRIBERS} "
                "subscribers, each under its transport", WAIT)
    held = await in_thread(server_sockets_by_worker, server)
    worker_of = {port: pid for pid, ports in held.items() for port in ports}
    spread = {pid: {k: sum(1 for c in clients if c.kind == k and worker_of.get(c.local_port) == pid)
                    for k in kinds} for pid in held}
    assert sum(len(p) for p in held.values()) == SUBSCRIBERS, spread
    assert all(sum(by_kind.values()) > 0 for by_kind in spread.values()), \
        f"one worker holds every subscriber: {spread}"

    expected = {c: [] for c in range(CHANNELS)}
    for index in range(BURST):
        for channel in range(CHANNELS):
            body = body_of(channel, index)
            assert await post(server, body) == 201  # someone waits on every channel
            expected[channel].append(body)
    await until(lambda: all(len(c.bodies) >= BURST for c in clients),
                f"every subscriber to get the burst of {BURST}", clients=clients)
    check(clients, expected, shared)
    assert all(c.connections == 1 for c in clients), "a connection ended before the kill"

    # Phase 2: SIGKILL one worker (or, reload: HUP the master) between the two halves.
    held = await in_thread(server_sockets_by_worker, server)
    victim = max(held, key=lambda pid: len(held[pid]))
    victims = [c for c in clients if c.local_port in held[victim]]
    assert victims and len(victims) < SUBSCRIBERS
    old_workers = set(held)
    unsure = set()
    for index in range(BURST, BURST + ACROSS_KILL):
        if index == BURST + ACROSS_KILL // 2:
            if disruption == "kill":
                os.kill(victim, signal.SIGKILL)
            else:
                server.signal(signal.SIGHUP)
        for channel in range(CHANNELS):
            body = body_of(channel, index)
            publish_status = await post(server, body)
            if publish_status is None:
                unsure.add(body)   # a connection the dead worker had taken
            else:
                assert publish_status in (201, 202), publish_status
            expected[channel].append(body)
    if disruption == "kill":
        await until(lambda: not alive(victim) and len(server.worker_pids()) == server.workers,
                    "the killed worker's replacement", WAIT)
    else:
        await until(lambda: set(server.worker_pids()).isdisjoint(old_workers)
                    and len(server.worker_pids()) == server.workers,
                    "a new generation of workers", WAIT)
    # A publish cut by the kill is in the channel or not: once every client has every
    # acknowledged message, the clients say which, and all of them must agree (check()
    # compares each with the result).
    sure = {channel: set(bodies) - unsure for channel, bodies in expected.items()}
    await until(lambda: all(sure[c.channel] <= set(c.bodies) for c in clients),
                "every subscriber to get every acknowledged message published across the kill",
                clients=clients)
    seen = {b for c in clients for b in c.bodies}
    for channel in expected:
        expected[channel] = [b for b in expected[channel] if b not in unsure or b in seen]
    await until(lambda: all(len(c.bodies) >= len(expected[c.channel]) for c in clients),
                "every subscriber to get every message published across the kill",
                clients=clients)
    check(clients, expected, shared)
    reconnected = {id(c) for c in clients if c.connections > 1}
    if disruption == "kill":
        assert reconnected == {id(c) for c in victims}, (
            f"{len(reconnected)} reconnected, {len(victims)} were on the killed worker")
        assert {c.kind for c in victims} == set(kinds), "a transport had no client on the victim"
    else:
        # Stream end, reload: every stream of a retiring worker ends at once; a long-poll's
        # connection ends when its worker has answered it and gone.
        assert reconnected == {id(c) for c in clients}, (
            f"{len(reconnected)} of {len(clients)} reconnected after the reload")
    await until(lambda: counted(server, clients), f"the status page to count {SUBSCRIBERS} "
                "subscribers again, each under its transport (the dead worker's forgotten)", WAIT)


def check(clients, expected, shared):
    errors = [(c.kind, c.errors) for c in clients if c.errors]
    assert not errors, errors[:5]
    wrong = [(c.kind, c.channel, len(c.bodies), first_difference(c.bodies, expected[c.channel]))
             for c in clients if c.bodies != expected[c.channel]]
    assert not wrong, f"{len(wrong)} subscribers lost, repeated or reordered: {wrong[:5]}"
    assert not shared.id_mismatches, shared.id_mismatches[:5]
    for c in clients:
        if c.kind != "chunked":
            keys = [tuple(map(int, i.split(":"))) for i in c.ids]
            assert keys == sorted(keys), (c.kind, c.ids)


def first_difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"at {i}: got {g}, want {w}"
    return f"got {len(got)}, want {len(want)}"
