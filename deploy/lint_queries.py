#!/usr/bin/env python3
"""Checks the Grafana dashboard and the Prometheus alert rules against docs/METRICS.md.

    python3 deploy/lint_queries.py [--promql-rules OUT.yml]

1. Loads deploy/grafana/anteroom.json: unique panel ids, every panel on the 24-column
   grid, every query with an expression and a refId unique in its panel, the data source
   taken from the `datasource` variable.
2. Every metric named in a dashboard query or an alert expression
   (deploy/prometheus/alerts.yml) must be in a table of docs/METRICS.md (`_bucket`,
   `_sum`, `_count` of a documented histogram count as that histogram). Queries that use
   a metric of the "Proposed" table are listed as a warning.
3. Every metric the code registers (gateway/src, worker/src) is in the "Exported" table,
   and every `anteroom_*` metric of that table is registered by the code.
4. With --promql-rules OUT.yml, writes every dashboard query as a recording rule to
   OUT.yml, so that `promtool check rules OUT.yml` checks their PromQL syntax too.

Exits 1 listing every problem.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METRICS_MD = ROOT / "docs" / "METRICS.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "anteroom.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

# PromQL words that are not metric names: keywords, aggregations, functions.
PROMQL_WORDS = set(
    """
    and or unless by without on ignoring group_left group_right offset bool
    sum min max avg count stddev stdvar topk bottomk quantile count_values group
    rate irate increase delta idelta deriv predict_linear histogram_quantile
    abs absent absent_over_time ceil floor round clamp clamp_max clamp_min exp ln log2
    log10 sqrt scalar vector time timestamp label_replace label_join sort sort_desc
    avg_over_time min_over_time max_over_time sum_over_time count_over_time
    quantile_over_time stddev_over_time last_over_time changes resets
    humanize inf nan
    """.split()
)


def documented():
    """Metric names of docs/METRICS.md: {name: section}."""
    names, section = {}, ""
    for line in METRICS_MD.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        m = re.match(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)\s*\|", line)
        if m:
            names[m.group(1)] = (section, m.group(2))
    return names


def metrics_in(expr):
    """Metric names used by a PromQL expression (a light tokenizer, not a parser)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    s = re.sub(r"\{[^}]*\}", "", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)  # range selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", s)
    s = re.sub(r"\$\{?\w+\}?", "1", s)  # dashboard variables
    found = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)", s):
        word = m.group(1)
        rest = s[m.end():].lstrip()
        if word.lower() in PROMQL_WORDS or rest.startswith("("):
            continue
        found.add(word)
    return found


REGISTERED = re.compile(
    r"(?:Opts::new|HistogramOpts::new|IntCounter::new|IntGauge::new|Counter::new|Gauge::new"
    r"|Histogram::new|counter|histogram|gauge)\(\s*\"(anteroom_[a-z0-9_]+)\""
)


def registered():
    """Metric names registered by the gateway's and the worker's code: {name: file}."""
    found = {}
    for crate in ("gateway", "worker"):
        for path in sorted((ROOT / crate / "src").rglob("*.rs")):
            for m in REGISTERED.finditer(path.read_text()):
                found.setdefault(m.group(1), str(path.relative_to(ROOT)))
    return found


def resolve(name, docs):
    if name in docs:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and docs.get(base, ("", ""))[1] == "histogram":
            return base
    return None


def dashboard_queries(problems):
    try:
        dash = json.loads(DASHBOARD.read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{DASHBOARD}: cannot load: {e}")
        return []
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    if "datasource" not in variables:
        problems.append("dashboard: no `datasource` variable")
    ids, queries = set(), []
    for p in dash.get("panels", []):
        pid, title = p.get("id"), p.get("title", "?")
        if pid in ids:
            problems.append(f"dashboard: panel id {pid} used twice")
        ids.add(pid)
        g = p.get("gridPos", {})
        if not (0 <= g.get("x", -1) and g.get("x", 0) + g.get("w", 99) <= 24 and g.get("h", 0) > 0):
            problems.append(f"dashboard: panel {title!r} is off the 24-column grid: {g}")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"dashboard: panel {title!r} does not use the datasource variable")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"dashboard: panel {title!r} has no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            problems.append(f"dashboard: panel {title!r} has missing or repeated refIds")
        for t in targets:
            if not t.get("expr"):
                problems.append(f"dashboard: panel {title!r} has a query without expr")
            else:
                queries.append((f"dashboard panel {title!r}", t["expr"]))
    return queries


def alert_queries(problems):
    # Without PyYAML: the rule file keeps every expr as `expr: ...` or `expr: |` + block.
    lines, out, i = ALERTS.read_text().splitlines(), [], 0
    alert = "?"
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*- alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            indent, rest = len(m.group(1)), m.group(2)
            if rest.strip() in ("|", ">", "|-", ">-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append((f"alert {alert}", " ".join(block)))
                continue
            out.append((f"alert {alert}", rest))
        i += 1
    if not out:
        problems.append(f"{ALERTS}: no alert expression found")
    return out


def main():
    problems, warnings = [], []
    docs = documented()
    if len(docs) < 20:
        problems.append(f"{METRICS_MD}: only {len(docs)} metrics found in its tables")
    code = registered()
    for name, path in sorted(code.items()):
        if docs.get(name, ("",))[0] != "Exported":
            problems.append(f"{path}: metric {name} is not in the Exported table of docs/METRICS.md")
    for name, (section, _) in sorted(docs.items()):
        if section == "Exported" and name.startswith("anteroom_") and name not in code:
            problems.append(f"docs/METRICS.md: {name} is documented as exported but no code registers it")
    queries = dashboard_queries(problems) + alert_queries(problems)
    for where, expr in queries:
        for name in sorted(metrics_in(expr)):
            base = resolve(name, docs)
            if base is None:
                problems.append(f"{where}: metric {name} is not documented in docs/METRICS.md")
            elif docs[base][0].startswith("Proposed"):
                warnings.append(f"{where}: uses {base} (proposed, not exported yet)")
    if "--promql-rules" in sys.argv:
        out = Path(sys.argv[sys.argv.index("--promql-rules") + 1])
        rules = [
            {"record": f"dashboard:query_{n}", "expr": re.sub(r"\$\{?\w+\}?", "1", expr)}
            for n, (where, expr) in enumerate(queries)
            if where.startswith("dashboard")
        ]
        out.write_text(json.dumps({"groups": [{"name": "dashboard-queries", "rules": rules}]}, indent=1))
    for w in sorted(set(warnings)):
        print(f"lint_queries: warning: {w}")
    for p in problems:
        print(f"lint_queries: {p}", file=sys.stderr)
    print(f"lint_queries: {len(queries)} queries, {len(docs)} documented metrics, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
