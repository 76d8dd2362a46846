#!/usr/bin/env python3
"""Runs a load generator (k6) and reports what the servers saw meanwhile.

    k6/server_stats.py --gateway http://127.0.0.1:8080 --worker http://127.0.0.1:9101 \
        --pid gateway=1234 --pid worker=1235 --client-summary out/summary.json \
        --json out/server_stats.json -- k6 run ... k6/spike.js

Before the command starts and after it ends it reads:

- every gateway's and worker's `GET /metrics` (Prometheus text format). The histograms'
  bucket counts of the second reading minus those of the first are the observations made
  during the run; their percentiles are interpolated within buckets exactly as
  Prometheus' `histogram_quantile` does (`quantile()` below), summed over the gateways
  as `sum by (le, route, method)` would. A process restarted in between (a bucket went
  down) counts from zero, as Prometheus' `rate` does after a counter reset.
- `/proc`: the box's total CPU time (`/proc/stat`, every core) and the CPU time of each
  named process (`--pid NAME=PID`) and of the services found by their command name
  (`redis-server`, RabbitMQ's `beam.smp` and its helpers, every `postgres` process),
  each process's growth, children that exited included through their parent's
  `cutime`/`cstime` (`group_delta`). The load
  generator's own CPU time is exact: `wait4`'s resource usage of the child.
- optionally Redis's `INFO commandstats` (`--redis host:port`, repeatable) and
  RabbitMQ's global message counters (`--rabbitmqctl`, through `rabbitmqctl eval`), for
  the operations per request in docs/SCALING.md.

Server-side latency is the gateway's `anteroom_http_request_duration_seconds`: from its
first middleware to the response. It leaves out what happens before the gateway reads
the request (the kernel's accept queue, a runtime busy with other tasks), which the
client-side figure of k6 includes together with k6's own scheduling delays on a busy box.

Prints a table (client p95/p99 next to server p95/p99 per route, the worker's decision
latency, CPU shares) on stdout after the command's output, or only into `--text PATH`
with `--quiet`; `--json PATH` writes the numbers. The exit status is the command's.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

# ---- Prometheus text format and histogram_quantile ----

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text: str) -> dict[str, str]:
    """`{a="x",b="y"}` → {"a": "x", "b": "y"}; raises ValueError on anything else."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"not a label set: {text!r}")
    body = body[1:-1]
    labels, pos = {}, 0
    while pos < len(body):
        m = _LABEL.match(body, pos)
        if not m:
            raise ValueError(f"bad label set: {text!r}")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels


def parse_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value) each.

    Comments (`# HELP`, `# TYPE`) and blank lines are skipped; a line that is not a
    sample raises ValueError naming it."""
    samples = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"line {lineno} is not a sample: {line!r}")
        labels = parse_labels(m.group(2)) if m.group(2) else {}
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def histograms(text: str) -> dict[SeriesKey, dict[float, float]]:
    """The cumulative buckets of every histogram series in an exposition.

    Key: (histogram name without `_bucket`, sorted labels without `le`); value:
    {upper bound: cumulative count}, `+Inf` included."""
    out: dict[SeriesKey, dict[float, float]] = {}
    for name, labels, value in parse_samples(text):
        if not name.endswith("_bucket") or "le" not in labels:
            continue
        le = float(labels.pop("le").replace("+Inf", "inf"))
        key = (name[: -len("_bucket")], tuple(sorted(labels.items())))
        out.setdefault(key, {})[le] = value
    return out


def counters(text: str) -> dict[SeriesKey, float]:
    """Every sample that is not a histogram's bucket, sum or count, keyed as above."""
    out = {}
    for name, labels, value in parse_samples(text):
        if name.endswith(("_bucket", "_sum", "_count")):
            continue
        out[(name, tuple(sorted(labels.items())))] = value
    return out


