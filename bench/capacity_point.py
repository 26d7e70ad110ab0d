#!/usr/bin/python3
"""One point to check doc/capacity.md's single-node model against: a Redis-mode node on this
machine holding N long-poll subscribers on C channels, then one publish to each channel.

Prints what the model predicts (from the per-subscriber and per-delivery figures the model takes
from bench/RESULTS.md) beside what is measured: the node's memory (Pss of all its processes) and
the kernel's slab growth per held connection, and the node's CPU per delivery.

Usage: bench/capacity_point.py [--subs N] [--channels C] [--binary BIN]
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from conftest import accepts, children_of, free_port, stop_server, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The model's inputs (doc/capacity.md), from bench/RESULTS.md.
MODEL_USER_KIB = 1.87        # Pss per held long-poll subscriber
MODEL_KERNEL_KIB = 3.5       # kernel memory per idle TCP connection: slab object sizes
MODEL_CPU_US = 19.24         # server CPU per long-poll delivery (re-poll included)


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def slab_kib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Slab:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def http(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subs", type=int, default=4000)
    parser.add_argument("--channels", type=int, default=40)
    parser.add_argument("--binary", default=str(ROOT / "build" / "pushrelay"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="capacity-"))
    redis_port, port = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(work)],
                             stdout=subprocess.DEVNULL)
    conf = work / "pushrelay.conf"
    conf.write_text(f"""daemon off; worker_processes 2; error_log {work}/error.log warn;
pid {work}/pushrelay.pid; worker_rlimit_nofile 20000;
events {{ worker_connections 12000; }}
http {{
    access_log off;
    push_redis_url redis://127.0.0.1:{redis_port};
    push_redis_namespace cap;
    server {{
        listen 127.0.0.1:{port};
        location /pub {{ push_publisher; set $push_channel_id $arg_id; }}
        location /sub {{ push_subscriber; set $push_channel_id $arg_id;
                        push_subscriber_timeout 1h; }}
    }}
}}
""")
    node = subprocess.Popen([args.binary, "-c", str(conf), "-p", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    clients = []
    try:
        wait_until(lambda: accepts(port), what="the node to listen")
        wait_until(lambda: http(port, b"POST /pub?id=warm HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: 1\r\n\r\nx").split(b" ")[1] in
                   (b"201", b"202"), what="the node to publish")
        pids = [node.pid] + children_of(node.pid)
        time.sleep(1)
        pss0, slab0 = pss_kib(pids), slab_kib()
        for i in range(args.subs):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET /sub?id=c{i % args.channels} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            clients.append(s)
        wait_until(lambda: sum(int(http(port, f"GET /pub?id=c{c} HTTP/1.1\r\nHost: x\r\n"
                                            f"Accept: text/json\r\n\r\n".encode())
                                       .split(b'"subscribers": ')[1].split(b"}")[0])
                               for c in range(args.channels)) >= args.subs,
                   timeout=60, what="every subscriber held")
        time.sleep(1)
        pss1, slab1 = pss_kib(pids), slab_kib()
        user = (pss1 - pss0) / args.subs
        # Both ends of each connection are on this machine: half the slab growth is the node's.
        kernel = (slab1 - slab0) / args.subs / 2
        cpu0 = cpu_seconds(pids)
        for c in range(args.channels):
            http(port, f"POST /pub?id=c{c} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                       f"hello".encode())
        for s in clients:
            data = b""
            while not data.endswith(b"hello"):
                data += s.recv(65536)
        cpu = (cpu_seconds(pids) - cpu0) / len(clients) * 1e6
        print(f"held long-poll subscribers: {args.subs} on {args.channels} channels")
        print(f"memory per held subscriber, node processes (Pss): {user:.2f} KiB "
              f"(model {MODEL_USER_KIB:.2f})")
        print(f"kernel slab per held connection, node side: {kernel:.2f} KiB "
              f"(model {MODEL_KERNEL_KIB:.2f})")
        print(f"node CPU per delivery through Redis: {cpu:.1f} µs (model {MODEL_CPU_US:.1f} "
              f"includes the client's re-poll, which this one does not make)")
    finally:
        for s in clients:
            s.close()
        stop_server(node, children_of(node.pid))
        redis.terminate()
        redis.wait(timeout=10)


if __name__ == "__main__":
    main()
