#!/usr/bin/env python3
"""Builds deploy/grafana/anteroom.json, the Grafana dashboard of an on-sale.

    python3 deploy/grafana/build.py          # rewrite anteroom.json
    python3 deploy/grafana/build.py --check  # exit 1 if anteroom.json is not what this builds

The panels are listed here once (title, unit, queries) so the JSON stays consistent:
every panel reads the Prometheus data source chosen in the `datasource` variable, and
every query uses metrics of docs/METRICS.md (deploy/check.sh verifies it).
Rows: queue and admission (configured vs observed), latency and errors, holds and
sales, worker (batches, commit latency, shards).
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("anteroom.json")
DS = {"type": "prometheus", "uid": "${datasource}"}


def q(expr, legend="", ref=None):
    return {"expr": expr, "legendFormat": legend, "refId": ref}


# (title, kind, unit, width, queries, description); kind: timeseries | stat
ROWS = [
    (
        "Queue and admission",
        [
            ("Oversold seats (must be 0)", "stat", "none", 4,
             [q("max(anteroom_seats_oversold) or vector(0)", "oversold")],
             "Seats given to more than one buyer, counted in PostgreSQL by the workers' audit."),
            ("Processes up", "stat", "none", 4,
             [q('sum by (job) (up{job=~"anteroom-gateway|anteroom-worker"})', "{{job}}"),
              q('sum(probe_success{job="anteroom-readyz"})', "ready")],
             "Scraped gateways and workers, and how many answer /readyz."),
            ("Admission per minute: observed vs configured", "timeseries", "none", 16,
             [q("max by (event_id) (anteroom_admission_observed_per_minute)", "observed {{event_id}}"),
              q("max by (event_id) (anteroom_admission_configured_per_minute)", "configured {{event_id}}"),
              q("sum(rate(anteroom_admitted_total[1m])) * 60", "all gateways, all events")],
             "Outflow per event (admissions over the last 60 s, from Redis) vs the rate the "
             "venue configured (0 while not open)."),
            ("Queue depth and active passes", "timeseries", "none", 12,
             [q("max by (event_id) (anteroom_queue_waiting)", "waiting {{event_id}}"),
              q("max by (event_id) (anteroom_queue_active)", "active {{event_id}}")],
             "Waiting fans and live passes per event, set by the admission loop."),
            ("Joins and abandons", "timeseries", "ops", 12,
             [q("sum(rate(anteroom_queue_joins_total[1m]))", "joins/s"),
              q("sum(rate(anteroom_abandoned_total[1m]))", "abandoned/s"),
              q("sum by (class, scope) (rate(anteroom_rate_limited_total[1m]))", "429 {{class}}/{{scope}}")],
             "New tickets per second, waiting fans skipped for not polling, and 429 refusals."),
            ("Status polls and Redis calls per status", "timeseries", "none", 12,
             [q("sum(rate(anteroom_status_requests_total[1m]))", "statuses/s"),
              q("sum(rate(anteroom_status_redis_calls_total[1m])) / sum(rate(anteroom_status_requests_total[1m]))",
                "Redis calls per status (aim <= 0.1)")],
             ""),
            ("Open SSE streams", "timeseries", "none", 12,
             [q("sum by (stream) (anteroom_sse_streams)", "{{stream}}")], ""),
        ],
    ),
    (
        "Latency and errors",
        [
            ("p95 latency by route", "timeseries", "s", 12,
             [q("histogram_quantile(0.95, sum by (le, route) "
                "(rate(anteroom_http_request_duration_seconds_bucket[1m])))", "{{route}}")], ""),
            ("p99 latency by route", "timeseries", "s", 12,
             [q("histogram_quantile(0.99, sum by (le, route) "
                "(rate(anteroom_http_request_duration_seconds_bucket[1m])))", "{{route}}")], ""),
            ("Requests per second by route", "timeseries", "reqps", 12,
             [q("sum by (route) (rate(anteroom_http_requests_total[1m]))", "{{route}}")], ""),
            ("Errors: 5xx share and 5xx by route", "timeseries", "percentunit", 12,
             [q('sum(rate(anteroom_http_requests_total{status=~"5.."}[1m])) '
                "/ sum(rate(anteroom_http_requests_total[1m]))", "5xx share"),
              q('sum by (route, status) (rate(anteroom_http_requests_total{status=~"5.."}[1m])) '
                "/ scalar(sum(rate(anteroom_http_requests_total[1m])))", "{{status}} {{route}}")],
             "Alert AnteroomHttp5xxRate pages above 1 % for 2 minutes."),
            ("Broker: publish confirm and worker reply (p95)", "timeseries", "s", 12,
             [q("histogram_quantile(0.95, sum by (le) (rate(anteroom_publish_confirm_seconds_bucket[1m])))",
                "publish confirm p95"),
              q("histogram_quantile(0.95, sum by (le) (rate(anteroom_reply_wait_seconds_bucket[1m])))",
                "reply wait p95")], ""),
            ("Fan requests answered 202 (no reply in time)", "timeseries", "ops", 12,
             [q("sum(rate(anteroom_replies_timed_out_total[1m]))", "202/s")], ""),
        ],
    ),
    (
        "Holds and sales",
        [
            ("Worker decisions by kind and outcome", "timeseries", "ops", 12,
             [q("sum by (kind, outcome) (rate(anteroom_worker_commands_total[1m]))", "{{kind}} {{outcome}}")],
             "seats_unavailable (409) is expected once the popular seats are gone."),
            ("Active holds", "timeseries", "none", 6,
             [q("sum(anteroom_worker_holds_active)", "holds")], ""),
            ("Seats sold per minute", "timeseries", "none", 6,
             [q("sum(rate(anteroom_worker_seats_sold_total[1m])) * 60", "sold/min")], ""),
        ],
    ),
    (
        "Worker",
        [
            ("Group commit: batch size", "timeseries", "none", 8,
             [q("sum(rate(anteroom_worker_batch_size_sum[1m])) / sum(rate(anteroom_worker_batch_size_count[1m]))",
                "mean commands per batch"),
              q("histogram_quantile(0.95, sum by (le) (rate(anteroom_worker_batch_size_bucket[1m])))", "p95")], ""),
            ("Group commit: latency", "timeseries", "s", 8,
             [q("histogram_quantile(0.5, sum by (le) (rate(anteroom_worker_commit_seconds_bucket[1m])))", "p50"),
              q("histogram_quantile(0.99, sum by (le) (rate(anteroom_worker_commit_seconds_bucket[1m])))", "p99"),
              q("sum(rate(anteroom_worker_commit_seconds_count[1m]))", "commits/s")], ""),
            ("Backlog per shard queue (RabbitMQ)", "timeseries", "none", 8,
             [q('sum by (queue) (rabbitmq_queue_messages_ready{queue=~".+\\\\.shard\\\\.[0-9]+"})', "ready {{queue}}"),
              q('sum by (queue) (rabbitmq_queue_messages_unacked{queue=~".+\\\\.shard\\\\.[0-9]+"})', "unacked {{queue}}")],
             "Commands no worker has decided yet."),
            ("Failures and redeliveries", "timeseries", "ops", 8,
             [q("sum(rate(anteroom_worker_redeliveries_total[1m]))", "redeliveries/s"),
              q("sum(rate(anteroom_worker_commit_failures_total[1m]))", "commit failures/s"),
              q("sum(rate(anteroom_worker_redis_write_failures_total[1m]))", "Redis write failures/s"),
              q("sum(rate(anteroom_worker_audit_failures_total[1m]))", "audit failures/s")], ""),
            ("Shard consumers by state", "timeseries", "none", 8,
             [q("sum by (state) (anteroom_worker_shard_state)", "{{state}}"),
              q("sum(anteroom_worker_shard_active)", "active shards")], ""),
            ("Fencing epoch per shard and takeovers", "timeseries", "none", 8,
             [q("max by (shard) (anteroom_worker_fencing_epoch)", "epoch {{shard}}"),
              q("sum(increase(anteroom_worker_takeovers_total[5m]))", "takeovers (5m)"),
              q("sum(increase(anteroom_worker_fenced_total[5m]))", "fenced sessions (5m)")], ""),
        ],
    ),
]


def panel(pid, title, kind, unit, width, queries, description, x, y):
    targets = [dict(t, refId=t["refId"] or chr(ord("A") + i), datasource=DS) for i, t in enumerate(queries)]
    p = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }
    if kind == "stat":
        p["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
        }
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}
        if title.startswith("Processes"):
            p["fieldConfig"]["defaults"]["thresholds"]["steps"] = [{"color": "blue", "value": None}]
    return p


def dashboard():
    panels, pid, y = [], 1, 0
    for row_title, row_panels in ROWS:
        panels.append({"id": pid, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y, x = pid + 1, y + 1, 0
        for title, kind, unit, width, queries, desc in row_panels:
            if x + width > 24:
                x, y = 0, y + 8
            panels.append(panel(pid, title, kind, unit, width, queries, desc, x, y))
            pid, x = pid + 1, x + width
        y += 8
    return {
        "uid": "anteroom-onsale",
        "title": "Anteroom — on-sale",
        "description": "Queue and admission, latency, errors, holds and sales, worker batches. Metrics: docs/METRICS.md.",
        "tags": ["anteroom"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "configured_rate_per_minute", "label": "configured rate (fans/min)", "type": "textbox",
             "query": "6000", "current": {"text": "6000", "value": "6000"}, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": panels,
    }


def main():
    text = json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 {Path(__file__)}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
