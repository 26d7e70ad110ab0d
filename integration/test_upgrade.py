"""Binary upgrade on USR2 (issue 14): the master execs its binary again, handing over the
listening sockets and the shared segment; after the old master QUITs, nothing is lost. Most tests
take the staged way (USR2, then QUIT to one of the two masters); `pushrelay -s upgrade`, which
does the whole handover, has its own.

The binary runs from a copy in the test's directory, so that "a rebuilt binary" is that copy
replaced by another one (rename over it, as a package upgrade does) before USR2."""
import os
import shutil
import signal
import socket
import subprocess
import threading

import pytest
import requests

from client import IteratingSubscriber, RoundRobinPublisher, publish_once
from conftest import BINARY, WAIT, PushRelay, alive, children_of, wait_until
from segment_layout import another_layout

BUFFER = "push_max_message_buffer_length 1000; push_min_message_buffer_length 1;"
CHANNELS = 3
SUBSCRIBERS_PER_CHANNEL = 3
STORED = ["s0", "s1", "s2"]


class CopiedBinaryRelay(PushRelay):
    """A PushRelay run from its own copy of the binary."""

    def __init__(self, directory, **options):
        super().__init__(directory, **options)
        self.binary = self.dir / "bin" / "pushrelay"
        self.binary.parent.mkdir(exist_ok=True)
        self.install_binary()
        self.adopted = []  # masters started by an upgrade, stopped by stop()

    def install_binary(self):
        """Puts a fresh copy of the binary in place, as a package upgrade does: a new file
        renamed over the old path (the running master keeps the old inode)."""
        fresh = self.binary.with_name("pushrelay.new")
        shutil.copy2(BINARY, fresh)
        os.replace(fresh, self.binary)

    def command(self, *extra):
        return [str(self.binary), "-p", str(self.dir), "-c", str(self.conf), *extra]

    @property
    def pid_file(self):
        return self.dir / "logs" / "pushrelay.pid"

    def pid_in(self, path):
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return None

    def stop(self):
        super().stop()
        for pid in self.adopted:
            workers = children_of(pid)
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: not alive(pid), what=f"new master {pid} to exit")
            for worker in workers:
                if alive(worker):
                    os.kill(worker, signal.SIGKILL)


