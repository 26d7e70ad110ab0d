"""Redis mode on a local Redis Cluster (shared/scale-out.md "Redis Cluster"): 3 masters with a
replica each, joined with `redis-cli --cluster create`; two pushrelay nodes given the masters as
seeds. Channels on every shard reach subscribers on the other node; one master SIGKILLed and
failed over to its replica pauses only that shard's channels, and nothing stored is lost."""
import os
import signal
import subprocess
import time

import pytest
import requests

from conftest import WAIT, free_port, wait_until
from client import Held, publish, wait_for_subscribers
from redis_server import RedisServer
from test_redis_nodes import PUBLISHED, Node, publish_when_up

CLUSTER_ARGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0"]
# A replica takes over a dead master within a few node timeouts; bounded generously for CI.
FAILOVER_WITHIN = 20.0


def start_on_free_ports(server, attempts=3):
    """Starts a cluster node, on new ports when one it drew was taken meanwhile (a free port is
    only free until someone binds it)."""
    for attempt in range(attempts):
        try:
            return server.start()
        except AssertionError:
            if "Address already in use" not in server.log or attempt == attempts - 1:
                raise
            server.port = free_port()
            bus = server.extra.index("--cluster-port") + 1
            server.extra[bus] = str(free_port())


class Cluster:
    """Six redis-servers: 3 masters, each with one replica."""

    def __init__(self, directory):
        # Each bus port is a free port of its own (the default, port + 10000, may not be).
        self.servers = [RedisServer(directory / f"r{i}",
                                    CLUSTER_ARGS + ["--cluster-port", str(free_port())])
                        for i in range(6)]

    def start(self):
        for server in self.servers:
            start_on_free_ports(server)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *[f"127.0.0.1:{s.port}" for s in self.servers],
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_until(self.healthy, timeout=30, what="the cluster ok, every replica in sync")
        return self

    def alive(self):
        return [s for s in self.servers if s.proc and s.proc.poll() is None]

    def healthy(self):
        for server in self.alive():
            if "cluster_state:ok" not in server.cli("CLUSTER", "INFO"):
                return False
            replication = server.info("replication")
            if replication.get("role") == "slave" and \
                    replication.get("master_link_status") != "up":
                return False
        return True

    def masters(self):
        return [s for s in self.alive() if s.info("replication").get("role") == "master"]

    def master_of(self, key):
        """The live master serving `key`'s slot, by CLUSTER SLOTS."""
        slot = self.alive()[0].cli("CLUSTER", "KEYSLOT", key)
        for first, last, master, *_ in self.alive()[0].cli("CLUSTER", "SLOTS"):
            if first <= slot <= last:
                return next(s for s in self.servers if s.port == master[1])
        raise AssertionError(f"no master for slot {slot}")

    def stop(self):
        for server in self.servers:
            server.stop()


@pytest.fixture
def cluster(tmp_path):
    if not os.access("/usr/bin/redis-cli", os.X_OK):
        pytest.fail("/usr/bin/redis-cli is missing: apt-get install redis-tools")
    c = Cluster(tmp_path)
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture
def cluster_nodes(tmp_path, cluster):
    """Two nodes, each given every master as a seed (push_redis_url repeated)."""
    seeds = ";\n    push_redis_url ".join(f"redis://127.0.0.1:{m.port}" for m in cluster.masters())
    started = []
    try:
        for i in range(2):
            node = Node(tmp_path / f"node{i}", seeds, "cl")
            started.append(node)
            node.start()
            node.wait_ready(timeout=15)
        yield started
    finally:
        for node in started:
            node.stop()


def channels_on_each_shard(cluster):
    """A channel id per master: its keys (cl:{/<id>}:c) hash to that master's slots."""
    found = {}
    for i in range(1000):
        ch = f"s{i}"
        master = cluster.master_of(f"cl:{{/{ch}}}:c")
        found.setdefault(master.port, ch)
        if len(found) == 3:
            return found
    raise AssertionError("no channel found for every master")


def test_channels_on_every_shard_reach_the_other_node(cluster, cluster_nodes):
    a, b = cluster_nodes
    for port, ch in channels_on_each_shard(cluster).items():
        held = Held(b.sub_url(ch))
        wait_for_subscribers(a.pub_url(ch), 1)
        r = publish(a.pub_url(ch), f"to {port}".encode())
        assert r.status_code == 201, (r.status_code, r.text)
        assert held.result().content == f"to {port}".encode()


def test_a_failed_over_master_pauses_only_its_shard_and_loses_nothing(cluster, cluster_nodes):
    a, b = cluster_nodes
    shards = channels_on_each_shard(cluster)
    victim_port = next(iter(shards))
    victim_channel = shards[victim_port]
    others = [ch for port, ch in shards.items() if port != victim_port]
    for ch in shards.values():
        assert publish(a.pub_url(ch), b"before").status_code in PUBLISHED
    victim = next(s for s in cluster.servers if s.port == victim_port)
    assert victim.cli("WAIT", 1, 2000) == 1  # "before" is on the replica too
    held = Held(b.sub_url(victim_channel), {"If-None-Match": "*"})
    iterators = {ch: requests.get(b.sub_url(ch), timeout=WAIT) for ch in shards.values()}
    assert all(r.content == b"before" for r in iterators.values())

    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=WAIT)
    # The other shards' channels keep working while the victim's fails over.
    for ch in others:
        assert publish(a.pub_url(ch), b"during").status_code in PUBLISHED
        assert requests.get(b.sub_url(ch), headers=since(iterators[ch]),
                            timeout=WAIT).content == b"during"
    started = time.monotonic()
    publish_when_up(a, victim_channel, b"after failover", timeout=FAILOVER_WITHIN)
    assert time.monotonic() - started < FAILOVER_WITHIN
    # Nothing stored is lost: iterating from "before" gives exactly the message published after.
    r = requests.get(b.sub_url(victim_channel), headers=since(iterators[victim_channel]),
                     timeout=WAIT)
    assert r.content == b"after failover", (r.status_code, r.content)
    assert held.result().status_code in (200, 304)


def since(response):
    return {"If-Modified-Since": response.headers["Last-Modified"],
            "If-None-Match": response.headers["Etag"]}
