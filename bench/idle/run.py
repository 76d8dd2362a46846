#!/usr/bin/env python3
"""The idle-cost benchmark: what a deployment with a long history costs when nobody uses it.

    python3 bench/idle/run.py                       # the binaries in target/release
    BIN=target/debug python3 bench/idle/run.py      # another build
    BEFORE_BIN=/path/to/other/release python3 bench/idle/run.py   # and a second build first

For each build (BEFORE_BIN first if set, then BIN), on loopback, in a fresh PostgreSQL
database, AMQP namespace and a private redis-server (no persistence, so that its CPU time
is this deployment's alone):

 1. starts a worker and two gateway replicas (G1, G2);
 2. creates PAST_EVENTS events that opened 30 days ago (2 x 10 seats) and LIVE_EVENTS
    open now (20 x 50 seats), through G1's admin API, nobody in any queue;
 3. waits SETTLE_SECONDS, then samples for MEASURE_SECONDS the CPU time (user + system,
    /proc/PID/stat) of G1, G2, the worker and redis-server, and Redis's own account of it
    (INFO cpu, used_cpu_user + used_cpu_sys) as a second opinion; shown as % of one core;
 4. PATCHes the rate of a live event PATCHES times through G1 and measures, each time,
    when the public event on G1 and on G2 shows it (polled every 5 ms): the time for a
    PATCH to reach every replica, from the request and from its answer (the worker's
    commit).

Prints one table per build. Needs: redis-server, psql (PostgreSQL on 127.0.0.1:5432,
trust auth), RabbitMQ on 127.0.0.1:5672 (guest). Everything it starts is stopped and its
database and AMQP queues deleted.

Knobs (environment): BIN, BEFORE_BIN, PAST_EVENTS (10000), BEFORE_PAST_EVENTS (as
PAST_EVENTS: a build that reads every event four times a second saturates a small machine
long before 10 000), LIVE_EVENTS (10),
SETTLE_SECONDS (15), MEASURE_SECONDS (30: the worker rewrites its mirror every 30 s, so the sample
holds one such rewrite), PATCHES (10), SHARDS (4), CREATE_THREADS (16),
BASE_PORT (18300: G1, +1 G2, +2 worker metrics, +3 Redis).
"""

import concurrent.futures
import datetime
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG = "postgres://postgres:postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672/%2f"
PAST = int(os.environ.get("PAST_EVENTS", "10000"))
LIVE = int(os.environ.get("LIVE_EVENTS", "10"))
SETTLE = float(os.environ.get("SETTLE_SECONDS", "15"))
MEASURE = float(os.environ.get("MEASURE_SECONDS", "30"))
PATCHES = int(os.environ.get("PATCHES", "10"))
SHARDS = int(os.environ.get("SHARDS", "4"))
THREADS = int(os.environ.get("CREATE_THREADS", "16"))
BASE_PORT = int(os.environ.get("BASE_PORT", "18300"))
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"idle-bench: {msg}", file=sys.stderr, flush=True)


def request(method, url, key=None, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def wait_http(url, what, deadline=90):
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > end:
            raise SystemExit(f"{what} not ready at {url}")
        time.sleep(0.3)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat (utime, stime), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / TICK


def redis_cpu(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "cpu"],
                         capture_output=True, text=True, check=True).stdout
    vals = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return float(vals["used_cpu_user"]) + float(vals["used_cpu_sys"])


def spec(opens_at, rows, per_row):
    return {
        "name": "idle bench", "venue": "bench", "timezone": "UTC",
        "opens_at": opens_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "admission": {"rate_per_minute": 600, "max_active": 1000, "pass_ttl_seconds": 600},
        "hold_ttl_seconds": 120, "max_seats_per_hold": 4,
        "seating": {"sections": [{"name": "A", "rows": rows, "seats_per_row": per_row,
                                  "price_cents": 1000}]},
    }


