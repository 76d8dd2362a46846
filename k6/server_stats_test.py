#!/usr/bin/env python3
"""Tests of k6/server_stats.py: percentiles against hand-computed values, the parsing of
the Prometheus text format, /proc and the services' counters, and one whole run against
a stand-in /metrics server (expositions made up here, the command `sh -c`)."""

import http.server
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_stats as ss  # noqa: E402

INF = math.inf


def exposition(buckets: dict, route="/v1/events/{event_id}/queue", method="POST") -> str:
    lines = [
        "# HELP anteroom_http_request_duration_seconds HTTP latency",
        "# TYPE anteroom_http_request_duration_seconds histogram",
    ]
    for le, count in buckets.items():
        le_text = "+Inf" if le == INF else repr(le)
        lines.append(
            f'anteroom_http_request_duration_seconds_bucket{{method="{method}",route="{route}",le="{le_text}"}} {count}'
        )
    lines.append(f'anteroom_http_request_duration_seconds_count{{method="{method}",route="{route}"}} {buckets[INF]}')
    lines.append(f'anteroom_http_requests_total{{method="{method}",route="{route}",status="201"}} {buckets[INF]}')
    return "\n".join(lines) + "\n"


class Quantile(unittest.TestCase):
    # 100 observations: 10 ≤ 0.1 s, 50 in (0.1, 0.5], 30 in (0.5, 1], 10 above 1 s.
    B = {0.1: 10, 0.5: 60, 1.0: 90, INF: 100}

    def test_hand_computed(self):
        # rank 5 in the first bucket, lower bound 0: 0 + 0.1 × 5/10.
        self.assertAlmostEqual(ss.quantile(0.05, self.B), 0.05)
        # rank 50 in (0.1, 0.5]: 0.1 + 0.4 × (50 − 10)/50.
        self.assertAlmostEqual(ss.quantile(0.5, self.B), 0.42)
        # rank 80 in (0.5, 1]: 0.5 + 0.5 × (80 − 60)/30.
        self.assertAlmostEqual(ss.quantile(0.8, self.B), 0.5 + 0.5 * 20 / 30)
        # rank 90 exactly at the end of (0.5, 1].
        self.assertAlmostEqual(ss.quantile(0.9, self.B), 1.0)
        # rank 95 and 99 in +Inf: the highest finite bound.
        self.assertEqual(ss.quantile(0.95, self.B), 1.0)
        self.assertEqual(ss.quantile(0.99, self.B), 1.0)

    def test_edges(self):
        self.assertTrue(math.isnan(ss.quantile(0.5, {0.1: 0, INF: 0})))
        self.assertTrue(math.isnan(ss.quantile(0.5, {0.1: 3, 1.0: 5})))  # no +Inf
        self.assertTrue(math.isnan(ss.quantile(0.5, {INF: 5})))  # one bucket
        self.assertEqual(ss.quantile(-0.1, self.B), -INF)
        self.assertEqual(ss.quantile(1.1, self.B), INF)
        # A non-monotonic reading is forced monotonic, as Prometheus does.
        # [10, 10, 20, 20]: rank 15 in (0.5, 1]: 0.5 + 0.5 × (15 − 10)/10.
        self.assertAlmostEqual(ss.quantile(0.75, {0.1: 10, 0.5: 8, 1.0: 20, INF: 20}), 0.75)

    def test_delta_and_sum_over_gateways(self):
        before = {0.1: 5, 0.5: 5, 1.0: 5, INF: 5}
        after = {0.1: 15, 0.5: 65, 1.0: 95, INF: 105}
        self.assertEqual(ss.bucket_delta(before, after), self.B)
        # A restart (a bucket went down): the new process's counts alone.
        self.assertEqual(ss.bucket_delta(after, before), before)
        # Two gateways, each half of the observations: the sum is B.
        half = {le: c / 2 for le, c in self.B.items()}
        zero = {le: 0 for le in self.B}
        total = ss.summed_deltas([exposition(zero), exposition(zero)], [exposition(half), exposition(half)])
        key = (
            "anteroom_http_request_duration_seconds",
            (("method", "POST"), ("route", "/v1/events/{event_id}/queue")),
        )
        self.assertEqual(total[key], self.B)


