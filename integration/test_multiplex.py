"""Channel multiplexing (transports.md "Conf" push_channel_id / push_channel_id_split_delimiter,
"Multiplexing", "Stream end"): several channels on one request, the multiplexed ids, resume,
publishing to several channels, and the counts. Each test names the row or sentence it checks.
Raw sockets where bytes matter; every wait is bounded (WAIT) and waits on the server's counts or
bytes, never on sleeps."""
import email.utils
import re
import signal
import time
import uuid

import requests

from client import Held, channel_info, publish, wait_for_subscribers
from conftest import WAIT, wait_until
from test_streams import CHUNKED, ES, MULTIPART, Stream

TRANSPORTS = "long-poll eventsource chunked multipart-mixed"

SERVERS = f"""
    server {{{{
        listen 127.0.0.1:{{pub}};
        location /pub {{{{ set $push_channel_id $arg_id; push_publisher; }}}}
        location /mpub {{{{ push_channel_id $arg_a $arg_b; push_publisher; }}}}
    }}}}
    server {{{{
        listen 127.0.0.1:{{sub}};
        location /sub {{{{ set $push_channel_id $arg_id; push_subscriber {TRANSPORTS}; }}}}
        location /multi {{{{
            push_channel_id $arg_a $arg_b;
            push_subscriber {TRANSPORTS};
        }}}}
        location /split {{{{
            push_channel_id $arg_ids;
            push_channel_id_split_delimiter ",";
            push_max_channel_id_length 4096;  # 255 ids in one value
            push_subscriber {TRANSPORTS};
        }}}}
        location /short {{{{
            push_channel_id $arg_ids;
            push_channel_id_split_delimiter ",";
            push_max_channel_id_length 5;
            push_subscriber;
        }}}}
        location /win {{{{
            set $push_channel_id $arg_id;
            push_channel_id $arg_other;
            push_subscriber;
        }}}}
        location /timeout {{{{
            push_channel_id $arg_a $arg_b;
            push_subscriber {TRANSPORTS};
            push_subscriber_timeout 1s;
        }}}}
        location /first {{{{
            push_channel_id $arg_a $arg_b;
            push_subscriber_concurrency first;
            push_subscriber;
        }}}}
        location /ip {{{{
            push_channel_id $arg_a $arg_b;
            push_subscriber interval-poll;
        }}}}
    }}}}
"""

# Bounded retries of a test whose exact ids need its messages in one second.
ATTEMPTS = 5


def start(pushrelay):
    return pushrelay(servers=SERVERS)


