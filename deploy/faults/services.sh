#!/usr/bin/env bash
# Private PostgreSQL, RabbitMQ and Redis instances for the fault run (deploy/faults/run.sh),
# so that stopping PostgreSQL or restarting RabbitMQ never touches the shared services on
# 5432/5672/6379 that other tests use.
#
#   deploy/faults/services.sh start             start all three, write $RUN_DIR/env
#   deploy/faults/services.sh stop              stop all three, delete $RUN_DIR
#   deploy/faults/services.sh pg-stop|pg-start  PostgreSQL outage (immediate shutdown:
#                                               connections die as in a crash)
#   deploy/faults/services.sh rabbitmq-stop|rabbitmq-start   the RabbitMQ node, fully
#   deploy/faults/services.sh redis-stop|redis-start   Redis, shut down and started again
#                                               (its append-only file keeps the data)
#   deploy/faults/services.sh redis-pause|redis-resume   Redis hangs: SIGSTOP/SIGCONT, so
#                                               the kernel still accepts connections but
#                                               nothing answers
#
# With the cluster topology (FAULTS_TOPOLOGY=cluster in run.sh, CLUSTER_RUN_DIR set),
# Redis and RabbitMQ are the local clusters of deploy/local/cluster/, failed node by node:
#   deploy/faults/services.sh redis-kill-primary KEY    kill -9 the primary of KEY's slot;
#                                               prints its port
#   deploy/faults/services.sh redis-wait-writable KEY   wait (at most 60 s) until a key in
#                                               KEY's slot takes writes; prints the port of
#                                               the slot's primary
#   deploy/faults/services.sh redis-restart-node PORT   start a killed node again
#   deploy/faults/services.sh rabbitmq-leader QUEUE     the node (1..3) leading QUEUE
#   deploy/faults/services.sh rabbitmq-node-stop|rabbitmq-node-start N
#
# Instances (loopback only):
#   PostgreSQL  127.0.0.1:$FAULTS_PG_PORT (5499), trust auth, data in $RUN_DIR/pg (initdb),
#               run as the `postgres` OS user; fsync off (a process crash loses nothing
#               committed either way, and the shared disk is spared)
#   RabbitMQ    node faults@localhost, AMQP 127.0.0.1:$FAULTS_AMQP_PORT (5673), distribution
#               port $FAULTS_AMQP_DIST_PORT (25673), no plugins, data in $RUN_DIR/rabbitmq,
#               run as the `rabbitmq` OS user (the shared node's Erlang cookie)
#   Redis       127.0.0.1:$FAULTS_REDIS_PORT (16390), append-only file fsynced every
#               second (a restart keeps the queue, as a production Redis would), data in
#               $RUN_DIR
#
# RUN_DIR defaults to /tmp/anteroom-faults; `start` first stops whatever a previous,
# interrupted run left there. Needs root (or passwordless sudo), PostgreSQL server
# binaries, rabbitmq-server and redis-server (deploy/local/services.sh installs them).
set -euo pipefail

readonly RUN_DIR="${FAULTS_RUN_DIR:-/tmp/anteroom-faults}"
readonly PG_PORT="${FAULTS_PG_PORT:-5499}"
readonly AMQP_PORT="${FAULTS_AMQP_PORT:-5673}"
readonly AMQP_DIST_PORT="${FAULTS_AMQP_DIST_PORT:-25673}"
readonly REDIS_PORT="${FAULTS_REDIS_PORT:-16390}"
readonly NODE=faults@localhost
readonly RMQ_HOME=/var/lib/rabbitmq

