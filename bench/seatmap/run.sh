#!/usr/bin/env bash
# Seat map at stadium size, one command: what it costs to give an admitted fan the seat
# map of a 100,000-seat event, the v1 way and the split way, and what compression costs
# a status poll. Prints one table (docs/BENCHMARKS.md, "Seat map at stadium size").
#
#   bench/seatmap/run.sh              # ~3 minutes after the build
#
#  1. Builds the release binaries (gateway, worker) unless SKIP_BUILD=1 (PROFILE=debug
#     runs the debug ones instead: the bytes hold, the rates do not).
#  2. Starts on loopback, in a fresh database and namespace: a worker and two gateways,
#     G_ON (compression on, the default) and G_OFF (ANTEROOM_COMPRESSION=false), both
#     with ANTEROOM_RATE_LIMITS=false: this measures serving, and FANS passes polling as
#     fast as wrk can would trip the per-pass limits (bench/gateway measures the limits).
#  3. setup.py: a 100,000-seat event (10 × 100 × 100) mid-sale: FANS admitted fans each
#     holding HOLD_SEATS best-available seats, every other hold confirmed. A second event,
#     paused, with STATUS_FANS waiting fans (bench/gateway/collect.lua) for the polls.
#  4. Bytes per admitted fan (curl): the v1 map without `Accept-Encoding` (the old
#     path), with gzip and br; the layout plus the state with gzip and br (the new path).
#  5. wrk, closed loop, one pass or queue token per request in turn (get.lua):
#       old  GET /seats, no Accept-Encoding             THREADS_MAP × CONNECTIONS_MAP
#       v1z  GET /seats, Accept-Encoding: gzip, br       (what browsers now get)
#       new  GET /seats/layout and GET /seats/state, Accept-Encoding: gzip, br
#       poll GET /queue on G_OFF then G_ON, Accept-Encoding: gzip, br, ROUNDS times
#            alternating, THREADS × CONNECTIONS (the median of each side)
#     with the server's CPU time per request (/proc/PID/stat), as bench/gateway does.
#  6. report.py prints the table; everything started is stopped and its database, Redis
#     keys and AMQP queues deleted (KEEP=1 keeps the data).
#
# Knobs: FANS, HOLD_SEATS, STATUS_FANS, THREADS, CONNECTIONS, THREADS_MAP,
# CONNECTIONS_MAP, DURATION, ROUNDS, ports (G_ON_PORT, G_OFF_PORT, WORKER_PORT), OUT
# (artifacts/seatmap), SKIP_BUILD=1, PROFILE=release|debug, KEEP=1.
#
# The load generator shares the machine: figures are whole-box (the output's header
# shows `uptime` before and after).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
readonly ROOT BENCH="$ROOT/bench/seatmap"
readonly PROFILE="${PROFILE:-release}"
readonly BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
readonly OUT="${OUT:-$ROOT/artifacts/seatmap}"
readonly PG="postgres://postgres:postgres@127.0.0.1:5432"
readonly REDIS_URL="redis://127.0.0.1:6379" AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
readonly G_ON_PORT="${G_ON_PORT:-18181}" G_OFF_PORT="${G_OFF_PORT:-18182}"
readonly WORKER_PORT="${WORKER_PORT:-19181}" SHARDS=2
readonly FANS="${FANS:-400}" HOLD_SEATS="${HOLD_SEATS:-20}" STATUS_FANS="${STATUS_FANS:-4000}"
readonly THREADS="${THREADS:-2}" CONNECTIONS="${CONNECTIONS:-64}"
readonly THREADS_MAP="${THREADS_MAP:-1}" CONNECTIONS_MAP="${CONNECTIONS_MAP:-8}"
readonly DURATION="${DURATION:-8s}" ROUNDS="${ROUNDS:-3}"
STAMP=$(date -u +%Y%m%d%H%M%S)
readonly STAMP NS="seatmap_$STAMP" DB="anteroom_seatmap_$STAMP"
ADMIN_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
readonly ADMIN_KEY
PIDS=()
declare -A PID_OF=()

log() { printf 'seatmap: %s\n' "$*" >&2; }
die() {
    printf 'seatmap: ERROR: %s\n' "$*" >&2
    exit 1
}
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [[ ${KEEP:-0} == 1 ]] && return 0
    psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli --scan --pattern "$NS:*" | xargs -r -n 500 redis-cli unlink >/dev/null || true
    local ctl k
    ctl=$(command -v rabbitmqctl || echo /usr/sbin/rabbitmqctl)
    if [[ -x $ctl ]]; then
        for ((k = 0; k < SHARDS; k++)); do "$ctl" -q delete_queue "$NS.shard.$k" >/dev/null 2>&1 || true; done
        "$ctl" eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$NS.commands\">>), false, <<\"bench\">>)." \
            >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

