#!/usr/bin/env python3
"""What the public entry points expose: /metrics never, the fans' and venues' routes always.

    python3 deploy/check_exposure.py

The gateways serve /metrics on their HTTP port (Prometheus scrapes each replica
directly), so the public entry in front of them must not route it: metrics show per
event queue depths, rates and errors to anyone. Checked offline, from the files:

1. Kubernetes: every Ingress under deploy/k8s/ (any document of kind Ingress), with the
   Kubernetes path semantics (Exact; Prefix element by element; ImplementationSpecific
   taken as Prefix, the widest reading): no rule matches /metrics, /healthz or /readyz,
   and every public route (API, fan page, console, assets, JWKS, OpenAPI) is matched.
   A `*-snippet` annotation is refused too: it could route anything.
2. Compose: deploy/compose/nginx.conf answers /metrics itself with 404.

Exit 1 with one line per problem.
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = ["/metrics", "/healthz", "/readyz"]
PUBLIC = ["/v1/events/e/queue", "/v1/admin/events", "/v1/holds/h/confirm", "/v1/requests/r",
          "/e/e", "/admin", "/assets/js/app.js", "/.well-known/jwks.json", "/openapi.json"]


def matches(path_type, rule_path, request_path):
    """Whether an Ingress path rule matches `request_path` (networking.k8s.io/v1)."""
    if path_type == "Exact":
        return request_path == rule_path
    # Prefix: element-wise on "/"-separated elements, trailing slash ignored.
    rule = [p for p in rule_path.split("/") if p]
    req = [p for p in request_path.split("/") if p]
    return req[:len(rule)] == rule


def ingress_paths(doc):
    for rule in (doc.get("spec") or {}).get("rules") or []:
        for p in ((rule.get("http") or {}).get("paths")) or []:
            yield p.get("pathType", "ImplementationSpecific"), p.get("path", "/")
    backend = (doc.get("spec") or {}).get("defaultBackend")
    if backend:
        yield "Prefix", "/"


def check_ingresses(problems):
    found = 0
    for path in sorted((ROOT / "deploy" / "k8s").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "Ingress":
                continue
            found += 1
            rel = path.relative_to(ROOT)
            snippets = [a for a in (doc.get("metadata") or {}).get("annotations") or {}
                        if a.endswith("-snippet")]
            if snippets:
                problems.append(f"{rel}: snippet annotations {snippets} can route anything")
            rules = list(ingress_paths(doc))
            for private in PRIVATE:
                hit = [r for r in rules if matches(*r, private)]
                if hit:
                    problems.append(f"{rel}: {private} is exposed by {hit}")
            for public in PUBLIC:
                if not any(matches(*r, public) for r in rules):
                    problems.append(f"{rel}: public route {public} is not routed")
    if found == 0:
        problems.append("no Ingress found under deploy/k8s/")


def check_nginx(problems):
    conf = (ROOT / "deploy" / "compose" / "nginx.conf").read_text()
    if not re.search(r"location\s*=\s*/metrics\s*\{\s*return\s+404\s*;\s*\}", conf):
        problems.append("deploy/compose/nginx.conf: no `location = /metrics { return 404; }`")


def self_test():
    assert matches("Prefix", "/", "/metrics")
    assert matches("Prefix", "/v1", "/v1/events/e/queue")
    assert not matches("Prefix", "/v1", "/v10")
    assert not matches("Prefix", "/e", "/metrics")
    assert matches("Exact", "/admin", "/admin") and not matches("Exact", "/admin", "/admin/x")


def main():
    self_test()
    problems = []
    check_ingresses(problems)
    check_nginx(problems)
    for p in problems:
        print(f"check_exposure: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
