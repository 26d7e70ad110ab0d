"""The push_redis_* directives (shared/scale-out.md "Conf") as the binary takes them: -t passes
with a Redis that is not there, reports a mistake with file:line, and a server with Redis
directives starts even when Redis cannot be reached, and answers what needs Redis with 503."""
import signal
import subprocess

from conftest import WAIT, PushRelay, free_port, wait_until
from client import Held, publish, wait_for_subscribers

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


def test_server_whose_redis_is_unreachable_starts_and_answers_503(pushrelay):
    """A Redis that cannot be reached is not a start error (scale-out.md "Conf"): the node
    starts, answers publishes 503 with Retry-After and the reason, and says where Redis is with
    the password hidden."""
    server = pushrelay(http=redis_http(free_port()))
    wait_until(lambda: "redis://pushrelay:***@127.0.0.1:" in server.error_log,
               what="the Redis URL in the log")
    response = publish(server.pub_url("r"), b"x")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.text.startswith("Redis unavailable: ")
    assert "not published" in response.text
    assert "s3cret" not in server.error_log

    server.signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in server.error_log, what="the reload")
    assert publish(server.pub_url("r"), b"y").status_code == 503
    assert "s3cret" not in server.error_log


def test_memory_mode_without_redis_directives(pushrelay):
    server = pushrelay()
    held = Held(server.sub_url("n"))
    wait_for_subscribers(server.pub_url("n"), 1)
    assert publish(server.pub_url("n"), b"local").status_code == 201
    assert held.result().content == b"local"
    assert "Redis mode" not in server.error_log
