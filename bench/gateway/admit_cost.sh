#!/usr/bin/env bash
# What the admission loops cost Redis: EVENTS open events with FANS waiting fans each
# (joined, not polling), GATEWAYS replicas each running `admit.lua` for every such event
# every admit_interval_ms, and nothing else, for DURATION_S seconds. Prints k6/server_stats.py's
# table (Redis's CPU, its calls and µs per call by command) around `sleep DURATION_S`.
#
#   cargo build --release -p anteroom-gateway -p anteroom-worker
#   bench/gateway/admit_cost.sh                 # EVENTS=50 FANS=20 GATEWAYS=2 DURATION_S=30
#
# Each event admits 1 fan a minute, so its queue stays non-empty; the fans are skipped as
# abandoned only after abandon_after_seconds (60 s), after the measurement. The stack is
# private (database, namespace, free ports) and removed at exit. Redis is the shared
# one: anything else using it meanwhile is counted too (compare with a run of
# EVENTS=0).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
readonly EVENTS="${EVENTS:-50}" FANS="${FANS:-20}" GATEWAYS="${GATEWAYS:-2}" DURATION_S="${DURATION_S:-30}"
readonly BIN="${CARGO_TARGET_DIR:-target}/release"
readonly PG_BASE="postgres://postgres:postgres@127.0.0.1:5432"
readonly RUN_ID="$$" DB="anteroom_admit_$$" NS="admit_$$"
readonly OUT="artifacts/admit-cost/$$"
mkdir -p "$OUT"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
wait_ready() {
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null --max-time 2 "$1"; do
        ((SECONDS < deadline)) || { echo "admit-cost: $1 not ready" >&2; exit 1; }
        sleep 0.3
    done
}

pids=()
cleanup() {
    local pid shard
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql "$PG_BASE/postgres" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli -h 127.0.0.1 --scan --pattern "$NS:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 unlink >/dev/null || true
    if command -v rabbitmqctl >/dev/null 2>&1; then
        for ((shard = 0; shard < 16; shard++)); do rabbitmqctl -q delete_queue "$NS.shard.$shard" >/dev/null 2>&1 || true; done
        rabbitmqctl -q delete_queue "$NS.dead" >/dev/null 2>&1 || true
        rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$NS.commands\">>), false, <<\"bench\">>)." >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

psql "$PG_BASE/postgres" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
admin_key=$(rand_hex 24)
common=(ANTEROOM_NAMESPACE="$NS" ANTEROOM_DATABASE_URL="$PG_BASE/$DB"
    ANTEROOM_ADMIN_KEY="$admin_key" ANTEROOM_QUEUE_TOKEN_SECRET="$(rand_hex 32)"
    ANTEROOM_PASS_SIGNING_KEY="$(rand_hex 32)" ANTEROOM_RATE_LIMITS=false RUST_LOG=warn)
metrics_port=$(free_port)
env "${common[@]}" ANTEROOM_METRICS_PORT="$metrics_port" "$BIN/anteroom-worker" serve >"$OUT/worker.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$metrics_port/readyz"
stats=(python3 k6/server_stats.py --name sleep --redis 127.0.0.1:6379 --json "$OUT/server_stats.json")
urls=()
for ((i = 1; i <= GATEWAYS; i++)); do
    port=$(free_port)
    env "${common[@]}" ANTEROOM_PORT="$port" "$BIN/anteroom-gateway" serve >"$OUT/gateway-$i.log" 2>&1 &
    pids+=($!)
    wait_ready "http://127.0.0.1:$port/readyz"
    urls+=("http://127.0.0.1:$port")
    stats+=(--gateway "http://127.0.0.1:$port" --pid gateway=$!)
done

opens_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for ((e = 0; e < EVENTS; e++)); do
    id=$(curl -fsS --max-time 30 -X POST "${urls[0]}/v1/admin/events" -H "Authorization: Bearer $admin_key" \
        -H 'Content-Type: application/json' --data-binary @- <<JSON | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
{"name": "admit cost $e", "venue": "bench", "timezone": "UTC", "opens_at": "$opens_at",
 "admission": {"rate_per_minute": 1, "max_active": 1000, "pass_ttl_seconds": 600},
 "hold_ttl_seconds": 120, "max_seats_per_hold": 4,
 "seating": {"sections": [{"name": "A", "rows": 1, "seats_per_row": 10, "price_cents": 1000}]}}
JSON
    )
    for ((f = 0; f < FANS; f++)); do
        curl -fsS -o /dev/null --max-time 10 -X POST "${urls[f % GATEWAYS]}/v1/events/$id/queue"
    done
done
echo "admit-cost: $EVENTS events with $FANS waiting fans each, $GATEWAYS gateways; measuring ${DURATION_S} s"
sleep 3
"${stats[@]}" -- sleep "$DURATION_S"
