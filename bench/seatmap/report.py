#!/usr/bin/env python3
"""The seat-map benchmark table, from the files run.sh leaves in its output directory.

    report.py OUT_DIR

- wire.tsv (one curl GET each: name, body bytes on the wire, content-encoding, decoded
  bytes): bytes per admitted fan, old path (the v1 map, no compression) against the
  new path (layout once + state, compressed);
- NAME.rN.wrk / NAME.rN.cpu (get.lua's wrk runs and the server's CPU meanwhile):
  requests/s, p50/p99, body bytes per answer, server CPU µs per request (medians over
  the rounds); fans served per second on each path (new: 1 / (1/layout + 1/state));
- the status poll with compression off and on, and their ratio (it must stay within
  the noise of a shared box, a few percent);
- random_state.txt (random_state.py): the state of a map without runs.
"""
import glob
import os
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_one(path):
    """{rps, p50, p99, non200, body, cpu} of one wrk output (and its .cpu file)."""
    text = open(path).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    pct = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s|m)\b", text)}
    extra = re.search(r"bench: non200=(\d+) body_bytes=(\d+)", text)
    requests = int(total.group(1)) if total else 0
    cpu = None
    try:
        user, system, per_second = open(path[: -len(".wrk")] + ".cpu").read().split()
        cpu = (int(user) + int(system)) / int(per_second) * 1e6 / requests if requests else None
    except (OSError, ValueError):
        pass
    return {
        "rps": float(rps.group(1)) if rps else None,
        "p50": pct.get("50"),
        "p99": pct.get("99"),
        "non200": int(extra.group(1)) if extra else None,
        "body": int(extra.group(2)) / requests if extra and requests else None,
        "cpu": cpu,
    }


def wrk(out, name):
    """The medians over `NAME.r*.wrk` of each figure (non200 summed), or None."""
    runs = [wrk_one(p) for p in sorted(glob.glob(os.path.join(out, f"{name}.r*.wrk")))]
    runs = [r for r in runs if r["rps"] is not None]
    if not runs:
        return None
    med = {k: statistics.median([r[k] for r in runs if r[k] is not None] or [0]) for k in runs[0]}
    med["non200"] = sum(r["non200"] or 0 for r in runs)
    med["rounds"] = len(runs)
    return med


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    out = sys.argv[1]
    wire = {}
    for line in open(os.path.join(out, "wire.tsv")):
        name, size, encoding, decoded = line.rstrip("\n").split("\t")
        wire[name] = (int(size), encoding, int(decoded))
    up = lambda f: open(os.path.join(out, f)).read().strip()
    print(f"uptime before: {up('uptime.before')}")
    print(f"uptime after:  {up('uptime.after')}")
    print()
    print("Bytes on the wire (body), one GET each")
    print(f"{'answer':<14}{'encoding':<10}{'wire':>12}{'decoded':>12}")
    for name, (size, encoding, decoded) in wire.items():
        print(f"{name:<14}{encoding:<10}{size:>12,}{decoded:>12,}")
    old = wire["v1_plain"][0]
    for enc in ("gzip", "br"):
        new = wire[f"layout_{enc}"][0] + wire[f"state_{enc}"][0]
        print(f"per admitted fan, {enc}: old {old:,} B, new {new:,} B (layout + state), "
              f"{old / new:,.0f}x less")
    print(open(os.path.join(out, "random_state.txt")).read().rstrip())
    print()
    print("Requests (wrk, closed loop; server CPU per request from /proc)")
    print(f"{'run':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'body B/req':>12}{'CPU µs/req':>12}{'non-200':>9}")
    rows = {}
    for name in ("old", "v1z", "layout", "state", "poll_off", "poll_on"):
        r = wrk(out, name)
        rows[name] = r
        if r:
            print(f"{name:<10}{fmt(r['rps'], ',.0f'):>10}{fmt(r['p50'], '.2f'):>9}{fmt(r['p99'], '.2f'):>9}"
                  f"{fmt(r['body'], ',.0f'):>12}{fmt(r['cpu'], ',.0f'):>12}{r['non200']:>9}")
    if rows["old"] and rows["layout"] and rows["state"]:
        new = 1 / (1 / rows["layout"]["rps"] + 1 / rows["state"]["rps"])
        print(f"fans served per second: old {rows['old']['rps']:,.0f}, v1 compressed "
              f"{rows['v1z']['rps']:,.0f}, new (layout + state) {new:,.0f}")
    if rows["poll_off"] and rows["poll_on"]:
        ratio = rows["poll_on"]["rps"] / rows["poll_off"]["rps"]
        print(f"status poll: compression off {rows['poll_off']['rps']:,.0f} req/s, on "
              f"{rows['poll_on']['rps']:,.0f} req/s (on/off {ratio:.3f}, median of "
              f"{rows['poll_on']['rounds']} rounds)")


if __name__ == "__main__":
    main()