def fresh(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def mux_frames(body):
    """(id, data) of each EventSource frame after the `: hi` preamble, ids multiplexed."""
    if not body.startswith(b": hi\n\n"):
        return []
    return [(i.decode(), d) for i, d in
            re.findall(rb"id: (\d+:[^\n]+)\n((?:data: [^\n]*\n)+)\n", body[6:])]


def mux(server, a, b, headers=None, query=""):
    """A raw subscriber on /multi for channels a and b."""
    return Stream(server, "x", headers, f"&a={a}&b={b}{query}", path="/multi")


def split_time(mid):
    t, tags = mid.split(":", 1)
    return int(t), tags


def lp_get(server, a, b, headers=None):
    return requests.get(f"{server.base_sub}/multi?a={a}&b={b}", headers=headers or {},
                        timeout=WAIT)


def lp_id(response):
    """The multiplexed id of a long-poll answer: `<Last-Modified as Unix time>:<Etag>`."""
    t = int(email.utils.parsedate_to_datetime(response.headers["Last-Modified"]).timestamp())
    return f"{t}:{response.headers['Etag']}"


def test_id_table_eventsource(pushrelay):
    """Multiplexing, the id table: a1, b1, a2, b2 in one second, then b3 in the next, give
    T:[0],-  T:0,[0]  T:[1],0  T:1,[1]  T+1:-,[0] (an attempt whose second rolled over is
    detected from the ids and retried)."""
    server = start(pushrelay)
    for _ in range(ATTEMPTS):
        a, b = fresh("a"), fresh("b")
        s = mux(server, a, b, ES)
        s.wait_body(lambda d: d == b": hi\n\n", "preamble")
        wait_for_subscribers(server.pub_url(a), 1)
        for n, ch in enumerate((a, b, a, b)):
            publish(server.pub_url(ch), f"m{n}".encode())
            s.wait_body(lambda d: len(mux_frames(d)) == n + 1)
        ids = [i for i, _ in mux_frames(s.body())]
        times = {split_time(i)[0] for i in ids}
        if len(times) != 1:
            s.close()
            continue
        t = times.pop()
        assert [split_time(i)[1] for i in ids] == ["[0],-", "0,[0]", "[1],0", "1,[1]"]
        assert all(split_time(i)[0] == t for i in ids)
        wait_until(lambda: time.time() >= t + 1, what="the next second")
        publish(server.pub_url(b), b"m4")
        body = s.wait_body(lambda d: len(mux_frames(d)) == 5)
        last_time, last_tags = split_time(mux_frames(body)[4][0])
        assert last_time > t and last_tags == "-,[0]"
        assert [d for _, d in mux_frames(body)] == [f"data: m{n}\n".encode() for n in range(5)]
        s.close()
        return
    raise AssertionError(f"no attempt of {ATTEMPTS} published four messages in one second")


def test_long_poll_walk_with_if_none_match(pushrelay):
    """Multiplexing: long-poll carries the tag list as Etag with Last-Modified; sent back as
    If-None-Match they continue the walk through the stored messages merged by (time, tag,
    position), then a held poll gets the next one live (and 'Resume' rule 2: the compound id as
    If-None-Match alone)."""
    server = start(pushrelay)
    for _ in range(ATTEMPTS):
        a, b = fresh("a"), fresh("b")
        for n, ch in enumerate((a, b, a, b)):
            publish(server.pub_url(ch), f"m{n}".encode())
        got, headers = [], {}
        for _ in range(4):
            r = lp_get(server, a, b, headers)
            assert r.status_code == 200
            got.append((lp_id(r), r.content))
            headers = {"If-Modified-Since": r.headers["Last-Modified"],
                       "If-None-Match": r.headers["Etag"]}
        if len({split_time(i)[0] for i, _ in got}) != 1:
            continue
        assert [c for _, c in got] == [b"m0", b"m1", b"m2", b"m3"]
        assert [split_time(i)[1] for i, _ in got] == ["[0],-", "0,[0]", "[1],0", "1,[1]"]
        # The compound id alone (rule 2) resumes the same way: after b2 nothing is stored.
        r = lp_get(server, a, b, {"If-None-Match": got[1][0]})
        assert r.content == b"m2" and r.headers["Etag"] == "[1],0"
        held = Held(f"{server.base_sub}/multi?a={a}&b={b}", headers)
        wait_for_subscribers(server.pub_url(b), 1)
        publish(server.pub_url(a), b"live")
        r = held.result()
        assert r.status_code == 200 and r.content == b"live"
        # One message ends the long-poll on every channel: no channel counts it any more.
        wait_for_subscribers(server.pub_url(a), 0)
        wait_for_subscribers(server.pub_url(b), 0)
        return
    raise AssertionError(f"no attempt of {ATTEMPTS} published four messages in one second")


def test_backlog_merged_then_live_as_published(pushrelay):
    """Multiplexing: stored messages merged by (time, tag, position in the list) — b1 then a1 in
    one second come as a1, b1 (a is first in the list) — before live ones, which come as
    published."""
    server = start(pushrelay)
    for _ in range(ATTEMPTS):
        a, b = fresh("a"), fresh("b")
        publish(server.pub_url(b), b"b1")
        publish(server.pub_url(a), b"a1")
        publish(server.pub_url(b), b"b2")
        s = mux(server, a, b, ES)
        body = s.wait_body(lambda d: len(mux_frames(d)) == 3)
        frames = mux_frames(body)
        if len({split_time(i)[0] for i, _ in frames}) != 1:
            s.close()
            continue
        assert frames == [(frames[0][0], b"data: a1\n"), (frames[1][0], b"data: b1\n"),
                          (frames[2][0], b"data: b2\n")]
        assert [split_time(i)[1] for i, _ in frames] == ["[0],-", "0,[0]", "0,[1]"]
        wait_for_subscribers(server.pub_url(a), 1)
        publish(server.pub_url(b), b"b3")
        publish(server.pub_url(a), b"a2")
        body = s.wait_body(lambda d: len(mux_frames(d)) == 5)
        assert [d for _, d in mux_frames(body)[3:]] == [b"data: b3\n", b"data: a2\n"]
        s.close()
        return
    raise AssertionError(f"no attempt of {ATTEMPTS} published three messages in one second")


def test_resume_every_transport(pushrelay):
    """Multiplexing, resuming from T:x1,...,xn: per channel the next message after (T, xi), or
    the first at time >= T for `-`; by Last-Event-ID and last_event_id (EventSource),
    If-None-Match (long-poll), If-Modified-Since + If-None-Match (multipart). Each gets what
    follows the id, once, then live messages."""
    server = start(pushrelay)
    # The multipart resume names the time in whole seconds: the three must share one.
    for _ in range(ATTEMPTS):
        a, b = fresh("a"), fresh("b")
        for n, ch in enumerate((a, b, a)):
            publish(server.pub_url(ch), f"m{n}".encode())
        s = mux(server, a, b, ES)
        ids = [i for i, _ in mux_frames(s.wait_body(lambda d: len(mux_frames(d)) == 3))]
        s.close()
        if len({split_time(i)[0] for i in ids}) == 1:
            break
    else:
        raise AssertionError(f"no attempt of {ATTEMPTS} published three messages in one second")
    wait_for_subscribers(server.pub_url(a), 0)
    after_b1 = ids[1]
    es_headers = dict(ES, **{"Last-Event-ID": after_b1})
    for headers, query in ((es_headers, ""),
                           (ES, "&last_event_id=" + after_b1.replace(":", "%3A"))):
        s = mux(server, a, b, headers, query)
        body = s.wait_body(lambda d: len(mux_frames(d)) == 1)
        assert mux_frames(body) == [(ids[2], b"data: m2\n")]
        s.close()
    r = lp_get(server, a, b, {"If-None-Match": after_b1})
    assert r.content == b"m2" and lp_id(r) == ids[2]
    t, tags = split_time(after_b1)
    s = mux(server, a, b, dict(MULTIPART, **{
        "If-Modified-Since": email.utils.formatdate(t, usegmt=True), "If-None-Match": tags}))
    body = s.wait_body(lambda d: d.count(b"\r\n--") == 1 and d.endswith(d[:34]))
    assert f"Etag: {split_time(ids[2])[1]}\r\n".encode() in body and b"\r\n\r\nm2\r\n--" in body
    wait_for_subscribers(server.pub_url(b), 1)
    publish(server.pub_url(b), b"live")
    body = s.wait_body(lambda d: b"\r\n\r\nlive\r\n--" in d and d.endswith(d[:34]))
    assert body.count(b"live") == 1 and body.count(b"m2") == 1
    s.close()
    # A missing tag is `-`: `T:[x]` alone resumes channel b from the first message at time >= T.
    r = lp_get(server, a, b, {"Last-Event-ID": f"{split_time(ids[0])[0]}:[0]"})
    assert r.status_code == 200


def test_delete_one_channel_ends_all(pushrelay):
    """Multiplexing / Stream end: deleting any one channel ends the whole subscription —
    EventSource `:410: 410 Gone`, chunked `0\\r\\n\\r\\n`, multipart `--\\r\\n`, long-poll 410 —
    and the other channel counts none of them afterwards."""
    server = start(pushrelay)
    a, b = fresh("a"), fresh("b")
    streams = [mux(server, a, b, h) for h in (ES, CHUNKED, MULTIPART)]
    for s in streams:
        s.head_and_body()
    held = Held(f"{server.base_sub}/multi?a={a}&b={b}")
    wait_for_subscribers(server.pub_url(a), 4)
    wait_for_subscribers(server.pub_url(b), 4)
    assert publish(server.pub_url(b), method="DELETE").status_code == 200
    es, ch, mp = (s.wait_closed() for s in streams)
    assert es == b": hi\n\n:410: 410 Gone\n\n"
    assert ch == b"0\r\n\r\n"
    assert mp.endswith(b"--\r\n") and len(mp) == 2 + 32 + 4
    assert held.result().status_code == 410
    wait_for_subscribers(server.pub_url(a), 0)


def test_timeout_ends_the_whole_subscription(pushrelay):
    """Stream end, push_subscriber_timeout on a multiplexed subscription: one `:408: 408 Request
    Timeout` (and long-poll 304), and neither channel counts it afterwards."""
    server = start(pushrelay)
    a, b = fresh("a"), fresh("b")
    s = Stream(server, "x", ES, f"&a={a}&b={b}", path="/timeout")
    held = Held(f"{server.base_sub}/timeout?a={a}&b={b}")
    assert s.wait_closed() == b": hi\n\n:408: 408 Request Timeout\n\n"
    assert held.result().status_code == 304
    wait_for_subscribers(server.pub_url(a), 0)
    wait_for_subscribers(server.pub_url(b), 0)


def test_reload_then_resume(pushrelay):
    """Stream end, reload (HUP): a multiplexed EventSource of a retiring worker closes with no
    comment; resuming with its last id (Last-Event-ID) on the new generation gets what was
    published since on either channel, once."""
    server = start(pushrelay)
    a, b = fresh("a"), fresh("b")
    publish(server.pub_url(a), b"before")
    s = mux(server, a, b, ES)
    last = mux_frames(s.wait_body(lambda d: len(mux_frames(d)) == 1))[0][0]
    wait_for_subscribers(server.pub_url(a), 1)
    old = set(server.worker_pids())
    server.signal(signal.SIGHUP)
    assert s.wait_closed().endswith(b"data: before\n\n")
    wait_until(lambda: set(server.worker_pids()).isdisjoint(old)
               and len(server.worker_pids()) == server.workers, what="new workers")
    publish(server.pub_url(b), b"after")
    s = mux(server, a, b, dict(ES, **{"Last-Event-ID": last}))
    body = s.wait_body(lambda d: len(mux_frames(d)) == 1)
    assert [d for _, d in mux_frames(body)] == [b"data: after\n"]
    s.close()


def test_refused_on_one_channel_releases_the_others(pushrelay):
    """Multiplexing, one subscription on each channel: a refusal on any channel (here
    concurrency `first`: 409) answers the request and gives back what the channels before it
    registered."""
    server = start(pushrelay)
    a, b, c = fresh("a"), fresh("b"), fresh("c")
    publish(server.pub_url(c), b"c exists")
    held = Held(f"{server.base_sub}/first?a={a}&b={b}")
    wait_for_subscribers(server.pub_url(b), 1)
    r = requests.get(f"{server.base_sub}/first?a={c}&b={b}", timeout=WAIT)
    assert r.status_code == 409
    assert channel_info(server.pub_url(c))["subscribers"] == 0
    assert channel_info(server.pub_url(b))["subscribers"] == 1
    publish(server.pub_url(b), b"to the first")
    assert held.result().content == b"to the first"


def test_counts_one_subscriber_per_channel(pushrelay):
    """Multiplexing: the subscription counts as one subscriber on each channel (channel info
    `subscribers`), and none once its client leaves."""
    server = start(pushrelay)
    a, b = fresh("a"), fresh("b")
    s = mux(server, a, b, ES)
    s.head_and_body()
    wait_for_subscribers(server.pub_url(a), 1)
    wait_for_subscribers(server.pub_url(b), 1)
    t = mux(server, a, b, CHUNKED)
    t.head_and_body()
    wait_for_subscribers(server.pub_url(a), 2)
    assert channel_info(server.pub_url(b))["subscribers"] == 2
    s.close()
    t.close()
    wait_for_subscribers(server.pub_url(a), 0)
    wait_for_subscribers(server.pub_url(b), 0)


def test_255_channels_and_256_refused(pushrelay):
    """Multiplexing: at most 255 channels; 256 or more → 400 `Too many channels.`."""
    server = start(pushrelay)
    names = [fresh("c") for _ in range(256)]
    s = Stream(server, "x", ES, "&ids=" + ",".join(names[:255]), path="/split")
    assert s.head_and_body()[0].startswith("HTTP/1.1 200")
    wait_for_subscribers(server.pub_url(names[0]), 1)
    wait_for_subscribers(server.pub_url(names[254]), 1)
    publish(server.pub_url(names[254]), b"last")
    body = s.wait_body(lambda d: len(mux_frames(d)) == 1)
    tags = split_time(mux_frames(body)[0][0])[1].split(",")
    assert len(tags) == 255 and tags[-1] == "[0]" and set(tags[:-1]) == {"-"}
    s.close()
    r = requests.get(f"{server.base_sub}/split?ids=" + ",".join(names), timeout=WAIT)
    assert r.status_code == 400 and r.text == "Too many channels."


def test_split_delimiter_and_empty_pieces(pushrelay):
    """Conf, push_channel_id_split_delimiter: one value split into channels; an empty piece
    names the channel with the empty id (doc/decisions.md), so `x,,y` is three channels."""
    server = start(pushrelay)
    x, y = fresh("x"), fresh("y")
    s = Stream(server, "x", ES, f"&ids={x},,{y}", path="/split")
    s.head_and_body()
    wait_for_subscribers(server.pub_url(y), 1)
    publish(server.pub_url(y), b"to y")
    body = s.wait_body(lambda d: len(mux_frames(d)) == 1)
    assert split_time(mux_frames(body)[0][0])[1] == "-,-,[0]"
    s.close()
    # One piece: one channel, not multiplexed (ids `T:t`).
    publish(server.pub_url(x), b"to x")
    s = Stream(server, "x", ES, f"&ids={x}", path="/split")
    body = s.wait_body(lambda d: b"to x" in d)
    assert re.search(rb"id: \d+:0\ndata: to x\n", body)
    s.close()


def test_max_channel_id_length_before_splitting(pushrelay):
    """Conf: push_max_channel_id_length applies to each push_channel_id value before splitting
    (too long → 400)."""
    server = start(pushrelay)
    publish(server.pub_url("ab"), b"m")
    r = requests.get(f"{server.base_sub}/short?ids=ab,cd", timeout=WAIT)
    assert r.status_code == 200 and r.content == b"m"
    r = requests.get(f"{server.base_sub}/short?ids=ab,cde", timeout=WAIT)
    assert r.status_code == 400


def test_push_channel_id_wins_over_the_variable(pushrelay):
    """Conf: push_channel_id wins over $push_channel_id."""
    server = start(pushrelay)
    var, own = fresh("v"), fresh("o")
    publish(server.pub_url(var), b"from the variable's channel")
    publish(server.pub_url(own), b"from push_channel_id's")
    r = requests.get(f"{server.base_sub}/win?id={var}&other={own}", timeout=WAIT)
    assert r.content == b"from push_channel_id's"
    assert r.headers["Etag"] == "0"  # one value: not multiplexed


def test_interval_poll_multiplexed(pushrelay):
    """Multiplexing on interval-poll (transport selection row 5): nothing stored → 304; else the
    oldest of the channels' stored messages with its tag list."""
    server = start(pushrelay)
    a, b = fresh("a"), fresh("b")
    r = requests.get(f"{server.base_sub}/ip?a={a}&b={b}", timeout=WAIT)
    assert r.status_code == 304
    publish(server.pub_url(b), b"b1")
    r = requests.get(f"{server.base_sub}/ip?a={a}&b={b}", timeout=WAIT)
    assert r.status_code == 200 and r.content == b"b1" and r.headers["Etag"] == "-,[0]"


def test_publish_to_several_channels(pushrelay):
    """Multiplexing, publishing: one copy in each channel (own id each), 201 if any subscriber
    got it else 202; GET → 404; DELETE deletes each and their subscribers get 410."""
    server = start(pushrelay)
    a, b = fresh("a"), fresh("b")
    url = f"{server.base_pub}/mpub?a={a}&b={b}"
    assert publish(url, b"both").status_code == 202
    assert channel_info(server.pub_url(a))["messages"] == 1
    assert channel_info(server.pub_url(b))["messages"] == 1
    publish(server.pub_url(b), b"b only")
    s = Stream(server, b, ES)
    body = s.wait_body(lambda d: len(mux_frames(d)) == 2)
    assert [d for _, d in mux_frames(body)] == [b"data: both\n", b"data: b only\n"]
    wait_for_subscribers(server.pub_url(b), 1)
    assert publish(url, b"again").status_code == 201
    s.wait_body(lambda d: len(mux_frames(d)) == 3)
    assert requests.get(url, timeout=WAIT).status_code == 404
    assert publish(url, method="DELETE").status_code == 200
    assert s.wait_closed().endswith(b":410: 410 Gone\n\n")
    assert channel_info(server.pub_url(a)) is None
    assert channel_info(server.pub_url(b)) is None
    assert publish(url, method="DELETE").status_code == 404
