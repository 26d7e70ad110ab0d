"""limit_conn and limit_req (nginx's): counts shared by the workers, held long-polls counted
until they end, the leaky bucket with and without burst, nodelay and delay=, zones kept across
a HUP, a full zone forgetting its least recently used keys, and conf errors at file:line.

Timing is checked by counting outcomes (statuses, log lines), never by sleeping: rates are
chosen so that the bucket cannot leak while a test's requests arrive."""
import signal
import socket
import subprocess
import threading

import pytest
import requests

from client import subscriber_count
from conftest import WAIT, PushRelay, wait_until

CONN_ZONE = "limit_conn_zone $binary_remote_addr zone=addr:1m;"
# One request a minute: nothing leaks during a test.
SLOW_ZONE = "limit_req_zone $binary_remote_addr zone=slow:1m rate=1r/m;"


def hold(server, channel):
    """A subscriber GET on its own socket, left to be held (or answered)."""
    s = socket.create_connection(("127.0.0.1", server.sub), timeout=WAIT)
    s.sendall(f"GET /sub?id={channel} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return s


def status_of(sock):
    head = sock.recv(4096)
    assert head, "closed without a response"
    return int(head.split()[1])


def held(server, channel):
    return subscriber_count(server.pub_url(channel)) or 0


def statuses(url, n, session=None):
    get = (session or requests).get
    return [get(url, timeout=WAIT).status_code for _ in range(n)]


# ---- limit_conn --------------------------------------------------------------

def test_limit_conn_counts_held_long_polls_across_workers(pushrelay):
    """limit_conn: held subscribers count on both workers; the n+1th gets limit_conn_status at
    once, and a held one that closes frees its slot at once."""
    server = pushrelay(workers=2, http=CONN_ZONE, sub_extra="limit_conn addr 4;")
    sockets = [hold(server, "c") for _ in range(4)]
    wait_until(lambda: held(server, "c") == 4, what="4 held subscribers")

    refused = hold(server, "c")
    assert status_of(refused) == 503
    refused.close()
    assert held(server, "c") == 4

    sockets.pop().close()
    wait_until(lambda: held(server, "c") == 3, what="the closed subscriber to go")
    sockets.append(hold(server, "c"))
    wait_until(lambda: held(server, "c") == 4, what="its slot to be taken again")
    assert status_of(hold(server, "c")) == 503
    for s in sockets:
        s.close()
    assert "limiting connections by zone \"addr\"" in server.error_log


def test_limit_conn_answered_subscribers_give_back_their_count(pushrelay):
    """limit_conn: a subscriber answered by a message ends its count with its exchange."""
    server = pushrelay(workers=2, http=CONN_ZONE, sub_extra="limit_conn addr 2;")
    sockets = [hold(server, "d") for _ in range(2)]
    wait_until(lambda: held(server, "d") == 2, what="2 held subscribers")
    assert requests.post(server.pub_url("d"), data=b"hi", timeout=WAIT).status_code == 201
    assert [status_of(s) for s in sockets] == [200, 200]
    for _ in range(3):  # one at a time: each ends before the next starts
        assert requests.get(server.sub_url("d"), headers={"If-None-Match": "0"},
                            timeout=WAIT).status_code == 200
    for s in sockets:
        s.close()


# ---- limit_req ---------------------------------------------------------------

@pytest.mark.parametrize("rule, passed", [
    ("limit_req zone=slow;", 1),
    ("limit_req zone=slow burst=2 nodelay;", 3),
])
def test_limit_req_burst_and_nodelay(pushrelay, rule, passed):
    """limit_req at 1r/m: without burst one request passes, with burst=2 nodelay three pass at
    once; the rest get limit_req_status, across both workers."""
    server = pushrelay(workers=2, http=SLOW_ZONE + " limit_req_status 429;", pub_extra=rule)
    got = statuses(server.pub_url("r"), 6)
    assert got.count(429) == 6 - passed, got
    assert got[:passed] == [404] * passed  # no such channel: the publisher's own answer
    assert server.error_log.count("limiting requests") == 6 - passed


def test_limit_req_delays_beyond_delay_and_refuses_beyond_burst(pushrelay):
    """limit_req burst=4 delay=1 at 2r/s: of 8 simultaneous requests two pass at once, three
    wait on a timer (each logged one level below limit_req_log_level), three are refused; the
    refusals are answered before the delayed requests."""
    server = pushrelay(workers=1, http="limit_req_zone $binary_remote_addr zone=r:1m rate=2r/s;",
                       pub_extra="limit_req zone=r burst=4 delay=1; limit_req_log_level warn;")
    order, lock, start = [], threading.Lock(), threading.Barrier(8)

    def one():
        start.wait()
        status = requests.get(server.pub_url("x"), timeout=WAIT).status_code
        with lock:
            order.append(status)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert sorted(order) == [404] * 5 + [503] * 3, order
    assert order[-1] == 404 and 503 not in order[-3:], order
    lines = server.error_log.splitlines()
    assert len([l for l in lines if "[notice]" in l and "delaying request" in l]) == 3
    assert len([l for l in lines if "[warn]" in l and "limiting requests" in l]) == 3


def test_limit_req_delayed_client_that_leaves_is_forgotten(pushrelay):
    """limit_req: a client that closes while its request is delayed costs nothing: the server
    goes on answering."""
    server = pushrelay(workers=1, http="limit_req_zone $binary_remote_addr zone=r:1m rate=1r/s;",
                       pub_extra="limit_req zone=r burst=10;")
    assert requests.get(server.pub_url("x"), timeout=WAIT).status_code == 404
    s = socket.create_connection(("127.0.0.1", server.pub), timeout=WAIT)
    s.sendall(b"GET /pub?id=x HTTP/1.1\r\nHost: t\r\n\r\n")
    wait_until(lambda: "delaying request" in server.error_log, what="the delay")
    s.close()
    assert requests.get(server.pub_url("x"), timeout=WAIT).status_code == 404  # waited, served


# ---- zones -------------------------------------------------------------------

def reload(server, **changes):
    old = set(server.worker_pids())
    server.rewrite_conf(**changes)
    server.signal(signal.SIGHUP)
    wait_until(lambda: (set(server.worker_pids()).isdisjoint(old)
                        and len(server.worker_pids()) == server.workers),
               what="a new generation of workers")


def test_zones_survive_a_reload_unless_their_size_changes(pushrelay):
    """Reload: a zone declared alike keeps its buckets across a HUP; one whose size changed
    starts empty."""
    server = pushrelay(workers=2, http=SLOW_ZONE, pub_extra="limit_req zone=slow burst=1 nodelay;")
    assert statuses(server.pub_url("r"), 3) == [404, 404, 503]
    reload(server, timeout=("access_log off;", "access_log off; keepalive_timeout 70s;"))
    assert statuses(server.pub_url("r"), 1) == [503]
    reload(server, size=("zone=slow:1m", "zone=slow:2m"))
    assert statuses(server.pub_url("r"), 3) == [404, 404, 503]
    assert "limit_req_zone \"slow\" changed" in server.error_log


def test_full_zone_forgets_its_least_recently_used_key(pushrelay):
    """A limit_req zone that fills evicts its least recently used key (nginx); any conf variable
    may be the key ($arg_k here)."""
    server = pushrelay(workers=1,
                       http="limit_req_zone $arg_k zone=small:32k rate=1r/m;",
                       pub_extra="limit_req zone=small;")
    url = server.pub_url("x") + "&k="
    with requests.Session() as session:
        assert statuses(url + "first", 2, session) == [404, 503]
        # A 32k zone holds a few hundred keys: 600 new ones push "first" out.
        others = [session.get(url + f"k{i}", timeout=WAIT).status_code for i in range(600)]
        assert others == [404] * 600
        assert statuses(url + "first", 1, session) == [404]
        # A request without the key is not limited at all.
        assert statuses(server.pub_url("x"), 3, session) == [404] * 3


# ---- conf errors -------------------------------------------------------------

@pytest.mark.parametrize("http, sub", [
    ("limit_conn_zone $binary_remote_addr zone=a;", ""),
    ("limit_conn_zone $binary_remote_addr zone=a:1k;", ""),
    ("limit_conn_zone $binary_remote_addr zone=a:1m extra;", ""),
    ("limit_req_zone $binary_remote_addr zone=a:1m;", ""),
    ("limit_req_zone $binary_remote_addr zone=a:1m rate=fast;", ""),
    ("limit_req_zone $binary_remote_addr zone=a:1m rate=1r/h;", ""),
    ("limit_req_zone ${x zone=a:1m rate=1r/s;", ""),
    (CONN_ZONE + SLOW_ZONE, "limit_conn nope 1;"),
    (CONN_ZONE + SLOW_ZONE, "limit_conn addr 0;"),
    (CONN_ZONE + SLOW_ZONE, "limit_conn addr many;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req zone=addr;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req burst=1;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req zone=slow burst=-1;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req zone=slow delay=x;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req zone=slow nodelay delay=1;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req_status 200;"),
    (CONN_ZONE + SLOW_ZONE, "limit_conn_status 999;"),
    (CONN_ZONE + SLOW_ZONE, "limit_conn_log_level loud;"),
    (CONN_ZONE + SLOW_ZONE, "limit_req_log_level debug;"),
    ("", "limit_req_zone $uri zone=b:1m rate=1r/s;"),
])
def test_malformed_limit_directives_fail_the_conf_test(tmp_path, binary, http, sub):
    """Conf errors: every malformed limit directive names file:line."""
    server = PushRelay(tmp_path, http=http, sub_extra=sub)
    result = subprocess.run(server.command("-t"), capture_output=True, text=True, timeout=WAIT)
    assert result.returncode != 0
    line = next(i for i, text in enumerate(server.conf_text.splitlines(), 1)
                if (sub or http).split(";")[-2].strip() in text)
    assert f"{server.conf}:{line}: " in result.stderr, result.stderr