def bucket_delta(before: dict[float, float] | None, after: dict[float, float]) -> dict[float, float]:
    """after − before per bucket; after alone when a bucket went down (process restart)."""
    if not before or any(after.get(le, 0.0) < count for le, count in before.items()):
        return dict(after)
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def quantile(q: float, buckets: dict[float, float]) -> float:
    """The q-quantile (0 ≤ q ≤ 1) of a histogram's cumulative buckets {upper bound: count}.

    Prometheus' `histogram_quantile` (promql/quantile.go, `bucketQuantile`): buckets in
    order of their upper bound, cumulative counts forced monotonic; the rank q × total;
    the first bucket whose cumulative count reaches the rank; linear interpolation
    between that bucket's lower bound (the previous upper bound, 0 for the first bucket)
    and its upper bound. A rank in the `+Inf` bucket gives the highest finite bound.
    NaN when there are no observations, no `+Inf` bucket or fewer than two buckets;
    −inf for q < 0, +inf for q > 1."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]) or len(bounds) < 2:
        return math.nan
    counts, highest = [], 0.0
    for le in bounds:
        highest = max(highest, buckets[le])
        counts.append(highest)
    total = counts[-1]
    if total == 0:
        return math.nan
    rank = q * total
    b = next((i for i in range(len(bounds) - 1) if counts[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def summed_deltas(
    befores: list[str], afters: list[str]
) -> dict[SeriesKey, dict[float, float]]:
    """Per series, the bucket deltas of each process added up (the sum over replicas)."""
    total: dict[SeriesKey, dict[float, float]] = {}
    for before_text, after_text in zip(befores, afters):
        before = histograms(before_text) if before_text else {}
        for key, after in histograms(after_text).items():
            delta = bucket_delta(before.get(key), after)
            acc = total.setdefault(key, {})
            for le, count in delta.items():
                acc[le] = acc.get(le, 0.0) + count
    return total


def counter_deltas(befores: list[str], afters: list[str]) -> dict[SeriesKey, float]:
    """Per counter series, after − before summed over processes (after alone on a reset)."""
    total: dict[SeriesKey, float] = {}
    for before_text, after_text in zip(befores, afters):
        before = counters(before_text) if before_text else {}
        for key, value in counters(after_text).items():
            old = before.get(key, 0.0)
            total[key] = total.get(key, 0.0) + (value - old if value >= old else value)
    return total


# ---- /proc ----

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Services found by their command name (`/proc/PID/comm`, at most 15 characters).
SERVICE_COMMS = {
    "redis": ("redis-server",),
    "rabbitmq": ("beam.smp", "erl_child_setup", "epmd", "inet_gethost"),
    "postgresql": ("postgres",),
}


def box_ticks(stat_text: str) -> tuple[int, int]:
    """(all CPU time, idle + iowait) in clock ticks, over every core, from /proc/stat."""
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            # user nice system idle iowait irq softirq steal (guest time is inside user).
            values = [int(v) for v in fields[1:9]]
            return sum(values), values[3] + values[4]
    raise ValueError("no `cpu` line in /proc/stat")


def proc_ticks(stat_text: str) -> tuple[int, int]:
    """(utime + stime, cutime + cstime) in clock ticks from a /proc/PID/stat line."""
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def processes() -> dict[int, tuple[str, int, int, int]]:
    """Every live process: pid → (comm, parent pid, own ticks, waited children's ticks)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if stat is None:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        own, children = proc_ticks(stat)
        out[int(entry)] = (comm, ppid, own, children)
    return out


Members = dict[int, tuple[int, int]]


def group_members(procs: dict[int, tuple[str, int, int, int]], comms: tuple[str, ...]) -> Members:
    """Every process named in `comms`: pid → (its ticks plus its exited children's, parent)."""
    return {pid: (p[2] + p[3], p[1]) for pid, p in procs.items() if p[0] in comms}


def tree_members(procs: dict[int, tuple[str, int, int, int]], roots: list[int]) -> Members:
    """The processes `roots` and their live descendants, as group_members."""
    kids: dict[int, list[int]] = {}
    for pid, p in procs.items():
        kids.setdefault(p[1], []).append(pid)
    out, stack = {}, list(roots)
    while stack:
        pid = stack.pop()
        if pid in procs and pid not in out:
            out[pid] = (procs[pid][2] + procs[pid][3], procs[pid][1])
            stack.extend(kids.get(pid, []))
    return out


def group_delta(before: Members, after: Members) -> int:
    """CPU ticks a group of processes spent between two readings.

    A member in both readings adds its growth, a new one all its ticks. A member that
    exited meanwhile and whose parent is a member (a PostgreSQL backend, collected by the
    postmaster) reappears, whole, in that parent's children's ticks: its ticks of the
    first reading are taken off again. One whose parent is not a member (a node of an
    unrelated instance, stopped) is simply gone: its last moments are not counted, but
    they never turn the sum negative."""
    total = 0
    for pid, (ticks, _) in after.items():
        total += ticks - before[pid][0] if pid in before else ticks
    for pid, (ticks, ppid) in before.items():
        if pid not in after and ppid in after and ppid in before:
            total -= ticks
    return max(0, total)


def cpu_snapshot(named: dict[str, list[int]]) -> dict:
    """Ticks of the box (`_total`, `_idle`), and the members of each named pid tree and of
    each service."""
    procs = processes()
    total, idle = box_ticks(_read("/proc/stat") or "")
    snap: dict = {"_total": total, "_idle": idle}
    for name, pids in named.items():
        snap[name] = tree_members(procs, pids)
    for name, comms in SERVICE_COMMS.items():
        snap[name] = group_members(procs, comms)
    return snap


# ---- Redis and RabbitMQ counters ----


def redis_commandstats(address: str, timeout: float = 5.0) -> dict[str, int]:
    """`INFO commandstats` of the Redis at host:port: command → calls."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"Redis {address} closed the connection")
            data += chunk
        header, _, rest = data.partition(b"\r\n")
        if not header.startswith(b"$"):
            raise ConnectionError(f"Redis {address} answered {header.decode(errors='replace')}")
        size = int(header[1:])
        while len(rest) < size:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"Redis {address} closed the connection")
            rest += chunk
    return parse_commandstats(rest[:size].decode())


def parse_commandstats(info: str) -> dict[str, int]:
    """`cmdstat_get:calls=3,usec=9,…` lines → {"get": 3, "get.usec": 9}: the calls of
    each command and the microseconds Redis spent in them (its own accounting)."""
    out = {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line[len("cmdstat_") :].partition(":")
            kv = dict(f.split("=", 1) for f in fields.split(",") if "=" in f)
            out[name] = int(kv.get("calls", 0))
            out[f"{name}.usec"] = int(kv.get("usec", 0))
    return out


def parse_rabbit_counters(text: str) -> dict[str, int]:
    """`rabbit_global_counters:overview()` as printed by `rabbitmqctl eval` → each
    `*_total` counter summed over the protocol and queue-type maps."""
    out: dict[str, int] = {}
    for name, value in re.findall(r"(\w+_total)\s*=>\s*(\d+)", text):
        out[name] = out.get(name, 0) + int(value)
    return out


def rabbit_counters() -> dict[str, int]:
    ctl = "rabbitmqctl" if _which("rabbitmqctl") else "/usr/sbin/rabbitmqctl"
    res = subprocess.run(
        [ctl, "-q", "eval", "rabbit_global_counters:overview()."],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return parse_rabbit_counters(res.stdout)


def _which(cmd: str) -> bool:
    return any(os.access(os.path.join(d, cmd), os.X_OK) for d in os.environ.get("PATH", "").split(":"))


# ---- the run ----


def scrape(url: str) -> str:
    """The /metrics text of a gateway or worker base URL; '' when it does not answer."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=10) as r:
            return r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        print(f"server_stats: cannot read {url}/metrics: {e}", file=sys.stderr)
        return ""


# k6 steps (the `*_ms` trends of k6/lib/summary.js and k6/join-spike.js) and the
# gateway route each one calls.
STEP_ROUTES = {
    "join": ("POST", "/v1/events/{event_id}/queue"),
    "status": ("GET", "/v1/events/{event_id}/queue"),
    "seats": ("GET", "/v1/events/{event_id}/seats"),
    "hold": ("POST", "/v1/events/{event_id}/holds"),
    "confirm": ("POST", "/v1/holds/{hold_id}/confirm"),
    "release": ("DELETE", "/v1/holds/{hold_id}"),
}

HTTP_HISTOGRAM = "anteroom_http_request_duration_seconds"


def client_percentiles(summary: dict) -> dict[str, dict[str, float | None]]:
    """step → {"p95": ms, "p99": ms} from a k6 summary JSON (spike.js or join-spike.js)."""
    out = {}
    for step in STEP_ROUTES:
        p95 = (summary.get("p95_ms") or {}).get(step, summary.get(f"{step}_p95_ms"))
        p99 = (summary.get("p99_ms") or {}).get(step, summary.get(f"{step}_p99_ms"))
        if p95 is not None or p99 is not None:
            out[step] = {"p95": p95, "p99": p99}
    return out


def finite(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else x


def ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) or math.isinf(seconds) else round(seconds * 1000, 2)


def histogram_rows(deltas: dict[SeriesKey, dict[float, float]], name: str,
                   seconds: bool) -> list[dict]:
    """One row per series of histogram `name`: labels, count, p50/p95/p99; a histogram of
    seconds gives `p50_ms`... in milliseconds, one of a count `p50`... as is."""
    convert, suffix = (ms, "_ms") if seconds else (finite, "")
    rows = []
    for (metric, labels), buckets in sorted(deltas.items()):
        count = max(buckets.values(), default=0.0)
        if metric != name or count <= 0:
            continue
        row = {"labels": dict(labels), "count": int(count)}
        for q in (50, 95, 99):
            row[f"p{q}{suffix}"] = convert(quantile(q / 100, buckets))
        rows.append(row)
    return rows


def latency_rows(deltas: dict[SeriesKey, dict[float, float]], name: str) -> list[dict]:
    """One row per series of histogram `name` (seconds): labels, count, p50/p95/p99 in ms."""
    return histogram_rows(deltas, name, seconds=True)


def value_rows(deltas: dict[SeriesKey, dict[float, float]], name: str) -> list[dict]:
    """As latency_rows, for a histogram of a count (no unit conversion)."""
    return histogram_rows(deltas, name, seconds=False)


def by_name(deltas: dict[SeriesKey, float]) -> dict[str, float]:
    """Counter deltas added up over their labels, the non-zero ones, by metric name."""
    out: dict[str, float] = {}
    for (name, _), value in deltas.items():
        if name.endswith("_total") and value:
            out[name] = out.get(name, 0.0) + value
    return dict(sorted(out.items()))


def report(args, before: dict, after: dict, k6_cpu_s: float, wall_s: float, rc: int) -> dict:
    gw = summed_deltas(before["gateway"], after["gateway"])
    wk = summed_deltas(before["worker"], after["worker"])
    gw_counters = counter_deltas(before["gateway"], after["gateway"])
    wk_counters = counter_deltas(before["worker"], after["worker"])
    client = {}
    if args.client_summary:
        try:
            with open(args.client_summary, encoding="utf-8") as f:
                client = client_percentiles(json.load(f))
        except (OSError, ValueError) as e:
            print(f"server_stats: cannot read {args.client_summary}: {e}", file=sys.stderr)

    routes = latency_rows(gw, HTTP_HISTOGRAM)
    steps = []
    for step, (method, route) in STEP_ROUTES.items():
        server = next((r for r in routes if r["labels"] == {"method": method, "route": route}), None)
        if server is None and step not in client:
            continue
        steps.append(
            {
                "step": step,
                "method": method,
                "route": route,
                "client_p95_ms": client.get(step, {}).get("p95"),
                "client_p99_ms": client.get(step, {}).get("p99"),
                "server_count": server["count"] if server else 0,
                "server_p95_ms": server["p95_ms"] if server else None,
                "server_p99_ms": server["p99_ms"] if server else None,
            }
        )

    total_s = (after["cpu"]["_total"] - before["cpu"]["_total"]) / CLK_TCK
    idle_s = (after["cpu"]["_idle"] - before["cpu"]["_idle"]) / CLK_TCK
    cpu = {args.name: k6_cpu_s}
    for name in after["cpu"]:
        if not name.startswith("_"):
            cpu[name] = group_delta(before["cpu"].get(name, {}), after["cpu"][name]) / CLK_TCK
    busy_s = max(0.0, total_s - idle_s)
    listed = sum(cpu.values())
    shares = {
        name: {"cpu_s": round(s, 2), "box_share": round(s / total_s, 4) if total_s else None,
               "cores": round(s / wall_s, 3) if wall_s else None}
        for name, s in cpu.items()
    }
    shares["other"] = {
        "cpu_s": round(max(0.0, busy_s - listed), 2),
        "box_share": round(max(0.0, busy_s - listed) / total_s, 4) if total_s else None,
        "cores": round(max(0.0, busy_s - listed) / wall_s, 3) if wall_s else None,
    }
    shares["idle"] = {
        "cpu_s": round(idle_s, 2),
        "box_share": round(idle_s / total_s, 4) if total_s else None,
        "cores": round(idle_s / wall_s, 3) if wall_s else None,
    }

    out = {
        "command": args.name,
        "command_exit": rc,
        "wall_s": round(wall_s, 2),
        "cores": os.cpu_count(),
        "loadavg_before": before["loadavg"],
        "loadavg_after": after["loadavg"],
        "steps": steps,
        "routes": routes,
        "gateway_publish_confirm": latency_rows(gw, "anteroom_publish_confirm_seconds"),
        "gateway_reply_wait": latency_rows(gw, "anteroom_reply_wait_seconds"),
        "worker_commit": latency_rows(wk, "anteroom_worker_commit_seconds"),
        "worker_batch_size": value_rows(wk, "anteroom_worker_batch_size"),
        "worker_commands": int(sum(v for (n, _), v in wk_counters.items() if n == "anteroom_worker_commands_total")),
        "gateway_requests": int(sum(v for (n, _), v in gw_counters.items() if n == "anteroom_http_requests_total")),
        "cpu": shares,
        "gateway_counters": by_name(gw_counters),
        "worker_counters": by_name(wk_counters),
    }
    if args.redis:
        out["redis_calls"] = {}
        for addr in args.redis:
            b, a = before["redis"].get(addr) or {}, after["redis"].get(addr) or {}
            for cmd, calls in a.items():
                d = calls - b.get(cmd, 0)
                if d > 0:
                    out["redis_calls"][cmd] = out["redis_calls"].get(cmd, 0) + d
    if args.rabbitmqctl and before.get("rabbit") is not None and after.get("rabbit") is not None:
        out["rabbitmq"] = {k: v - before["rabbit"].get(k, 0) for k, v in after["rabbit"].items() if v - before["rabbit"].get(k, 0)}
    return out


def render(o: dict) -> str:
    f = lambda v: "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")  # noqa: E731
    lines = [
        "",
        f"Server side during the run ({o['wall_s']} s; load average {o['loadavg_before']} before, "
        f"{o['loadavg_after']} after; {o['cores']} cores)",
        "",
        "  latency, ms     client p95  client p99 | server p95  server p99  requests  (route)",
    ]
    for s in o["steps"]:
        lines.append(
            f"  {s['step']:<14} {f(s['client_p95_ms']):>11} {f(s['client_p99_ms']):>11} |"
            f" {f(s['server_p95_ms']):>10} {f(s['server_p99_ms']):>11} {s['server_count']:>9,}"
            f"  ({s['method']} {s['route']})"
        )
    lines.append(
        "  server: the gateways' anteroom_http_request_duration_seconds (first middleware to response),"
    )
    lines.append("  percentiles interpolated in buckets as histogram_quantile does; client: k6, incl. its own delays")
    for label, key in (
        ("gateway publish → broker confirm", "gateway_publish_confirm"),
        ("gateway publish → worker reply", "gateway_reply_wait"),
        ("worker group commit", "worker_commit"),
    ):
        for r in o[key]:
            lines.append(
                f"  {label:<34} p50 {f(r['p50_ms'])} ms, p95 {f(r['p95_ms'])} ms, p99 {f(r['p99_ms'])} ms"
                f" ({r['count']:,})"
            )
    for r in o["worker_batch_size"]:
        lines.append(
            f"  {'worker commands per commit':<34} p50 {f(r['p50'])}, p95 {f(r['p95'])}, p99 {f(r['p99'])}"
            f" ({r['count']:,} commits, {o['worker_commands']:,} commands)"
        )
    g = o["gateway_counters"]
    joins, commits = g.get("anteroom_queue_joins_total", 0), g.get("anteroom_join_commits_total", 0)
    statuses, calls = g.get("anteroom_status_requests_total", 0), g.get("anteroom_status_redis_calls_total", 0)
    if joins or statuses:
        lines.append(
            f"  joins {joins:,.0f} in {commits:,.0f} group commits; statuses {statuses:,.0f} with {calls:,.0f} Redis calls;"
            f" admitted {g.get('anteroom_admitted_total', 0):,.0f}"
        )
    lines.append("")
    lines.append("  CPU over the run     share of the box   cores   CPU s")
    order = sorted((k for k in o["cpu"] if k not in ("other", "idle")), key=lambda k: -o["cpu"][k]["cpu_s"])
    for name in order + ["other", "idle"]:
        c = o["cpu"][name]
        share = "-" if c["box_share"] is None else f"{c['box_share'] * 100:.1f} %"
        cores = "-" if c["cores"] is None else f"{c['cores']:.2f}"
        lines.append(f"  {name:<20} {share:>15} {cores:>7} {c['cpu_s']:>7.1f}")
    lines.append(f"  ({o['command']}: its own CPU time from wait4; services by process name, shared with anything else using them)")
    if o.get("redis_calls"):
        calls = {k: v for k, v in o["redis_calls"].items() if not k.endswith(".usec")}
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
        lines.append(
            "  Redis calls (µs each, Redis's own time): "
            + ", ".join(f"{k} {v:,} ({o['redis_calls'].get(k + '.usec', 0) / v:.1f})" for k, v in top)
        )
    if o.get("rabbitmq"):
        keys = ("messages_received_total", "messages_confirmed_total", "messages_delivered_total",
                "messages_acknowledged_total")
        lines.append("  RabbitMQ: " + ", ".join(f"{k[len('messages_'):-len('_total')]} {o['rabbitmq'].get(k, 0):,}" for k in keys))
    return "\n".join(lines) + "\n"


