"""Real clients in headless Chromium, on a page of another origin than pushrelay (transports.md
"Real clients"): the browser's own EventSource and WebSocket follow a channel, and Nchan's own
JavaScript client, NchanSubscriber (npm `nchan`, loaded from node_modules), follows one channel
over websocket, eventsource and longpoll in turn, resuming on each from the id it learned on the
one before, with a HUP reload in the middle of each (Stream end: reload; Message id: Resume).

Needs Chromium, node and `npm ci` in integration/browser (browser_page.py). The WebSocket cases
need a binary that accepts `push_subscriber websocket` (conftest.require_websocket)."""
import email.utils
import re
import signal

import requests

from browser_page import BROWSER_START, browser_page, require_browser  # noqa: F401 (a fixture)
from client import publish, wait_for_subscribers
from conftest import WAIT, require_websocket, wait_until, websocket_refusal

STREAMS = "long-poll eventsource chunked multipart-mixed"
ID = re.compile(r"(\d+):(\d+)")


def start(pushrelay):
    """Two workers; WebSocket listed when the binary has it (the cases that need it say so)."""
    mode = STREAMS + (" websocket" if websocket_refusal() is None else "")
    return pushrelay(workers=2, mode=mode,
                     http="push_max_message_buffer_length 1000;")


def long_poll_ids(server, channel, n):
    """The ids of the channel's n oldest messages as long-poll serves them (Message id:
    `<Last-Modified as Unix time>:<Etag>`), iterating with If-Modified-Since/If-None-Match."""
    ids, headers = [], {}
    for _ in range(n):
        r = requests.get(server.sub_url(channel), headers=headers, timeout=WAIT)
        assert r.status_code == 200, (r.status_code, r.text)
        seconds = int(email.utils.parsedate_to_datetime(r.headers["Last-Modified"]).timestamp())
        ids.append(f"{seconds}:{r.headers['Etag']}")
        headers = {"If-Modified-Since": r.headers["Last-Modified"],
                   "If-None-Match": r.headers["Etag"]}
    return ids


def id_key(message_id):
    m = ID.fullmatch(message_id or "")
    assert m, f"not a <time>:<tag> message id: {message_id!r}"
    return int(m.group(1)), int(m.group(2))


def assert_increasing(ids):
    keys = [id_key(i) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), ids


def collect(browser, what, predicate, reports, first=False):
    """Appends the page's reports to `reports` until one satisfies predicate; returns it."""
    while True:
        report = browser.next_report(timeout=BROWSER_START if first else WAIT)
        reports.append(report)
        if predicate(report):
            return report
        if len(reports) > 10000:
            raise AssertionError(f"no report of {what}")


def test_browser_eventsource_cross_origin(pushrelay, browser_page):
    """EventSource (transport selection row 2, "EventSource" framing, Message id): Chromium's own
    EventSource on another origin gets every message in order, multi-line bodies rebuilt from
    their data lines, a publish with X-EventSource-Event as an event of that name, and as
    lastEventId the same `<time>:<tag>` id long-poll gives the message."""
    server = start(pushrelay)
    messages = [("first", {}), ("zwei: ünïcødé", {}), ("multi\nline\nbody", {}), ("tail\n", {}),
                ("named", {"X-EventSource-Event": "custom"}), ("last", {})]
    got = eventsource_in_browser(server, browser_page, "es", messages, events="custom")
    assert [g["data"] for g in got] == [body for body, _ in messages]
    assert [g["type"] for g in got] == ["message"] * 4 + ["custom", "message"]
    assert {g["origin"] for g in got} == {server.base_sub}
    ids = [g["id"] for g in got]
    assert_increasing(ids)
    assert ids == long_poll_ids(server, "es", len(messages))
    wait_for_subscribers(server.pub_url("es"), 0)  # the page closed it: the count went back


