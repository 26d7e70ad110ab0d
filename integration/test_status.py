"""push_stub_status: server-wide figures, exact across workers, in the four
formats of doc/protocol-formats.md §6 (text, JSON, YAML, Prometheus 0.0.4)."""
import pytest
import requests
import yaml

from conftest import WAIT
from client import Held, publish, wait_for_subscribers

SEGMENT_BYTES = 16 * 1024 * 1024
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"  # nothing is newer: a subscriber asking is held


TEXT_LABELS = {
    "Active connections": "connections", "Workers": "workers", "Channels": "channels",
    "Subscribers": "subscribers", "Stored messages": "messages",
    "Long-poll subscribers": "longpoll_subscribers",
    "EventSource subscribers": "eventsource_subscribers",
    "WebSocket subscribers": "websocket_subscribers",
    "Chunked subscribers": "chunked_subscribers",
    "Multipart subscribers": "multipart_subscribers",
    "GRIP response holds": "grip_response_subscribers",
    "GRIP stream holds": "grip_stream_subscribers",

    "Published messages": "published", "Delivered messages": "delivered",
    "GRIP items published": "grip_items_published",
    "GRIP items waiting": "grip_items_waiting",
    "GRIP items dropped as duplicates": "grip_items_duplicate",
    "GRIP re-requests": "grip_rerequests", "GRIP origin errors": "grip_origin_errors",
    "Segment bytes used": "segment_used", "Segment bytes total": "segment_total",
    "Subscriber share bytes used": "subscriber_share_used",
    "Subscriber share bytes total": "subscriber_share_total",
    "Uptime seconds": "uptime_seconds", "Reloads": "reloads",
}

METRICS = {
    "pushrelay_connections": ("gauge", "connections"),
    "pushrelay_workers": ("gauge", "workers"),
    "pushrelay_channels": ("gauge", "channels"),
    "pushrelay_subscribers": ("gauge", "subscribers"),
    "pushrelay_subscribers_longpoll": ("gauge", "longpoll_subscribers"),
    "pushrelay_subscribers_eventsource": ("gauge", "eventsource_subscribers"),
    "pushrelay_subscribers_websocket": ("gauge", "websocket_subscribers"),
    "pushrelay_subscribers_chunked": ("gauge", "chunked_subscribers"),
    "pushrelay_subscribers_multipart": ("gauge", "multipart_subscribers"),
    "pushrelay_subscribers_grip_response": ("gauge", "grip_response_subscribers"),
    "pushrelay_subscribers_grip_stream": ("gauge", "grip_stream_subscribers"),
    "pushrelay_messages_stored": ("gauge", "messages"),
    "pushrelay_messages_published_total": ("counter", "published"),
    "pushrelay_messages_delivered_total": ("counter", "delivered"),
    "pushrelay_grip_items_published_total": ("counter", "grip_items_published"),
    "pushrelay_grip_items_waiting": ("gauge", "grip_items_waiting"),
    "pushrelay_grip_items_duplicate_total": ("counter", "grip_items_duplicate"),
    "pushrelay_grip_rerequests_total": ("counter", "grip_rerequests"),
    "pushrelay_grip_origin_errors_total": ("counter", "grip_origin_errors"),
    "pushrelay_segment_used_bytes": ("gauge", "segment_used"),
    "pushrelay_segment_size_bytes": ("gauge", "segment_total"),
    "pushrelay_subscriber_share_used_bytes": ("gauge", "subscriber_share_used"),
    "pushrelay_subscriber_share_bytes": ("gauge", "subscriber_share_total"),
    "pushrelay_uptime_seconds": ("gauge", "uptime_seconds"),
    "pushrelay_reloads_total": ("counter", "reloads"),
}

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_text(body):
    lines = body.decode().split("\n")
    assert lines[0].startswith("Active connections: ")
    assert lines[-1] == "", "every line ends with a line feed"
    figures = {}
    for line in lines[:-1]:
        label, value = line.split(": ")
        figures[TEXT_LABELS[label]] = int(value)
    assert len(figures) == len(TEXT_LABELS)
    return figures


def parse_prometheus(body):
    """Exposition format 0.0.4: a HELP and a TYPE line before each sample."""
    lines = body.decode().split("\n")
    assert lines[-1] == ""
    figures = {}
    for help_line, type_line, sample in zip(lines[0:-1:3], lines[1:-1:3], lines[2:-1:3]):
        name, value = sample.split(" ")
        kind, key = METRICS[name]
        assert help_line.startswith(f"# HELP {name} ")
        assert type_line == f"# TYPE {name} {kind}"
        figures[key] = int(value)
    assert len(figures) == len(METRICS)
    return figures


