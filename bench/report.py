"""Turns a benchmark's runs (bench/run.py) into bench/RESULTS.md, the plots
bench/throughput.svg and bench/latency.svg, and bench/results.json (every run's
raw figures). The hand-written part of RESULTS.md (the profile's reading and
what each optimisation bought) lives in bench/notes.md and is copied in.
"""
import json
import math
import statistics
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def cpu_per_delivery(run):
    """Server CPU µs per delivery (= ms per 1000), setup and warm-up included."""
    return 1e6 * run["server_cpu_s"] / max(1, run["result"]["delivered"])


def loadgen_cpu_per_delivery(run):
    return 1e6 * run["loadgen_cpu_s"] / max(1, run["result"]["delivered"])


def loadgen_busy_whole_run(run):
    """The load generator's CPU over the run's wall time, setup included."""
    return run["loadgen_cpu_s"] / (run["result"]["seconds"] + run["result"]["setup_s"])


def loadgen_busy(run):
    """The load generator's CPU over wall time while measuring (first publish to last
    delivery): near 1.0 it, not the server, is what caps deliveries/s."""
    return run["result"]["loadgen_measured_cpu_s"] / run["result"]["seconds"]


def writes_per_delivery(run):
    return run["server_writes"] / max(1, run["result"]["delivered"])


def deliveries_per_s(run):
    return run["result"]["deliveries_per_s"]


def p50_ms(run):
    return run["result"]["latency_us"]["p50"] / 1000


def p99_ms(run):
    return run["result"]["latency_us"]["p99"] / 1000


def kib_per_sub(run):
    return run["memory"]["kib_per_sub"]


# (label, scenario, how to get the figure from a run, unit, target) where target is
# (">=", ratio) / ("<=", ratio) against Nchan, ("abs<=", value) for pushrelay alone, or None.
# Throughput and memory targets are the benchmark issue's; the p99 and CPU targets the
# restructure issue's (p99 at most Nchan's, CPU per delivery at most 0.75 of it).
ROWS = [
    ("fan-out: deliveries/s (10k subs, 100 channels)", "fanout",
     deliveries_per_s, "/s", (">=", 2.0)),
    ("fan-out: p50 publish-to-delivery latency", "fanout", p50_ms, "ms", None),
    ("fan-out: p99 publish-to-delivery latency", "fanout", p99_ms, "ms", ("<=", 1.0)),
    ("fan-out: server CPU per 1000 deliveries", "fanout", cpu_per_delivery, "ms", ("<=", 0.75)),
    ("broadcast: deliveries/s (10k subs, 1 channel)", "broadcast",
     deliveries_per_s, "/s", (">=", 3.0)),
    ("broadcast: p99 publish-to-delivery latency", "broadcast", p99_ms, "ms", ("<=", 1.0)),
    ("publish: 64-byte messages/s, 8 connections", "publish8",
     lambda r: r["result"]["publishes_per_s"], "/s", (">=", 1.5)),
    ("publish: 64-byte messages/s, 64 connections", "publish64",
     lambda r: r["result"]["publishes_per_s"], "/s", (">=", 1.5)),
    ("publish: server CPU per 1000 publishes, 64 connections", "publish64",
     lambda r: 1e6 * r["server_cpu_s"] / max(1, r["result"]["publishes_per_s"] * r["result"]["seconds"]),
     "ms", None),
    ("publish: p99 request latency, 64 connections", "publish64",
     lambda r: r["result"]["publish_latency_us"]["p99"] / 1000, "ms", None),
    ("idle: memory per held subscriber (Pss, 10k held)", "idle",
     kib_per_sub, "KiB", ("abs<=", 2.0)),
    ("churn: deliveries (= reconnects)/s at 500 publishes/s", "churn",
     deliveries_per_s, "/s", None),
    ("churn: p99 publish-to-delivery latency", "churn", p99_ms, "ms", ("<=", 0.5)),
    ("churn: server CPU per 1000 deliveries", "churn", cpu_per_delivery, "ms", None),
    ("fan-out: load generator busy (CPU s / wall s)", "fanout", loadgen_busy_whole_run, "", None),
    ("broadcast: load generator busy (CPU s / wall s)", "broadcast", loadgen_busy_whole_run, "",
     None),
    ("publish 64: load generator busy (CPU s / wall s)", "publish64",
     lambda r: r["loadgen_cpu_s"] / r["result"]["seconds"], "", None),
]


# The streaming scenarios (issue 11): (scenario, what it is). Targets against Nchan on the same
# transport: server CPU per delivery ≤ 0.5×, deliveries/s ≥ 1.5×, p99 ≤ 0.5×.
STREAMING = [
    ("es_broadcast", "EventSource broadcast (10k streams, 1 channel)"),
    ("es_fanout", "EventSource fan-out (10k streams, 100 channels)"),
    ("ws_broadcast", "WebSocket broadcast (10k streams, 1 channel)"),
    ("ws_fanout", "WebSocket fan-out (10k streams, 100 channels)"),
]
for _scenario, _label in STREAMING:
    ROWS += [
        (f"{_label}: deliveries/s", _scenario, deliveries_per_s, "/s", (">=", 1.5)),
        (f"{_label}: p99 publish-to-delivery latency", _scenario, p99_ms, "ms", ("<=", 0.5)),
        (f"{_label}: server CPU per delivery", _scenario, cpu_per_delivery, "µs", ("<=", 0.5)),
    ]
