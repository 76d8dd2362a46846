#!/usr/bin/env python3
"""Checks a k6 run's webhooks against PostgreSQL: every order was announced by exactly
one `order.confirmed` message, and no message names an order the database lacks.

    k6/webhooks_check.py RECEIVED.jsonl DATABASE_URL [WAIT_SECONDS]

RECEIVED.jsonl is the log of worker/tests/data/webhook_receiver.py (one JSON line per
POST: valid, id, body). Deliveries are at least once, so the same `webhook-id` may
arrive twice; a second *id* for one order is a violation. Waits up to WAIT_SECONDS
(default 120) for the deliveries to catch up with the orders, then prints the figures
and exits 1 on any violation.
"""

import json
import subprocess
import sys
import time


def orders(db_url):
    out = subprocess.run(
        ["psql", db_url, "-X", "-Atq", "-c", "select id from orders"],
        check=True, capture_output=True, text=True,
    ).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def received(path):
    ids_by_order, invalid, lines = {}, 0, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            lines += 1
            rec = json.loads(line)
            if not rec.get("valid"):
                invalid += 1
                continue
            body = rec.get("body") or {}
            if body.get("type") != "order.confirmed":
                continue
            order = str((body.get("data") or {}).get("order_id"))
            ids_by_order.setdefault(order, set()).add(rec.get("id"))
    return ids_by_order, invalid, lines


def main():
    path, db_url = sys.argv[1], sys.argv[2]
    wait = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    deadline = time.monotonic() + wait
    while True:
        db = orders(db_url)
        got, invalid, lines = received(path)
        missing = db - set(got)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    twice = {o: ids for o, ids in got.items() if len(ids) > 1}
    unknown = set(got) - db
    print(
        f"webhooks: {lines} deliveries received, {invalid} with a bad signature; "
        f"{len(db)} orders in PostgreSQL, {len(db) - len(missing)} announced by order.confirmed, "
        f"{len(missing)} not announced, {len(twice)} announced under two ids, "
        f"{len(unknown)} announced but not in the database"
    )
    bad = bool(missing or twice or unknown or invalid)
    for what, items in (("not announced", missing), ("two ids", twice), ("unknown", unknown)):
        for item in list(items)[:5]:
            print(f"  {what}: {item}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