@pytest.fixture
def upgradable(tmp_path):
    started = []

    def start(**options):
        server = CopiedBinaryRelay(tmp_path / f"server{len(started)}", **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


class Connector(threading.Thread):
    """Connects to both ports in a loop until stopped, counting refusals."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports = ports
        self.stop = threading.Event()
        self.attempts = 0
        self.refused = 0

    def run(self):
        while not self.stop.is_set() and self.attempts < 20000:
            for port in self.ports:
                self.attempts += 1
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
                except ConnectionRefusedError:
                    self.refused += 1
            self.stop.wait(0.005)  # pacing, not synchronisation



def upgrade(server):
    """USR2 after the binary was replaced; returns the new master's pid once its pid file is
    written and its workers run."""
    return upgrade_from(server, server.proc.pid)


def upgrade_from(server, old):
    server.install_binary()
    os.kill(old, signal.SIGUSR2)
    oldbin = server.pid_file.with_name("pushrelay.pid.oldbin")
    new = wait_until(lambda: (server.pid_in(server.pid_file) not in (None, old)
                              and server.pid_in(server.pid_file)),
                     what="the new master's pid file")
    server.adopted.append(new)
    assert server.pid_in(oldbin) == old
    wait_until(lambda: len([p for p in children_of(new) if alive(p)]) == server.workers,
               what="the new master's workers")
    return new


def test_upgrade_loses_no_message_and_refuses_no_connection(upgradable, tmp_path):
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(WAIT)
    try:
        server = upgradable(workers=2, http=BUFFER,
                            env={**os.environ, "NOTIFY_SOCKET": notify_path})
        assert "READY=1" in notify.recv(4096).decode()
        old = server.proc.pid
        old_workers = set(server.worker_pids())
        for body in STORED:
            assert publish_once(server, "stored", body) == 202

        subscribers = [IteratingSubscriber(server, f"ch{c}") for c in range(CHANNELS)
                       for _ in range(SUBSCRIBERS_PER_CHANNEL)]
        for s in subscribers:
            s.start()
        connector = Connector([server.pub, server.sub])
        connector.start()
        publisher = RoundRobinPublisher(server, CHANNELS)
        publisher.start()
        publisher.wait_for(20)

        new = upgrade(server)
        published_before_quit = len(publisher.statuses)
        os.kill(old, signal.SIGQUIT)
        assert server.proc.wait(timeout=WAIT * 2) == 0
        wait_until(lambda: not any(alive(p) for p in old_workers), what="the old workers to exit")
        publisher.wait_for(published_before_quit + 20, "publishing on after the old master left")
        publisher.finish()
        connector.stop.set()
        connector.join(WAIT)
        publisher.check(subscribers)
        assert connector.attempts > 0 and connector.refused == 0
        # The messages stored before the upgrade, served by the new master's workers alone.
        r = requests.get(server.sub_url("stored"), timeout=WAIT)
        assert (r.status_code, r.text) == (200, "s0")
        assert not server.pid_file.with_name("pushrelay.pid.oldbin").exists()
        assert server.pid_in(server.pid_file) == new
        assert f"took over from master process {old}" in server.error_log
        states = []
        notify.setblocking(False)
        while True:
            try:
                states.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
        assert any(f"MAINPID={new}" in state for state in states), states
        assert not any("STOPPING=1" in state for state in states), states
    finally:
        notify.close()


def run_upgrade_command(server):
    """`pushrelay -s upgrade` from the binary at the server's path."""
    return subprocess.run(server.command("-s", "upgrade"), capture_output=True, text=True,
                          timeout=WAIT * 2)


def test_upgrade_command_hands_over_and_quits_the_old_master(upgradable):
    """What the package's postinst runs: one command, after which the new binary serves alone,
    with the stored messages, and a subscriber iterating through it misses nothing."""
    server = upgradable(workers=2, http=BUFFER)
    old = server.proc.pid
    old_workers = set(server.worker_pids())
    for body in STORED:
        assert publish_once(server, "stored", body) == 202
    subscriber = IteratingSubscriber(server, "ch0")
    subscriber.start()
    assert publish_once(server, "ch0", "before") in (201, 202)
    wait_until(lambda: subscriber.bodies == ["before"], what="the subscriber's first message")

    server.install_binary()
    result = run_upgrade_command(server)

    assert result.returncode == 0, result.stderr
    new = server.pid_in(server.pid_file)
    server.adopted.append(new)
    assert result.stderr == (f"pushrelay: new master process {new} took over; the old master "
                             f"process {old} finishes gracefully\n")
    assert server.proc.wait(timeout=WAIT * 2) == 0
    wait_until(lambda: not any(alive(p) for p in old_workers), what="the old workers to exit")
    assert len([p for p in children_of(new) if alive(p)]) == server.workers
    assert publish_once(server, "ch0", "after") in (201, 202)
    assert publish_once(server, "ch0", "END") in (201, 202)
    subscriber.join(WAIT * 2)
    assert not subscriber.is_alive() and subscriber.errors == []
    assert subscriber.bodies == ["before", "after"]
    r = requests.get(server.sub_url("stored"), timeout=WAIT)
    assert (r.status_code, r.text) == (200, "s0")
    assert not server.pid_file.with_name("pushrelay.pid.oldbin").exists()


def test_upgrade_command_with_no_master_running_says_so(upgradable):
    server = upgradable(workers=1)
    server.proc.send_signal(signal.SIGQUIT)
    assert server.proc.wait(timeout=WAIT * 2) == 0

    result = run_upgrade_command(server)

    assert result.returncode == 3
    assert "no master process runs: invalid or missing PID in" in result.stderr


def test_upgrade_command_refuses_while_an_upgrade_is_under_way(upgradable):
    server = upgradable(workers=1)
    new = upgrade(server)

    result = run_upgrade_command(server)

    assert result.returncode == 1
    assert (f"an upgrade is under way: master process {server.proc.pid} is the old master"
            in result.stderr)
    assert server.pid_in(server.pid_file) == new and server.proc.poll() is None


def test_a_segment_of_another_layout_is_refused_and_the_old_master_serves_on(upgradable):
    """The layout version in the handed-over segment is not this binary's (faked by writing it
    through the old master's memfd): the new master logs why and exits, the old one keeps its
    pid file and serves on."""
    server = upgradable(workers=1)
    old = server.proc.pid
    assert publish_once(server, "kept", "before") == 202
    with another_layout(old) as version:
        server.install_binary()
        result = run_upgrade_command(server)
    assert result.returncode == 1
    assert f"the upgrade failed and master process {old} serves on" in result.stderr
    log = server.error_log
    assert f"this master {old} serves on" in log
    assert "handover refused" in log
    assert f"layout version {version}" in log
    assert server.pid_in(server.pid_file) == old
    assert not server.pid_file.with_name("pushrelay.pid.oldbin").exists()
    assert server.proc.poll() is None
    r = requests.get(server.sub_url("kept"), timeout=WAIT)
    assert (r.status_code, r.text) == (200, "before")


def test_quitting_the_new_master_rolls_the_upgrade_back(upgradable):
    """As nginx: after USR2, QUIT to the new master leaves the old one the master again, under
    the pid file's own name, with what the new one stored meanwhile."""
    server = upgradable(workers=1)
    old = server.proc.pid
    old_workers = set(server.worker_pids())
    new = upgrade(server)
    new_workers = [p for p in children_of(new) if alive(p)]
    assert publish_once(server, "both", "m0") == 202
    os.kill(new, signal.SIGQUIT)
    # Logged once the pid file is renamed back.
    wait_until(lambda: f"exited with code 0; this master {old} serves on" in server.error_log,
               what="the rollback in the old master's log")
    assert server.pid_in(server.pid_file) == old
    wait_until(lambda: not any(alive(p) for p in new_workers), what="the new workers to exit")
    assert not server.pid_file.with_name("pushrelay.pid.oldbin").exists()
    assert set(server.worker_pids()) == old_workers
    r = requests.get(server.sub_url("both"), timeout=WAIT)
    assert (r.status_code, r.text) == (200, "m0")


def test_a_binary_that_cannot_start_leaves_the_old_master_serving(upgradable):
    server = upgradable(workers=1)
    old = server.proc.pid
    server.binary.unlink()
    os.kill(old, signal.SIGUSR2)
    wait_until(lambda: f"exited with code 127; this master {old} serves on" in server.error_log,
               what="the failed exec in the old master's log")
    assert server.pid_in(server.pid_file) == old
    assert not server.pid_file.with_name("pushrelay.pid.oldbin").exists()
    assert publish_once(server, "still", "up") == 202


def status_workers(server):
    r = requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT)
    return r.json()["workers"]


