#!/usr/bin/env python3
"""Tests of k6/gate_check.py on made-up runs whose answer is known by construction: a
clean run passes, and each kind of violation (a ticket in before its admission, one
more live session than `max_active`, a request after the revoke, a wrong rate, a
request without a ticket or without an admission record, a refused revoke) fails it.

    python3 k6/gate_check_test.py
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import unittest

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate_check.py")
EVENT = "01a241f4-cc49-74a1-868f-27cb9512907e"
T0 = 1_796_400_000  # Unix seconds


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def jwt(claims):
    return f"{b64({'alg': 'EdDSA', 'typ': 'JWT'})}.{b64(claims)}.c2ln"


class Run:
    """A run of `fans` fans admitted at `rate` per minute, each at the shop `delay_ms`
    after its admission for `pages` requests `gap_ms` apart, then revoked."""

    def __init__(self, fans=300, rate=600, delay_ms=300, pages=4, gap_ms=500):
        self.passes, self.shop = [], []
        for i in range(fans):
            admitted = T0 * 1000 + i * 60_000 // rate + 7
            ticket = f"01a241f4-0000-7000-8000-{i:012d}"
            self.passes.append({"sub": ticket, "aud": EVENT, "iat": admitted // 1000,
                                "exp": admitted // 1000 + 600, "kind": "pass", "jti": "j"})
            first = admitted + delay_ms
            for k in range(pages):
                self.request(first + k * gap_ms, ticket)
            end = first + (pages - 1) * gap_ms + 100
            self.shop.append({"t_ms": end, "sent_ms": end - 5, "revoked": ticket, "status": 204})

    def request(self, t_ms, ticket, event=EVENT):
        self.shop.append({"t_ms": t_ms, "method": "GET", "path": "/shop/", "ticket": ticket,
                          "event": event, "pass_in_query": False})

    def check(self, max_active=200, rate=600):
        with tempfile.TemporaryDirectory() as d:
            passes, shop = os.path.join(d, "k6.log"), os.path.join(d, "shop.jsonl")
            with open(passes, "w") as f:
                for c in self.passes:
                    f.write(f'time="x" level=info msg="gate-pass {jwt(c)}" source=console\n')
            with open(shop, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in self.shop)
            p = subprocess.run([sys.executable, CHECK, "--shop-log", shop, "--passes", passes,
                                "--event", EVENT, "--rate", str(rate), "--max-active", str(max_active)],
                               capture_output=True, text=True)
            return p.returncode, p.stdout


class GateCheck(unittest.TestCase):
    def assertFails(self, run, what, **kw):
        rc, out = run.check(**kw)
        self.assertEqual(rc, 1, out)
        self.assertIn(what, out)

    def test_a_clean_run_passes(self):
        rc, out = Run().check()
        self.assertEqual(rc, 0, out)
        self.assertIn("600.0/min", out)
        # 10 fans a second, each live 1.6 s: 16 or 17 at once.
        self.assertRegex(out, r"live tickets at most +1[67] ")

    def test_a_ticket_before_its_admission_fails(self):
        run = Run()
        run.request(run.passes[5]["iat"] * 1000 - 1, run.passes[5]["sub"])
        self.assertFails(run, "before their admission")

    def test_one_live_session_more_than_max_active_fails(self):
        run = Run(fans=300, pages=21, gap_ms=1000)  # 10 a second, each live 20.1 s
        rc, out = run.check(max_active=202)
        self.assertEqual(rc, 0, out)
        self.assertIn("live tickets at most             201 ", out)
        self.assertFails(run, "201 tickets live at once", max_active=200)

    def test_a_request_after_the_revoke_fails_after_the_grace(self):
        run = Run()
        ticket = run.passes[9]["sub"]
        revoked = next(r["t_ms"] for r in run.shop if r.get("revoked") == ticket)
        run.request(revoked + 900, ticket)
        self.assertEqual(run.check()[0], 0, "within a second of the revoke")
        run.request(revoked + 1100, ticket)
        self.assertFails(run, "after their revoke")

    def test_the_rate_must_be_within_five_percent(self):
        self.assertEqual(Run(rate=628).check()[0], 0)
        self.assertFails(Run(rate=640), "admission rate 640.0/min, more than 5 % from 600/min")
        self.assertFails(Run(rate=560), "more than 5 % from 600/min")

    def test_a_run_too_short_to_measure_fails(self):
        self.assertFails(Run(fans=100), "too short")

    def test_a_request_without_a_ticket_fails(self):
        run = Run()
        run.request(T0 * 1000 + 5000, None)
        self.assertFails(run, "without a ticket")

    def test_a_ticket_without_an_admission_record_fails(self):
        run = Run()
        run.request(T0 * 1000 + 5000, "01a241f4-0000-7000-8000-999999999999")
        self.assertFails(run, "without an admission record")

    def test_another_events_ticket_fails(self):
        run = Run()
        run.request(T0 * 1000 + 5000, run.passes[0]["sub"], event="01a241f4-cc49-74a1-868f-000000000000")
        self.assertFails(run, "naming another event")

    def test_a_refused_revoke_fails(self):
        run = Run()
        next(r for r in run.shop if "revoked" in r)["status"] = 503
        self.assertFails(run, "revokes not answered 204")


if __name__ == "__main__":
    unittest.main()
