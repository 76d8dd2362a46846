#!/usr/bin/env bash
# The gateway benchmark, one command: the gateway against a bare probe, then a join spike
# on two replicas. Prints one table (route, req/s, p50, p99, ratio to probe, target, met?).
#
#   bench/gateway/run.sh              # ~3 minutes after the build
#
#  1. Builds the release binaries (gateway, worker, probe) unless SKIP_BUILD=1; installs
#     wrk with apt if missing; k6 must be on PATH (deploy/local/demo.sh installs it).
#  2. Starts, on loopback, in a fresh database and namespace: a worker (it creates the
#     events), two gateway replicas (G1, G2) and the probe (bench/src/bin/probe.rs). Redis,
#     RabbitMQ and PostgreSQL must answer (deploy/local/services.sh).
#  3. wrk, closed loop, THREADS threads × CONNECTIONS connections × DURATION each, the
#     same Lua script on both sides of a comparison, ROUNDS times alternating (median):
#       probe GET /probe/json      vs  gateway GET  .../queue (status, STATUS_FANS fans
#                                      waiting, tokens made beforehand: steady state)
#       probe POST /probe/join     vs  gateway POST .../queue (join)
#     and, in the same rounds as the status polls, gate mode's check: gateway GET
#     /v1/gate/check with GATE_FANS admitted fans' passes in the cookie (check.lua),
#     reported as check ÷ status.
#     Redis calls per status = Δ anteroom_status_redis_calls_total / Δ anteroom_status_requests_total
#     on G1 over the status run. Each run also records the CPU time (user + system,
#     /proc/PID/stat) the server spent: the "server µs/req" column, which moves far
#     less between runs on a shared box than req/s does.
#  4. wrk, paced: joins at JOIN_RATE/s offered for JOIN_RATE_SECONDS on G1 (join.lua's
#     fixed schedule per thread): p99 latency, and the rate achieved.
#  5. k6/join-spike.js: SPIKE_FANS joins within SPIKE_JOIN_SECONDS on G1+G2 with the
#     fans' polls at poll_after_ms until SPIKE_RUN_SECONDS: no 5xx, admission within 1 %
#     of SPIKE_RATE_PER_MINUTE, no oversell. k6 runs under k6/server_stats.py: the
#     gateways' own p95/p99 per route next to k6's, and the CPU share of each process
#     ($OUT/spike_server.{txt,json}, printed after the table).
#  6. The table; then everything it started is stopped and its database, Redis keys and
#     AMQP queues are deleted (KEEP=1 keeps the data: the processes are
#     stopped either way).
#
# Client addresses: every wrk/k6 request carries its own fan's address in
# X-Forwarded-For and the gateways run with ANTEROOM_TRUSTED_PROXY_HEADER=X-Forwarded-For,
# so the default per-IP limits and the Redis join quota are on and exercised but never
# trip (one address per fan, as behind a load balancer).
#
# Knobs (environment): THREADS, CONNECTIONS, DURATION, ROUNDS (wrk), STATUS_FANS, GATE_FANS, JOIN_RATE,
# JOIN_RATE_SECONDS, RATE_CONNECTIONS, SPIKE_FANS, SPIKE_JOIN_SECONDS, SPIKE_RUN_SECONDS,
# SPIKE_RATE_PER_MINUTE, SPIKE_VUS, GATEWAY_THREADS (runtime threads of each gateway and of
# the probe, default 1), SHARDS, ports (G1_PORT, G2_PORT, PROBE_PORT,
# WORKER_PORT), PARTS (default "wrk,rate,spike": which steps run), GATEWAY_ENV (extra
# VAR=value settings for both gateways, e.g. "ANTEROOM_RATE_LIMITS=false"), OUT
# (artifacts/bench), SKIP_BUILD=1, KEEP=1.
#
# The load generator shares the machine: figures are whole-box. Run it on a quiet machine
# (the header of the output shows `uptime` before and after).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
readonly ROOT BENCH="$ROOT/bench/gateway"
readonly BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
readonly OUT="${OUT:-$ROOT/artifacts/bench}"
readonly PG="postgres://postgres:postgres@127.0.0.1:5432"
readonly REDIS_URL="redis://127.0.0.1:6379" AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
readonly G1_PORT="${G1_PORT:-18081}" G2_PORT="${G2_PORT:-18082}" PROBE_PORT="${PROBE_PORT:-18090}"
readonly WORKER_PORT="${WORKER_PORT:-19101}" SHARDS="${SHARDS:-4}"
readonly THREADS="${THREADS:-2}" CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-8s}"
readonly ROUNDS="${ROUNDS:-3}"
readonly COLLECT_SECONDS="${COLLECT_SECONDS:-20}"
readonly STATUS_FANS="${STATUS_FANS:-20000}"
readonly GATE_FANS="${GATE_FANS:-4000}"
readonly JOIN_RATE="${JOIN_RATE:-10000}" JOIN_RATE_SECONDS="${JOIN_RATE_SECONDS:-10}"
readonly RATE_CONNECTIONS="${RATE_CONNECTIONS:-250}"
readonly SPIKE_FANS="${SPIKE_FANS:-50000}" SPIKE_JOIN_SECONDS="${SPIKE_JOIN_SECONDS:-20}"
readonly SPIKE_RUN_SECONDS="${SPIKE_RUN_SECONDS:-60}" SPIKE_RATE_PER_MINUTE="${SPIKE_RATE_PER_MINUTE:-6000}"
readonly SPIKE_VUS="${SPIKE_VUS:-500}"
readonly GATEWAY_THREADS="${GATEWAY_THREADS:-1}"
readonly PARTS="${PARTS:-wrk,rate,spike}"
read -r -a EXTRA_GW_ENV <<<"${GATEWAY_ENV:-}"
STAMP=$(date -u +%Y%m%d%H%M%S)
readonly STAMP NS="bench_$STAMP" DB="anteroom_bench_$STAMP"
ADMIN_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
readonly ADMIN_KEY
PIDS=()
declare -A PID_OF=()

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: ERROR: %s\n' "$*" >&2
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
    redis-cli unlink "$NS:probe:waiting" >/dev/null || true
    local ctl
    ctl=$(command -v rabbitmqctl || echo /usr/sbin/rabbitmqctl)
    if [[ -x $ctl ]]; then
        for ((k = 0; k < SHARDS; k++)); do "$ctl" -q delete_queue "$NS.shard.$k" >/dev/null 2>&1 || true; done
        # rabbitmqctl has no delete_exchange; the broker's own function does it.
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
    for c in wrk k6 curl python3 psql redis-cli; do
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