def eventsource_in_browser(server, browser_page, channel, messages, events=""):
    """Chromium's EventSource on `channel`, from another origin: once it is open and counted,
    publishes each (body, headers) of messages; returns the page's reports of them."""
    browser = browser_page("streams.html", clients="eventsource", n=len(messages),
                           es=server.sub_url(channel), events=events)
    reports = []
    collect(browser, "open", lambda r: r["kind"] == "open", reports, first=True)
    wait_for_subscribers(server.pub_url(channel), 1)
    for body, headers in messages:
        r = publish(server.pub_url(channel), body.encode(),
                    {"Content-Type": "text/plain; charset=utf-8", **headers})
        assert r.status_code == 201, r.status_code  # the page's EventSource was waiting
    # A named event the page does not listen for would never be reported: the wait times out.
    got = [collect(browser, "a message", lambda r: r["kind"] == "message", reports)
           for _ in messages]
    browser.finish()
    return got


def test_browser_websocket_cross_origin(pushrelay, browser_page):
    """WebSocket (row 1): Chromium's own WebSocket on another origin, with ws+meta.nchan (the
    subprotocol selected, `id: <id>\\ncontent-type: <ct>\\n\\n<body>`) and without (the body
    alone, no subprotocol); text frames, a binary frame for application/octet-stream; no
    extension although Chromium offers permessage-deflate (decision)."""
    require_websocket()
    server = start(pushrelay)
    ws_url = f"ws://127.0.0.1:{server.sub}/sub?id=ws"
    messages = [(b"first", "text/plain"), ("ünïcødé".encode(), None), (b"multi\nline", None),
                (b"\x00\x01\xfe\xff", "application/octet-stream"), (b"last", "text/plain")]
    browser = browser_page("streams.html", clients="websocket-meta,websocket", n=len(messages),
                           ws=ws_url)
    reports = []
    opened = {}
    while len(opened) < 2:
        r = collect(browser, "open", lambda r: r["kind"] == "open", reports, first=not opened)
        opened[r["client"]] = r
    assert opened["websocket-meta"]["protocol"] == "ws+meta.nchan"
    assert opened["websocket"]["protocol"] == ""
    assert {o["extensions"] for o in opened.values()} == {""}
    wait_for_subscribers(server.pub_url("ws"), 2)
    for body, content_type in messages:
        r = publish(server.pub_url("ws"), body,
                    {"Content-Type": content_type} if content_type else {})
        assert r.status_code == 201, r.status_code
    got = {"websocket-meta": [], "websocket": []}
    while sum(map(len, got.values())) < 2 * len(messages):
        r = collect(browser, "a message", lambda r: r["kind"] == "message", reports)
        got[r["client"]].append(r)
    browser.finish()
    ids = long_poll_ids(server, "ws", len(messages))
    binary = [ct == "application/octet-stream" for _, ct in messages]
    assert [g["binary"] for g in got["websocket"]] == binary
    assert [g["binary"] for g in got["websocket-meta"]] == binary
    assert [bytes.fromhex(g["data"]) if g["binary"] else g["data"].encode()
            for g in got["websocket"]] == [body for body, _ in messages]
    meta = [(f"id: {i}\n" + (f"content-type: {ct}\n" if ct else "") + "\n").encode() + body
            for i, (body, ct) in zip(ids, messages)]
    assert [bytes.fromhex(g["data"]) if g["binary"] else g["data"].encode()
            for g in got["websocket-meta"]] == meta
    wait_for_subscribers(server.pub_url("ws"), 0)


