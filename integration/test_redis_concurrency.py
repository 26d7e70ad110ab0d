"""push_subscriber_concurrency across nodes in Redis mode (doc/decisions.md "Redis",
"Concurrency across nodes"): `first` refuses a subscriber on another node while one waits
anywhere, `last` evicts the waiters of every node."""
import pytest

from client import Held, publish, wait_for_subscribers
from conftest import PushRelay
from test_redis_nodes import WORKERS, publish_when_up


def redis_node(directory, redis, namespace, concurrency):
    return PushRelay(directory, workers=WORKERS,
                     sub_extra=f"push_subscriber_concurrency {concurrency};", http=f"""
    push_redis_url {redis.url};
    push_redis_namespace {namespace};
    push_redis_connect_timeout 1s;
    push_redis_command_timeout 1s;
""")


@pytest.fixture
def pair(tmp_path, redis):
    """start(concurrency): two nodes on the test's Redis, each publishing; always stopped."""
    started = []

    def start(concurrency):
        for i in range(2):
            node = redis_node(tmp_path / f"{concurrency}{i}", redis, "cc" + concurrency,
                              concurrency)
            started.append(node)
            node.start()
            publish_when_up(node, "ready", b"ready")
        return started[-2:]

    yield start
    for node in started:
        node.stop()


def test_first_refuses_a_subscriber_on_another_node(pair):
    a, b = pair("first")
    waiting = Held(a.sub_url("f"))
    wait_for_subscribers(b.pub_url("f"), 1)  # A's lease is in Redis
    refused = Held(b.sub_url("f"))
    assert refused.result().status_code == 409
    assert publish(b.pub_url("f"), b"winner").status_code == 201
    assert waiting.result().content == b"winner"


def test_last_evicts_the_waiter_of_another_node(pair):
    a, b = pair("last")
    first = Held(a.sub_url("l"))
    wait_for_subscribers(b.pub_url("l"), 1)
    latest = Held(b.sub_url("l"))
    assert first.result().status_code == 409
    wait_for_subscribers(a.pub_url("l"), 1)
    assert publish(a.pub_url("l"), b"latest").status_code == 201
    assert latest.result().content == b"latest"
