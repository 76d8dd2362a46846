#!/usr/bin/env python3
"""Offline check of the gate's Traefik and Envoy snippets (deploy/check.sh runs it).

Neither proxy runs here, so this checks what can be checked without them: each file
parses as YAML, and the parts that talk to the gateway keep to its check contract
(docs/GATE.md): the path `/v1/gate/check`, the event named, the client's Cookie and
Authorization sent to the check, the ticket headers given to the shop, the pass cookie
given to the client. Prints one line per problem; exits 1 if there is any.
"""

import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
TICKET_HEADERS = {"x-anteroom-ticket", "x-anteroom-event", "x-anteroom-pass-expires"}


def find(node, key):
    """Every value stored under `key` anywhere in a YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from find(item, key)


def traefik(doc) -> list[str]:
    [auth] = [m["forwardAuth"] for m in doc["http"]["middlewares"].values() if "forwardAuth" in m]
    problems = []
    if "/v1/gate/check?event=" not in auth["address"]:
        problems.append("forwardAuth.address must be the check with ?event=")
    if "redirect=1" not in auth["address"]:
        problems.append("forwardAuth.address must ask for redirect=1 (Traefik passes a 401 on as it is)")
    if {h.lower() for h in auth["authRequestHeaders"]} != {"cookie", "authorization"}:
        problems.append("authRequestHeaders must be Cookie and Authorization")
    if {h.lower() for h in auth["authResponseHeaders"]} != TICKET_HEADERS:
        problems.append(f"authResponseHeaders must be {sorted(TICKET_HEADERS)}")
    if auth.get("addAuthCookiesToResponse") != ["anteroom_pass"]:
        problems.append("addAuthCookiesToResponse must be [anteroom_pass]")
    if auth.get("trustForwardHeader") is not False:
        problems.append("trustForwardHeader must be false")
    return problems


def patterns(node) -> set[str]:
    return {p["exact"] for p in node["patterns"]}


def envoy(doc) -> list[str]:
    [authz] = [f["typed_config"] for f in find(doc, "http_filters") for f in f
               if f["name"] == "envoy.filters.http.ext_authz"]
    http = authz["http_service"]
    problems = []
    if http["path_prefix"] != "/v1/gate/check":
        problems.append("path_prefix must be /v1/gate/check")
    request = http["authorization_request"]
    if not {"cookie", "authorization"} <= patterns(request["allowed_headers"]):
        problems.append("allowed_headers must include cookie and authorization")
    if [h["key"] for h in request["headers_to_add"]] != ["x-anteroom-event"]:
        problems.append("headers_to_add must name the event (x-anteroom-event)")
    response = http["authorization_response"]
    if patterns(response["allowed_upstream_headers"]) != TICKET_HEADERS:
        problems.append(f"allowed_upstream_headers must be {sorted(TICKET_HEADERS)}")
    if "x-anteroom-redirect" not in patterns(response["allowed_client_headers"]):
        problems.append("allowed_client_headers must include x-anteroom-redirect")
    if patterns(response["allowed_client_headers_on_success"]) != {"set-cookie"}:
        problems.append("allowed_client_headers_on_success must be set-cookie")
    if authz.get("failure_mode_allow") is not False:
        problems.append("failure_mode_allow must be false (fail closed) in the example")
    return problems


def main() -> int:
    failed = 0
    for path, rules in ((HERE / "traefik/anteroom-gate.yml", traefik),
                        (HERE / "envoy/anteroom-gate.yaml", envoy)):
        try:
            problems = rules(yaml.safe_load(path.read_text()))
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
            problems = [f"does not parse as expected: {err!r}"]
        for problem in problems:
            print(f"{path.relative_to(HERE.parent.parent)}: {problem}")
        failed += len(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