ensure_tools() {
    if ! command -v wrk >/dev/null 2>&1; then
        log "installing wrk with apt"
        apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    fi
    local c
    for c in wrk curl python3 psql redis-cli; do
        command -v "$c" >/dev/null 2>&1 || die "$c is required"
    done
}

# start NAME CMD...: in its own session, output to $OUT/NAME.log, pid remembered.
start() {
    local name=$1
    shift
    local unset_env=() v
    while read -r v; do unset_env+=(-u "$v"); done < <(compgen -e | grep '^ANTEROOM_' || true)
    env "${unset_env[@]}" NO_COLOR=1 "$@" >"$OUT/$name.log" 2>&1 </dev/null &
    PIDS+=($!)
    PID_OF[$name]=$!
}

cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

wait_http() {
    local name=$1 url=$2 deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null --max-time 2 "$url"; do
        ((SECONDS < deadline)) || { tail -n 20 "$OUT/$name.log" >&2; die "$name not ready at $url"; }
        sleep 0.3
    done
}

# bench NAME SERVER THREADS CONNECTIONS URL TOKENS ACCEPT: one wrk run into
# $OUT/NAME.wrk, the server's CPU time meanwhile into $OUT/NAME.cpu.
bench() {
    local name=$1 server=$2 threads=$3 conns=$4 url=$5 tokens=$6 accept=$7 user0 sys0 user1 sys1
    log "wrk $name ($url, Accept-Encoding: $accept)"
    read -r user0 sys0 < <(cpu_ticks "${PID_OF[$server]}")
    wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -s "$BENCH/get.lua" "$url" -- "$tokens" "$accept" \
        >"$OUT/$name.wrk" 2>&1 || die "wrk $name failed: $(tail -n 5 "$OUT/$name.wrk")"
    read -r user1 sys1 < <(cpu_ticks "${PID_OF[$server]}")
    echo "$((user1 - user0)) $((sys1 - sys0)) $(getconf CLK_TCK)" >"$OUT/$name.cpu"
}

# wire NAME URL ACCEPT [TOKENS]: body bytes on the wire and decoded, and the
# content-encoding, of one GET with the first credential of TOKENS (default: the
# passes), into $OUT/wire.tsv.
wire() {
    local name=$1 url=$2 accept=$3 pass headers size encoding decoded
    pass=$(head -n 1 "${4:-$OUT/passes}")
    headers=(-H "Authorization: Bearer $pass")
    [[ $accept != none ]] && headers+=(-H "Accept-Encoding: $accept")
    size=$(curl -fsS --max-time 60 "${headers[@]}" -D "$OUT/$name.headers" -o "$OUT/$name.body" \
        -w '%{size_download}' "$url")
    encoding=$(awk -F': ' 'tolower($1) == "content-encoding" { gsub("\r", "", $2); print $2 }' "$OUT/$name.headers")
    decoded=$(curl -fsS --max-time 60 --compressed "${headers[@]}" "$url" | wc -c)
    printf '%s\t%s\t%s\t%s\n' "$name" "$size" "${encoding:-identity}" "$decoded" >>"$OUT/wire.tsv"
}

