#!/usr/bin/env python3
"""The gateway benchmark table, from the files run.sh leaves in its output directory.

    report.py OUT_DIR SPIKE_K6_EXIT_CODE

wrk outputs (NAME.rN.wrk: `Requests/sec`, the `--latency` percentiles; the median over
the rounds), the server's CPU time over each wrk run (NAME.rN.cpu: "USER SYSTEM
TICKS_PER_SECOND", shown as microseconds of server CPU, user + system, per request, median
over the rounds), the status metrics
before/after the status run (status_metrics.json), the join-rate settings
(join_rate.json, with its wrk output join_rate.r1.wrk), the k6 spike summary
(spike.json) and `uptime` before/after. Prints one table; "met?" compares with the
targets written in this file.
"""
import glob
import json
import os
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk(out, name):
    """(req/s, p50 ms, p99 ms, non-2xx count, server CPU µs per request): the median over
    the rounds (`NAME.r1.wrk`, `NAME.r2.wrk`, ...) of each figure, non-2xx summed; Nones
    if none."""
    runs = []
    for path in sorted(glob.glob(os.path.join(out, f"{name}.r*.wrk"))):
        runs.append(wrk_one(path))
    runs = [r for r in runs if r[0] is not None]
    if not runs:
        return None, None, None, None, None
    med = lambda i: statistics.median(r[i] for r in runs if r[i] is not None) if any(
        r[i] is not None for r in runs) else None
    return med(0), med(1), med(2), sum(r[3] for r in runs), med(4)


def cpu_per_request(path, requests):
    """Microseconds of server CPU per request from the `.cpu` file beside a wrk output."""
    try:
        user, system, per_second = open(path[: -len(".wrk")] + ".cpu").read().split()
    except (OSError, ValueError):
        return None
    ticks = int(user) + int(system)
    return ticks / int(per_second) * 1e6 / requests if requests else None


