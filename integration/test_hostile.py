"""Hostile clients: malformed requests of every kind, slow and never-reading
clients, more connections than worker_connections, and client bytes in logs.

Each test checks the server's answer (a 4xx or a clean close, never a 2xx to
garbage) and then that it is unharmed: a publish and a subscribe on fresh
connections still work and the workers are the same processes (none crashed).
"""
import re
import select
import socket
import time
from pathlib import Path

import pytest
import requests

from conftest import WAIT, wait_until

SLOW_HTTP = "client_header_timeout 1s;"


def connect(port, **options):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for level, name, value in options.get("sockopts", ()):
        s.setsockopt(level, name, value)
    s.settimeout(WAIT)
    s.connect(("127.0.0.1", port))
    return s


def read_until_closed(s, deadline):
    """Everything the server sends until it closes (b"" on a reset before
    any byte); None if it is still open at the deadline."""
    received = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    return None


def exchange(port, data, shut_write=False):
    """Sends data (tolerating the server closing first) and returns what
    came back before the server closed the connection."""
    with connect(port) as s:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = read_until_closed(s, time.monotonic() + WAIT)
    assert received is not None, "the server kept the connection open"
    return received


def statuses(received):
    """The status of each response in received, in order (Content-Length
    framed, as every response of the relay but a held stream is)."""
    codes = []
    while received:
        head, sep, rest = received.partition(b"\r\n\r\n")
        match = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
        assert sep and match, f"not a response: {received[:200]!r}"
        codes.append(int(match.group(1)))
        length = re.search(rb"\r\nContent-Length: (\d+)", head, re.I)
        received = rest[int(length.group(1)) if length else 0:]
    return codes


def assert_refused(received):
    """A 4xx and nothing else, or a close without a word."""
    codes = statuses(received)
    assert received == b"" or (codes and all(400 <= c < 500 for c in codes)), received[:300]


def publish(server, channel, body):
    r = requests.post(server.pub_url(channel), data=body, timeout=WAIT)
    assert r.status_code in (201, 202), r.text
    return r


def assert_unharmed(server, workers):
    """A normal publish/subscribe on new connections works, and no worker died
    (or was replaced) since `workers` was taken."""
    channel = f"ok{time.monotonic_ns()}"
    publish(server, channel, b"still fine")
    r = requests.get(server.sub_url(channel), timeout=WAIT)
    assert r.status_code == 200 and r.content == b"still fine"
    assert sorted(server.worker_pids()) == workers


@pytest.fixture
def relay(pushrelay):
    server = pushrelay(workers=2)
    return server, sorted(server.worker_pids())


def request(head, body=b""):
    return head.replace(b"\n", b"\r\n") + b"\r\n" + body