main() {
    mkdir -p "$OUT"
    rm -f "$OUT"/*.wrk "$OUT"/*.cpu "$OUT"/wire.tsv "$OUT"/tokens* "$OUT"/passes "$OUT"/queue_tokens
    ensure_tools
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        log "building $PROFILE binaries"
        local flag=()
        [[ $PROFILE == release ]] && flag=(--release)
        cargo build "${flag[@]}" -q -p anteroom-gateway -p anteroom-worker --bins
    fi
    for p in "$G_ON_PORT" "$G_OFF_PORT" "$WORKER_PORT"; do
        if tcp_open "$p"; then die "port $p is taken"; fi
    done
    uptime >"$OUT/uptime.before"
    psql "$PG/postgres" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null
    local common=(ANTEROOM_REDIS_URL="$REDIS_URL" ANTEROOM_AMQP_URL="$AMQP_URL"
        ANTEROOM_NAMESPACE="$NS" ANTEROOM_SHARDS="$SHARDS")
    start worker "${common[@]}" ANTEROOM_DATABASE_URL="$PG/$DB" ANTEROOM_METRICS_PORT="$WORKER_PORT" \
        "$BIN/anteroom-worker" serve
    wait_http worker "http://127.0.0.1:$WORKER_PORT/readyz"
    local gw=("${common[@]}" ANTEROOM_HOST=127.0.0.1 ANTEROOM_ADMIN_KEY="$ADMIN_KEY"
        ANTEROOM_QUEUE_TOKEN_SECRET="$(rand_hex 32)" ANTEROOM_PASS_SIGNING_KEY="$(rand_hex 32)"
        ANTEROOM_TRUSTED_PROXY_HEADER=X-Forwarded-For ANTEROOM_RATE_LIMITS=false
        TOKIO_WORKER_THREADS=1)
    start g_on "${gw[@]}" ANTEROOM_PORT="$G_ON_PORT" "$BIN/anteroom-gateway" serve
    start g_off "${gw[@]}" ANTEROOM_PORT="$G_OFF_PORT" ANTEROOM_COMPRESSION=false \
        "$BIN/anteroom-gateway" serve
    wait_http g_on "http://127.0.0.1:$G_ON_PORT/readyz"
    wait_http g_off "http://127.0.0.1:$G_OFF_PORT/readyz"
    local on="http://127.0.0.1:$G_ON_PORT" off="http://127.0.0.1:$G_OFF_PORT"

    log "setting up the 100,000-seat event: $FANS fans holding $HOLD_SEATS seats each"
    local event status_event
    event=$(python3 "$BENCH/setup.py" "$on" "$ADMIN_KEY" "$OUT" "$FANS" "$HOLD_SEATS")
    status_event=$(curl -fsS -X POST "$on/v1/admin/events" -H "Authorization: Bearer $ADMIN_KEY" \
        -H 'Content-Type: application/json' --data-binary @- <<JSON | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
{"name": "polls", "venue": "bench", "timezone": "UTC", "opens_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "admission": {"rate_per_minute": 1, "max_active": 1, "pass_ttl_seconds": 600},
 "hold_ttl_seconds": 120, "max_seats_per_hold": 4,
 "seating": {"sections": [{"name": "A", "rows": 2, "seats_per_row": 50, "price_cents": 1000}]}}
JSON
    )
    curl -fsS -o /dev/null -X PATCH "$on/v1/admin/events/$status_event" -H "Authorization: Bearer $ADMIN_KEY" \
        -H 'Content-Type: application/json' --data-binary '{"state": "paused"}'
    log "events: map $event, polls $status_event; $STATUS_FANS waiting fans"
    wrk -t2 -c16 -d15s -s "$ROOT/bench/gateway/collect.lua" "$on/v1/events/$status_event/queue" -- \
        "$OUT/tokens" $((STATUS_FANS / 2)) >"$OUT/collect.wrk" 2>&1
    cat "$OUT"/tokens.* >"$OUT/tokens"

    local seats="/v1/events/$event/seats"
    wire v1_plain "$on$seats" none
    wire v1_gzip "$on$seats" gzip
    wire v1_br "$on$seats" br
    wire layout_gzip "$on$seats/layout" gzip
    wire layout_br "$on$seats/layout" br
    wire state_gzip "$on$seats/state" gzip
    wire state_br "$on$seats/state" br
    wire poll_gzip "$on/v1/events/$status_event/queue" gzip "$OUT/tokens"
    python3 "$BENCH/random_state.py" >"$OUT/random_state.txt"

    local browser="gzip, deflate, br"
    bench old.r1 g_on "$THREADS_MAP" "$CONNECTIONS_MAP" "$on$seats" "$OUT/passes" none
    bench v1z.r1 g_on "$THREADS_MAP" "$CONNECTIONS_MAP" "$on$seats" "$OUT/passes" "$browser"
    bench layout.r1 g_on "$THREADS_MAP" "$CONNECTIONS_MAP" "$on$seats/layout" "$OUT/passes" "$browser"
    bench state.r1 g_on "$THREADS_MAP" "$CONNECTIONS_MAP" "$on$seats/state" "$OUT/passes" "$browser"
    local round
    for ((round = 1; round <= ROUNDS; round++)); do
        bench "poll_off.r$round" g_off "$THREADS" "$CONNECTIONS" "$off/v1/events/$status_event/queue" "$OUT/tokens" "$browser"
        bench "poll_on.r$round" g_on "$THREADS" "$CONNECTIONS" "$on/v1/events/$status_event/queue" "$OUT/tokens" "$browser"
    done
    uptime >"$OUT/uptime.after"
    python3 "$BENCH/report.py" "$OUT" | tee "$OUT/report.txt"
}

main "$@"