def snapshot(args, named: dict[str, list[int]], last: bool) -> dict:
    """Every reading. The CPU reading is the innermost one (taken last before the run,
    first after it), so the scrapes and `rabbitmqctl` stay outside the measured window."""
    snap = {"redis": {}, "rabbit": None}
    if last:
        snap["cpu"] = cpu_snapshot(named)
    snap["gateway"] = [scrape(u) for u in args.gateway]
    snap["worker"] = [scrape(u) for u in args.worker]
    for addr in args.redis:
        try:
            snap["redis"][addr] = redis_commandstats(addr)
        except (OSError, ValueError) as e:
            print(f"server_stats: Redis {addr}: {e}", file=sys.stderr)
    if args.rabbitmqctl:
        try:
            snap["rabbit"] = rabbit_counters()
        except (OSError, subprocess.SubprocessError) as e:
            print(f"server_stats: rabbitmqctl: {e}", file=sys.stderr)
    if not last:
        snap["cpu"] = cpu_snapshot(named)
    snap["loadavg"] = " ".join((_read("/proc/loadavg") or "").split()[:3])
    return snap


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gateway", action="append", default=[], metavar="URL", help="a gateway's base URL (repeatable)")
    p.add_argument("--worker", action="append", default=[], metavar="URL", help="a worker's metrics base URL (repeatable)")
    p.add_argument("--pid", action="append", default=[], metavar="NAME=PID", help="a process to count CPU for (repeatable; same NAME adds up)")
    p.add_argument("--redis", action="append", default=[], metavar="HOST:PORT", help="read INFO commandstats (repeatable)")
    p.add_argument("--rabbitmqctl", action="store_true", help="read RabbitMQ's global counters with rabbitmqctl eval")
    p.add_argument("--client-summary", metavar="PATH", help="k6's SUMMARY_JSON, read after the run for client percentiles")
    p.add_argument("--json", metavar="PATH", help="write the numbers as JSON")
    p.add_argument("--text", metavar="PATH", help="write the table to PATH too")
    p.add_argument("--quiet", action="store_true", help="do not print the table on stdout")
    p.add_argument("--name", default="k6", help="the command's name in the CPU table (default k6)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = p.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        p.error("a command to run is required after --")
    for spec in args.pid:
        name, _, pid = spec.partition("=")
        if not name or not pid.isdigit():
            p.error(f"--pid wants NAME=PID, got {spec!r}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    named: dict[str, list[int]] = {}
    for spec in args.pid:
        name, _, pid = spec.partition("=")
        named.setdefault(name, []).append(int(pid))
    before = snapshot(args, named, last=False)
    start = time.monotonic()
    try:
        child = subprocess.Popen(args.command)
    except OSError as e:
        print(f"server_stats: cannot run {args.command[0]}: {e}", file=sys.stderr)
        return 127
    while True:
        try:
            _, status, usage = os.wait4(child.pid, 0)
            break
        except KeyboardInterrupt:
            # The terminal's ^C reached k6 too; wait for its summary.
            continue
    wall = time.monotonic() - start
    rc = os.waitstatus_to_exitcode(status)
    child.returncode = rc
    rc = rc if rc >= 0 else 128 - rc
    after = snapshot(args, named, last=True)
    out = report(args, before, after, usage.ru_utime + usage.ru_stime, wall, rc)
    text = render(out)
    if not args.quiet:
        sys.stdout.write(text)
        sys.stdout.flush()
    if args.text:
        with open(args.text, "w", encoding="utf-8") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