# cpu_ticks PID: "USER SYSTEM" CPU time of the process so far, in clock ticks.
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

wait_http() {
    local name=$1 url=$2 deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null --max-time 2 "$url"; do
        ((SECONDS < deadline)) || { tail -n 20 "$OUT/$name.log" >&2; die "$name not ready at $url"; }
        sleep 0.3
    done
}

# event RATE_PER_MINUTE MAX_ACTIVE ROWS: creates an event open now; prints its id.
event() {
    local body resp
    body=$(
        cat <<JSON
{"name": "bench", "venue": "bench", "timezone": "UTC", "opens_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "admission": {"rate_per_minute": $1, "max_active": $2, "pass_ttl_seconds": 600},
 "hold_ttl_seconds": 120, "max_seats_per_hold": 4,
 "seating": {"sections": [{"name": "A", "rows": $3, "seats_per_row": 50, "price_cents": 1000}]}}
JSON
    )
    resp=$(curl -fsS --max-time 30 -X POST "http://127.0.0.1:$G1_PORT/v1/admin/events" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' --data-binary "$body")
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$resp"
}

# gate_event: an event open now, gated to a shop, admitting at once; prints its id.
gate_event() {
    local body resp
    body=$(
        cat <<JSON
{"name": "bench gate", "venue": "bench", "timezone": "UTC", "opens_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "admission": {"rate_per_minute": 600000, "max_active": 1000000, "pass_ttl_seconds": 3600},
 "hold_ttl_seconds": 120, "max_seats_per_hold": 4,
 "seating": {"sections": [{"name": "A", "rows": 2, "seats_per_row": 50, "price_cents": 1000}]},
 "gate": {"target_url": "https://shop.example.com/tickets"}}
JSON
    )
    resp=$(curl -fsS --max-time 30 -X POST "http://127.0.0.1:$G1_PORT/v1/admin/events" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' --data-binary "$body")
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$resp"
}

# pause ID: PATCH the event to `paused`.
pause() {
    curl -fsS --max-time 30 -o /dev/null -X PATCH "http://127.0.0.1:$G1_PORT/v1/admin/events/$1" \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        --data-binary '{"state": "paused"}'
}

has() { [[ ",$PARTS," == *",$1,"* ]]; }

metric() { # metric NAME: its value on G1, or empty
    curl -fs "http://127.0.0.1:$G1_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# bench NAME SCRIPT URL [ARGS...]: wrk run, output in $OUT/NAME.wrk; the CPU time the
# server (probe or G1) spent meanwhile in $OUT/NAME.cpu ("USER SYSTEM TICKS_PER_SECOND").
bench() {
    local name=$1 script=$2 url=$3 server=g1 user0 sys0 user1 sys1
    shift 3
    [[ $url == *":$PROBE_PORT/"* ]] && server=probe
    log "wrk $name ($url)"
    read -r user0 sys0 < <(cpu_ticks "${PID_OF[$server]}")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$BENCH/$script" "$url" -- "$@" \
        >"$OUT/$name.wrk" 2>&1 || die "wrk $name failed: $(tail -n 5 "$OUT/$name.wrk")"
    read -r user1 sys1 < <(cpu_ticks "${PID_OF[$server]}")
    echo "$((user1 - user0)) $((sys1 - sys0)) $(getconf CLK_TCK)" >"$OUT/$name.cpu"
}

main() {
    mkdir -p "$OUT"
    rm -f "$OUT"/*.wrk "$OUT"/*.cpu "$OUT"/*.json "$OUT"/tokens* "$OUT"/gate_tokens* "$OUT"/passes*
    ensure_tools
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        log "building release binaries"
        cargo build --release -q -p anteroom-gateway -p anteroom-worker -p anteroom-bench --bins
    fi
    for p in "$G1_PORT" "$G2_PORT" "$PROBE_PORT" "$WORKER_PORT"; do
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
        ANTEROOM_TRUSTED_PROXY_HEADER=X-Forwarded-For "${EXTRA_GW_ENV[@]}")
    # One runtime thread per process, gateways and probe alike (tokio reads
    # TOKIO_WORKER_THREADS): on 2 cores shared with wrk/k6, Redis, RabbitMQ and the
    # worker, a second thread per process mostly adds cross-thread wake-ups.
    local threads=(TOKIO_WORKER_THREADS="$GATEWAY_THREADS")
    start g1 "${threads[@]}" "${gw[@]}" ANTEROOM_PORT="$G1_PORT" "$BIN/anteroom-gateway" serve
    start g2 "${threads[@]}" "${gw[@]}" ANTEROOM_PORT="$G2_PORT" "$BIN/anteroom-gateway" serve
    start probe "${threads[@]}" "$BIN/probe" --port "$PROBE_PORT" --redis-url "$REDIS_URL" \
        --key "$NS:probe:waiting"
    wait_http g1 "http://127.0.0.1:$G1_PORT/readyz"
    wait_http g2 "http://127.0.0.1:$G2_PORT/readyz"
    wait_http probe "http://127.0.0.1:$PROBE_PORT/probe/json"

    local join_event status_event rate_event spike_event gate_ev
    join_event=$(event 60 1000 2)
    # Paused after open: joins are taken, nobody is admitted. The bench's joiners never
    # poll, so an open queue would have the admitter sweep them out as abandoned 60 s
    # later, during the next runs: Redis work that belongs to abandonment, not to joins
    # (the k6 spike below measures admission with fans who poll).
    pause "$join_event"
    status_event=$(event 1 1000 2)
    rate_event=$(event 60 1000 2)
    spike_event=$(event "$SPIKE_RATE_PER_MINUTE" 1000000 40)
    gate_ev=$(gate_event)
    log "events: join $join_event, status $status_event, rate $rate_event, spike $spike_event, gate $gate_ev"
    local g1="http://127.0.0.1:$G1_PORT" probe="http://127.0.0.1:$PROBE_PORT"

    if has wrk; then
        log "making $STATUS_FANS waiting fans for the status run"
        # wrk runs for its whole -d even when every thread stopped early.
        wrk -t2 -c16 -d"${COLLECT_SECONDS}s" -s "$BENCH/collect.lua" "$g1/v1/events/$status_event/queue" -- \
            "$OUT/tokens" $((STATUS_FANS / 2)) >"$OUT/collect.wrk" 2>&1
        cat "$OUT"/tokens.* >"$OUT/tokens"
        log "$(wc -l <"$OUT/tokens") tokens"
        log "making $GATE_FANS admitted fans for the gate check run"
        wrk -t2 -c16 -d"${COLLECT_SECONDS}s" -s "$BENCH/collect.lua" "$g1/v1/events/$gate_ev/queue" -- \
            "$OUT/gate_tokens" $((GATE_FANS / 2)) >"$OUT/gate_collect.wrk" 2>&1
        cat "$OUT"/gate_tokens.* >"$OUT/gate_tokens"
        wrk -t2 -c16 -d10s -s "$BENCH/passes.lua" "$g1/v1/events/$gate_ev/queue" -- \
            "$OUT/gate_tokens" "$OUT/passes" $((GATE_FANS / 2)) >"$OUT/gate_passes.wrk" 2>&1
        cat "$OUT"/passes.* >"$OUT/passes"
        log "$(wc -l <"$OUT/passes") passes"

        # Warm-up (connections, JIT of the scripts, caches), not measured.
        DURATION=3s bench warm_probe status.lua "$probe/probe/json" "$OUT/tokens"
        DURATION=3s bench warm_status status.lua "$g1/v1/events/$status_event/queue" "$OUT/tokens"
        DURATION=3s bench warm_check check.lua "$g1/v1/gate/check" "$OUT/passes" "$gate_ev"

        # Probe and gateway alternate, ROUNDS times: a change in background load hits
        # both sides; the report takes the median of each.
        local calls0 reqs0 calls1 reqs1 round
        calls0=$(metric anteroom_status_redis_calls_total)
        reqs0=$(metric anteroom_status_requests_total)
        for ((round = 1; round <= ROUNDS; round++)); do
            bench "probe_json.r$round" status.lua "$probe/probe/json" "$OUT/tokens"
            bench "status.r$round" status.lua "$g1/v1/events/$status_event/queue" "$OUT/tokens"
            bench "gate_check.r$round" check.lua "$g1/v1/gate/check" "$OUT/passes" "$gate_ev"
        done
        calls1=$(metric anteroom_status_redis_calls_total)
        reqs1=$(metric anteroom_status_requests_total)
        printf '{"calls0": "%s", "reqs0": "%s", "calls1": "%s", "reqs1": "%s"}\n' \
            "$calls0" "$reqs0" "$calls1" "$reqs1" >"$OUT/status_metrics.json"
        # Its fans stop polling now; paused, the admitter leaves them be (see above).
        pause "$status_event"

        # Each run's fans get their own addresses (join.lua: 2 million per run).
        for ((round = 1; round <= ROUNDS; round++)); do
            bench "probe_join.r$round" join.lua "$probe/probe/join" $((round * 4000000 - 4000000))
            bench "join.r$round" join.lua "$g1/v1/events/$join_event/queue" $((round * 4000000 - 2000000))
        done

    fi
    if has rate; then
        # Paced wrk (join.lua's schedule): 2 threads, each offering JOIN_RATE / 2 joins a
        # second on RATE_CONNECTIONS / 2 connections. k6 cannot offer this rate here: at
        # ~100 µs of CPU per request it needs a core of its own (it offered 6,624/s of
        # 10,000, dropping the rest, in the run this replaced).
        local per_thread=$((JOIN_RATE / 2))
        log "wrk join_rate: $JOIN_RATE joins/s offered for ${JOIN_RATE_SECONDS}s ($RATE_CONNECTIONS connections)"
        wrk -t2 -c"$RATE_CONNECTIONS" -d"${JOIN_RATE_SECONDS}s" --latency -s "$BENCH/join.lua" \
            "$g1/v1/events/$rate_event/queue" -- 14000000 "$per_thread" >"$OUT/join_rate.r1.wrk" 2>&1 ||
            log "wrk join_rate failed: $(tail -n 3 "$OUT/join_rate.r1.wrk")"
        printf '{"offered_per_second": %s, "seconds": %s, "connections": %s}\n' \
            "$JOIN_RATE" "$JOIN_RATE_SECONDS" "$RATE_CONNECTIONS" >"$OUT/join_rate.json"
    fi
    local spike_rc=0
    if has spike; then
        log "k6 join-spike: $SPIKE_FANS fans within ${SPIKE_JOIN_SECONDS}s on 2 replicas, ${SPIKE_RUN_SECONDS}s"
        python3 k6/server_stats.py --quiet --gateway "$g1" --gateway "http://127.0.0.1:$G2_PORT" \
            --pid gateway="${PID_OF[g1]}" --pid gateway="${PID_OF[g2]}" \
            --worker "http://127.0.0.1:$WORKER_PORT" --pid worker="${PID_OF[worker]}" \
            --redis 127.0.0.1:6379 --client-summary "$OUT/spike.json" \
            --json "$OUT/spike_server.json" --text "$OUT/spike_server.txt" \
            $(command -v rabbitmqctl >/dev/null 2>&1 && echo --rabbitmqctl) -- \
            k6 run --quiet --no-color -e BASE_URLS="$g1,http://127.0.0.1:$G2_PORT" -e EVENT_ID="$spike_event" \
            -e ADMIN_KEY="$ADMIN_KEY" -e FANS="$SPIKE_FANS" -e JOIN_SECONDS="$SPIKE_JOIN_SECONDS" \
            -e RUN_SECONDS="$SPIKE_RUN_SECONDS" -e RATE_PER_MINUTE="$SPIKE_RATE_PER_MINUTE" \
            -e VUS="$SPIKE_VUS" -e SUMMARY_JSON="$OUT/spike.json" \
            k6/join-spike.js >"$OUT/spike.log" 2>&1 || spike_rc=$?
    fi
    uptime >"$OUT/uptime.after"
    python3 "$BENCH/report.py" "$OUT" "$spike_rc" | tee "$OUT/report.txt"
    if has spike && [[ -f $OUT/spike_server.txt ]]; then tee -a "$OUT/report.txt" <"$OUT/spike_server.txt"; fi
}

main "$@"