log() { printf 'faults/services: %s\n' "$*"; }
die() {
    printf 'faults/services: ERROR: %s\n' "$*" >&2
    exit 1
}
as_user() {
    local user=$1
    shift
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u "$user" -- "$@")
    else
        (cd / && sudo -n -u "$user" "$@")
    fi
}
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
pg_bin() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
    [[ -n $dir && -x $dir/initdb ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    echo "$dir"
}

# ---- PostgreSQL ----
pg_ctl_() { as_user postgres "$(pg_bin)/pg_ctl" -D "$RUN_DIR/pg/data" "$@"; }
pg_start() {
    pg_ctl_ -l "$RUN_DIR/pg/log" -w -t 60 \
        -o "-p $PG_PORT -k $RUN_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
        start >/dev/null
    log "PostgreSQL answers on 127.0.0.1:$PG_PORT"
}
pg_stop() {
    if [[ -f $RUN_DIR/pg/data/postmaster.pid ]]; then
        pg_ctl_ -m immediate -w stop >/dev/null || true
        log "PostgreSQL on $PG_PORT stopped"
    fi
}
pg_init() {
    as_root install -d -o postgres -g postgres -m 700 "$RUN_DIR/pg"
    as_user postgres "$(pg_bin)/initdb" -D "$RUN_DIR/pg/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >/dev/null
    pg_start
    psql "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -q -c 'CREATE DATABASE anteroom'
}

# ---- RabbitMQ ----
rmq() {
    as_user rabbitmq env HOME="$RMQ_HOME" \
        RABBITMQ_CONF_ENV_FILE="$RUN_DIR/rabbitmq/env.conf" \
        RABBITMQ_NODENAME="$NODE" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$AMQP_PORT" \
        RABBITMQ_DIST_PORT="$AMQP_DIST_PORT" \
        RABBITMQ_MNESIA_BASE="$RUN_DIR/rabbitmq/mnesia" \
        RABBITMQ_LOG_BASE="$RUN_DIR/rabbitmq/log" \
        RABBITMQ_CONFIG_FILE="$RUN_DIR/rabbitmq/rabbitmq.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$RUN_DIR/rabbitmq/enabled_plugins" \
        RABBITMQ_PID_FILE="$RUN_DIR/rabbitmq/pid" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        "$@"
}
rabbitmq_start() {
    rmq /usr/lib/rabbitmq/bin/rabbitmq-server -detached
    rmq /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$NODE" wait "$RUN_DIR/rabbitmq/pid" --timeout 90 \
        >/dev/null
    log "RabbitMQ node $NODE answers on 127.0.0.1:$AMQP_PORT"
}
rabbitmq_stop() {
    if [[ -f $RUN_DIR/rabbitmq/pid ]]; then
        rmq /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$NODE" stop "$RUN_DIR/rabbitmq/pid" >/dev/null 2>&1 ||
            true
        log "RabbitMQ node $NODE stopped"
    fi
}
rabbitmq_init() {
    as_root install -d -o rabbitmq -g rabbitmq -m 755 "$RUN_DIR/rabbitmq" \
        "$RUN_DIR/rabbitmq/mnesia" "$RUN_DIR/rabbitmq/log"
    printf '[].\n' | as_root tee "$RUN_DIR/rabbitmq/enabled_plugins" >/dev/null
    printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users = none\n' "$AMQP_PORT" |
        as_root tee "$RUN_DIR/rabbitmq/rabbitmq.conf" >/dev/null
    as_root touch "$RUN_DIR/rabbitmq/env.conf"
    as_root chown rabbitmq:rabbitmq "$RUN_DIR/rabbitmq/enabled_plugins" \
        "$RUN_DIR/rabbitmq/rabbitmq.conf" "$RUN_DIR/rabbitmq/env.conf"
    rabbitmq_start
}

# ---- Redis ----
redis_start() {
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly yes --appendfsync everysec --dir "$RUN_DIR" \
        --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log"
    local deadline=$((SECONDS + 20))
    until [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; do
        ((SECONDS < deadline)) || die "Redis did not answer on $REDIS_PORT"
        sleep 0.2
    done
    log "Redis answers on 127.0.0.1:$REDIS_PORT"
}
redis_stop() {
    if [[ -f $RUN_DIR/redis.pid ]]; then
        local pid
        pid=$(<"$RUN_DIR/redis.pid")
        # A paused Redis would never answer SHUTDOWN.
        kill -CONT "$pid" 2>/dev/null || true
        # SHUTDOWN flushes the append-only file; the wait makes a following start safe.
        redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        rm -f "$RUN_DIR/redis.pid"
        log "Redis on $REDIS_PORT stopped"
    fi
}
redis_signal() {
    [[ -f $RUN_DIR/redis.pid ]] || die "Redis is not running (no $RUN_DIR/redis.pid)"
    kill "-$1" "$(<"$RUN_DIR/redis.pid")"
    log "Redis on $REDIS_PORT: SIG$1"
}

stop_all() {
    [[ -d $RUN_DIR ]] || return 0
    rabbitmq_stop
    pg_stop
    redis_stop
    as_root rm -rf "$RUN_DIR"
}

start_all() {
    stop_all
    for port in "$PG_PORT" "$AMQP_PORT" "$AMQP_DIST_PORT" "$REDIS_PORT"; do
        if tcp_open "$port"; then die "port $port is taken (set FAULTS_*_PORT)"; fi
    done
    command -v redis-server >/dev/null || die "redis-server is not installed"
    [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || die "rabbitmq-server is not installed"
    as_root install -d -m 755 "$RUN_DIR"
    pg_init
    rabbitmq_init
    redis_start
    cat >"$RUN_DIR/env" <<ENV
FAULTS_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/anteroom
FAULTS_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f
FAULTS_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
ENV
}

# ---- the clusters (deploy/local/cluster/) ----
readonly CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../local/cluster" && pwd)"
# Writes a probe key that shares KEY's hash tag (so KEY's slot) through any node, following
# redirects, until one write succeeds; then prints the slot's primary.
redis_wait_writable() {
    local key=${1:?usage: $0 redis-wait-writable KEY} tag probe port deadline=$((SECONDS + 60))
    tag=$(sed -n 's/^[^{]*\({[^}]*}\).*/\1/p' <<<"$key")
    probe="faults-probe:${tag:-{$key}}"
    while ((SECONDS < deadline)); do
        for port in 7001 7002 7003 7004 7005 7006; do
            if [[ $(redis-cli -c -p "$port" set "$probe" 1 px 10000 2>/dev/null) == OK ]]; then
                "$CLUSTER_DIR/redis.sh" primary "$probe"
                return 0
            fi
        done
        sleep 0.1
    done
    die "the slot of $key took no write for 60 s"
}

case "${1:-}" in
start) start_all ;;
stop) stop_all ;;
pg-stop) pg_stop ;;
pg-start) pg_start ;;
rabbitmq-stop) rabbitmq_stop ;;
rabbitmq-start) rabbitmq_start ;;
redis-stop) redis_stop ;;
redis-start) redis_start ;;
redis-pause) redis_signal STOP ;;
redis-resume) redis_signal CONT ;;
redis-kill-primary) "$CLUSTER_DIR/redis.sh" kill-primary "${2:?KEY}" ;;
redis-wait-writable) redis_wait_writable "${2:-}" ;;
redis-restart-node) "$CLUSTER_DIR/redis.sh" restart-node "${2:?PORT}" >&2 ;;
rabbitmq-leader) "$CLUSTER_DIR/rabbitmq.sh" leader "${2:?QUEUE}" ;;
rabbitmq-node-stop) "$CLUSTER_DIR/rabbitmq.sh" stop-node "${2:?N}" >&2 ;;
rabbitmq-node-start) "$CLUSTER_DIR/rabbitmq.sh" start-node "${2:?N}" >&2 ;;
*) die "usage: $0 start|stop|pg-stop|pg-start|rabbitmq-stop|rabbitmq-start|redis-stop|redis-start|redis-pause|redis-resume|redis-kill-primary KEY|redis-wait-writable KEY|redis-restart-node PORT|rabbitmq-leader QUEUE|rabbitmq-node-stop N|rabbitmq-node-start N" ;;
esac
