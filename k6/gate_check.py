#!/usr/bin/env python3
"""Checks a gate-mode load run (k6/gate.js) from what the shop behind nginx saw.

    k6/gate_check.py --shop-log shop.jsonl --passes k6-console.log \
        --event EVENT_ID --rate 600 --max-active 200

Two independent records:

- the upstream's access log (k6/gate_shop.py): when each request reached the shop, with
  the `X-Anteroom-Ticket` nginx added after the gateway's check, and when each revoke
  (the shop ending a session on `/done`) was answered;
- each fan's admission time: the pass the gateway gave the fan when its status poll
  first said `admitted`, logged by k6 as `gate-pass <jwt>` lines. Its `iat` is the
  admission time on the Redis clock, in whole seconds (floored), and `sub` the ticket.
  (The ticket's record in Redis is deleted by the revoke, so it cannot be read after
  the run; the pass is the record that outlives it.) The payload is decoded, not
  verified: the file is the load generator's own record of what the gateway sent it.

Checks (each a FAIL line and exit status 1 when it does not hold):

- every upstream request carries a ticket of this event that was admitted, and none
  arrived before its admission (`t_ms >= iat * 1000`; the floor makes this at most one
  second lenient);
- at most MAX_ACTIVE tickets are live at any moment, live meaning from the ticket's first
  upstream request until the shop's revoke was answered (or until the pass expires for a
  ticket never revoked);
- no request of a ticket reached the upstream more than REVOKE_GRACE_MS after its revoke
  (replicas learn revocations within a second);
- every revoke was answered 204;
- the admission rate, counted from the passes' `iat` over the whole seconds strictly
  inside the first and the last admission (the edges are partial seconds), is within
  TOLERANCE of RATE per minute; fewer than MIN_SPAN_S seconds of admissions is a failure
  too (too short to tell).
"""

import argparse
import base64
import bisect
import json
import re
import sys
from collections import defaultdict

