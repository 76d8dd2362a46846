#!/usr/bin/env bash
# Browser tests of the fan page and the venue console, from the repo root:
#
#   gateway/tests/browser/run.sh
#
#  1. Installs what is missing: Debian's chromium (and a Korean font for readable
#     screenshots), node + npm, nginx (the gate test); then `npm ci` here
#     (playwright-core only).
#  2. deploy/local/services.sh (Redis, RabbitMQ, PostgreSQL on loopback; a no-op when
#     they answer) and `cargo build` of the gateway and the worker (debug, the same
#     binaries the Rust tests build).
#  3. Its own stack: a fresh database `anteroom_test_browser_*`, a fresh namespace
#     (Redis prefix + AMQP queues), random secrets; the worker and the gateway on
#     ephemeral ports (read back from their JSON logs), waiting for /readyz.
#  4. `node --test` over tests/*.test.mjs with BASE_URL and ADMIN_KEY; screenshots of
#     every state in artifacts/screenshots/, logs in artifacts/browser/.
#  5. Stops both processes and deletes the database, the Redis keys and the AMQP queue.
#
# Exits non-zero if anything fails. Knobs: BROWSER_SKIP_BUILD=1 (binaries already
# built), BROWSER_TESTS (test files, default tests/; e.g. tests/gate.test.mjs),
# CHROMIUM (path, default /usr/bin/chromium), CARGO_TARGET_DIR.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
readonly HERE ROOT
readonly TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
readonly LOGS="$ROOT/artifacts/browser"
readonly SHOTS="$ROOT/artifacts/screenshots"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMIUM
readonly PG_BASE="postgres://postgres:postgres@127.0.0.1:5432"
readonly START_TIMEOUT_S=90
export DEBIAN_FRONTEND=noninteractive

log() { printf 'browser-tests: %s\n' "$*"; }
die() {
    printf 'browser-tests: ERROR: %s\n' "$*" >&2
    exit 1
}
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

APT_UPDATED=0
apt_install() {
    if ((APT_UPDATED == 0)); then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_tools() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
        log "installing nodejs and npm with apt"
        apt_install nodejs npm
    }
    if [[ ! -x $CHROMIUM ]]; then
        log "installing chromium with apt"
        apt_install chromium
    fi
    # The gate test runs nginx (deploy/gate/run-nginx.sh) in front of a shop; Debian's
    # nginx has the auth_request module it needs.
    if ! { command -v nginx >/dev/null 2>&1 && nginx -V 2>&1 | grep -q http_auth_request; }; then
        log "installing nginx with apt"
        apt_install nginx
    fi
    if command -v fc-list >/dev/null 2>&1 && [[ -z $(fc-list :lang=ko 2>/dev/null) ]]; then
        log "installing a Korean font (fonts-nanum) for the screenshots"
        apt_install fonts-nanum || log "could not install fonts-nanum; Korean screenshots may show boxes"
    fi
}

GATEWAY_PID=""
WORKER_PID=""
NAMESPACE=""
DB_NAME=""

