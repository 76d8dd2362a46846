#!/usr/bin/env bash
# Gate mode under load on this machine: k6/gate.js against a private stack with a shop
# (k6/gate_shop.py) behind nginx (deploy/gate/), then k6/gate_check.py on the shop's
# access log. Everything is k6/local.sh's (GATE=1; its stack, PROFILE, GATEWAYS, KEEP).
#
#   k6/gate.sh                                   # 10,000 fans, 600/min, max_active 200 (~17 min)
#   FANS=1000 ARRIVAL_SECONDS=20 k6/gate.sh      # a short run (~2 min)
#   PROFILE=release k6/gate.sh                   # figures worth reading
#
# Settings (environment): FANS (10000), RATE (admissions per minute, 600), MAX_ACTIVE
# (200), PASS_TTL_SECONDS (600), ARRIVAL_SECONDS (60), VUS (virtual users, each driving
# FANS / VUS fans; FANS / 50, at most 200), THINK_S (mean pause between shop pages, 1 s), AFTER_MS (when a
# fan who bought tries the shop again, 1500). Further arguments go to `k6 run`.
# Exit status: non-zero if k6's thresholds, deploy/verify.sql or the gate check failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GATE=1 exec k6/local.sh k6/gate.js "$@"
