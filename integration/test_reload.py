"""Operations: HUP reload without loss, a bad conf on reload, QUIT, USR1, systemd notify."""
import os
import re
import signal
import socket
import threading

import requests

from client import IteratingSubscriber, RoundRobinPublisher, publish_once, subscriber_count
from conftest import WAIT, accepts, free_port, wait_until

CHANNELS = 5
SUBSCRIBERS_PER_CHANNEL = 10
BUFFER = "push_max_message_buffer_length 100000; push_min_message_buffer_length 1;"


def held(server, channel):
    return subscriber_count(server.pub_url(channel)) or 0


def reload_to(server, workers):
    old = set(server.worker_pids())
    server.rewrite_conf(workers=(f"worker_processes {server.workers};",
                                 f"worker_processes {workers};"))
    server.workers = workers
    server.signal(signal.SIGHUP)
    wait_until(lambda: (set(server.worker_pids()).isdisjoint(old)
                        and len(server.worker_pids()) == workers),
               what=f"a new generation of {workers} workers replacing {sorted(old)}")


def test_five_reloads_lose_nothing(pushrelay):
    """Operations: 5 reloads while 50 subscribers are held and a publisher keeps
    publishing; the worker count changes; every subscriber gets every message
    in order, no 5xx, no refused connection."""
    server = pushrelay(workers=2, http=BUFFER)
    subscribers = [IteratingSubscriber(server, f"ch{c}") for c in range(CHANNELS)
                   for _ in range(SUBSCRIBERS_PER_CHANNEL)]
    for s in subscribers:
        s.start()
    for c in range(CHANNELS):
        wait_until(lambda c=c: held(server, f"ch{c}") == SUBSCRIBERS_PER_CHANNEL,
                   what=f"{SUBSCRIBERS_PER_CHANNEL} held subscribers on ch{c}")

    publisher = RoundRobinPublisher(server, CHANNELS)
    publisher.start()
    for workers in (3, 1, 2, 3, 2):
        publisher.wait_for(1)
        reload_to(server, workers)
    publisher.finish()
    publisher.check(subscribers)
    assert server.error_log.count("reloaded") == 5


def test_a_bad_conf_on_reload_keeps_the_old_workers(pushrelay):
    """Operations: a bad conf on reload is logged and the old workers keep serving."""
    server = pushrelay(workers=2)
    before = set(server.worker_pids())
    server.rewrite_conf(bad=("http {", "http {\n    push_no_such_thing on;"))
    server.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in server.error_log, what="the reload error in the log")
    assert "push_no_such_thing" in server.error_log
    assert re.search(r"pushrelay\.conf:\d+", server.error_log)
    assert set(server.worker_pids()) == before
    assert publish_once(server, "still", "up") == 202


def test_reload_applies_changed_listen(pushrelay):
    """Operations: changed listen directives are applied (new bound, removed closed)."""
    server = pushrelay(workers=1)
    new_port = free_port()
    old_port = server.sub
    server.rewrite_conf(listen=(f"listen 127.0.0.1:{old_port};", f"listen 127.0.0.1:{new_port};"))
    server.signal(signal.SIGHUP)
    wait_until(lambda: accepts(new_port), what="the new listen address")
    wait_until(lambda: not accepts(old_port), what="the old listen address to close")


def test_quit_answers_held_subscribers_and_exits(pushrelay):
    """Operations: QUIT answers held subscribers with 304 and exits."""
    server = pushrelay(workers=2)
    results = []

    def subscribe():
        results.append(requests.get(server.sub_url("q"), timeout=WAIT).status_code)

    threads = [threading.Thread(target=subscribe) for _ in range(5)]
    for t in threads:
        t.start()
    wait_until(lambda: held(server, "q") == 5, what="5 held subscribers")
    server.signal(signal.SIGQUIT)
    for t in threads:
        t.join(WAIT)
    assert results == [304] * 5
    assert server.proc.wait(timeout=WAIT) == 0


def test_usr1_reopens_a_renamed_log(pushrelay):
    """Operations: USR1 reopens log files (logrotate): the error log and the access log."""
    server = pushrelay(workers=1, pub_extra="access_log logs/access.log;")
    logs = server.dir / "logs"
    assert publish_once(server, "before", "x") == 202
    wait_until(lambda: (logs / "access.log").exists(), what="the access log")
    (logs / "error.log").rename(logs / "error.log.1")
    (logs / "access.log").rename(logs / "access.log.1")
    server.signal(signal.SIGUSR1)
    wait_until(lambda: "reopened the log files" in server.error_log,
               what="the master's line in the new error log")
    # Workers reopen on the same signal; a request shows the access log is new.
    wait_until(lambda: publish_once(server, "after", "y") == 202 and (logs / "access.log").exists()
               and "after" in (logs / "access.log").read_text(), what="a line in the new access log")
    assert "/pub?id=before" in (logs / "access.log.1").read_text()


def test_systemd_notify_sequence(pushrelay, tmp_path):
    """Operations: READY=1 when serving, RELOADING=1 / READY=1 around a reload, STOPPING=1."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(WAIT)
    try:
        server = pushrelay(workers=1, env={**os.environ, "NOTIFY_SOCKET": path})
        states = [sock.recv(4096).decode()]
        server.signal(signal.SIGHUP)
        states += [sock.recv(4096).decode(), sock.recv(4096).decode()]
        server.signal(signal.SIGTERM)
        states.append(sock.recv(4096).decode())
        assert server.proc.wait(timeout=WAIT) == 0
    finally:
        sock.close()
    first = [s.split("\n")[0] for s in states]
    assert first == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]
    assert f"MAINPID={server.proc.pid}" in states[0]
    assert "MONOTONIC_USEC=" in states[1]