MALFORMED = {
    "no_target": request(b"GET\n"),
    "bad_method": request(b"G(T /sub?id=a HTTP/1.1\n"),
    "space_in_target": request(b"GET /sub?id=a b c HTTP/1.1\n"),
    "bad_version": request(b"GET /sub?id=a HTTP/1.x\n"),
    "header_without_colon": request(b"GET /sub?id=a HTTP/1.1\nHost x\n"),
    "space_before_colon": request(b"GET /sub?id=a HTTP/1.1\nHost : x\n"),
    "two_content_lengths": request(b"POST /pub?id=a HTTP/1.1\nContent-Length: 1\n"
                                   b"Content-Length: 2\n", b"ab"),
    "negative_content_length": request(b"POST /pub?id=a HTTP/1.1\nContent-Length: -1\n"),
    "chunk_size_not_hex": request(b"POST /pub?id=a HTTP/1.1\nTransfer-Encoding: chunked\n",
                                  b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_overflow": request(b"POST /pub?id=a HTTP/1.1\nTransfer-Encoding: chunked\n",
                                   b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    # Was accepted (llhttp skipped the two bytes after chunk data): now a 400.
    "chunk_without_crlf": request(b"POST /pub?id=a HTTP/1.1\nTransfer-Encoding: chunked\n",
                                  b"5\r\nhelloXX0\r\n\r\n"),
    "nul_in_target": request(b"GET /sub?id=a\0b HTTP/1.1\n"),
    "nul_in_header": request(b"GET /sub?id=a HTTP/1.1\nX-A: b\0c\n"),
    "encoded_nul_in_path": request(b"GET /sub%00x?id=a HTTP/1.1\n"),
    "header_line_100k": request(b"GET /sub?id=a HTTP/1.1\nX-Long: " + b"a" * 100_000 + b"\n"),
    "headers_10000": request(b"GET /sub?id=a HTTP/1.1\n" +
                             b"".join(b"X-%d: v\n" % i for i in range(10_000))),
    "binary_noise": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_request_is_refused(relay, kind):
    server, workers = relay
    received = exchange(server.pub, MALFORMED[kind])
    assert_refused(received)
    assert_unharmed(server, workers)


def test_http_09_request_line_is_505(relay):
    # "GET /path" alone is an HTTP/0.9 request: a version we do not speak.
    server, workers = relay
    received = exchange(server.pub, b"GET /sub?id=a\r\n\r\n")
    assert statuses(received) == [505]
    assert_unharmed(server, workers)


def test_over_long_request_line_is_414_and_long_header_431(relay):
    # nginx answers a request line that does not fit its buffers with 414; a header block that
    # does not fit stays 431 (doc/protocol-formats.md §4.1).
    server, workers = relay
    long_id = b"a" * 20_000
    assert statuses(exchange(server.sub, request(b"GET /sub?id=" + long_id + b" HTTP/1.1\n"))) \
        == [414]
    assert statuses(exchange(server.sub, request(b"GET /sub?id=a HTTP/1.1\nX-Long: " + long_id +
                                                 b"\n"))) == [431]
    assert_unharmed(server, workers)


def test_body_longer_than_content_length(relay):
    # The bytes past Content-Length are the next request on the connection:
    # as such they are garbage, refused with a 400 and a close.
    server, workers = relay
    received = exchange(server.pub, request(
        b"POST /pub?id=long HTTP/1.1\nContent-Length: 3\n", b"abcdefgh garbage\r\n\r\n"))
    codes = statuses(received)
    assert codes[0] in (201, 202) and codes[1:] == [400], received
    assert requests.get(server.sub_url("long"), timeout=WAIT).content == b"abc"
    assert_unharmed(server, workers)


def test_body_shorter_than_content_length(relay):
    # The client stops sending halfway through its body: nothing is published.
    server, workers = relay
    received = exchange(server.pub, request(
        b"POST /pub?id=short HTTP/1.1\nContent-Length: 100\n", b"only ten b"), shut_write=True)
    assert_refused(received)
    assert requests.get(server.pub_url("short"), timeout=WAIT).status_code == 404
    assert_unharmed(server, workers)


def test_request_one_byte_per_packet(relay):
    server, workers = relay
    publish(server, "bytewise", b"slowly")
    data = b"GET /sub?id=bytewise HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with connect(server.sub, sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]) as s:
        for i in range(len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.001)  # one segment each: the pacing is what is under test
        received = read_until_closed(s, time.monotonic() + WAIT)
    assert statuses(received) == [200] and received.endswith(b"slowly")
    assert_unharmed(server, workers)


def test_slow_header_client_is_dropped(pushrelay):
    server = pushrelay(workers=2, http=SLOW_HTTP)
    workers = sorted(server.worker_pids())
    data = b"GET /sub?id=slow HTTP/1.1\r\nX-Pad: " + b"a" * 100
    started = time.monotonic()
    outcome = None
    with connect(server.sub) as s:
        for byte in data:
            ready, _, _ = select.select([s], [], [], 0.3)
            if ready:
                try:
                    outcome = s.recv(65536)
                except ConnectionResetError:
                    outcome = b""
                break
            try:
                s.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                outcome = b""
                break
    elapsed = time.monotonic() - started
    assert outcome is not None, "a client sending a byte every 0.3 s was never dropped"
    assert not outcome.startswith(b"HTTP/1.1 2"), outcome
    assert elapsed < 2.5, f"dropped only after {elapsed:.1f}s with client_header_timeout 1s"
    assert_unharmed(server, workers)


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


# A worker stops reading a client whose answers pile up unread (4 MiB of
# output pending), so its pipelined requests stay in the kernel's buffers.
def test_client_that_never_reads_is_bounded(relay):
    server, workers = relay
    publish(server, "big", b"x" * (512 * 1024))
    before = {pid: rss_kib(pid) for pid in workers}
    get = b"GET /sub?id=big HTTP/1.1\r\nHost: x\r\n\r\n"
    # 64 MiB of pipelined GETs, each asking for 512 KiB: neither the requests nor the responses
    # may pile up in the worker (it must stop reading, then be written to, then close).
    burst = get * (64 * 1024 * 1024 // len(get))
    sent = 0
    with connect(server.sub, sockopts=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]) as hog:
        hog.setblocking(False)
        deadline = time.monotonic() + 3
        while sent < len(burst) and time.monotonic() < deadline:
            _, writable, _ = select.select([], [hog], [], 0.1)
            if writable:
                try:
                    sent += hog.send(burst[sent:sent + 256 * 1024])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
        # Whatever the server does with the hog, another client is served meanwhile.
        assert_unharmed(server, workers)
        grown = {pid: rss_kib(pid) - before[pid] for pid in workers}
        assert all(g < 32 * 1024 for g in grown.values()), f"RSS grew (KiB): {grown}"
        # The hog stopped being read: most of the burst never left it.
        assert sent < len(burst) // 2, f"the worker took {sent} bytes of requests it cannot serve"
    assert_unharmed(server, workers)


def test_worker_connections_limit(pushrelay):
    server = pushrelay(workers=1, worker_connections=16)
    workers = sorted(server.worker_pids())
    opened = []
    try:
        for _ in range(40):
            opened.append(connect(server.sub))
        # The worker takes 16; the rest are closed by it without a word.
        wait_until(lambda: sum(closed_by_peer(s) for s in opened) >= 40 - 16,
                   what=f"{40 - 16} of the connections to be closed by the server")
    finally:
        for s in opened:
            s.close()
    # With the idle ones gone, a normal request is served again.
    wait_until(lambda: serves(server), what="a request after closing the idle connections")
    assert_unharmed(server, workers)


def closed_by_peer(s):
    ready, _, _ = select.select([s], [], [], 0)
    if not ready:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def serves(server):
    try:
        return requests.get(f"{server.base_sub}/nowhere", timeout=1).status_code == 404
    except requests.RequestException:
        return False


def test_client_bytes_are_escaped_in_logs(pushrelay):
    log_format = 'log_format hostile \'"$request" $uri "$http_x_evil"\';'
    server = pushrelay(workers=2, http=log_format,
                       pub_extra="access_log logs/access.log hostile;")
    workers = sorted(server.worker_pids())
    # A channel info request (404: no such channel) whose path decodes to a newline and a quote.
    target = b"/pub%0aINJECTED%22quote?id=ch%0aINJECTED%22%5c"
    received = exchange(server.pub, request(
        b"GET " + target + b" HTTP/1.1\nX-Evil: \"quoted\\ \nConnection: close\n"))
    assert statuses(received) == [404], received
    # A malformed request's reason goes to the error log (info level in the fixture).
    assert_refused(exchange(server.pub, request(b"GET /pub?id=a HTTP/1.1\nX\"INJECTED: v\n")))
    access = wait_until(lambda: (server.dir / "logs" / "access.log").read_bytes(),
                        what="the access log line")
    for log in (access, server.error_log.encode()):
        assert not re.search(rb"^INJECTED", log, re.M), log
    line = access.decode()
    assert line.count("\n") == 1, line
    assert r"/pub\x0aINJECTED\x22quote" in line, line  # $uri: decoded, then escaped
    assert r'"\x22quoted\x5c"' in line, line  # the header, trimmed and escaped
    assert_unharmed(server, workers)
