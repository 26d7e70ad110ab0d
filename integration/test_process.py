"""The master and its workers: -t, the startup line, worker count, respawn, TERM, QUIT."""
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import ROOT, WAIT, PushRelay, alive, wait_until


def test_t_accepts_a_good_conf(tmp_path, binary):
    server = PushRelay(tmp_path)
    result = subprocess.run(server.command("-t"), capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    assert "test is successful" in result.stderr


def test_t_on_the_example_conf(binary):
    result = subprocess.run([str(binary), "-t", "-p", str(ROOT), "-c", "dist/pushrelay.conf"],
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stderr


def test_t_names_file_and_line_of_an_error(tmp_path, binary):
    conf = tmp_path / "bad.conf"
    conf.write_text("worker_processes 1;\nhttp {\n  push_nonsense on;\n}\n")
    result = subprocess.run([str(binary), "-t", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode != 0
    assert f"{conf}:3" in result.stderr
    assert "push_nonsense" in result.stderr
    assert "test failed" in result.stderr


def test_a_bad_conf_does_not_start(tmp_path, binary):
    conf = tmp_path / "bad.conf"
    conf.write_text("daemon off;\nhttp { server { listen 127.0.0.1:1; location / { push_publisher; }\n")
    result = subprocess.run([str(binary), "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode != 0
    assert f"{conf}:" in result.stderr


def version(binary):
    result = subprocess.run([str(binary), "-v"], capture_output=True, text=True, timeout=WAIT)
    return re.search(r"pushrelay/(\S+)", result.stderr).group(1)


def first_stderr_line(proc):
    ready, _, _ = select.select([proc.stderr], [], [], WAIT)
    assert ready, "nothing on stderr"
    return proc.stderr.readline().decode()


def test_foreground_start_says_what_serves_where(pushrelay, binary):
    server = pushrelay(workers=2)
    assert first_stderr_line(server.proc) == (
        f"pushrelay {version(binary)} started: 2 workers; "
        f"127.0.0.1:{server.pub} publisher (/pub), status (= /status); "
        f"127.0.0.1:{server.sub} subscriber (/sub)\n")


def test_a_daemon_prints_nothing(tmp_path, binary):
    server = PushRelay(tmp_path)
    server.conf.write_text(server.conf_text.replace("daemon off;", "daemon on;"))
    pid_file = tmp_path / "logs/pushrelay.pid"
    result = subprocess.run(server.command(), capture_output=True, text=True, timeout=WAIT)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(),
                   what="the daemon's pid file")
        pid = int(pid_file.read_text())
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    wait_until(lambda: not alive(pid), what="the daemon to stop")


def test_master_runs_the_configured_workers(pushrelay):
    server = pushrelay(workers=3)
    assert len(server.worker_pids()) == 3
    assert server.proc.poll() is None


def test_a_killed_worker_is_replaced(pushrelay):
    server = pushrelay(workers=2)
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    start = time.monotonic()
    wait_until(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2,
               timeout=1.0, what="a replacement worker within 1 s")
    assert time.monotonic() - start <= 1.0
    assert "exited on signal 9" in server.error_log


def test_term_leaves_no_process_and_no_segment(pushrelay):
    before = set(os.listdir("/dev/shm"))
    server = pushrelay(workers=2)
    workers = server.worker_pids()
    server.signal(signal.SIGTERM)
    server.proc.wait(timeout=2)
    wait_until(lambda: not any(alive(p) for p in workers), timeout=2, what="workers to exit")
    leftovers = {name for name in set(os.listdir("/dev/shm")) - before if "pushrelay" in name}
    assert leftovers == set()
    assert not (server.dir / "logs" / "pushrelay.pid").exists()


def test_quit_stops_gracefully(pushrelay):
    server = pushrelay(workers=2)
    workers = server.worker_pids()
    server.signal(signal.SIGQUIT)
    assert server.proc.wait(timeout=WAIT) == 0
    wait_until(lambda: not any(alive(p) for p in workers), what="workers to exit")


def test_s_stop_finds_the_master_through_the_pid_file(pushrelay):
    server = pushrelay(workers=1)
    result = subprocess.run(server.command("-s", "stop"), capture_output=True, text=True,
                            timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert server.proc.wait(timeout=WAIT) == 0


@pytest.mark.parametrize("flag", ["-v", "-V", "-h"])
def test_informational_flags(binary, flag):
    result = subprocess.run([str(binary), flag], capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0
    assert "pushrelay" in result.stderr
