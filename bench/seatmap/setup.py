#!/usr/bin/env python3
"""The seat-map benchmark's event, mid-sale: a 100,000-seat event (10 sections x 100 rows
x 100 seats), FANS admitted fans, each holding HOLD_SEATS best-available seats of a
section; every other hold is confirmed (sold). Writes the passes and the queue tokens,
one per line, and prints the event id.

    setup.py BASE_URL ADMIN_KEY OUT_DIR [FANS] [HOLD_SEATS]

Best available fills each section from the front rows, as a real on-sale does, so the
map has long runs of one status; the report also gives the state of a random map.
"""

import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

BASE, ADMIN_KEY, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
FANS = int(sys.argv[4]) if len(sys.argv) > 4 else 400
HOLD_SEATS = int(sys.argv[5]) if len(sys.argv) > 5 else 20
SECTIONS = "ABCDEFGHIJ"


def call(method, path, token=None, body=None, headers=None):
    """(status, JSON body) of one request; 4xx/5xx are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def settle(status, body, token):
    """A 202 answer polled until its request is done: (status, body)."""
    if status != 202:
        return status, body
    for _ in range(200):
        s, b = call("GET", body["status_url"], token)
        if s == 200 and b["state"] == "done":
            return b["status"], b["body"]
        time.sleep(0.1)
    sys.exit(f"setup: request {body['status_url']} not done")


def create_event():
    spec = {
        "name": "Seat map bench", "venue": "Stadium", "timezone": "UTC",
        "opens_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "admission": {"rate_per_minute": 600000, "max_active": 100000, "pass_ttl_seconds": 3600},
        "hold_ttl_seconds": 3600, "max_seats_per_hold": HOLD_SEATS,
        "seating": {"sections": [
            {"name": s, "rows": 100, "seats_per_row": 100, "price_cents": 5000 + 1000 * i}
            for i, s in enumerate(SECTIONS)]},
    }
    status, body = call("POST", "/v1/admin/events", ADMIN_KEY, spec)
    status, body = settle(status, body, ADMIN_KEY)
    if status != 201:
        sys.exit(f"setup: create event: {status} {body}")
    return body["id"]


def admitted_fan(event, i):
    """(queue token, pass) of a fan that joined and was admitted; holds and confirms."""
    xff = {"X-Forwarded-For": f"10.9.{i // 256}.{i % 256}"}
    status, body = call("POST", f"/v1/events/{event}/queue", headers=xff)
    if status != 201:
        sys.exit(f"setup: join: {status} {body}")
    token = body["queue_token"]
    for _ in range(300):
        status, body = call("GET", f"/v1/events/{event}/queue", token, headers=xff)
        if status == 200 and body["state"] == "admitted":
            break
        time.sleep(0.1)
    else:
        sys.exit(f"setup: fan {i} not admitted: {body}")
    fan_pass = body["pass"]
    selection = {"section": SECTIONS[i % len(SECTIONS)], "quantity": HOLD_SEATS}
    status, hold = settle(*call("POST", f"/v1/events/{event}/holds", fan_pass, selection,
                                headers=xff), fan_pass)
    if status == 201 and i % 2 == 0:
        settle(*call("POST", f"/v1/holds/{hold['id']}/confirm", fan_pass,
                     {"payment_ref": f"bench-{i}"}, headers=xff), fan_pass)
    return token, fan_pass


def main():
    event = create_event()
    with ThreadPoolExecutor(8) as pool:
        fans = list(pool.map(lambda i: admitted_fan(event, i), range(FANS)))
    # The passes of confirmed orders are used up for holds but still read the map.
    with open(f"{OUT}/passes", "w") as f:
        f.write("".join(p + "\n" for _, p in fans))
    with open(f"{OUT}/queue_tokens", "w") as f:
        f.write("".join(t + "\n" for t, _ in fans))
    print(event)


if __name__ == "__main__":
    main()