def follow_over_transports(server, browser_page, transports):
    """NchanSubscriber follows channel `nchan` over `transports` in turn; on each: 2 messages,
    a HUP reload with one message published while it runs, 2 more, then `next` (the last leg:
    `end`), after which the page moves to the next transport from the id of that message, and
    one message is published while it does.
    Returns (published bodies, the page's reports)."""
    channel = "nchan"
    browser = browser_page("nchan.html", sub=server.sub_url(channel),
                           transports=",".join(transports))
    published, reports = [], []

    def pub(body):
        r = publish(server.pub_url(channel), body.encode(), {"Content-Type": "text/plain"})
        assert r.status_code in (201, 202), r.status_code
        published.append(body)

    def received(body):
        return collect(browser, f"message {body!r}",
                       lambda r: r["kind"] == "message" and r["body"] == body, reports)

    for leg, transport in enumerate(transports):
        collect(browser, f"{transport} connect",
                lambda r: r["kind"] == "connect" and r["transport"] == transport, reports,
                first=leg == 0)
        # Held on this transport (the previous one's connection gone): the reload will cut it.
        wait_for_subscribers(server.pub_url(channel), 1)
        pub(f"{transport}-before-0")
        pub(f"{transport}-before-1")
        received(f"{transport}-before-1")
        old = set(server.worker_pids())
        server.signal(signal.SIGHUP)
        pub(f"{transport}-during-reload")
        wait_until(lambda: set(server.worker_pids()).isdisjoint(old)
                   and len(server.worker_pids()) == server.workers,
                   what=f"new workers replacing {sorted(old)}")
        pub(f"{transport}-after-0")
        received(f"{transport}-after-0")
        pub(f"{transport}-after-1")
        last = "end" if leg + 1 == len(transports) else "next"
        pub(last)
        received(last)
        if last == "next":
            # The page has stopped this transport and is starting the next one from the id of
            # `next`: this message is for the next transport to find after that id.
            pub(f"{transports[leg + 1]}-resumed")
    browser.finish()
    return published, reports


def assert_followed(published, reports, transports):
    """Message id, Resume: every message once, in publish order, each on its leg's transport,
    each with an id, ids increasing across the transports."""
    messages = [r for r in reports if r["kind"] == "message"]
    assert [m["body"] for m in messages] == published, reports
    leg_of = []
    leg = 0
    for body in published:
        leg_of.append(transports[leg])
        leg += body == "next"
    assert [m["transport"] for m in messages] == leg_of
    assert_increasing([m["id"] for m in messages])


def test_nchan_subscriber_over_three_transports_across_reloads(pushrelay, browser_page):
    """Real clients: NchanSubscriber on another origin follows one channel over websocket,
    eventsource and longpoll in turn, each resuming from the id learned on the previous one
    (last_event_id; an `Etag` request header on longpoll, Message id rule 3), with a HUP reload
    in the middle of each: none lost, none twice, in order. Stream end, reload: the WebSocket
    is closed with 1012 (never a 410 or a 1001 `410 Gone`, which would mean deleted)."""
    require_browser(("playwright-core", "nchan"))
    require_websocket()
    server = start(pushrelay)
    transports = ["websocket", "eventsource", "longpoll"]
    published, reports = follow_over_transports(server, browser_page, transports)
    assert_followed(published, reports, transports)
    ws_closes = [r for r in reports if r["kind"] == "disconnect" and r["transport"] == "websocket"]
    assert ws_closes and ws_closes[0]["code"] == 1012, reports
    assert ws_closes[0]["reason"] == "Service Restart"


def test_nchan_subscriber_eventsource_then_longpoll_across_reloads(pushrelay, browser_page):
    """Real clients, the HTTP transports alone: NchanSubscriber follows one channel over
    eventsource (last_event_id, then Last-Event-ID on its own reconnection after the reload cut
    the stream) and longpoll (Etag request header, then If-Modified-Since/If-None-Match), a HUP
    reload in the middle of each: none lost, none twice, in order."""
    require_browser(("playwright-core", "nchan"))
    server = start(pushrelay)
    transports = ["eventsource", "longpoll"]
    published, reports = follow_over_transports(server, browser_page, transports)
    assert_followed(published, reports, transports)
    # The reload cut the EventSource (Stream end: reload, close): it reconnected by itself.
    assert any(r["kind"] == "disconnect" and r["transport"] == "eventsource" for r in reports)