def test_an_old_master_killed_during_the_overlap_leaves_no_slot_taken(upgradable):
    """SIGKILL, not QUIT: the old master cannot give its workers' slots back, so the new master
    does once they are gone; the status counts its own workers only."""
    server = upgradable(workers=2)
    assert publish_once(server, "kept", "m0") == 202
    old_workers = set(server.worker_pids())
    new = upgrade(server)
    assert status_workers(server) == 4

    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=WAIT)

    wait_until(lambda: not any(alive(p) for p in old_workers), what="the old workers to stop")
    wait_until(lambda: status_workers(server) == 2, what="the old workers' slots given back")
    for pid in old_workers:
        assert f"of the old master's worker process {pid} is free again" in server.error_log
    r = requests.get(server.sub_url("kept"), timeout=WAIT)
    assert (r.status_code, r.text) == (200, "m0")
    assert len([p for p in children_of(new) if alive(p)]) == 2


def test_a_new_master_upgrades_again_once_the_old_one_is_gone(upgradable):
    """The master an upgrade started hands over in turn: the fds it inherited go on."""
    server = upgradable(workers=1)
    assert publish_once(server, "kept", "m0") == 202
    first = upgrade(server)
    os.kill(server.proc.pid, signal.SIGQUIT)
    assert server.proc.wait(timeout=WAIT * 2) == 0
    second = upgrade_from(server, first)
    os.kill(first, signal.SIGQUIT)
    wait_until(lambda: not alive(first), what="the first new master to exit")
    assert server.pid_in(server.pid_file) == second
    r = requests.get(server.sub_url("kept"), timeout=WAIT)
    assert (r.status_code, r.text) == (200, "m0")
    assert publish_once(server, "kept", "m1") == 202
