"""The push_redis_* directives (shared/scale-out.md "Conf") as the binary takes them: -t passes
with a Redis that is not there, reports a mistake with file:line, and a server with Redis
directives starts, warns that Redis mode is not built yet, and serves from its own segment."""
import signal
import subprocess

from conftest import WAIT, PushRelay, free_port, wait_until
from client import Held, publish, wait_for_subscribers

NOT_BUILT = "Redis mode is not built yet"


def redis_http(port):
    """Every Redis directive, toward a loopback port where nothing listens."""
    return f"""
    push_redis_url redis://pushrelay:s3cret@127.0.0.1:{port}/0;
    push_redis_namespace pushrelay;
    push_redis_storage_mode distributed;
    push_redis_connect_timeout 2s;
    push_redis_command_timeout 2s;
"""


def run_t(server):
    return subprocess.run(server.command("-t"), capture_output=True, text=True, timeout=WAIT)


def test_t_passes_when_redis_cannot_be_reached(tmp_path, binary):
    server = PushRelay(tmp_path, http=redis_http(free_port()))
    result = run_t(server)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_t_names_file_and_line_of_a_redis_mistake(tmp_path, binary):
    server = PushRelay(tmp_path, http="push_redis_url rediss://u:s3cret@127.0.0.1:6379;")
    line = next(n for n, text in enumerate(server.conf_text.splitlines(), 1)
                if "rediss://" in text)
    result = run_t(server)
    assert result.returncode != 0
    assert f"{server.conf}:{line}: " in result.stderr, result.stderr
    assert "TLS needs hiredis \u2265 1.0: use a private network or stunnel" in result.stderr
    assert "s3cret" not in result.stderr
    assert "test failed" in result.stderr


def warnings(server):
    return server.error_log.count(NOT_BUILT)


def test_server_with_redis_directives_starts_and_serves_from_its_segment(pushrelay):
    server = pushrelay(http=redis_http(free_port()))
    wait_until(lambda: warnings(server) == 1, what="the Redis warning at start")
    assert "redis://pushrelay:***@127.0.0.1:" in server.error_log
    assert "s3cret" not in server.error_log

    held = Held(server.sub_url("r"))
    wait_for_subscribers(server.pub_url("r"), 1)
    assert publish(server.pub_url("r"), b"local").status_code == 201
    assert held.result().content == b"local"

    server.signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in server.error_log, what="the reload")
    assert warnings(server) == 2  # one per conf applied, never per worker


def test_no_warning_without_redis_directives(pushrelay):
    server = pushrelay()
    assert publish(server.pub_url("n"), b"x").status_code == 202
    assert NOT_BUILT not in server.error_log