class Deployment:
    def __init__(self, label, bin_dir):
        self.label, self.bin = label, bin_dir
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
        self.ns = f"idle_{label}_{stamp}"
        self.db = f"anteroom_idle_{label}_{stamp}"
        self.key = secrets.token_hex(24)
        self.g1, self.g2 = BASE_PORT, BASE_PORT + 1
        self.metrics_port, self.redis_port = BASE_PORT + 2, BASE_PORT + 3
        self.procs = {}
        self.out = os.path.join(ROOT, "artifacts", "idle-bench")
        os.makedirs(self.out, exist_ok=True)

    def start(self, name, cmd, env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ANTEROOM_")}
        clean.update(env)
        clean["NO_COLOR"] = "1"
        logf = open(os.path.join(self.out, f"{self.label}-{name}.log"), "w")
        self.procs[name] = subprocess.Popen(cmd, env=clean, stdout=logf, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def up(self):
        for port in (self.g1, self.g2, self.metrics_port, self.redis_port):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    raise SystemExit(f"port {port} is taken")
        self.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], {})
        subprocess.run(["psql", f"{PG}/postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f"CREATE DATABASE {self.db}"], check=True, capture_output=True)
        common = {"ANTEROOM_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
                  "ANTEROOM_AMQP_URL": AMQP, "ANTEROOM_NAMESPACE": self.ns,
                  "ANTEROOM_SHARDS": str(SHARDS), "ANTEROOM_DATABASE_URL": f"{PG}/{self.db}"}
        time.sleep(0.5)
        self.start("worker", [os.path.join(self.bin, "anteroom-worker"), "serve"],
                   {**common, "ANTEROOM_METRICS_PORT": str(self.metrics_port)})
        wait_http(f"http://127.0.0.1:{self.metrics_port}/readyz", "worker")
        gw = {**common, "ANTEROOM_HOST": "127.0.0.1", "ANTEROOM_ADMIN_KEY": self.key,
              "ANTEROOM_QUEUE_TOKEN_SECRET": secrets.token_hex(32),
              "ANTEROOM_PASS_SIGNING_KEY": secrets.token_hex(32), "TOKIO_WORKER_THREADS": "1"}
        for name, port in (("g1", self.g1), ("g2", self.g2)):
            self.start(name, [os.path.join(self.bin, "anteroom-gateway"), "serve"],
                       {**gw, "ANTEROOM_PORT": str(port)})
        for name, port in (("g1", self.g1), ("g2", self.g2)):
            wait_http(f"http://127.0.0.1:{port}/readyz", name)

    def create_events(self, past):
        now = datetime.datetime.now(datetime.timezone.utc)
        specs = [spec(now - datetime.timedelta(days=30), 2, 10)] * past
        specs += [spec(now - datetime.timedelta(minutes=1), 20, 50)] * LIVE
        url = f"http://127.0.0.1:{self.g1}/v1/admin/events"
        started = time.monotonic()

        def create(body):
            for attempt in range(5):
                try:
                    return request("POST", url, self.key, body)["id"]
                except (urllib.error.URLError, OSError) as e:
                    if attempt == 4:
                        raise
                    log(f"create failed ({e}); retrying")
                    time.sleep(1)
            return None

        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            ids = list(pool.map(create, specs))
        log(f"{self.label}: {len(ids)} events created in {time.monotonic() - started:.0f} s")
        return ids[past:]

    def measure(self):
        pids = {n: p.pid for n, p in self.procs.items()}
        before = {n: cpu_seconds(pid) for n, pid in pids.items()}
        info0, t0 = redis_cpu(self.redis_port), time.monotonic()
        time.sleep(MEASURE)
        elapsed = time.monotonic() - t0
        after = {n: cpu_seconds(pid) for n, pid in pids.items()}
        info1 = redis_cpu(self.redis_port)
        pct = {n: 100 * (after[n] - before[n]) / elapsed for n in pids}
        pct["redis (INFO cpu)"] = 100 * (info1 - info0) / elapsed
        return pct, elapsed

    def patch_latency(self, event):
        times = []
        for i in range(PATCHES):
            rate = 1000 + i
            body = {"admission": {"rate_per_minute": rate, "max_active": 1000,
                                  "pass_ttl_seconds": 600}}
            started = time.monotonic()
            request("PATCH", f"http://127.0.0.1:{self.g1}/v1/admin/events/{event}", self.key, body)
            answered = time.monotonic()
            pending = {self.g1, self.g2}
            seen = {}
            while pending and time.monotonic() - started < 10:
                for port in list(pending):
                    view = request("GET", f"http://127.0.0.1:{port}/v1/events/{event}")
                    if view["admission"]["rate_per_minute"] == rate:
                        seen[port] = time.monotonic() - started
                        pending.discard(port)
                time.sleep(0.005)
            reach = max(seen.values()) if not pending else float("inf")
            times.append((reach, reach - (answered - started)))
            time.sleep(0.3)
        return times

    def down(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", f"{PG}/postgres", "-q", "-c",
                        f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"], capture_output=True)
        ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
        if os.access(ctl, os.X_OK):
            for k in range(SHARDS):
                subprocess.run([ctl, "-q", "delete_queue", f"{self.ns}.shard.{k}"],
                               capture_output=True)
            subprocess.run([ctl, "eval", "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, "
                            f"<<\"{self.ns}.commands\">>), false, <<\"bench\">>)."],
                           capture_output=True)


def run(label, bin_dir, past):
    d = Deployment(label, bin_dir)
    try:
        d.up()
        live = d.create_events(past)
        log(f"{label}: settling {SETTLE:.0f} s")
        time.sleep(SETTLE)
        log(f"{label}: measuring {MEASURE:.0f} s")
        pct, elapsed = d.measure()
        times = d.patch_latency(live[0])
        return pct, elapsed, times
    finally:
        d.down()


def main():
    builds = []
    if os.environ.get("BEFORE_BIN"):
        before_past = int(os.environ.get("BEFORE_PAST_EVENTS", str(PAST)))
        builds.append(("before", os.environ["BEFORE_BIN"], before_past))
    builds.append(("after", os.environ.get("BIN", os.path.join(ROOT, "target", "release")), PAST))
    print(f"# idle cost: {LIVE} live events and many past ones, 2 gateway replicas, no traffic")
    print(f"# machine: {os.cpu_count()} CPUs; load before: {os.getloadavg()[0]:.2f}")
    for label, bin_dir, past in builds:
        pct, elapsed, times = run(label, bin_dir, past)
        print(f"\n## {label} ({bin_dir}): {past} past + {LIVE} live events;"
              f" CPU over {elapsed:.1f} s, % of one core")
        for name in ("g1", "g2", "worker", "redis", "redis (INFO cpu)"):
            print(f"  {name:18} {pct[name]:6.2f} %")
        ms = sorted(t * 1000 for t, _ in times)
        after = sorted(t * 1000 for _, t in times)
        print(f"  PATCH seen by both replicas, from the request: max {ms[-1]:.0f} ms,"
              f" median {ms[len(ms) // 2]:.0f} ms over {len(ms)} PATCHes (target < 1000 ms)")
        print(f"  ... from the PATCH's answer: max {after[-1]:.0f} ms,"
              f" median {after[len(after) // 2]:.0f} ms")
        ok = max(pct["g1"], pct["g2"]) < 2 and max(pct["redis"], pct["redis (INFO cpu)"]) < 2
        print(f"  idle gateway and Redis under 2 %: {'yes' if ok else 'NO'};"
              f" PATCH within 1 s: {'yes' if ms[-1] < 1000 else 'NO'}")
    print(f"# load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
