#!/usr/bin/env python3
"""The venue's shop behind the gate in the k6 gate scenario (k6/gate.js): a small HTTP
server that nginx (deploy/gate/) passes admitted fans to.

    GATE_SHOP_API_KEY=ak_... k6/gate_shop.py --port PORT --gateway http://127.0.0.1:8080 \
        --event EVENT_ID --log shop.jsonl

Every request is answered with a small HTML page naming the `X-Anteroom-Ticket` that
nginx added, and logged as one JSON line *when it arrives*:
`{"t_ms", "method", "path", "ticket", "event", "pass_in_query"}` (`t_ms`: Unix ms;
`path` without the query, so no pass is written to the log; `pass_in_query`: whether
the upstream still saw an `anteroom_pass` query parameter).

`GET …/done` is the fan buying: the shop ends the fan's session by revoking the pass
through the origin API (`POST /v1/origin/events/{event}/passes/{ticket}/revoke` with
the API key), which frees the fan's `max_active` slot, and logs
`{"t_ms", "sent_ms", "revoked", "status"}` once the gateway has answered (`t_ms`: when
the answer came; `status` 204 on success). The page is 200 when the revoke was 204,
else 502.

`GET /_health` (not logged) answers 204: the runner waits for it before starting nginx.
The log is flushed line by line, so it is complete when the process is stopped.
"""

import argparse
import html
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PASS_PARAM = "anteroom_pass"


def now_ms():
    return time.time_ns() // 1_000_000


class Log:
    """One JSON object per line, written whole under a lock and flushed at once."""

    def __init__(self, path):
        self._f = open(path, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, record):
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._f.write(line)


class Revoker:
    """The shop's server side: one keep-alive connection to the gateway per thread."""

    def __init__(self, gateway, event, api_key):
        u = urllib.parse.urlsplit(gateway)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"--gateway must be an http(s) URL, got {gateway!r}")
        self._scheme, self._host, self._port = u.scheme, u.hostname, u.port
        self._event = event
        self._key = api_key
        self._local = threading.local()

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            c = cls(self._host, self._port, timeout=10)
            self._local.conn = c
        return c

    def revoke(self, ticket):
        """The gateway's status for revoking `ticket`'s pass (0 if it could not be asked)."""
        path = f"/v1/origin/events/{self._event}/passes/{urllib.parse.quote(ticket, safe='')}/revoke"
        headers = {"Authorization": f"Bearer {self._key}", "Idempotency-Key": str(uuid.uuid4()),
                   "Content-Length": "0"}
        for attempt in range(2):
            c = self._conn()
            try:
                c.request("POST", path, headers=headers)
                r = c.getresponse()
                r.read()
                return r.status
            except (http.client.HTTPException, OSError):
                # A keep-alive connection the gateway closed: one fresh try.
                c.close()
                self._local.conn = None
                if attempt == 1:
                    return 0
        return 0


def handler(log, revoker, event):
    class Shop(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def _page(self, status, title, body):
            data = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                    f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
                    f"{body}</body></html>").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _serve(self):
            arrived = now_ms()
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/_health":
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            ticket = self.headers.get("X-Anteroom-Ticket")
            query = urllib.parse.parse_qs(url.query)
            log.write({"t_ms": arrived, "method": self.command, "path": url.path, "ticket": ticket,
                       "event": self.headers.get("X-Anteroom-Event"),
                       "pass_in_query": PASS_PARAM in query})
            shown = html.escape(ticket or "none")
            if url.path.endswith("/done") and ticket:
                sent = now_ms()
                status = revoker.revoke(ticket)
                log.write({"t_ms": now_ms(), "sent_ms": sent, "revoked": ticket, "status": status})
                if status == 204:
                    self._page(200, "Thank you", f"<p id=\"ticket\">{shown}</p><p id=\"done\">session ended</p>")
                else:
                    self._page(502, "Could not end the session", f"<p id=\"status\">{status}</p>")
                return
            self._page(200, "Shop", f"<p id=\"ticket\">{shown}</p><p id=\"event\">{html.escape(event)}</p>")

        do_GET = _serve
        do_POST = _serve
        do_HEAD = _serve

    return Shop


class ShopServer(ThreadingHTTPServer):
    # nginx opens a connection per proxied request unless it keeps them alive: a deeper
    # backlog than the default 5 keeps a burst of fans from being refused.
    request_queue_size = 256
    daemon_threads = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--gateway", required=True, help="gateway base URL for the origin API")
    p.add_argument("--event", required=True, help="the gated event's id")
    p.add_argument("--log", required=True, help="JSON-lines request log")
    a = p.parse_args()
    key = os.environ.get("GATE_SHOP_API_KEY", "")
    if not key:
        sys.exit("GATE_SHOP_API_KEY must hold the API key (or admin key) for the revoke")
    log = Log(a.log)
    server = ShopServer(("127.0.0.1", a.port), handler(log, Revoker(a.gateway, a.event, key), a.event))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"gate shop on 127.0.0.1:{a.port}, log {a.log}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