ROWS += [
    ("EventSource burst (messages back to back): server writes per delivery", "es_burst",
     writes_per_delivery, "", None),
    ("WebSocket burst (messages back to back): server writes per delivery", "ws_burst",
     writes_per_delivery, "", None),
    ("multiplexed (1k streams × 10 channels): deliveries/s", "mux", deliveries_per_s, "/s", None),
    ("multiplexed (1k streams × 10 channels): server CPU per delivery", "mux", cpu_per_delivery,
     "µs", None),
    ("idle: memory per held EventSource stream (Pss, 10k held)", "es_idle",
     kib_per_sub, "KiB", ("abs<=", 2.0)),
    ("idle: memory per held WebSocket stream (Pss, 10k held)", "ws_idle",
     kib_per_sub, "KiB", ("abs<=", 2.0)),
]
# Every streaming scenario, in the per-server table: (column, how to get it, unit).
STREAM_COLUMNS = [
    ("deliveries/s", deliveries_per_s, "/s"),
    ("p50", p50_ms, "ms"),
    ("p99", p99_ms, "ms"),
    ("server CPU per delivery", cpu_per_delivery, "µs"),
    ("server writes per delivery", writes_per_delivery, ""),
    ("loadgen CPU per delivery", loadgen_cpu_per_delivery, "µs"),
    ("loadgen busy while measuring (CPU s / wall s)", loadgen_busy, ""),
]
STREAM_SCENARIOS = [s for s, _ in STREAMING] + ["es_burst", "ws_burst", "mux"]


# The GRIP scenarios (issue 12): pushrelay's GRIP proxy against Pushpin 1.36 as shipped
# ("pushpin"), Pushpin with its message_rate cap lifted ("pushpin_uncapped") and, for plain
# GETs, nginx proxy_pass with upstream keepalive ("nginx"), all in front of the same origin.
GRIP_SERVERS = [("pushrelay", "pushrelay"), ("pushpin", "Pushpin as shipped"),
                ("pushpin_uncapped", "Pushpin, message_rate lifted"),
                ("nginx", "nginx proxy_pass")]
# Memory target: 0.1× Pushpin's 36 KB per held client, in KiB.
GRIP_MEMORY_KIB = 3600 / 1024


def requests_per_s(run):
    return run["result"]["requests_per_s"]


def rss_kib_per_sub(run):
    return run["memory"]["rss_kib_per_sub"]


def cpu_per_request(run):
    """Server CPU µs per proxied request."""
    return 1e6 * run["server_cpu_s"] / max(1, run["result"]["delivered"])


# (label, scenario, figure, unit, targets): each target (server, ">="|"<=", ratio) compares
# pushrelay's median with that server's, ("abs<=", bound) pushrelay's alone (KiB).
GRIP_ROWS = [
    ("held long-polls: release rate (responses/s, 5k held on 100 channels)", "grip_hold_release",
     deliveries_per_s, "/s", [("pushpin_uncapped", ">=", 5.0), ("pushpin", ">=", 20.0)]),
    ("held long-polls: p50 publish-to-response latency", "grip_hold_release", p50_ms, "ms", []),
    ("held long-polls: p99 publish-to-response latency", "grip_hold_release", p99_ms, "ms",
     [("pushpin_uncapped", "<=", 0.1)]),
    ("held long-polls: memory per held client (RSS, all processes)", "grip_hold_release",
     rss_kib_per_sub, "KiB", [("pushpin", "<=", 0.1), ("abs<=", GRIP_MEMORY_KIB)]),
    ("held long-polls: memory per held client (Pss, all processes)", "grip_hold_release",
     kib_per_sub, "KiB", []),
    ("plain proxied GETs: requests/s (64 keep-alive clients)", "grip_proxy_get",
     requests_per_s, "/s", [("nginx", ">=", 1.0), ("pushpin", ">=", 3.0)]),
    ("plain proxied GETs: p99 request latency", "grip_proxy_get", p99_ms, "ms", []),
    ("plain proxied GETs: server CPU per request", "grip_proxy_get", cpu_per_request, "µs", []),
    ("stream holds: items delivered/s (1k streams, 1 channel)", "grip_stream_fanout",
     deliveries_per_s, "/s", [("pushpin_uncapped", ">=", 5.0), ("pushpin", ">=", 5.0)]),
    ("stream holds: p99 publish-to-delivery latency", "grip_stream_fanout", p99_ms, "ms", []),
    ("stream holds: server CPU per delivery", "grip_stream_fanout", cpu_per_delivery, "µs", []),
]


def grip_verdicts(targets, medians):
    """The target cell: each target's ratio and whether it is met."""
    pr = medians.get("pushrelay")
    out = []
    for target in targets:
        if pr is None:
            break
        if target[0] == "abs<=":
            bound = target[1]
            out.append(f"≤ {bound:.2f} KiB: {'met' if pr <= bound else 'NOT met'}")
            continue
        server, kind, bound = target
        other = medians.get(server)
        if not other:
            continue
        ratio = pr / other
        met = ratio >= bound if kind == ">=" else ratio <= bound
        name = dict(GRIP_SERVERS)[server]
        out.append(f"{kind.replace('>=', '≥').replace('<=', '≤')} {bound}× {name}: "
                   f"{ratio:.2f}× {'met' if met else 'NOT met'}")
    return "; ".join(out)


