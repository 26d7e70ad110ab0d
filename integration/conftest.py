"""Fixtures that run the real pushrelay binary.

Every test gets servers on free loopback ports with a temp conf; the fixture
waits until each listen socket accepts and always stops the server (TERM,
then KILL) even when the test fails. The binary comes from $PUSHRELAY_BIN
(set by ctest and the Makefile) or build/pushrelay.
"""
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("PUSHRELAY_BIN", ROOT / "build" / "pushrelay"))

# Every wait in these tests is bounded by this (seconds).
WAIT = 10.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=WAIT, what="condition"):
    """Polls predicate until true; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def children_of(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def is_relay(pid):
    """Whether pid is a Redis relay process (it names itself so, as ps shows)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "pushrelay:relay"
    except OSError:
        return False


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_server(proc, workers, timeout=WAIT):
    """Stops a master (TERM, then KILL if it does not exit in time) and kills
    any of its `workers` still alive, so nothing outlives a test or a run."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    for pid in workers:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


DEFAULT_SERVERS = """
    server {{
        listen 127.0.0.1:{pub};
        location /pub {{
            set $push_channel_id $arg_id;
            push_publisher;
            {pub_extra}
        }}
        location = /status {{
            push_stub_status;
        }}
    }}
    server {{
        listen 127.0.0.1:{sub};
        location /sub {{
            set $push_channel_id $arg_id;
            push_subscriber {mode};
            {sub_extra}
        }}
    }}
"""


class PushRelay:
    """One pushrelay master started on a temp conf."""

    def __init__(self, directory, workers=2, http="", servers=None, main="",
                 mode="long-poll", pub_extra="", sub_extra="", events="", env=None,
                 worker_connections=2048):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        self.pub = free_port()
        self.sub = free_port()
        body = (servers if servers is not None else DEFAULT_SERVERS).format(
            pub=self.pub, sub=self.sub, mode=mode, pub_extra=pub_extra, sub_extra=sub_extra)
        self.conf_text = f"""
worker_processes {workers};
daemon off;
pid logs/pushrelay.pid;
error_log logs/error.log info;
{main}
events {{ worker_connections {worker_connections}; {events} }}
http {{
    access_log off;
    {http}
    {body}
}}
"""
        self.conf = self.dir / "pushrelay.conf"
        self.conf.write_text(self.conf_text)
        self.workers = workers
        self.env = env
        self.proc = None

    @property
    def base_pub(self):
        return f"http://127.0.0.1:{self.pub}"

    @property
    def base_sub(self):
        return f"http://127.0.0.1:{self.sub}"

    def pub_url(self, channel):
        return f"{self.base_pub}/pub?id={channel}"

    def sub_url(self, channel):
        return f"{self.base_sub}/sub?id={channel}"

    @property
    def error_log(self):
        path = self.dir / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self, *extra):
        return [str(BINARY), "-p", str(self.dir), "-c", str(self.conf), *extra]

    def start(self, ports=None):
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env)
        for port in ports or (self.pub, self.sub):
            wait_until(lambda: accepts(port) or self.proc.poll() is not None,
                       what=f"pushrelay to accept on {port}")
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"pushrelay exited {self.proc.returncode}: {err.decode()}")
        wait_until(lambda: len(self.worker_pids()) == self.workers, what="all workers")
        return self

    def rewrite_conf(self, **changes):
        """Rewrites the conf file, replacing each `old` text by `new` (changes
        maps a label to an (old, new) pair); for reload tests."""
        text = self.conf.read_text()
        for old, new in changes.values():
            assert old in text, f"{old!r} is not in the conf"
            text = text.replace(old, new)
        self.conf.write_text(text)

    def worker_pids(self):
        return [p for p in children_of(self.proc.pid) if alive(p) and not is_relay(p)]

    def relay_pids(self):
        """Redis mode's relay process (one per node), apart from the workers."""
        return [p for p in children_of(self.proc.pid) if alive(p) and is_relay(p)]

    def signal(self, signo):
        self.proc.send_signal(signo)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_server(self.proc, self.worker_pids() + self.relay_pids())
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def pushrelay(tmp_path):
    """Starts a PushRelay with the given options; stops every one after the test."""
    started = []

    def start(**options):
        server = PushRelay(tmp_path / f"server{len(started)}", **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def require(missing):
    """Skips the calling test for `missing` (what is missing and how to install it; None when
    nothing is), or fails it under PUSHRELAY_REQUIRE_BROWSER: `make test` sets that after
    installing Chromium, node and the npm modules (make test-deps), so there a gap is a fault."""
    if missing is None:
        return
    if os.environ.get("PUSHRELAY_REQUIRE_BROWSER"):
        pytest.fail(missing)
    pytest.skip(missing)


def missing_npm_modules(directory, modules):
    """Why node or one of `modules` (in directory/node_modules, from its package-lock.json) can't
    be used, with how to install it; None when all are there. For require()."""
    if shutil.which("node") is None:
        return "no node: apt-get install -y nodejs npm"
    for module in modules:
        if not (directory / "node_modules" / module).is_dir():
            return f"{module} missing: cd {directory.relative_to(ROOT)} && npm ci"
    return None


@pytest.fixture
def binary():
    assert BINARY.exists(), f"{BINARY} is missing: build first (make)"
    return BINARY


@functools.lru_cache(maxsize=None)
def websocket_refusal():
    """None when the binary accepts `push_subscriber websocket` at conf load (`pushrelay -t`),
    else what it said. WebSocket is built on its own branch: until it is merged, the binary
    refuses the transport and the WebSocket cases skip with this reason, and only then."""
    with tempfile.TemporaryDirectory() as directory:
        conf = Path(directory) / "ws.conf"
        conf.write_text(f"""
worker_processes 1;
daemon off;
pid {directory}/pushrelay.pid;
error_log {directory}/error.log;
events {{ worker_connections 64; }}
http {{
    server {{
        listen 127.0.0.1:{free_port()};
        location /sub {{ set $push_channel_id $arg_id; push_subscriber websocket; }}
    }}
}}
""")
        run = subprocess.run([str(BINARY), "-p", directory, "-c", str(conf), "-t"],
                             capture_output=True, text=True, timeout=WAIT)
    if run.returncode == 0:
        return None
    return (run.stderr or run.stdout).strip() or f"exit status {run.returncode}"


def require_websocket():
    """Skips the calling test, with the binary's own words, when it refuses WebSocket."""
    refusal = websocket_refusal()
    if refusal is not None:
        pytest.skip(f"{BINARY} refuses `push_subscriber websocket` at conf load "
                    f"(WebSocket not merged yet): {refusal}")


# The `redis` fixture (a real redis-server) for every test module; imported last, since
# redis_server takes its helpers from this module.
from redis_server import redis  # noqa: E402,F401