def get_status(server, fmt, how):
    """GET /status in one format, chosen by the query (how="query") or by Accept."""
    accept = {"text": "text/plain", "json": "application/json", "yaml": "application/yaml",
              "prometheus": "text/plain; version=0.0.4"}[fmt]
    if how == "query":
        r = requests.get(f"{server.base_pub}/status?format={fmt}", timeout=WAIT)
    else:
        r = requests.get(f"{server.base_pub}/status", headers={"Accept": accept}, timeout=WAIT)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Length"] == str(len(r.content))
    content_type = {"text": "text/plain", "json": "application/json",
                    "yaml": "application/yaml", "prometheus": PROMETHEUS_TYPE}[fmt]
    assert r.headers["Content-Type"] == content_type
    if fmt == "text":
        return parse_text(r.content)
    if fmt == "json":
        return r.json()
    if fmt == "yaml":
        return yaml.safe_load(r.content)
    return parse_prometheus(r.content)


def hold(server, channel, n, headers=None):
    return [Held(server.sub_url(channel), headers) for _ in range(n)]


@pytest.fixture
def busy_server(pushrelay):
    """2 workers; 4 messages published on 2 channels, 3 delivered; 3 subscribers
    held now (2 on a, 1 on b), whichever workers took them."""
    server = pushrelay(workers=2,
                       http=f"push_max_reserved_memory {SEGMENT_BYTES};")
    first = hold(server, "a", 2) + hold(server, "b", 1)
    wait_for_subscribers(server.pub_url("a"), 2)
    wait_for_subscribers(server.pub_url("b"), 1)
    assert publish(server.pub_url("a"), b"a1").status_code == 201
    assert publish(server.pub_url("b"), b"b1").status_code == 201
    assert [h.result().status_code for h in first] == [200, 200, 200]
    wait_for_subscribers(server.pub_url("a"), 0)
    wait_for_subscribers(server.pub_url("b"), 0)
    assert publish(server.pub_url("a"), b"a2").status_code == 202
    assert publish(server.pub_url("a"), b"a3").status_code == 202
    held = hold(server, "a", 2, {"If-Modified-Since": FUTURE}) + \
        hold(server, "b", 1, {"If-Modified-Since": FUTURE})
    wait_for_subscribers(server.pub_url("a"), 2)
    wait_for_subscribers(server.pub_url("b"), 1)
    yield server
    # Release the held subscribers before the server stops.
    requests.delete(server.pub_url("a"), timeout=WAIT)
    requests.delete(server.pub_url("b"), timeout=WAIT)
    assert [h.result().status_code for h in held] == [410, 410, 410]


@pytest.mark.parametrize("how", ["query", "accept"])
@pytest.mark.parametrize("fmt", ["text", "json", "yaml", "prometheus"])
def test_figures_are_what_the_test_did(busy_server, fmt, how):
    """Server-wide figures exact across workers, in each format."""
    figures = get_status(busy_server, fmt, how)
    assert figures["channels"] == 2
    assert figures["subscribers"] == 3
    assert figures["messages"] == 4
    assert figures["published"] == 4
    assert figures["delivered"] == 3
    for grip in ("grip_items_published", "grip_items_waiting", "grip_items_duplicate",
                 "grip_rerequests", "grip_origin_errors"):
        assert figures[grip] == 0, grip
    assert figures["workers"] == 2
    # The 3 held subscribers and this request's own connection; closed ones may linger a moment.
    assert figures["connections"] >= 4
    assert figures["reloads"] == 0
    assert figures["segment_total"] == SEGMENT_BYTES
    assert 0 < figures["segment_used"] < SEGMENT_BYTES
    assert 0 <= figures["uptime_seconds"] < 3600


def test_every_format_gives_the_same_figures(busy_server):
    """The four formats carry the same figures (those that cannot move between requests)."""
    moving = {"connections", "uptime_seconds", "segment_used"}
    results = [get_status(busy_server, fmt, "query")
               for fmt in ("text", "json", "yaml", "prometheus")]
    steady = [{k: v for k, v in r.items() if k not in moving} for r in results]
    assert all(s == steady[0] for s in steady)


def test_prometheus_is_chosen_by_the_scraper_accept_header(pushrelay):
    """What Prometheus 2.x sends: openmetrics first, text/plain 0.0.4 as a fallback."""
    server = pushrelay(workers=1)
    accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    r = requests.get(f"{server.base_pub}/status", headers={"Accept": accept}, timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == PROMETHEUS_TYPE
    assert parse_prometheus(r.content)["workers"] == 1


def test_query_format_wins_over_accept(pushrelay):
    server = pushrelay(workers=1)
    r = requests.get(f"{server.base_pub}/status?format=json",
                     headers={"Accept": "text/plain; version=0.0.4"}, timeout=WAIT)
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["workers"] == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_only_get_is_allowed(pushrelay, method):
    server = pushrelay(workers=1)
    r = requests.request(method, f"{server.base_pub}/status", timeout=WAIT)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"


def test_a_fresh_server_counts_nothing_but_itself(pushrelay):
    server = pushrelay(workers=2)
    figures = get_status(server, "json", "query")
    assert figures["channels"] == 0
    assert figures["subscribers"] == 0
    assert figures["messages"] == 0
    assert figures["published"] == 0
    assert figures["delivered"] == 0
    assert figures["workers"] == 2
    assert figures["connections"] >= 1