def grip_table(bench):
    """Every GRIP figure per server (medians) with the targets' ratios and verdicts."""
    names = " | ".join(label for _, label in GRIP_SERVERS)
    lines = [f"| metric | {names} | target |", "|---|" + "---:|" * len(GRIP_SERVERS) + "---|"]
    for label, scenario, get, unit, targets in GRIP_ROWS:
        medians = {}
        for server, _ in GRIP_SERVERS:
            values = figures(bench, scenario, server, get)
            if values:
                medians[server] = statistics.median(values)
        if not medians:
            continue
        why = unsupported(bench, scenario)
        cells = " | ".join(fmt(medians.get(server), unit) for server, _ in GRIP_SERVERS)
        lines.append(f"| {label} | {cells} | {why or grip_verdicts(targets, medians)} |")
    return "\n".join(lines)


def figures(bench, scenario, server, get):
    out = []
    for run in bench.runs:
        if run["scenario"] == scenario and run["server"] == server and run["result"].get("passed"):
            try:
                out.append(get(run))
            except (KeyError, TypeError):
                pass
    return out


def fmt(value, unit):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "/s":
        return f"{value:,.0f}"
    if unit == "":
        return f"{value:.2f}"
    return f"{value:.2f} {unit}"


def verdict(target, pr, nc):
    if target is None or pr is None:
        return ""
    kind, bound = target
    if kind == "abs<=":
        return f"≤ {bound} KiB: {'met' if pr <= bound else 'NOT met'}"
    if nc is None or nc == 0:
        return ""
    ratio = pr / nc
    met = ratio >= bound if kind == ">=" else ratio <= bound
    return f"{kind.replace('>=', '≥').replace('<=', '≤')} {bound}×: {'met' if met else 'NOT met'}"


# fanout_limits against fanout, pushrelay alone: (label, how to get the figure, unit, whether
# more is better). The target: within 5% of the run without limits.
LIMIT_ROWS = [
    ("fan-out with limit_conn + limit_req: deliveries/s",
     deliveries_per_s, "/s", True),
    ("fan-out with limit_conn + limit_req: p99 latency",
     p99_ms, "ms", False),
]


def limits_rows(bench):
    """Rows comparing fanout_limits with fanout; the ratio column is limited/unlimited."""
    rows = []
    for label, get, unit, more_is_better in LIMIT_ROWS:
        limited = figures(bench, "fanout_limits", "pushrelay", get)
        plain = figures(bench, "fanout", "pushrelay", get)
        if not limited or not plain:
            continue
        ml, mp = statistics.median(limited), statistics.median(plain)
        ratio = ml / mp if mp else 0
        ok = ratio >= 0.95 if more_is_better else ratio <= 1.05
        rows.append(f"| {label} | {fmt(ml, unit)} | (without limits: {fmt(mp, unit)}) | "
                    f"{ratio:.2f}× | within 5% of no limits: {'met' if ok else 'MISSED'} |")
    return rows


def table(bench):
    lines = ["| metric | pushrelay | Nchan | pushrelay/Nchan | target |",
             "|---|---:|---:|---:|---|"]
    medians = {}
    for label, scenario, get, unit, target in ROWS:
        pr = figures(bench, scenario, "pushrelay", get)
        nc = figures(bench, scenario, "nchan", get)
        mp = statistics.median(pr) if pr else None
        mn = statistics.median(nc) if nc else None
        ratio = f"{mp / mn:.2f}×" if mp is not None and mn else "—"
        medians[label] = (mp, mn)
        if not pr and not nc and getattr(bench.args, "only", None):
            continue  # not run
        why = unsupported(bench, scenario)
        lines.append(f"| {label} | {fmt(mp, unit)} | {fmt(mn, unit)} | {ratio} | "
                     f"{why or verdict(target, mp, mn)} |")
    lines.extend(limits_rows(bench))
    lost = sum(r["result"].get("lost", 0) for r in bench.runs)
    dups = sum(r["result"].get("duplicated", 0) for r in bench.runs)
    errors = sum(r["result"].get("errors", 0) for r in bench.runs)
    passed = sum(1 for r in bench.runs if r["result"].get("passed"))
    lines.append(f"| runs passed (no loss, duplicate or error; GRIP runs included) | | | | "
                 f"{passed}/{len(bench.runs)} "
                 f"runs; lost {lost}, duplicated {dups}, errors {errors} |")
    return "\n".join(lines), medians


# Redis mode (issue 13): 3 nodes of each server on one Redis (bench/run.py REDIS_*).
REDIS_SCENARIOS = {"redis_publish", "redis_fanout", "redis_commands", "redis_recovery"}


def publishes_per_s(run):
    return run["result"]["publishes_per_s"]


def publishes(run):
    return run["result"]["publishes_per_s"] * run["result"]["seconds"]


def node_cpu_per_publish(run):
    """The nodes' CPU µs per publish (all their processes)."""
    return 1e6 * run["server_cpu_s"] / max(1, publishes(run))


def redis_cpu_per_publish(run):
    """redis-server's CPU µs per publish."""
    return 1e6 * run["redis_cpu_s"] / max(1, publishes(run))


def recovery_s(run):
    return run["result"]["recovery_s"]


def held_poll_errors(run):
    return run["result"]["held_poll_errors"]


