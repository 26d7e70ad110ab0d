"""A real redis-server (Debian's, 7.0) for the Redis-mode tests: on a free loopback port in a
temp dir, started (waits until PING answers), stopped (SHUTDOWN, then TERM, then KILL, bounded)
and started again on the same port, empty or with its data. Commands go over a small RESP client
on a raw socket with bounded timeouts; MONITOR is read the same way. Never a mock."""
import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import WAIT, free_port, wait_until

BINARY = "/usr/bin/redis-server"


class RedisError(Exception):
    """An error reply (-ERR, -NOPERM, ...) from Redis, with its text."""


def _encode(args):
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Reader:
    """Reads RESP2 replies from a socket; bulk strings come back as str (errors replaced)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buffer) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exactly(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"unexpected RESP line {line!r}")


class Monitor:
    """MONITOR on its own connection, read in a thread until stop(): the commands Redis ran
    meanwhile, as (client, [args]) with client "lua" for commands run inside scripts."""

    LINE = re.compile(r'^[\d.]+ \[\d+ ([^\]]+)\] (.*)$')

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.reader = _Reader(self.sock)
        self.sock.sendall(_encode(["MONITOR"]))
        assert self.reader.reply() == "OK"
        self.sock.settimeout(0.2)
        self.lines = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopping.is_set():
            try:
                self.lines.append(self.reader.reply())
            except socket.timeout:
                continue
            except (OSError, ConnectionError):
                return

    def stop(self):
        """Stops reading and returns the commands seen, as (client, [args])."""
        self._stopping.set()
        self._thread.join(WAIT)
        self.sock.close()
        commands = []
        for line in self.lines:
            m = self.LINE.match(line)
            if m:
                args = [a.encode().decode("unicode_escape")
                        for a in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))]
                commands.append((m.group(1), args))
        return commands


class RedisServer:
    """One redis-server process; `start()` again after `stop()` reuses the port and the dir."""

    def __init__(self, directory, extra=()):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.extra = list(extra)  # more redis-server arguments (a cluster node's)
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log(self):
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self):
        """Starts it (loading dump.rdb when the last stop kept the data) and waits until PING
        answers PONG."""
        self.proc = subprocess.Popen(
            [BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--enable-debug-command", "local", "--logfile", str(self.dir / "redis.log"),
             *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._pong() or self.proc.poll() is not None,
                   what=f"redis-server to answer PING on {self.port}")
        assert self.proc.poll() is None, f"redis-server exited: {self.log[-2000:]}"
        return self

    def _pong(self):
        try:
            return self.cli("PING", timeout=0.5) == "PONG"
        except (OSError, ConnectionError, RedisError):
            return False

    def stop(self, keep_data=False):
        """SHUTDOWN (SAVE when keep_data, so that start() loads it; else NOSAVE and no dump
        left), then TERM, then KILL, each bounded."""
        if self.proc is None or self.proc.poll() is not None:
            return
        dump = self.dir / "dump.rdb"
        if not keep_data and dump.exists():
            dump.unlink()
        try:
            self.cli("SHUTDOWN", "SAVE" if keep_data else "NOSAVE", timeout=WAIT)
        except (OSError, ConnectionError, RedisError):
            pass  # SHUTDOWN closes the connection instead of replying
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
        if keep_data:
            assert dump.exists(), f"SHUTDOWN SAVE wrote no dump: {self.log[-2000:]}"

    def cli(self, *args, timeout=5.0):
        """Runs one command on a fresh connection; returns the reply (RedisError for -ERR)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(_encode(list(args)))
            return _Reader(sock).reply()

    def info(self, section):
        """INFO section as a dict of its `name:value` lines."""
        pairs = (line.split(":", 1) for line in self.cli("INFO", section).splitlines()
                 if ":" in line and not line.startswith("#"))
        return dict(pairs)

    def command_calls(self, command):
        """cmdstat_<command> calls so far (0 before the first)."""
        row = self.info("commandstats").get(f"cmdstat_{command}", "")
        m = re.search(r"calls=(\d+)", row)
        return int(m.group(1)) if m else 0

    def clients(self, kind=None):
        """CLIENT LIST (TYPE kind) as a list of dicts of its fields."""
        text = self.cli("CLIENT", "LIST", *(["TYPE", kind] if kind else []))
        return [dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
                for line in text.splitlines() if line]

    def debug_sleep(self, seconds):
        """DEBUG SLEEP in a thread (Redis answers nothing meanwhile); returns the thread."""
        thread = threading.Thread(
            target=lambda: self.cli("DEBUG", "SLEEP", seconds, timeout=seconds + WAIT),
            daemon=True)
        thread.start()
        return thread

    def client_kill(self, *filters):
        """CLIENT KILL with filters (e.g. "TYPE", "pubsub"); returns how many were killed."""
        return self.cli("CLIENT", "KILL", *filters)

    def acl_setuser(self, user, *rules):
        return self.cli("ACL", "SETUSER", user, *rules)

    def monitor(self):
        return Monitor(self.port)


@pytest.fixture
def redis(tmp_path):
    """A started RedisServer; always stopped after the test."""
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"{BINARY} is missing: apt-get install redis-server")
    server = RedisServer(tmp_path / "redis")
    try:
        yield server.start()
    finally:
        server.stop()
