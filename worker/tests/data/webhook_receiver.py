#!/usr/bin/env python3
"""A webhook receiver for the worker's webhook tests, verifying with an implementation
nobody on the project wrote: the `standardwebhooks` package from PyPI.

    webhook_receiver.py PORT SECRET

Listens on 127.0.0.1:PORT. Each POST is verified with SECRET (the package checks the
signature over `{webhook-id}.{webhook-timestamp}.{body}` and the timestamp's age);
a valid one is answered 204, an invalid one 400. Every request is printed on stdout as
one JSON line: {"valid": bool, "id": webhook-id, "body": parsed body or null,
"error": text or null, "signatures": how many signatures the header carries}. The line is printed before the answer is sent, so a test that
saw a delivery marked delivered has already been able to read its line.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

PORT = int(sys.argv[1])
HOOK = Webhook(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        line = {"valid": False, "id": headers.get("webhook-id"), "body": None, "error": None,
                "signatures": len(headers.get("webhook-signature", "").split())}
        try:
            line["body"] = HOOK.verify(raw, headers)
            line["valid"] = True
        except Exception as e:  # noqa: BLE001 - every refusal is reported to the test
            line["error"] = f"{type(e).__name__}: {e}"
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        self.send_response(204 if line["valid"] else 400)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
