#!/usr/bin/env bash
# Runs one k6 scenario against a private local stack, then checks PostgreSQL directly.
#
#   k6/local.sh k6/soak.js  -e ARRIVALS_PER_SECOND=5 -e DURATION=30s
#   k6/local.sh k6/stress.js -e START_RATE=20 -e STEP_RATE=20 -e STEPS=3 -e STEP_DURATION=10s
#   k6/local.sh k6/admission.js -e FANS=600 -e RATE_PER_MINUTE=1200
#   GATEWAYS=2 k6/local.sh k6/admission.js      # two gateway replicas, fans spread over both
#   WEBHOOKS=1 k6/local.sh k6/checkout.js        # and a webhook receiver, checked at the end
#
# The stack is its own: database `anteroom_k6_<pid>`, namespace `k6_<pid>` (AMQP queues,
# Redis keys), free ports, the worker and GATEWAYS gateways (default 1) from
# target/$PROFILE (PROFILE=debug by default, `release` for numbers). It needs the shared
# Redis, RabbitMQ and PostgreSQL on loopback (deploy/local/services.sh). The scenario
# creates its event through the admin API; after k6, deploy/verify.sql checks every
# event of the database. Everything is removed at exit (KEEP=1 keeps the stack running).
# WEBHOOKS=1 registers a webhook endpoint for every event before k6 starts, receives it
# with worker/tests/data/webhook_receiver.py (signatures verified by the PyPI
# `standardwebhooks` package) and, after k6, checks with k6/webhooks_check.py that every
# order was announced by exactly one `order.confirmed`.
# GATE=1 (what k6/gate.sh does) puts the gate in front: a gated event, a shop
# (k6/gate_shop.py) behind nginx (deploy/gate/run-nginx.sh), the event's id passed to k6,
# and k6/gate_check.py on the shop's log after k6 (k6/gate_stack.sh).
# k6 runs under k6/server_stats.py, which prints after k6's report the server-side
# p95/p99 of each route from the gateways' own histograms next to k6's, the worker's
# commit latency, and the share of the box's CPU that k6, the gateways, the worker and
# the services used during the run ($DIR/server_stats.json).
# The services' URLs come from the environment when set (ANTEROOM_REDIS_URL,
# ANTEROOM_AMQP_URL, ANTEROOM_REDIS_MODE, any ANTEROOM_* setting: passed through to the
# worker and the gateways as is); the clean-up at exit removes the run's Redis keys there
# (every primary in cluster mode) and its queues through the local rabbitmqctl.
# Exit status: k6's (thresholds), verify.sql's, the webhook or the gate check's, whichever failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $# -ge 1 ]] || {
    echo "usage: k6/local.sh SCENARIO.js [k6 run options...]" >&2
    exit 2
}
scenario=$1
shift
readonly PROFILE="${PROFILE:-debug}" GATEWAYS="${GATEWAYS:-1}"
readonly PG_BASE="postgres://postgres:postgres@127.0.0.1:5432"
readonly RUN_ID="$$" DIR="artifacts/k6-local/$$"
readonly DB="anteroom_k6_$RUN_ID" NS="k6_$RUN_ID"
mkdir -p "$DIR"
log() { printf 'k6-local: %s\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

K6=$(command -v k6 || echo target/tools/k6/bin/k6)
[[ -x $K6 ]] || {
    echo "k6 not found (deploy/local/demo.sh installs it into target/tools/k6)" >&2
    exit 2
}
if [[ $PROFILE == release ]]; then
    cargo build -q --release -p anteroom-gateway -p anteroom-worker --bin anteroom-gateway --bin anteroom-worker
else
    cargo build -q -p anteroom-gateway -p anteroom-worker --bin anteroom-gateway --bin anteroom-worker
fi
readonly BIN="${CARGO_TARGET_DIR:-target}/$PROFILE"

# redis_nodes: the Redis URLs holding the run's keys: ANTEROOM_REDIS_URL's (the local
# Redis by default), or every primary of the cluster when ANTEROOM_REDIS_MODE=cluster.
redis_nodes() {
    local first
    first=${ANTEROOM_REDIS_URL:-redis://127.0.0.1:6379}
    first=${first%%,*}
    if [[ ${ANTEROOM_REDIS_MODE:-standalone} == cluster ]]; then
        redis-cli -u "$first" cluster nodes | awk '$3 ~ /master/ { split($2, a, "@"); print "redis://" a[1] }'
    else
        echo "$first"
    fi
}

pids=()
cleanup() {
    local pid shard
    if [[ ${KEEP:-0} == 1 ]]; then
        log "KEEP=1: stack left running (pids ${pids[*]}, database $DB, namespace $NS)"
        return
    fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql "$PG_BASE/postgres" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    local node batch=500
    # One key per UNLINK on a cluster: keys of several slots in one call are refused.
    [[ ${ANTEROOM_REDIS_MODE:-standalone} == cluster ]] && batch=1
    for node in $(redis_nodes); do
        redis-cli -u "$node" --scan --pattern "$NS:*" | xargs -r -n "$batch" redis-cli -u "$node" unlink >/dev/null || true
    done
    if command -v rabbitmqctl >/dev/null 2>&1; then
        for ((shard = 0; shard < 16; shard++)); do rabbitmqctl -q delete_queue "$NS.shard.$shard" >/dev/null 2>&1 || true; done
        rabbitmqctl -q delete_queue "$NS.dead" >/dev/null 2>&1 || true
        rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$NS.commands\">>), false, <<\"k6\">>)." >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

psql "$PG_BASE/postgres" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
admin_key=$(rand_hex 24)
common=(ANTEROOM_NAMESPACE="$NS" ANTEROOM_DATABASE_URL="$PG_BASE/$DB"
    ANTEROOM_ADMIN_KEY="$admin_key" ANTEROOM_QUEUE_TOKEN_SECRET="$(rand_hex 32)"
    ANTEROOM_PASS_SIGNING_KEY="$(rand_hex 32)" ANTEROOM_RATE_LIMITS=false RUST_LOG=warn)

# wait_ready URL PID NAME: until URL answers 200 (60 s at most).
wait_ready() {
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null --max-time 2 "$1"; do
        kill -0 "$2" 2>/dev/null || { tail -n 20 "$DIR/$3.log" >&2; log "$3 exited"; exit 1; }
        ((SECONDS < deadline)) || { tail -n 20 "$DIR/$3.log" >&2; log "$3 not ready"; exit 1; }
        sleep 0.3
    done
}

metrics_port=$(free_port)
env "${common[@]}" ANTEROOM_METRICS_PORT="$metrics_port" "$BIN/anteroom-worker" serve >"$DIR/worker.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$metrics_port/readyz" $! worker
stats=(python3 k6/server_stats.py --worker "http://127.0.0.1:$metrics_port" --pid worker=$!
    --client-summary "$DIR/summary.json" --json "$DIR/server_stats.json")
# Redis's INFO commandstats (calls per command during the run) from each plain
# redis:// address given; RabbitMQ's message counters when rabbitmqctl is here.
IFS=, read -r -a redis_urls <<<"${ANTEROOM_REDIS_URL:-redis://127.0.0.1:6379}"
for u in "${redis_urls[@]}"; do
    [[ $u =~ ^redis://([^@/]*@)?([^/]+) ]] && stats+=(--redis "${BASH_REMATCH[2]}")
done
command -v rabbitmqctl >/dev/null 2>&1 && stats+=(--rabbitmqctl)
urls=()
for ((i = 1; i <= GATEWAYS; i++)); do
    port=$(free_port)
    env "${common[@]}" ANTEROOM_PORT="$port" "$BIN/anteroom-gateway" serve >"$DIR/gateway-$i.log" 2>&1 &
    pids+=($!)
    wait_ready "http://127.0.0.1:$port/readyz" $! "gateway-$i"
    urls+=("http://127.0.0.1:$port")
    stats+=(--gateway "http://127.0.0.1:$port" --pid gateway=$!)
done
base_urls=$(IFS=,; echo "${urls[*]}")
if [[ ${WEBHOOKS:-0} == 1 ]]; then
    hook_port=$(free_port)
    endpoint=$(curl -fsS -X POST "${urls[0]}/v1/admin/webhooks" -H "Authorization: Bearer $admin_key" \
        -H 'Content-Type: application/json' -H "Idempotency-Key: k6-$RUN_ID" \
        -d "{\"url\": \"http://127.0.0.1:$hook_port/hooks\"}")
    secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$endpoint")
    python3 worker/tests/data/webhook_receiver.py "$hook_port" "$secret" >"$DIR/webhooks.jsonl" &
    pids+=($!)
    log "webhook receiver on :$hook_port (log $DIR/webhooks.jsonl)"
fi
gate_args=()
if [[ ${GATE:-0} == 1 ]]; then
    # shellcheck source=k6/gate_stack.sh
    source k6/gate_stack.sh
    gate_up
    gate_args=("${GATE_K6_ARGS[@]}")
fi
log "stack up: worker metrics :$metrics_port, gateways $base_urls, database $DB, logs $DIR"

k6_rc=0
"${stats[@]}" -- "$K6" run --quiet --no-color -e BASE_URL="${urls[0]}" -e BASE_URLS="$base_urls" \
    -e ADMIN_KEY="$admin_key" -e SUMMARY_JSON="$DIR/summary.json" "${gate_args[@]}" "$@" "$scenario" 2>&1 |
    tee "$DIR/k6.log" || k6_rc=$?
verify_rc=0
psql "$PG_BASE/$DB" -X -q -v ON_ERROR_STOP=1 -f deploy/verify.sql >"$DIR/verify.txt" 2>&1 || verify_rc=$?
log "$(grep '^verify:' "$DIR/verify.txt" || echo 'verify: no result')"
hooks_rc=0
if [[ ${WEBHOOKS:-0} == 1 ]]; then
    python3 k6/webhooks_check.py "$DIR/webhooks.jsonl" "$PG_BASE/$DB" | tee "$DIR/webhooks.txt" || hooks_rc=$?
fi
gate_rc=0
if [[ ${GATE:-0} == 1 ]]; then
    gate_check || gate_rc=$?
fi
log "k6 exit $k6_rc, verify.sql exit $verify_rc, webhooks check exit $hooks_rc, gate check exit $gate_rc (summary $DIR/summary.json)"
((k6_rc == 0 && verify_rc == 0 && hooks_rc == 0 && gate_rc == 0))