class Parsing(unittest.TestCase):
    def test_labels_with_escapes(self):
        s = ss.parse_samples('m{a="x\\"y",b="c,d=e",c="\\\\"} 3\n# c\n\nn 4.5 1700000000\n')
        self.assertEqual(s, [("m", {"a": 'x"y', "b": "c,d=e", "c": "\\"}, 3.0), ("n", {}, 4.5)])
        with self.assertRaises(ValueError):
            ss.parse_samples("not a sample at all {\n")

    def test_proc_stat(self):
        total, idle = ss.box_ticks("cpu  100 1 50 800 9 2 3 4 20 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
        self.assertEqual((total, idle), (100 + 1 + 50 + 800 + 9 + 2 + 3 + 4, 809))
        line = "42 (a (b) c) S 1 42 42 0 -1 4194560 1 2 3 4 700 300 11 22 20 0 1 0 5 6 7"
        self.assertEqual(ss.proc_ticks(line), (1000, 33))

    def test_group_delta(self):
        # 1 is the postmaster: its backend 2 exited (40 ticks in all, 30 of them before
        # the run) and it spent 10 itself; backend 3 started; 5, an unrelated instance's
        # node, was stopped (its parent 0 is no member).
        before = {1: (100, 0), 2: (30, 1), 5: (50, 0)}
        after = {1: (100 + 10 + 40, 0), 3: (7, 1)}
        self.assertEqual(ss.group_delta(before, after), 10 + (40 - 30) + 7)
        self.assertEqual(ss.group_delta({}, {}), 0)

    def test_own_process(self):
        procs = ss.processes()
        self.assertIn(os.getpid(), procs)
        self.assertEqual(procs[os.getpid()][1], os.getppid())

    def test_services(self):
        self.assertEqual(
            ss.parse_commandstats("# Commandstats\r\ncmdstat_get:calls=3,usec=9,usec_per_call=3.00\r\n"
                                  "cmdstat_evalsha:calls=12,usec=1\r\n"),
            {"get": 3, "get.usec": 9, "evalsha": 12, "evalsha.usec": 1},
        )
        text = ("#{[{protocol,amqp091}] =>\n #{messages_received_total => 7,publishers => -2},\n"
                "  [{protocol,amqp091},{queue_type,rabbit_classic_queue}] =>\n"
                "      #{messages_delivered_total => 3},\n"
                "  [{protocol,amqp091},{queue_type,rabbit_quorum_queue}] =>\n"
                "      #{messages_delivered_total => 4}}\n")
        self.assertEqual(ss.parse_rabbit_counters(text),
                         {"messages_received_total": 7, "messages_delivered_total": 7})

    def test_client_percentiles(self):
        spike = {"p95_ms": {"join": 10, "hold": 30}, "p99_ms": {"join": 12, "hold": 40}}
        self.assertEqual(ss.client_percentiles(spike)["hold"], {"p95": 30, "p99": 40})
        join_spike = {"join_p95_ms": 1.5, "join_p99_ms": 2.5, "status_p99_ms": 3.0}
        self.assertEqual(ss.client_percentiles(join_spike),
                         {"join": {"p95": 1.5, "p99": 2.5}, "status": {"p95": None, "p99": 3.0}})


class WholeRun(unittest.TestCase):
    """A stand-in gateway answers /metrics with `before` until the command has run."""

    def test_run(self):
        state = {"text": exposition({0.1: 0, 0.5: 0, 1.0: 0, INF: 0})}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = state["text"].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        after = exposition(Quantile.B)
        with tempfile.TemporaryDirectory() as d:
            summary, out = os.path.join(d, "summary.json"), os.path.join(d, "out.json")
            with open(summary, "w") as f:
                json.dump({"p95_ms": {"join": 950.0}, "p99_ms": {"join": 990.0}}, f)
            # The command burns some CPU, asks the stand-in to flip its exposition (through
            # the test's own process, by a file), waits until it has, and exits 3, so the
            # scrape after the command always sees the flipped exposition.
            flip, flipped = os.path.join(d, "flip"), os.path.join(d, "flipped")
            cmd = (f"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; touch {flip}; "
                   f"while [ ! -e {flipped} ]; do sleep 0.01; done; exit 3")

            def watch():
                while not os.path.exists(flip):
                    threading.Event().wait(0.01)
                state["text"] = after
                open(flipped, "w").close()

            threading.Thread(target=watch, daemon=True).start()
            rc = ss.main(["--gateway", url, "--pid", f"self={os.getpid()}", "--client-summary", summary,
                          "--json", out, "--quiet", "--", "sh", "-c", cmd])
            server.shutdown()
            server.server_close()
            self.assertEqual(rc, 3)
            with open(out) as f:
                o = json.load(f)
        join = next(s for s in o["steps"] if s["step"] == "join")
        self.assertEqual(join["server_count"], 100)
        self.assertEqual(join["server_p95_ms"], 1000.0)
        self.assertAlmostEqual(join["server_p99_ms"], 1000.0)
        self.assertEqual(join["client_p95_ms"], 950.0)
        self.assertEqual(o["gateway_requests"], 100)
        # The shell loop's CPU time is the command's (wait4), more than nothing and less
        # than the run's wall time times the cores.
        self.assertGreater(o["cpu"]["k6"]["cpu_s"], 0)
        self.assertLessEqual(o["cpu"]["k6"]["cpu_s"], o["wall_s"] * o["cores"] + 0.05)
        shares = sum(c["box_share"] for c in o["cpu"].values())
        # Listed groups + other + idle cover the box (the test process is counted twice:
        # as `self` and as the parent of the command, hence ≥).
        self.assertGreaterEqual(shares, 0.95)
        text = ss.render(o)
        self.assertIn("join", text)
        self.assertIn("950", text)

    def test_bad_arguments(self):
        res = subprocess.run([sys.executable, ss.__file__, "--pid", "x", "--", "true"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("NAME=PID", res.stderr)
        res = subprocess.run([sys.executable, ss.__file__], capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("command", res.stderr)


if __name__ == "__main__":
    unittest.main()