# (label, scenario, figure, unit, target[, aggregate]) as in ROWS; ("abs<=", bound) in the row's
# unit; the aggregate of the runs' figures: the median unless given.
REDIS_ROWS = [
    ("publish through Redis: publishes/s (64 connections over 3 nodes)", "redis_publish",
     publishes_per_s, "/s", (">=", 2.0)),
    ("publish through Redis: nodes' CPU per publish", "redis_publish", node_cpu_per_publish,
     "µs", None),
    ("publish through Redis: Redis's CPU per publish", "redis_publish", redis_cpu_per_publish,
     "µs", None),
    ("cross-node fan-out: deliveries/s (10k subs over 3 nodes, 100 channels)", "redis_fanout",
     deliveries_per_s, "/s", (">=", 2.0)),
    ("cross-node fan-out: p50 latency", "redis_fanout", p50_ms, "ms", None),
    ("cross-node fan-out: p99 latency", "redis_fanout", p99_ms, "ms", ("<=", 0.5)),
    ("cross-node fan-out: nodes' CPU per delivery", "redis_fanout", cpu_per_delivery, "µs",
     None),
    ("Redis back: first delivery after Redis accepts connections", "redis_recovery",
     recovery_s, "s", ("abs<=", 1.5)),
    ("Redis back: failed polls of the held subscribers meanwhile (sum over the runs)",
     "redis_recovery", held_poll_errors, "", None, sum),
]


def redis_verdict(target, pr, nc, unit):
    if target and target[0] == "abs<=":
        if pr is None:
            return ""
        return f"≤ {target[1]} {unit}: {'met' if pr <= target[1] else 'NOT met'}"
    return verdict(target, pr, nc)


def redis_table(bench):
    """The Redis-mode figures per server (medians), ratios and targets."""
    lines = ["| metric | pushrelay | Nchan | pushrelay/Nchan | target |",
             "|---|---:|---:|---:|---|"]
    for label, scenario, get, unit, target, *how in REDIS_ROWS:
        aggregate = how[0] if how else statistics.median
        pr = figures(bench, scenario, "pushrelay", get)
        nc = figures(bench, scenario, "nchan", get)
        if not pr and not nc:
            continue
        mp = aggregate(pr) if pr else None
        mn = aggregate(nc) if nc else None
        ratio = f"{mp / mn:.2f}×" if mp is not None and mn else "—"
        why = unsupported(bench, scenario)
        lines.append(f"| {label} | {fmt(mp, unit)} | {fmt(mn, unit)} | {ratio} | "
                     f"{why or redis_verdict(target, mp, mn, unit)} |")
    return "\n".join(lines)


def commands_cells(bench, server):
    """{(nodes, subs): [cell of each passed run]} of redis_commands on `server`."""
    out = {}
    for run in bench.runs:
        if run["scenario"] == "redis_commands" and run["server"] == server and \
                run["result"].get("passed"):
            for cell in run["result"]["cells"]:
                out.setdefault((cell["nodes"], cell["subs"]), []).append(cell)
    return out


def scripts_run(cell):
    """Scripts run per publish (EVALSHA, EVAL): the requests a server sends; the other calls
    are mostly the commands those scripts call."""
    return sum(n for name, n in cell["by_command"].items() if name in ("evalsha", "eval"))


