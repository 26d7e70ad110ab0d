"""The access log line of each way an exchange ends: written when it ends, so a held
subscriber's line carries the time it was held, and one whose client left says 499."""
import socket

from conftest import WAIT, wait_until
from client import publish, wait_for_subscribers

LOG_FORMAT = "log_format timing '$status $request_time $bytes_sent \"$request\"';"


def log_lines(server):
    path = server.dir / "logs" / "access.log"
    return path.read_text().splitlines() if path.exists() else []


def held_subscriber(server, channel):
    sock = socket.create_connection(("127.0.0.1", server.sub), timeout=WAIT)
    sock.sendall(f"GET /sub?id={channel} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_for_subscribers(server.pub_url(channel), 1)
    return sock


def test_a_held_subscriber_whose_client_leaves_is_logged_499(pushrelay):
    server = pushrelay(workers=1, http=LOG_FORMAT,
                       sub_extra="access_log logs/access.log timing;")
    sock = held_subscriber(server, "gone")
    sock.close()
    wait_for_subscribers(server.pub_url("gone"), 0)
    line = wait_until(lambda: log_lines(server), what="the access log line")[0]
    status, request_time, sent, request = line.split(" ", 3)
    assert status == "499", line
    assert float(request_time) >= 0
    assert sent == "0", line  # nothing was sent
    assert request == '"GET /sub?id=gone HTTP/1.1"', line


def test_a_delivered_subscriber_is_logged_when_answered(pushrelay):
    server = pushrelay(workers=1, http=LOG_FORMAT,
                       sub_extra="access_log logs/access.log timing;")
    sock = held_subscriber(server, "got")
    assert log_lines(server) == []  # held: not logged yet
    assert publish(server.pub_url("got"), b"hello").status_code == 201
    response = b""
    while b"hello" not in response:
        chunk = sock.recv(4096)
        assert chunk, response
        response += chunk
    sock.close()
    line = wait_until(lambda: log_lines(server), what="the access log line")[0]
    status, _, sent, _ = line.split(" ", 3)
    assert status == "200", line
    assert int(sent) == len(response), line