def wrk_one(path):
    """(req/s, p50 ms, p99 ms, non-2xx count, server CPU µs per request) of one wrk
    output."""
    try:
        text = open(path).read()
    except OSError:
        return None, None, None, None, None
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    pct = {
        p: float(v) * UNITS[u]
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return (
        float(rps.group(1)) if rps else None,
        pct.get("50"),
        pct.get("99"),
        int(bad.group(1)) if bad else 0,
        cpu_per_request(path, int(total.group(1))) if total else None,
    )


def load(out, name):
    try:
        return json.load(open(os.path.join(out, name)))
    except (OSError, ValueError):
        return {}


def fmt(x, digits=1, unit=""):
    return "-" if x is None else f"{x:,.{digits}f}{unit}"


def main():
    out, spike_rc = sys.argv[1], int(sys.argv[2])
    rows = []

    def row(route, rps, p50, p99, ratio, target, met, note="", cpu=""):
        rows.append((route, rps, p50, p99, ratio, target, met, cpu, note))

    pj = wrk(out, "probe_json")
    st = wrk(out, "status")
    pz = wrk(out, "probe_join")
    jn = wrk(out, "join")
    ratio = lambda a, b: (a / b) if a and b else None
    yes = lambda ok: "yes" if ok else "NO"

    def wrk_row(route, r, base=None, target=None, floor=None):
        rr = ratio(r[0], base[0]) if base else None
        met = "" if floor is None else yes(rr is not None and rr >= floor and not r[3])
        note = f"{r[3]} non-2xx" if r[3] else ""
        cpu = fmt(r[4], 1)
        if base and r[4] and base[4]:
            cpu += f" ({r[4] / base[4]:.2f}x)"
        row(route, fmt(r[0], 0), fmt(r[1], 2, " ms"), fmt(r[2], 2, " ms"),
            fmt(rr, 2) if rr else "1.00" if base is None else "-", target or "", met, note, cpu)

    wrk_row("probe GET /probe/json", pj)
    wrk_row("gateway GET .../queue (status)", st, pj, ">= 0.80 x json", 0.8)
    gc = wrk(out, "gate_check")
    if gc[0] is not None:
        wrk_row("gateway GET /v1/gate/check (pass cookie)", gc, st, ">= 0.90 x status", 0.9)
    wrk_row("probe POST /probe/join", pz)
    wrk_row("gateway POST .../queue (join)", jn, pz, ">= 0.70 x join", 0.7)

    m = load(out, "status_metrics.json")
    try:
        calls = float(m["calls1"]) - float(m["calls0"])
        reqs = float(m["reqs1"]) - float(m["reqs0"])
        per = calls / reqs if reqs else None
        row("Redis calls per status", fmt(per, 3), "", "", "", "<= 0.1", yes(per is not None and per <= 0.1),
            f"{calls:.0f} calls / {reqs:.0f} statuses")
    except (KeyError, ValueError):
        row("Redis calls per status", "n/a", "", "", "", "<= 0.1", "?",
            "anteroom_status_redis_calls_total / _requests_total not exposed by this gateway")

    jr = load(out, "join_rate.json")
    rt = wrk(out, "join_rate")
    if jr and rt[0] is not None:
        offered = jr.get("offered_per_second")
        # Within 5 % of the rate asked for counts as offering it.
        full = offered and rt[0] >= 0.95 * offered
        row(f"join at {offered:,}/s offered (paced wrk)", fmt(rt[0], 0),
            fmt(rt[1], 2, " ms"), fmt(rt[2], 2, " ms"), "", "p99 < 25 ms",
            yes(rt[2] is not None and rt[2] < 25 and full and not rt[3]),
            f"{jr.get('connections')} connections, "
            f"{rt[3]} non-2xx" + ("" if full else " (below the rate asked for)"))
    else:
        row("join at 10,000/s offered (paced wrk)", "-", "", "", "", "p99 < 25 ms", "?", "not run")

    sp = load(out, "spike.json")
    if sp:
        ok = (spike_rc == 0 and sp.get("http_5xx") == 0 and sp.get("oversold") == 0
              and (sp.get("admission_error") is not None and sp["admission_error"] <= 0.01))
        row(f"spike {sp.get('fans_joined'):,}/{sp.get('fans_planned'):,} joins "
            f"in {sp.get('join_seconds')} s, {sp.get('replicas')} replicas",
            fmt(sp.get("polls_per_second"), 0) + " polls/s",
            fmt(sp.get("join_p50_ms"), 2, " ms"), fmt(sp.get("join_p99_ms"), 2, " ms"), "",
            "no 5xx, adm. ±1 %, no oversell", yes(ok),
            f"5xx {sp.get('http_5xx')}, 429 {sp.get('rate_limited')}, admitted "
            f"{sp.get('admission_observed_per_minute')}/min vs {sp.get('admission_configured_per_minute')}"
            f" (err {sp.get('admission_error')}), oversold {sp.get('oversold')}, "
            f"status p99 {sp.get('status_p99_ms')} ms, poll lag p99 {sp.get('poll_lag_p99_ms')} ms")
    else:
        row("spike (k6/join-spike.js)", "-", "", "", "", "no 5xx, adm. ±1 %, no oversell",
            "NO" if spike_rc else "?", f"no summary (k6 exit {spike_rc})" if spike_rc else "not run")

    head = ("route", "req/s", "p50", "p99", "ratio", "target", "met?", "server µs/req")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(8)]
    line = lambda r: "  ".join(str(r[i]).ljust(widths[i]) for i in range(8)).rstrip()
    for name in ("uptime.before", "uptime.after"):
        try:
            print(f"{name:<14}{open(os.path.join(out, name)).read().strip()}")
        except OSError:
            pass
    print()
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print()
    for r in rows:
        if r[8]:
            print(f"  {r[0]}: {r[8]}")


if __name__ == "__main__":
    main()
