"""TCP keepalive on accepted connections: listen's so_keepalive= and its default.

The master sets it on the listening socket and accepted sockets inherit it, so
these tests read what the kernel does with the server's side of a held
subscriber's connection: the keepalive timer `ss -tno` shows.
"""
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import WAIT, wait_until

pytestmark = pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is missing")

# One subscriber server whose listen takes OPTIONS; the fixture also waits on {pub}.
SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub {{ set $push_channel_id $arg_id; push_publisher; }}
    }}
    server {{
        listen 127.0.0.1:{sub} OPTIONS;
        location /sub {{ set $push_channel_id $arg_id; push_subscriber; }}
    }}
"""


def start(pushrelay, options):
    return pushrelay(workers=1, servers=SERVERS.replace("OPTIONS", options))


def kernel_keepalive_time():
    return int(Path("/proc/sys/net/ipv4/tcp_keepalive_time").read_text())


def held_subscriber(server):
    """A connection holding a long-poll subscriber (no bytes flow while it waits)."""
    conn = socket.create_connection(("127.0.0.1", server.sub), timeout=WAIT)
    conn.sendall(b"GET /sub?id=keepalive HTTP/1.1\r\nHost: t\r\n\r\n")
    return conn


def ss_seconds(text):
    """ss's timer text as seconds: "59sec", "6.692ms" (6 s 692 ms), "1min30sec", "119min"."""
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", text)
    assert m and text, f"unexpected ss timer {text!r}"
    minutes, seconds, millis = (int(g or 0) for g in m.groups())
    return minutes * 60 + seconds + millis / 1000


def server_side(server, conn):
    """The `ss -tno` line of the server's end of conn."""
    client_port = conn.getsockname()[1]
    result = subprocess.run(
        ["ss", "-tno", "state", "established",
         f"( sport = :{server.sub} and dport = :{client_port} )"],
        capture_output=True, text=True, timeout=WAIT, check=True)
    lines = result.stdout.splitlines()[1:]
    assert len(lines) == 1, result.stdout
    return lines[0]


def keepalive_timer(server, conn):
    """Seconds until the server's side sends a keepalive probe; None without keepalive."""
    m = re.search(r"timer:\(keepalive,([^,]+),", server_side(server, conn))
    return ss_seconds(m.group(1)) if m else None


def test_default_is_on_probing_after_60s(pushrelay):
    server = start(pushrelay, "")
    with held_subscriber(server) as conn:
        assert 50 <= keepalive_timer(server, conn) <= 60


def test_timers_from_so_keepalive(pushrelay):
    server = start(pushrelay, "so_keepalive=7s:3s:2")
    with held_subscriber(server) as conn:
        assert 4 <= keepalive_timer(server, conn) <= 7


def test_interval_applies_after_the_first_probe(pushrelay):
    """Probes after 2 s of silence, then every 1 s: past 2 s, the next one is at most 1 s away
    (the kernel's default interval would put it 75 s away)."""
    server = start(pushrelay, "so_keepalive=2s:1s:")
    with held_subscriber(server) as conn:
        time.sleep(2.3)
        assert keepalive_timer(server, conn) <= 1.0


def test_off_sets_no_timer(pushrelay):
    server = start(pushrelay, "so_keepalive=off")
    with held_subscriber(server) as conn:
        assert "timer:" not in server_side(server, conn)


def test_on_keeps_the_kernel_timers(pushrelay):
    server = start(pushrelay, "so_keepalive=on")
    with held_subscriber(server) as conn:
        # ss drops the seconds once the timer is 10 minutes or more away.
        assert kernel_keepalive_time() - 60 <= keepalive_timer(server, conn) <= (
            kernel_keepalive_time())


def test_reload_applies_the_new_keepalive_to_the_kept_socket(pushrelay):
    """A timer the new conf leaves to the kernel is the kernel's again, not the old conf's."""
    server = start(pushrelay, "so_keepalive=7s:3s:2")
    old = set(server.worker_pids())
    server.rewrite_conf(keepalive=("so_keepalive=7s:3s:2", "so_keepalive=on"))
    server.signal(signal.SIGHUP)
    wait_until(lambda: server.worker_pids() and set(server.worker_pids()).isdisjoint(old),
               what="a new generation of workers")
    with held_subscriber(server) as conn:
        assert keepalive_timer(server, conn) >= kernel_keepalive_time() - 60
