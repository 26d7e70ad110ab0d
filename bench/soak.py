#!/usr/bin/python3
"""Soak: subscribers that come and go, channels created and expired, for a
while (default 10 minutes). Samples the segment's used bytes (from the
push_stub_status location) and every worker's private RSS (RssAnon: the
shared segment's pages, RssShmem, follow the segment's own high-water mark).

Fails when memory leaks: once the load stops and every channel has expired,
the segment's used bytes must come back to where they started, and the
workers' private RSS over the last third of the run must stay within a
margin of the first third.

Usage: bench/soak.py [seconds]   (make soak SOAK_SECONDS=600)
Writes bench/SOAK.md with the figures.
"""
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import requests  # noqa: E402

from conftest import BINARY, WAIT, PushRelay, wait_until  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 600
SUBSCRIBERS = 40
SAMPLE_EVERY = 10
# Allocator slack allowed in the segment after everything expired (bytes).
SEGMENT_SLACK = 64 * 1024
RSS_MARGIN_KB = 2048

HTTP = "push_message_timeout 3s; push_channel_timeout 1s; push_min_message_buffer_length 0;"


def rss_kb(pid):
    """The worker's private resident memory (its heap, stacks), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def status(server):
    return requests.get(f"{server.base_pub}/status?format=json", timeout=WAIT).json()


def churn(server, stop, errors):
    """One client: subscribes to a random short-lived channel, takes one
    message or a 304, disconnects, and again."""
    while not stop.is_set():
        channel = f"c{random.randrange(2000)}-{int(time.time()) // 5}"
        try:
            requests.get(server.sub_url(channel), timeout=WAIT, headers={"Connection": "close"})
        except requests.RequestException as e:
            errors.append(repr(e))


def publish_forever(server, stop, errors):
    n = 0
    while not stop.is_set():
        channel = f"c{random.randrange(2000)}-{int(time.time()) // 5}"
        try:
            r = requests.post(server.pub_url(channel), data=f"m{n}" * random.randrange(1, 200),
                              timeout=WAIT, headers={"Connection": "close"})
            if r.status_code not in (201, 202):
                errors.append(f"publish {r.status_code}")
        except requests.RequestException as e:
            errors.append(repr(e))
        n += 1


def main():
    with tempfile.TemporaryDirectory() as tmp:
        server = PushRelay(tmp, workers=2, http=HTTP, sub_extra="push_subscriber_timeout 2s;").start()
        stop = threading.Event()
        errors = []
        threads = [threading.Thread(target=churn, args=(server, stop, errors), daemon=True)
                   for _ in range(SUBSCRIBERS)]
        threads.append(threading.Thread(target=publish_forever, args=(server, stop, errors),
                                        daemon=True))
        for t in threads:
            t.start()
        samples = []
        baseline = status(server)["segment_used"]
        start = time.monotonic()
        try:
            while time.monotonic() - start < SECONDS:
                time.sleep(SAMPLE_EVERY)
                figures = status(server)
                workers = {pid: rss_kb(pid) for pid in server.worker_pids()}
                samples.append((round(time.monotonic() - start), figures, workers))
                print(f"{samples[-1][0]:5d}s used={figures['segment_used']} "
                      f"channels={figures['channels']} rss={list(workers.values())}", flush=True)
            stop.set()
            for t in threads:
                t.join(WAIT)
            # Messages live 3 s and channels 1 s after that: all must go.
            wait_until(lambda: status(server)["channels"] == 0, timeout=30,
                       what="every channel to expire")
            drained = status(server)["segment_used"]
        finally:
            stop.set()
            server.stop()
    report(samples, errors, baseline, drained)


def third_average(values, which):
    n = max(1, len(values) // 3)
    part = values[:n] if which == "first" else values[-n:]
    return sum(part) / len(part)


def report(samples, errors, baseline, drained):
    rss = [sum(s[2].values()) for s in samples]
    rss_first, rss_last = third_average(rss, "first"), third_average(rss, "last")
    ok_used = drained <= baseline + SEGMENT_SLACK
    ok_rss = rss_last <= rss_first + RSS_MARGIN_KB
    lines = [
        "# Soak figures", "",
        f"{SECONDS} s, {SUBSCRIBERS} churning subscribers, one publisher, 2 workers; "
        f"a sample every {SAMPLE_EVERY} s. Errors: {len(errors)}.", "",
        "| | start | end | verdict |", "|---|---|---|---|",
        f"| segment used bytes (before the load; after it stopped and all expired) | "
        f"{baseline} | {drained} | {'flat' if ok_used else 'LEAKS'} |",
        f"| workers' private RSS, KiB, sum (first third avg; last third avg) | "
        f"{rss_first:.0f} | {rss_last:.0f} | {'flat' if ok_rss else 'GROWS'} |", "",
        "| t (s) | segment used | channels | messages | published | delivered | RSS per worker (KiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, status, workers in samples:
        lines.append(f"| {t} | {status['segment_used']} | {status['channels']} | "
                     f"{status['messages']} | {status['published']} | {status['delivered']} | "
                     f"{' '.join(str(v) for v in workers.values())} |")
    Path(__file__).resolve().parent.joinpath("SOAK.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:9]))
    if errors:
        print("errors:", errors[:5])
    sys.exit(0 if ok_used and ok_rss and not errors else 1)


if __name__ == "__main__":
    assert BINARY.exists(), f"{BINARY} is missing: run make first"
    main()