def commands_cell_text(cells):
    """Median commands per publish (and scripts among them), and the most called commands
    of the median run."""
    if not cells:
        return "—", ""
    ranked = sorted(cells, key=lambda c: c["per_publish"])
    middle = ranked[len(ranked) // 2]
    top = ", ".join(f"{name} {n:.2f}" for name, n in list(middle["by_command"].items())[:6])
    return (f"{statistics.median(c['per_publish'] for c in cells):.2f} "
            f"({statistics.median(scripts_run(c) for c in cells):.2f})", top)


def redis_commands_table(bench):
    """Redis commands per publish with 1 and 3 nodes, few and many subscribers, both
    servers, and whether the count grows with either."""
    cells = {server: commands_cells(bench, server) for server in ("pushrelay", "nchan")}
    keys = sorted(set(cells["pushrelay"]) | set(cells["nchan"]))
    if not keys:
        return ""
    lines = ["| nodes | subscribers | pushrelay commands/publish (scripts) | "
             "Nchan commands/publish (scripts) | "
             "pushrelay: calls per publish (median run) | Nchan: calls per publish |",
             "|---:|---:|---:|---:|---|---|"]
    for nodes, subs in keys:
        pr, pr_top = commands_cell_text(cells["pushrelay"].get((nodes, subs)))
        nc, nc_top = commands_cell_text(cells["nchan"].get((nodes, subs)))
        lines.append(f"| {nodes} | {subs:,} | {pr} | {nc} | {pr_top} | {nc_top} |")
    for server, name in (("pushrelay", "pushrelay"), ("nchan", "Nchan")):
        medians = [statistics.median(c["per_publish"] for c in v)
                   for v in cells[server].values()]
        if medians:
            grows = max(medians) > 1.1 * min(medians) + 0.5
            lines.append(f"\n{name}: from {min(medians):.2f} to {max(medians):.2f} commands per "
                         f"publish over the four loads: "
                         f"{'GROWS with nodes or subscribers' if grows else 'does not grow'}.")
    return "\n".join(lines)


def unsupported(bench, scenario, why=False):
    """The report's line for a scenario this pushrelay build refused (with `why`: and the conf
    test's complaint), else ""."""
    reason = getattr(bench, "unsupported", {}).get(scenario)
    if not reason:
        return ""
    return "pushrelay: not supported by this build" + (f" (`{reason}`)" if why else "")


def streaming_table(bench):
    """Every streaming scenario on each server: medians, the load generator's CPU beside."""
    head = " | ".join(c for c, _, _ in STREAM_COLUMNS)
    lines = [f"| scenario | server | {head} |", "|---|---|" + "---:|" * len(STREAM_COLUMNS)]
    for scenario in STREAM_SCENARIOS:
        for server in ("pushrelay", "nchan"):
            cells = []
            for _, get, unit in STREAM_COLUMNS:
                values = figures(bench, scenario, server, get)
                cells.append(fmt(statistics.median(values), unit) if values else "—")
            if all(c == "—" for c in cells):
                why = unsupported(bench, scenario, why=True) if server == "pushrelay" else ""
                if why:
                    lines.append(f"| {scenario} | {server} | {why} |" + " |" * (len(cells) - 1))
                continue
            lines.append(f"| {scenario} | {server} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs_table(bench):
    lines = ["| scenario | server | rep | headline | server CPU s | loadgen CPU s |",
             "|---|---|---:|---|---:|---:|"]
    for run in bench.runs:
        status = "" if run["result"].get("passed") else " **FAILED**"
        lines.append(f"| {run['scenario']} | {run['server']} | {run['rep'] + 1} | "
                     f"{bench.headline(run)}{status} | {run['server_cpu_s']:.2f} | "
                     f"{run['loadgen_cpu_s']:.2f} |")
    return "\n".join(lines)


def plot(bench):
    """Writes throughput.svg, latency.svg and the streaming plots; returns their names (none
    without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    colors = {"pushrelay": "#1f77b4", "nchan": "#d62728"}

    def bars(name, panels, title):
        """One bar chart per (title, scenario, figure, format): each server's median,
        min–max as error bars."""
        fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.6))
        for ax, (panel, scenario, get, form) in zip(axes, panels):
            for i, server in enumerate(("pushrelay", "nchan")):
                values = figures(bench, scenario, server, get)
                if not values:
                    continue
                med = statistics.median(values)
                ax.bar(i, med, color=colors[server],
                       yerr=[[med - min(values)], [max(values) - med]], capsize=4)
                ax.text(i, med, form.format(med), ha="center", va="bottom", fontsize=8)
            ax.set_xticks([0, 1], ["pushrelay", "Nchan"])
            ax.set_title(panel, fontsize=10)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        fig.savefig(BENCH / name)
        plt.close(fig)

    bars("throughput.svg",
         [("fan-out deliveries/s", "fanout", deliveries_per_s, "{:,.0f}"),
          ("broadcast deliveries/s", "broadcast", deliveries_per_s, "{:,.0f}"),
          ("publishes/s, 8 conns", "publish8", lambda r: r["result"]["publishes_per_s"],
           "{:,.0f}"),
          ("publishes/s, 64 conns", "publish64", lambda r: r["result"]["publishes_per_s"],
           "{:,.0f}")],
         "Throughput: median of the runs (bars: min–max)")
    streams = [(scenario, label.split(" (")[0]) for scenario, label in STREAMING]
    bars("streaming.svg",
         [(f"{label}\ndeliveries/s", scenario, deliveries_per_s, "{:,.0f}")
          for scenario, label in streams] +
         [("multiplexed\ndeliveries/s", "mux", deliveries_per_s, "{:,.0f}")],
         "Streaming throughput: median of the runs (bars: min–max)")
    bars("streaming_cpu.svg",
         [(f"{label}\nserver CPU µs/delivery", scenario, cpu_per_delivery, "{:.1f}")
          for scenario, label in streams] +
         [("multiplexed\nserver CPU µs/delivery", "mux", cpu_per_delivery, "{:.1f}")],
         "Streaming: server CPU per delivery, median of the runs (lower is better)")

    def latency(name, scenarios):
        """Publish-to-delivery percentiles per (title, scenario), both servers, log scale."""
        percentiles = ["p50", "p90", "p99", "p999", "max"]
        fig, axes = plt.subplots(1, len(scenarios), figsize=(13, 3.6))
        for ax, (title, scenario) in zip(axes, scenarios):
            for server in ("pushrelay", "nchan"):
                ys = []
                for p in percentiles:
                    values = figures(bench, scenario, server,
                                     lambda r, p=p: r["result"]["latency_us"][p] / 1000)
                    ys.append(statistics.median(values) if values else float("nan"))
                ax.plot(percentiles, ys, marker="o", color=colors[server],
                        label="pushrelay" if server == "pushrelay" else "Nchan")
            ax.set_yscale("log")
            ax.set_ylabel("ms")
            ax.set_title(f"{title}:\npublish-to-delivery latency", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle("Latency percentiles (median of the runs)", fontsize=11)
        fig.tight_layout()
        fig.savefig(BENCH / name)
        plt.close(fig)

    latency("latency.svg", [("fan-out", "fanout"), ("broadcast", "broadcast"),
                            ("churn", "churn")])
    latency("streaming_latency.svg", [(label, scenario) for scenario, label in streams])
    plots = ["throughput.svg", "latency.svg", "streaming.svg", "streaming_cpu.svg",
             "streaming_latency.svg"]
    if any(run["scenario"] in GRIP_SCENARIOS for run in bench.runs):
        grip_plots(bench, plt)
        plots += ["grip.svg", "grip_latency.svg"]
    return plots


GRIP_SCENARIOS = {"grip_hold_release", "grip_proxy_get", "grip_stream_fanout"}
GRIP_COLORS = {"pushrelay": "#1f77b4", "pushpin": "#ff7f0e", "pushpin_uncapped": "#2ca02c",
               "nginx": "#9467bd"}


def grip_plots(bench, plt):
    """grip.svg: each server's median per GRIP figure, min–max as error bars, log scale (the
    servers differ by orders of magnitude); grip_latency.svg: release latency percentiles."""
    panels = [("held long-polls:\nreleases/s", "grip_hold_release", deliveries_per_s, "{:,.0f}"),
              ("held long-polls:\np99 release latency, ms", "grip_hold_release", p99_ms,
               "{:.1f}"),
              ("held long-polls:\nKiB RSS per held client", "grip_hold_release",
               rss_kib_per_sub, "{:.1f}"),
              ("plain proxied GETs:\nrequests/s", "grip_proxy_get", requests_per_s, "{:,.0f}"),
              ("stream holds:\nitems delivered/s", "grip_stream_fanout", deliveries_per_s,
               "{:,.0f}")]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.2))
    for ax, (title, scenario, get, form) in zip(axes, panels):
        names = []
        for server, label in GRIP_SERVERS:
            values = figures(bench, scenario, server, get)
            if not values:
                continue
            med, i = statistics.median(values), len(names)
            ax.bar(i, med, color=GRIP_COLORS[server],
                   yerr=[[med - min(values)], [max(values) - med]], capsize=4)
            ax.text(i, med, form.format(med), ha="center", va="bottom", fontsize=8)
            names.append(label.replace(", ", ",\n").replace(" as ", "\nas "))
        ax.set_xticks(range(len(names)), names, fontsize=7)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
    fig.suptitle("GRIP proxy: median of the runs (bars: min–max; log scale)", fontsize=11)
    fig.tight_layout()
    fig.savefig(BENCH / "grip.svg")
    plt.close(fig)

    percentiles = ["p50", "p90", "p99", "p999", "max"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for server, label in GRIP_SERVERS:
        ys = []
        for p in percentiles:
            values = figures(bench, "grip_hold_release", server,
                             lambda r, p=p: r["result"]["latency_us"][p] / 1000)
            ys.append(statistics.median(values) if values else float("nan"))
        if any(not math.isnan(y) for y in ys):
            ax.plot(percentiles, ys, marker="o", color=GRIP_COLORS[server], label=label)
    ax.set_yscale("log")
    ax.set_ylabel("ms")
    ax.set_title("Held long-polls: publish-to-response latency\n(median of the runs)",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(BENCH / "grip_latency.svg")
    plt.close(fig)


def profile_section(bench):
    if not bench.profiles:
        return "perf was unavailable or disabled in this run: no automatic profile.\n"
    out = []
    for server, profile in bench.profiles.items():  # "pushrelay", "nchan eventsource", ...
        objects = ", ".join(f"{dso} {pct:.0f}%" for pct, dso, _ in profile["objects"])
        load = profile.get("load", "a fan-out of 2,000 subscribers on 20 channels, 150 rounds")
        out.append(f"**{server}** workers under {load} (perf record -e cpu-clock, self time). "
                   f"By object: {objects}.\n")
        out.append("| self % | object | symbol |\n|---:|---|---|")
        out += [f"| {pct:.1f} | {dso} | `{sym}` |" for pct, dso, sym in profile["symbols"]]
        out.append("")
    return "\n".join(out) + "\n"


def redis_section(bench):
    """RESULTS.md's Redis-mode part: the table, the commands table and the method."""
    if not any(r["scenario"] in REDIS_SCENARIOS for r in bench.runs):
        return "The Redis scenarios did not run.\n"
    return f"""{redis_table(bench)}

Redis commands per publish (sum of the calls in `INFO commandstats`, keep-alives left out,
commands run inside scripts included; in brackets the scripts run, EVALSHA): medians.

{redis_commands_table(bench)}

Targets (issue 13): publishes/s through Redis ≥ 2× Nchan's; cross-node fan-out deliveries/s
≥ 2× and p99 ≤ 0.5× Nchan's; Redis commands per publish that do not grow with nodes or
subscribers; the first delivery after Redis comes back ≤ 1.5 s after it accepts connections.

- **Setup**: one redis-server (Debian's 7.0) on a free loopback port, `--save '' --appendonly
  no`, started once, emptied (`FLUSHALL`, `CONFIG RESETSTAT`) before every run. Each server
  runs 3 nodes, each node 1 worker (pushrelay: and its Redis relay process), each with its own
  ports and temp dir: pushrelay `push_redis_url redis://127.0.0.1:PORT; push_redis_namespace
  bench;` (distributed mode, default timeouts), Nchan 1.3's `upstream {{ nchan_redis_server
  redis://127.0.0.1:PORT; }}` with `nchan_redis_pass` on both locations (distributed mode); the
  rest of the confs as above. A node is used once a publish through it is accepted.
- **redis_publish**: the publish scenario with 64 connections spread over the 3 nodes
  (connection p on node p mod 3), 3 s. Redis's CPU per publish is redis-server's CPU time over
  the run divided by the publishes.
- **redis_fanout**: fan-out with 10,000 long-poll subscribers, subscriber i on node i mod 3 and
  channel i mod 100 (every channel has subscribers on every node), 6 publishers (publisher p
  on node p mod 3; channel c always through publisher c mod 6), 40 rounds, 2 outstanding; every
  message checked for loss, duplicates and order as in fan-out.
- **redis_commands**: an idle load (subscribers held after the warm-up) on 1 and on 3 nodes,
  with 300 subscribers (3 per channel: on 3 nodes, one per node) and with 10,000, on 100
  channels; once the servers and Redis are quiet the calls are read, then 10 rounds of one
  message per channel (1,000 publishes, 2 rounds outstanding) are published through the nodes
  in turn and delivered, and once quiet again, the subscribers still connected and their next
  polls held, the calls are read again. Commands per publish = the difference / 1,000.
- **redis_recovery**: 10 long-poll subscribers on node 1 hold a channel (after its warm-up
  message); Redis is stopped (SIGTERM) and started again on the same port 1 s later (empty: no
  persistence); from the stop, a publisher posts to the channel through node 2, one request at
  a time, 10 ms after each refused one and giving each up after 1 s; a subscriber whose poll
  fails polls again 10 ms later with the same Last-Modified/Etag. The figure: from Redis's first
  PONG to the first held subscriber's delivery; the failed polls of the held subscribers
  (5xx, 410, dropped connections) are counted beside it.
"""

def write(bench, path, machine):
    summary, _ = table(bench)
    plots = plot(bench)
    (BENCH / "results.json").write_text(json.dumps(
        {"machine": machine, "reps": bench.args.reps, "quick": bench.args.quick,
         "ceiling_rps": bench.ceiling, "runs": bench.runs, "unsupported": bench.unsupported,
         "profiles": bench.profiles, "failures": bench.failures,
         "nchan_failures": bench.nchan_failures,
         "pushpin_failures": getattr(bench, "pushpin_failures", [])}, indent=1))
    ceiling = (f"{statistics.median(bench.ceiling):,.0f} requests/s (median of "
               f"{len(bench.ceiling)} wrk runs, 2 threads, 64 connections, nginx `return 200`, "
               f"2 workers)" if bench.ceiling else "not measured (wrk missing)")
    notes = BENCH / "notes.md"
    status = ("**FAILED**: " + "; ".join(bench.failures)) if bench.failures else \
        "every run passed: no loss, duplicate, reordering or error"
    if bench.nchan_failures:
        status += ("; except Nchan's own losses with multiplexed streams (a known Nchan 1.3.6 "
                   "fault, see bench/run.py NCHAN_LOSES; those runs are out of the medians): " +
                   "; ".join(bench.nchan_failures))
    if getattr(bench, "pushpin_failures", None):
        status += ("; except Pushpin's own failures under the GRIP setup bursts (see bench/run.py "
                   "PUSHPIN_SUBJECTS; those runs are out of the medians): " +
                   "; ".join(bench.pushpin_failures))
    text = f"""# pushrelay against nginx + Nchan, and its GRIP proxy against Pushpin

Generated by `make bench` (bench/run.py); do not edit: the analysis comes from bench/notes.md.

Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; {machine['nginx']},
Nchan {machine['nchan']}, Pushpin {machine.get('pushpin', '?')}; pushrelay at {machine['commit']}; {machine['date']}. Both servers: 2
workers, loopback, fd limit {machine['fd_limit']}, fresh server for every run. Each scenario ran
{bench.args.reps} times per server, alternating which went first; the figures are medians.
The load generator (bench/loadgen, one libev thread) shares the 2 cores with the server under test,
the same way for both servers. {"**Quick (small-scale) run.**" if bench.args.quick else ""}

Run status: {status}.

Trivial-HTTP ceiling of this machine: {ceiling}.

## Results (medians)

{summary}

Ratios are pushrelay/Nchan: above 1 is better for throughput, below 1 is better for latency,
CPU and memory.

{"".join(f"![{p}]({p})" + chr(10) + chr(10) for p in plots)}
## Streaming transports (medians, each server on the same transport)

{streaming_table(bench)}

CPU per delivery is the server's (all processes) or the load generator's CPU time over the
run, setup included, divided by the deliveries; "loadgen busy" is the load generator's CPU
time over wall time from the first measured publish to the last delivery: near 1.0 the load
generator (one thread), not the server, caps deliveries/s. Writes per
delivery: the server's write syscalls (`/proc/PID/io` syscw: write and writev, which both
servers use for responses and frames; eventfd wake-ups included) over the run divided by the
deliveries; below 1 only where a server coalesces several messages into one write.

## GRIP proxy against Pushpin and nginx (medians)

{grip_table(bench) if any(r["scenario"] in GRIP_SCENARIOS for r in bench.runs) else
 "The GRIP scenarios did not run."}

Targets (issue 12): release rate ≥ 5× Pushpin with its cap lifted and ≥ 20× as shipped;
release p99 ≤ 0.1× Pushpin's with the cap lifted; memory per held client ≤ 0.1× Pushpin's and
≤ 3.6 KB (3.52 KiB), RSS delta over all the server's processes; plain proxied GETs ≥ 1.0× nginx
`proxy_pass` with upstream keepalive and ≥ 3× Pushpin; stream items delivered/s ≥ 5× Pushpin
(both variants shown). Pushpin {machine.get('pushpin', '')}.

- **grip_hold_release**: 5,000 clients GET `/hold?c=<channel>` through the proxy (100
  channels); the origin answers `Grip-Hold: response`, `Grip-Channel`, `Grip-Timeout: 300`.
  Once every request is written, 1 s more, and the server's processes are idle (under 10 ms
  of CPU in 250 ms), its memory is read (RSS and Pss summed over all its processes, before
  the clients connected and with all of them held), then one item per channel (`POST
  /publish/`, `http-response` body = the stamp, 4 publishers, one request in flight each)
  releases them. Release rate = 5,000 / (first publish to last response); latency = each
  response's arrival minus its item's publish. A hold that times out (the origin's body, no
  stamp) fails the run.
- **grip_proxy_get**: 64 keep-alive clients GET `/get` (a 40-byte 200 from the origin) back to
  back, one request in flight each, for 3 s. nginx: `proxy_pass` to an `upstream` with
  `keepalive 32`, `proxy_http_version 1.1`, `Connection ""`, 2 workers.
- **grip_stream_fanout**: 1,000 clients GET `/stream?c=<channel>` (one channel; the origin
  answers `Grip-Hold: stream` with an empty body); once every stream's head has arrived and
  1 s more, a warm-up item and 20 rounds of one `http-stream` item (the stamp and a newline)
  are published, at most 2 outstanding, as in broadcast. Items delivered/s = 20,000 / (first
  publish to last delivery).
- **Servers**: pushrelay 2 workers (`push_grip_proxy` / `push_grip_publish`, defaults
  otherwise). Pushpin 1.36 (Debian) started by its own launcher from a temp dir: condure,
  zurl, pushpin-proxy, pushpin-handler (Debian's `pushpin.conf` with the ports and paths
  changed, log level 1 instead of 2: per-request logging off, as for the other servers);
  "as shipped" keeps `message_rate=2500`, `message_hwm=25000`, "lifted" sets both to -1
  (the handler's own default: no limiter). The origin: nginx, 1 worker, answering every
  request from its conf, started afresh with each server; its CPU and memory are not counted.
- The origin, the proxy and the load generator share the same 2 cores: the GRIP proxies each
  pay for their origin requests on the same cores the measurement runs on.

{"Profile of pushrelay under the GRIP release: see below (**pushrelay GRIP release**)." if
 "pushrelay GRIP release" in bench.profiles else ""}

## Redis mode: 3 nodes per server on one Redis (medians)

{redis_section(bench)}

## Method

- **fan-out**: 10,000 long-poll subscribers spread over 100 channels; after a warm-up message
  (seq 1) has reached every subscriber and 0.5 s has passed for the next polls to be held, 40
  rounds of one 64-byte message per channel are published by 4 keep-alive publishers (a channel
  always through the same one, so its order is the publish order), at most 2 rounds outstanding.
  deliveries/s = 400,000 deliveries / (first publish to last delivery).
- **broadcast**: the same with 10,000 subscribers on one channel (one publisher).
- **publish**: 8 or 64 keep-alive connections post 64-byte messages back to back, one in flight
  each, for 3 s to channels nobody subscribes to (4 per connection).
- **idle**: a fresh server; its Pss (summed over master and workers: the shared segment counted
  once) is read before the load generator connects, then with 10,000 subscribers held on 100
  channels (after the warm-up), divided by 10,000.
- **churn**: 1,000 subscribers on 100 channels take one message, close the connection, reconnect
  and ask for the next with its Last-Modified/Etag, while 500 messages/s are published (5 per
  channel per second) for 4 s; the run ends when every subscriber has the last message.
- **Streaming** (es_* EventSource, ws_* WebSocket): the fan-out and broadcast above with one
  stream per subscriber instead of re-polls (`Accept: text/event-stream`; a WebSocket upgrade,
  version 13, no subprotocol, client frames masked by wslay). **es_burst / ws_burst**: 1,000
  streams on one channel, 400 messages posted back to back by one publisher (no window): each
  message arrives while the server is still writing the previous ones. **mux**: 1,000
  EventSource streams, each on 10 of 100 channels (`id=a,b,...` split on `,`; every channel
  has 100 streams), 40 rounds. **es_idle / ws_idle**: as idle, with 10,000 held streams.
  Confs: pushrelay `push_subscriber eventsource` / `websocket` (mux: `push_channel_id $arg_id;
  push_channel_id_split_delimiter ",";`), Nchan `nchan_subscriber eventsource` / `websocket`
  (mux: `nchan_channel_id $arg_id; nchan_channel_id_split_delimiter ",";`), the rest as for
  long-poll. A scenario whose conf the pushrelay build refuses (`pushrelay -t`) runs on Nchan
  only, and the tables say so.
- Every message body carries its channel sequence number, its channel's number and a
  CLOCK_MONOTONIC send timestamp taken when the POST is written; every subscriber checks that
  it receives 1, 2, 3... exactly on each of its channels (a gap is a loss, a repeat a
  duplicate) and records publish-to-delivery latency when the
  response is complete. Subscribers echo the Last-Modified and Etag they got back verbatim
  (Nchan 1.3.6 sends `Etag: 0`-style tags, like pushrelay). Any loss, duplicate, non-2xx answer
  or protocol error fails the run and `make bench`.
- Confs (written fresh to a temp dir): `push_message_buffer_length 100` /
  `nchan_message_buffer_length 100`, message timeout 1h, subscriber timeout 1h, 128M shared
  memory, `keepalive_requests 1000000`, access logs off, `worker_connections 12000`,
  `worker_rlimit_nofile 20000`; Nchan: `nchan_subscriber longpoll`,
  `nchan_subscriber_first_message oldest`, `nchan_channel_id $arg_id`.

## Profile (automatic, this run)

{profile_section(bench)}
{notes.read_text() if notes.exists() else ""}

## Every run

{runs_table(bench)}
"""
    path.write_text(text)