cleanup() {
    local rc=$?
    for pid in "$GATEWAY_PID" "$WORKER_PID"; do
        [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    done
    for pid in "$GATEWAY_PID" "$WORKER_PID"; do
        [[ -n $pid ]] && wait "$pid" 2>/dev/null || true
    done
    if [[ -n $NAMESPACE ]]; then
        redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$NAMESPACE:*" 2>/dev/null |
            xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 unlink >/dev/null 2>&1 || true
        local ctl
        ctl=$(command -v rabbitmqctl || echo /usr/sbin/rabbitmqctl)
        [[ -x $ctl ]] && as_root "$ctl" -q delete_queue "$NAMESPACE.shard.0" >/dev/null 2>&1 || true
    fi
    if [[ -n $DB_NAME ]]; then
        psql "$PG_BASE/postgres" -q -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    exit "$rc"
}

# start NAME PIDVAR ENV...: target/debug/anteroom-NAME serve with only the given
# ANTEROOM_* variables, JSON logs to artifacts/browser/NAME.log; its pid in PIDVAR.
start() {
    local name=$1 pidvar=$2
    shift 2
    local unset_env=() v
    while read -r v; do unset_env+=(-u "$v"); done < <(compgen -e | grep '^ANTEROOM_' || true)
    # Emptied here, not by the child's redirection: port_from_log must not read the
    # previous run's port.
    : >"$LOGS/$name.log"
    env "${unset_env[@]}" "$@" ANTEROOM_LOG_JSON=true \
        "$TARGET/debug/anteroom-$name" serve >>"$LOGS/$name.log" 2>&1 </dev/null &
    printf -v "$pidvar" '%s' "$!"
}

# port_from_log NAME PID FIELD: waits for `"FIELD":<port>` in NAME's log.
port_from_log() {
    local name=$1 pid=$2 field=$3 deadline=$((SECONDS + START_TIMEOUT_S)) port=""
    while [[ -z $port ]]; do
        port=$(grep -o "\"$field\":[0-9]*" "$LOGS/$name.log" 2>/dev/null | head -n1 | cut -d: -f2 || true)
        [[ -n $port ]] && break
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited during start"; }
        ((SECONDS < deadline)) || die "$name did not report its port (log: artifacts/browser/$name.log)"
        sleep 0.2
    done
    echo "$port"
}

wait_ready() {
    local name=$1 url=$2 pid=$3 deadline=$((SECONDS + START_TIMEOUT_S))
    until curl -fs -o /dev/null --max-time 2 "$url"; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited during start"; }
        ((SECONDS < deadline)) || die "$name not ready at $url within ${START_TIMEOUT_S}s"
        sleep 0.3
    done
}

main() {
    cd "$ROOT"
    mkdir -p "$LOGS" "$SHOTS"
    rm -f "$SHOTS"/*.png
    ensure_tools
    deploy/local/services.sh >/dev/null
    if [[ ${BROWSER_SKIP_BUILD:-0} != 1 ]]; then
        log "building the gateway and the worker (cargo build)"
        cargo build -q -p anteroom-gateway -p anteroom-worker
    fi
    log "npm ci (playwright-core)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

    trap cleanup EXIT
    local id
    id="$(date -u +%Y%m%d%H%M%S)_$$"
    NAMESPACE="browser_$id"
    DB_NAME="anteroom_test_browser_$id"
    psql "$PG_BASE/postgres" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB_NAME" >/dev/null
    local admin_key
    admin_key=$(rand_hex 16)
    local common=(ANTEROOM_NAMESPACE="$NAMESPACE" ANTEROOM_SHARDS=1
        ANTEROOM_REDIS_URL=redis://127.0.0.1:6379
        ANTEROOM_AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f')

    start worker WORKER_PID "${common[@]}" ANTEROOM_DATABASE_URL="$PG_BASE/$DB_NAME" \
        ANTEROOM_METRICS_PORT=0
    local worker_port
    worker_port=$(port_from_log worker "$WORKER_PID" metrics_port)
    wait_ready worker "http://127.0.0.1:$worker_port/readyz" "$WORKER_PID"

    # The gateway's back office (API keys of the venue's servers) reads the same database.
    start gateway GATEWAY_PID "${common[@]}" ANTEROOM_HOST=127.0.0.1 ANTEROOM_PORT=0 \
        ANTEROOM_ADMIN_KEY="$admin_key" ANTEROOM_QUEUE_TOKEN_SECRET="$(rand_hex 32)" \
        ANTEROOM_PASS_SIGNING_KEY="$(rand_hex 32)" ANTEROOM_DATABASE_URL="$PG_BASE/$DB_NAME"
    local port
    port=$(port_from_log gateway "$GATEWAY_PID" port)
    wait_ready gateway "http://127.0.0.1:$port/readyz" "$GATEWAY_PID"
    log "stack up: gateway :$port, worker metrics :$worker_port, namespace $NAMESPACE"

    local rc=0
    (cd "$HERE" && BASE_URL="http://127.0.0.1:$port" ADMIN_KEY="$admin_key" \
        SCREENSHOT_DIR="$SHOTS" \
        node --test --test-concurrency=1 --test-reporter=spec ${BROWSER_TESTS:-tests/}) || rc=$?
    log "screenshots in artifacts/screenshots/ ($(find "$SHOTS" -name '*.png' | wc -l) files)"
    ((rc == 0)) || log "FAILED (node --test exit $rc); logs in artifacts/browser/"
    return "$rc"
}

main "$@"
