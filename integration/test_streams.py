"""Streaming subscriber transports (transports.md): EventSource, HTTP chunked, multipart/mixed,
transport selection, resume by message id, and stream ends. Raw sockets where bytes matter; every
wait is bounded (WAIT) and waits on the server's own counts, never on sleeps."""
import email.utils
import re
import signal
import socket
import time

import requests

from client import publish, subscriber_count, wait_for_subscribers
from conftest import WAIT, wait_until

STREAMS = "long-poll eventsource chunked multipart-mixed"


class Stream:
    """A raw subscriber connection: sends a GET and collects every byte it receives."""

    def __init__(self, server, channel, headers=None, query="", path="/sub"):
        self.sock = socket.create_connection(("127.0.0.1", server.sub), timeout=WAIT)
        lines = [f"GET {path}?id={channel}{query} HTTP/1.1", "Host: localhost"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.data = b""
        self.closed = False

    def read_until(self, predicate, what="bytes"):
        deadline = time.monotonic() + WAIT
        while not predicate(self.data):
            if self.closed or time.monotonic() > deadline:  # closed: predicate still false
                raise AssertionError(f"no {what}; got {self.data!r}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"no {what}; got {self.data!r}") from None
            if not chunk:
                self.closed = True
            self.data += chunk
        return self.data

    def head_and_body(self):
        self.read_until(lambda d: b"\r\n\r\n" in d, "head")
        head, body = self.data.split(b"\r\n\r\n", 1)
        return head.decode(), body

    def body(self):
        return self.head_and_body()[1]

    def wait_body(self, predicate, what="body"):
        self.read_until(lambda d: b"\r\n\r\n" in d and predicate(d.split(b"\r\n\r\n", 1)[1]),
                        what)
        return self.body()

    def wait_closed(self):
        self.read_until(lambda d: self.closed, "close")
        return self.body()

    def close(self):
        self.sock.close()


ES = {"Accept": "text/event-stream"}
CHUNKED = {"TE": "chunked"}
MULTIPART = {"Accept": "multipart/mixed"}


def es_frames(body):
    """(id, data) of each EventSource frame after the `: hi` preamble; none while the preamble
    has not all arrived (it is a predicate of reads that may stop anywhere)."""
    if not body.startswith(b": hi\n\n"):
        return []
    return re.findall(rb"id: (\d+:\d+)\n((?:data: [^\n]*\n)+)\n", body[6:])


def subscriber_count_or_zero(pub_url):
    return subscriber_count(pub_url) or 0


def start(pushrelay, extra="", mode=STREAMS):
    return pushrelay(mode=mode, sub_extra=extra)


def test_eventsource_hello(pushrelay):
    """EventSource (row 2): head, `: hi` preamble, `id: <time>:<tag>` and one data line."""
    server = start(pushrelay)
    s = Stream(server, "a", ES)
    head, body = s.head_and_body()
    assert head.startswith("HTTP/1.1 200 OK")
    assert "Content-Type: text/event-stream; charset=utf-8" in head
    assert "Access-Control-Allow-Origin: *" in head
    assert "Content-Length" not in head and "Transfer-Encoding" not in head
    s.wait_body(lambda b: b == b": hi\n\n", "preamble")
    wait_for_subscribers(server.pub_url("a"), 1)
    publish(server.pub_url("a"), b"hello")
    body = s.wait_body(lambda b: b.endswith(b"hello\n\n"))
    assert re.fullmatch(rb": hi\n\nid: \d+:0\ndata: hello\n\n", body), body
    s.close()


def test_eventsource_data_lines(pushrelay):
    """EventSource: the body cut after every \\n; empty body; \\r not special."""
    server = start(pushrelay)
    for body in (b"a\nb", b"a\n", b"", b"x\r\ny"):
        publish(server.pub_url("m"), body)
    s = Stream(server, "m", ES)
    body = s.wait_body(lambda b: len(es_frames(b)) == 4)
    assert [d for _, d in es_frames(body)] == [
        b"data: a\ndata: b\n", b"data: a\ndata: \n", b"data: \n", b"data: x\r\ndata: y\n"]
    s.close()


def test_eventsource_resume_last_event_id(pushrelay):
    """Message id rule 4/5: Last-Event-ID, then last_event_id=<id> (%3A), every later message
    once, stored ones then live ones."""
    server = start(pushrelay)
    for i in range(4):
        publish(server.pub_url("r"), f"m{i}".encode())
    s = Stream(server, "r", ES)
    ids = [i.decode() for i, _ in es_frames(s.wait_body(lambda b: len(es_frames(b)) == 4))]
    s.close()
    expected = [b"data: m2\n", b"data: m3\n"]
    for n, (headers, query) in enumerate(((dict(ES, **{"Last-Event-ID": ids[1]}), ""),
                                          (ES, "&last_event_id=" + ids[1].replace(":", "%3A")))):
        s = Stream(server, "r", headers, query)
        s.wait_body(lambda b: len(es_frames(b)) == len(expected))
        wait_for_subscribers(server.pub_url("r"), 1)
        publish(server.pub_url("r"), f"live{n}".encode())
        expected.append(f"data: live{n}\n".encode())
        body = s.wait_body(lambda b: len(es_frames(b)) == len(expected))
        assert [d for _, d in es_frames(body)] == expected
        s.close()
        wait_for_subscribers(server.pub_url("r"), 0)


def test_eventsource_event_line(pushrelay):
    """EventSource: `event:` from the publish's X-EventSource-Event, before `id:`; none without."""
    server = start(pushrelay)
    publish(server.pub_url("ev"), b"a", headers={"X-EventSource-Event": "update"})
    publish(server.pub_url("ev"), b"b")
    s = Stream(server, "ev", ES)
    body = s.wait_body(lambda b: b.endswith(b"data: b\n\n"))
    assert re.fullmatch(rb": hi\n\nevent: update\nid: \d+:0\ndata: a\n\nid: \d+:1\ndata: b\n\n",
                        body), body
    s.close()


def test_eventsource_default_ping(pushrelay):
    """EventSource pings: every push_eventsource_ping_interval; defaults give `event: ping`."""
    server = start(pushrelay, "push_eventsource_ping_interval 100ms;")
    s = Stream(server, "p", ES)
    body = s.wait_body(lambda b: b.count(b"event: ping\n\n") >= 2, "two pings")
    assert body.startswith(b": hi\n\nevent: ping\n\nevent: ping\n\n"), body
    s.close()


def test_eventsource_custom_ping(pushrelay):
    """EventSource pings: comment, event and data set → `:hello\nevent: beat\ndata: tick\n\n`;
    messages go between pings unchanged."""
    server = start(pushrelay, "push_eventsource_ping_interval 100ms; "
                              "push_eventsource_ping_comment hello; "
                              "push_eventsource_ping_event beat; push_eventsource_ping_data tick;")
    s = Stream(server, "p", ES)
    s.wait_body(lambda b: b":hello\nevent: beat\ndata: tick\n\n" in b, "a ping")
    publish(server.pub_url("p"), b"between")
    body = s.wait_body(lambda b: b"data: between\n\n" in b and
                       b.rsplit(b"data: between\n\n", 1)[1].startswith(
                           b":hello\nevent: beat\ndata: tick\n\n"), "a message, then a ping")
    frames = body[len(b": hi\n\n"):].split(b"\n\n")
    assert all(f in (b":hello\nevent: beat\ndata: tick", b"")
               or re.fullmatch(rb"id: \d+:0\ndata: between", f) for f in frames), body
    s.close()


def test_slow_reader_is_cut_off_and_resumes(pushrelay):
    """push_subscriber_max_unsent_bytes: a client that never reads is closed once that much waits
    in the worker; its messages stay stored and it resumes from its last id."""
    server = start(pushrelay, "push_subscriber_max_unsent_bytes 64k;")
    publish(server.pub_url("slow"), b"first")
    probe = Stream(server, "slow", ES)
    first_id = es_frames(probe.wait_body(lambda b: len(es_frames(b)) == 1))[0][0].decode()
    probe.close()
    wait_for_subscribers(server.pub_url("slow"), 0)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", server.sub))
    slow.sendall(b"GET /sub?id=slow HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                 b"Last-Event-ID: " + first_id.encode() + b"\r\n\r\n")
    wait_for_subscribers(server.pub_url("slow"), 1)
    piece = b"x" * 65536
    published = 0
    # Bounded: the loopback socket buffers take a few MB at most before the queue grows.
    while (published < 400 and
           (subscriber_count_or_zero(server.pub_url("slow"))) == 1):
        publish(server.pub_url("slow"), piece)
        published += 1
    wait_for_subscribers(server.pub_url("slow"), 0)
    assert published < 400
    publish(server.pub_url("slow"), b"last")
    slow.close()
    log = (server.dir / "logs" / "error.log").read_text()
    assert "push_subscriber_max_unsent_bytes" in log
    # The client comes back with the id of the message it had: what is stored after it follows.
    s = Stream(server, "slow", dict(ES, **{"Last-Event-ID": first_id}))
    body = s.wait_body(lambda b: b.endswith(b"data: last\n\n"), "the stored tail")
    assert b"data: first\n" not in body
    s.close()


def test_status_counts_each_transport(pushrelay):
    """Channel info and push_stub_status count streaming subscribers; the status page by
    transport, summed over both workers."""
    server = start(pushrelay)
    streams = [Stream(server, "c", h) for h in (ES, ES, ES, CHUNKED, MULTIPART, {})]
    wait_for_subscribers(server.pub_url("c"), 6)

    def figures():
        return requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT).json()
    expected = {"eventsource_subscribers": 3, "chunked_subscribers": 1,
                "multipart_subscribers": 1, "longpoll_subscribers": 1,
                "websocket_subscribers": 0, "subscribers": 6}
    wait_until(lambda: {k: figures()[k] for k in expected} == expected, what=str(expected))
    for s in streams:
        s.close()
    wait_until(lambda: all(figures()[k] == 0 for k in expected), what="every count back to 0")


def test_message_id_invalid(pushrelay):
    """Message id: a value with `:` that does not parse → 400 Message ID invalid."""
    server = start(pushrelay)
    s = Stream(server, "bad", dict(ES, **{"Last-Event-ID": "x:1"}))
    head, _ = s.head_and_body()
    assert head.startswith("HTTP/1.1 400")
    assert s.wait_body(lambda b: b == b"Message ID invalid") == b"Message ID invalid"
    s.close()


def test_chunked(pushrelay):
    """HTTP chunked (row 3): no Content-Type, one chunk per message, empty messages skipped."""
    server = start(pushrelay)
    s = Stream(server, "c", {"TE": "deflate, chunked;q=0.5"})
    head, _ = s.head_and_body()
    assert head.startswith("HTTP/1.1 200 OK")
    assert "Transfer-Encoding: chunked" in head and "Content-Type" not in head
    wait_for_subscribers(server.pub_url("c"), 1)
    publish(server.pub_url("c"), b"")
    publish(server.pub_url("c"), b"x" * 300)
    publish(server.pub_url("c"), b"hi")
    body = s.wait_body(lambda b: b.endswith(b"hi\r\n"))
    assert body == b"12c\r\n" + b"x" * 300 + b"\r\n2\r\nhi\r\n"
    s.close()


def test_chunked_q0_is_not_chunked(pushrelay):
    """Row 3: TE chunked;q=0 does not select chunked (row 5: long-poll)."""
    server = start(pushrelay)
    publish(server.pub_url("q"), b"one")
    s = Stream(server, "q", {"TE": "chunked;q=0"})
    head, _ = s.head_and_body()
    assert "Content-Length: 3" in head


def test_multipart(pushrelay):
    """multipart/mixed (row 4): 32-char boundary, exact part bytes, Content-Type when sent."""
    server = start(pushrelay)
    publish(server.pub_url("p"), b"one", {"Content-Type": "text/x"})
    s = Stream(server, "p", MULTIPART)
    head, _ = s.head_and_body()
    b = re.search(r"Content-Type: multipart/mixed; boundary=([0-9A-Za-z]{32})\r\n", head)
    assert b, head
    boundary = b.group(1).encode()
    s.wait_body(lambda body: body.endswith(b"one\r\n--" + boundary))
    body = s.body()
    m = re.fullmatch(b"--" + boundary + rb"\r\nLast-Modified: ([^\r]+ GMT)\r\nEtag: 0\r\n"
                     rb"Content-Type: text/x\r\n\r\none\r\n--" + boundary, body)
    assert m, body
    s.close()


def test_plain_get_on_eventsource_only_is_403(pushrelay):
    """Row 6: a plain GET matched by no listed transport → 403, empty body."""
    server = start(pushrelay, mode="eventsource")
    s = Stream(server, "f")
    head, _ = s.head_and_body()
    assert head.startswith("HTTP/1.1 403")
    assert "Content-Length: 0" in head
    s.close()


def test_event_stream_accept_on_long_poll_only(pushrelay):
    """Row 2 not listed: Accept text/event-stream on a long-poll location is a long-poll."""
    server = start(pushrelay, mode="long-poll")
    publish(server.pub_url("lp"), b"one")
    s = Stream(server, "lp", ES)
    head, _ = s.head_and_body()
    assert "Content-Length: 3" in head


def one_stream_of_each(server, channel):
    """An EventSource, a chunked and a multipart stream on `channel`, all registered."""
    streams = [Stream(server, channel, h) for h in (ES, CHUNKED, MULTIPART)]
    for s in streams:
        s.head_and_body()
    wait_for_subscribers(server.pub_url(channel), 3)
    return streams


def test_stream_end_deleted(pushrelay):
    """Stream end, channel deleted: `:410: 410 Gone`, chunked `0\\r\\n\\r\\n`, multipart `--`."""
    server = start(pushrelay)
    streams = one_stream_of_each(server, "d")
    publish(server.pub_url("d"), method="DELETE")
    es, ch, mp = (s.wait_closed() for s in streams)
    assert es == b": hi\n\n:410: 410 Gone\n\n"
    assert ch == b"0\r\n\r\n"
    assert mp.endswith(b"--\r\n") and len(mp) == 2 + 32 + 4


def test_stream_end_timeout(pushrelay):
    """Stream end, push_subscriber_timeout: `:408: 408 Request Timeout`, `0\\r\\n\\r\\n`, `--`."""
    server = start(pushrelay, extra="push_subscriber_timeout 1s;")
    streams = [Stream(server, "t", h) for h in (ES, CHUNKED, MULTIPART)]
    es, mp = streams[0].wait_closed(), streams[2].wait_closed()
    ch = streams[1].wait_body(lambda b: b.endswith(b"0\r\n\r\n"), "last chunk")
    assert es == b": hi\n\n:408: 408 Request Timeout\n\n"
    assert ch == b"0\r\n\r\n"
    assert mp.endswith(b"--\r\n")


def test_stream_end_graceful_stop(pushrelay):
    """Stream end, graceful stop (QUIT): EventSource closes with no comment, `0\\r\\n\\r\\n`, `--`."""
    server = start(pushrelay)
    streams = one_stream_of_each(server, "g")
    server.signal(signal.SIGQUIT)
    es, ch, mp = (s.wait_closed() for s in streams)
    assert es == b": hi\n\n"
    assert ch == b"0\r\n\r\n"
    assert mp.endswith(b"--\r\n")


def test_stream_end_reload(pushrelay):
    """Stream end, reload (HUP): streams of a retiring worker end at once (EventSource close
    with no comment, `0\\r\\n\\r\\n`, `--`); resuming by Last-Event-ID on the new generation
    gets what was published since, once."""
    server = start(pushrelay)
    publish(server.pub_url("h"), b"m0")
    streams = [Stream(server, "h", h) for h in (ES, CHUNKED, MULTIPART)]
    es_id = es_frames(streams[0].wait_body(lambda b: len(es_frames(b)) == 1))[0][0].decode()
    wait_for_subscribers(server.pub_url("h"), 3)
    old = set(server.worker_pids())
    server.signal(signal.SIGHUP)
    es, mp = streams[0].wait_closed(), streams[2].wait_closed()
    ch = streams[1].wait_body(lambda b: b.endswith(b"0\r\n\r\n"), "last chunk")
    assert es.endswith(b"data: m0\n\n")
    assert ch == b"2\r\nm0\r\n0\r\n\r\n"
    assert mp.endswith(b"m0\r\n--" + mp[2:34] + b"--\r\n")
    wait_until(lambda: set(server.worker_pids()).isdisjoint(old)
               and len(server.worker_pids()) == server.workers, what="new workers")
    publish(server.pub_url("h"), b"m1")
    s = Stream(server, "h", dict(ES, **{"Last-Event-ID": es_id}))
    body = s.wait_body(lambda b: len(es_frames(b)) == 1)
    assert [d for _, d in es_frames(body)] == [b"data: m1\n"]
    s.close()


def test_client_leaving_ends_stream(pushrelay):
    """A stream's client leaving ends it: the channel's subscribers count goes back to 0."""
    server = start(pushrelay)
    s = Stream(server, "cl", ES)
    s.head_and_body()
    wait_for_subscribers(server.pub_url("cl"), 1)
    s.close()
    wait_for_subscribers(server.pub_url("cl"), 0)


def test_first_message(pushrelay):
    """Message id, push_subscriber_first_message: N the Nth oldest, -N the Nth newest, more than
    stored the oldest, newest the next published; on streams and long-poll alike."""
    values = ["2", "-1", "-3", "9", "-9", "oldest", "newest"]
    locations = "".join(f"""
        location /f{i} {{
            set $push_channel_id $arg_id;
            push_subscriber {STREAMS};
            push_subscriber_first_message {v};
        }}""" for i, v in enumerate(values))
    servers = f"""
    server {{{{
        listen 127.0.0.1:{{pub}};
        location /pub {{{{ set $push_channel_id $arg_id; push_publisher; }}}}
    }}}}
    server {{{{
        listen 127.0.0.1:{{sub}};
        {locations.replace("{", "{{").replace("}", "}}")}
    }}}}
"""
    server = pushrelay(servers=servers)
    for i in range(4):
        publish(server.pub_url("f"), f"m{i}".encode())
    s = Stream(server, "f", ES, path="/f0")
    body = s.wait_body(lambda b: len(es_frames(b)) == 3)
    assert [d for _, d in es_frames(body)] == [b"data: m1\n", b"data: m2\n", b"data: m3\n"]
    s.close()
    for i, first in enumerate((b"m1", b"m3", b"m1", b"m0", b"m0", b"m0")):
        lp = Stream(server, "f", path=f"/f{i}")
        # Every message here is two bytes: wait for the whole body, which may come in pieces.
        assert lp.wait_body(lambda b: len(b) >= 2) == first, values[i]
        lp.close()
    s = Stream(server, "f", ES, path="/f6")
    s.wait_body(lambda b: b == b": hi\n\n")
    lp = Stream(server, "f", path="/f6")
    wait_for_subscribers(server.pub_url("f"), 2)
    publish(server.pub_url("f"), b"new")
    assert lp.wait_body(lambda b: b == b"new") == b"new"
    assert [d for _, d in es_frames(s.wait_body(lambda b: len(es_frames(b)) == 1))] == [
        b"data: new\n"]
    s.close()
    lp.close()


def test_long_poll_resume_by_compound_id(pushrelay):
    """Message id rules 2-5 on long-poll: compound If-None-Match, an Etag request header,
    Last-Event-ID and last_event_id each name the message; the next one is served."""
    server = start(pushrelay, mode="long-poll")
    for i in range(3):
        publish(server.pub_url("lp"), f"m{i}".encode())
    first = Stream(server, "lp")
    head, _ = first.head_and_body()
    first.wait_body(lambda b: b == b"m0")
    lm = re.search(r"Last-Modified: (.+)\r\n", head + "\r\n").group(1)
    etag = re.search(r"Etag: (\d+)", head).group(1)
    t = int(email.utils.parsedate_to_datetime(lm).timestamp())
    first.close()
    mid = f"{t}:{etag}"
    for headers, query in (({"If-None-Match": mid}, ""), ({"Etag": mid}, ""),
                           ({"Last-Event-ID": mid}, ""),
                           ({}, "&last_event_id=" + mid.replace(":", "%3A"))):
        s = Stream(server, "lp", headers, query)
        assert s.wait_body(lambda b: b == b"m1") == b"m1", headers or query
        s.close()
    s = Stream(server, "lp", {"Last-Event-ID": f"{t}:[{etag}],-"})  # multiplexed form
    assert s.wait_body(lambda b: b == b"m1") == b"m1"
    s.close()
    for bad in ("1:2:3", "x:1", "1:[0],[1]", "1:0,1"):
        s = Stream(server, "lp", {"Etag": bad})
        head, _ = s.head_and_body()
        assert head.startswith("HTTP/1.1 400"), bad
        s.close()


def test_interval_poll_wins_over_long_poll(pushrelay):
    """Row 5: a plain GET on a location listing both polls is an interval-poll (304 at once on
    an empty channel), and a stream request there is still a stream."""
    server = start(pushrelay, mode="long-poll interval-poll eventsource")
    s = Stream(server, "ip")
    head, _ = s.head_and_body()
    assert head.startswith("HTTP/1.1 304")
    s.close()
    s = Stream(server, "ip", ES)
    assert s.wait_body(lambda b: b == b": hi\n\n") == b": hi\n\n"
    s.close()