PASS_LINE = re.compile(r"gate-pass ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def jwt_payload(token):
    """The claims of a compact JWS, decoded without verification."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def read_passes(path, event):
    """ticket -> (iat s, exp s), and the problems found reading them."""
    passes, problems = {}, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for token in PASS_LINE.findall(line):
                try:
                    c = jwt_payload(token)
                except (ValueError, IndexError) as e:
                    problems.append(f"an undecodable pass in the k6 log ({e})")
                    continue
                if c.get("kind") != "pass" or (event and c.get("aud") != event):
                    problems.append(f"a pass of kind {c.get('kind')!r} for {c.get('aud')!r} in the k6 log")
                    continue
                passes[c["sub"]] = (int(c["iat"]), int(c["exp"]))
    return passes, problems


def read_shop(path):
    """(requests: ticket -> sorted (time ms, event), untagged requests, revokes by
    ticket, how many requests still had the pass in the query)."""
    requests, revokes = defaultdict(list), {}
    untagged, in_query = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "revoked" in r:
                revokes[r["revoked"]] = r
                continue
            if not r.get("ticket"):
                untagged.append(r)
                continue
            requests[r["ticket"]].append((r["t_ms"], r["event"]))
            in_query += bool(r.get("pass_in_query"))
    for times in requests.values():
        times.sort()
    return requests, untagged, revokes, in_query


def max_live(intervals):
    """Most intervals [start, end) open at once, and when (ms). An interval ending at the
    very ms another starts does not overlap it."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    live = peak = 0
    at = None
    for t, d in points:
        live += d
        if live > peak:
            peak, at = live, t
    return peak, at


def admission_rate(iats):
    """Admissions per minute over the whole seconds strictly between the first and the
    last admission, and that span in seconds."""
    if not iats:
        return None, 0
    iats = sorted(iats)
    lo, hi = iats[0] + 1, iats[-1]
    span = hi - lo
    if span <= 0:
        return None, 0
    n = bisect.bisect_left(iats, hi) - bisect.bisect_left(iats, lo)
    return n * 60 / span, span


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shop-log", required=True)
    p.add_argument("--passes", required=True, help="k6 console log with `gate-pass <jwt>` lines")
    p.add_argument("--event", default="", help="the gated event's id (passes and requests must name it)")
    p.add_argument("--rate", type=float, required=True, help="configured admissions per minute")
    p.add_argument("--max-active", type=int, required=True)
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--revoke-grace-ms", type=int, default=1000)
    p.add_argument("--min-span-s", type=int, default=20)
    a = p.parse_args()

    failures = []
    passes, problems = read_passes(a.passes, a.event)
    failures += problems
    requests, untagged, revokes, in_query = read_shop(a.shop_log)

    if untagged:
        failures.append(f"{len(untagged)} requests reached the upstream without a ticket (first: {untagged[0]})")
    foreign = [t for t, rs in requests.items() if a.event and any(e != a.event for _, e in rs)]
    if foreign:
        failures.append(f"{len(foreign)} tickets reached the upstream naming another event")
    unknown = [t for t in requests if t not in passes]
    if unknown:
        failures.append(f"{len(unknown)} tickets reached the upstream without an admission record (first: {unknown[0]})")

    early, late, intervals = [], [], []
    for ticket, rs in requests.items():
        first = rs[0][0]
        if ticket in passes and first < passes[ticket][0] * 1000:
            early.append((ticket, first, passes[ticket][0]))
        rv = revokes.get(ticket)
        if rv and rv.get("status") == 204:
            end = rv["t_ms"]
            after = [t for t, _ in rs if t > end + a.revoke_grace_ms]
            if after:
                late.append((ticket, len(after)))
        elif ticket in passes:
            end = passes[ticket][1] * 1000
        else:
            end = rs[-1][0] + 1
        intervals.append((first, max(end, first + 1)))
    if early:
        t, first, iat = early[0]
        failures.append(f"{len(early)} tickets reached the upstream before their admission "
                        f"(first: {t} at {first} ms, admitted {iat} s)")
    if late:
        failures.append(f"{len(late)} tickets reached the upstream more than {a.revoke_grace_ms} ms "
                        f"after their revoke (first: {late[0][0]}, {late[0][1]} requests)")
    bad_revokes = [r for r in revokes.values() if r.get("status") != 204]
    if bad_revokes:
        failures.append(f"{len(bad_revokes)} revokes not answered 204 (first: {bad_revokes[0]})")

    peak, peak_at = max_live(intervals)
    if peak > a.max_active:
        failures.append(f"{peak} tickets live at once at {peak_at} ms (max_active {a.max_active})")

    rate, span = admission_rate([iat for iat, _ in passes.values()])
    if rate is None or span < a.min_span_s:
        failures.append(f"admissions span {span} s, fewer than {a.min_span_s} s: too short to measure the rate")
    elif abs(rate - a.rate) > a.tolerance * a.rate:
        failures.append(f"admission rate {rate:.1f}/min, more than {100 * a.tolerance:g} % from {a.rate:g}/min")

    ok_revokes = sum(1 for r in revokes.values() if r.get("status") == 204)
    durations = sorted(e - s for s, e in intervals if e - s < 3_600_000)
    median_s = durations[len(durations) // 2] / 1000 if durations else 0
    total = sum(len(rs) for rs in requests.values())
    print("gate check:")
    print(f"  admitted (passes in the k6 log)  {len(passes)}")
    print(f"  tickets at the upstream          {len(requests)} ({total} requests; {len(untagged)} without a ticket)")
    print(f"  sessions ended (revoke 204)      {ok_revokes} of {len(revokes)} revokes")
    print(f"  live tickets at most             {peak} (max_active {a.max_active}); median session {median_s:.1f} s")
    rate_s = f"{rate:.1f}" if rate is not None else "-"
    print(f"  admission rate (pass iat)        {rate_s}/min over {span} s (configured {a.rate:g}/min, "
          f"tolerance {100 * a.tolerance:g} %)")
    print(f"  before admission / after revoke  {len(early)} / {len(late)} tickets")
    print(f"  pass still in the upstream query {in_query} requests")
    for f in failures:
        print(f"  FAIL {f}")
    print("gate check: " + ("ok" if not failures else f"FAILED ({len(failures)} problems)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
