#!/usr/bin/env bash
# Makes sure the three services Anteroom needs answer on loopback:
#   Redis 127.0.0.1:6379, RabbitMQ 127.0.0.1:5672 (guest/guest), PostgreSQL 127.0.0.1:5432
#   (postgres://postgres:postgres@127.0.0.1:5432/, database `anteroom`).
#
# For a fresh Debian/Ubuntu machine or container: installs whatever is missing with apt,
# starts whichever service does not answer (no systemd needed), waits until it answers and
# prepares the PostgreSQL role and database. Idempotent: when everything already answers
# it changes nothing. Runs as root, or as a user with sudo. Prints what it did.
#
# Environment: ANTEROOM_SERVICES_TIMEOUT_S (default 90) — how long to wait for each
# service to answer after starting it.
set -euo pipefail

readonly TIMEOUT_S="${ANTEROOM_SERVICES_TIMEOUT_S:-90}"
readonly PG_URL="postgres://postgres:postgres@127.0.0.1:5432"
readonly REDIS_LOG=/var/log/redis/anteroom.log
export DEBIAN_FRONTEND=noninteractive

log() { printf 'services: %s\n' "$*"; }
die() {
    printf 'services: ERROR: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root (directly, or through sudo).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || die "'sudo $*' failed (this script needs root or passwordless sudo)"
    else
        die "need root for '$*': run as root or install sudo"
    fi
}

# Runs a command as the `postgres` OS user (peer authentication over the Unix socket).
as_postgres() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && sudo -n -u postgres "$@")
    fi
}

# Finds a program on PATH or in the sbin directories (not on a normal user's PATH).
have() {
      command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 ]]
}
sbin() {
    if command -v "$1" >/dev/null 2>&1; then command -v "$1"; else echo "/usr/sbin/$1"; fi
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

redis_up() { have redis-cli && [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }
postgres_up() { have pg_isready && pg_isready -q -h 127.0.0.1 -p 5432; }
rabbitmq_up() { tcp_open 5672; }
# Stronger check used after starting RabbitMQ: the node answers its CLI, not only TCP.
rabbitmq_ready() {
    rabbitmq_up || return 1
    if have rabbitmq-diagnostics; then
        as_root "$(sbin rabbitmq-diagnostics)" -q ping >/dev/null 2>&1
    fi
}

# wait_for NAME CHECK HINT: polls CHECK every 0.5 s until it succeeds or TIMEOUT_S passes.
wait_for() {
    local name=$1 check=$2 hint=$3 deadline=$((SECONDS + TIMEOUT_S))
    until "$check"; do
        if ((SECONDS >= deadline)); then
            die "$name did not answer within ${TIMEOUT_S}s after start; see $hint"
        fi
        sleep 0.5
    done
    log "$name answers"
}

install_missing() {
    local pkgs=()
    { have redis-server && have redis-cli; } || pkgs+=(redis-server)
    have rabbitmq-server || pkgs+=(rabbitmq-server)
    { have pg_ctlcluster && have psql && have pg_isready; } || pkgs+=(postgresql)
    # The cluster and TLS topology (deploy/local/cluster.sh) makes its certificates.
    have openssl || pkgs+=(openssl)
    if ((${#pkgs[@]} == 0)); then
        return 0
    fi
    log "installing with apt: ${pkgs[*]}"
    as_root apt-get update -qq
    as_root apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

start_redis() {
    log "starting Redis on 127.0.0.1:6379 (log $REDIS_LOG)"
    as_root mkdir -p /var/lib/redis /var/log/redis
    # Append-only file, fsync every second, as compose runs it: a restart keeps the
    # queue (places, counters, lottery record); a crash loses at most the last second of
    # writes, which the fans' queue tokens and the gateways put back (docs/OPERATIONS.md).
    as_root "$(sbin redis-server)" --daemonize yes --bind 127.0.0.1 --port 6379 \
        --save "" --appendonly yes --appendfsync everysec --dir /var/lib/redis \
        --logfile "$REDIS_LOG"
    wait_for Redis redis_up "$REDIS_LOG"
}

# The newest installed PostgreSQL major version with a cluster (creating `main` if none).
postgres_version() {
    local ver
    ver=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
    if [[ -z $ver ]]; then
        ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
        [[ -n $ver ]] || die "PostgreSQL is not installed under /usr/lib/postgresql"
        log "creating PostgreSQL cluster $ver/main" >&2
        as_root pg_createcluster "$ver" main >/dev/null
    fi
    echo "$ver"
}

start_postgres() {
    local ver conf
    ver=$(postgres_version)
    conf=/etc/postgresql/$ver/main/conf.d/50-anteroom.conf
    if [[ ! -e $conf ]]; then
        log "writing $conf (listen on 127.0.0.1:5432 only)"
        printf "# Written by Anteroom's deploy/local/services.sh\nlisten_addresses = '127.0.0.1'\nport = 5432\n" |
            as_root tee "$conf" >/dev/null
    fi
    # The socket directory lives on tmpfs in containers and may be gone after a restart.
    as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    log "starting PostgreSQL $ver/main on 127.0.0.1:5432"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    wait_for PostgreSQL postgres_up "/var/log/postgresql/postgresql-$ver-main.log"
}

# Adds `KEY=value` to rabbitmq-env.conf unless KEY is already set there.
rabbitmq_env() {
    local file=/etc/rabbitmq/rabbitmq-env.conf key=$1 value=$2
    if ! as_root grep -qE "^[[:space:]]*(export[[:space:]]+)?(RABBITMQ_)?${key}=" "$file" 2>/dev/null; then
        log "setting $key=$value in $file"
        as_root mkdir -p /etc/rabbitmq
        printf '%s=%s\n' "$key" "$value" | as_root tee -a "$file" >/dev/null
    fi
}

start_rabbitmq() {
    # Loopback only: AMQP listener and Erlang port mapper.
    rabbitmq_env NODE_IP_ADDRESS 127.0.0.1
    rabbitmq_env ERL_EPMD_ADDRESS 127.0.0.1
    # ...and the inter-node distribution port (25672).
    if ! as_root grep -q inet_dist_use_interface /etc/rabbitmq/rabbitmq-env.conf 2>/dev/null; then
        rabbitmq_env SERVER_ADDITIONAL_ERL_ARGS '"-kernel inet_dist_use_interface {127,0,0,1}"'
    fi
    # The node name defaults to rabbit@<hostname>; containers often have a host name that
    # does not resolve, and then the node cannot start.
    if ! getent hosts "$(hostname -s)" >/dev/null 2>&1; then
        rabbitmq_env NODENAME rabbit@localhost
    fi
    log "starting RabbitMQ on 127.0.0.1:5672 (logs in /var/log/rabbitmq/)"
    as_root "$(sbin rabbitmq-server)" -detached
    wait_for RabbitMQ rabbitmq_ready "/var/log/rabbitmq/"
}

# PostgreSQL must accept postgres:postgres over TCP, and database `anteroom` must exist.
prepare_postgres() {
    if ! psql "$PG_URL/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
        log "setting the password of PostgreSQL role postgres to 'postgres' (local development only)"
        as_postgres psql -q -c "ALTER ROLE postgres WITH LOGIN PASSWORD 'postgres'" ||
            die "could not set the password of role postgres"
        psql "$PG_URL/postgres" -Atqc 'select 1' >/dev/null ||
            die "PostgreSQL still refuses $PG_URL/postgres (check pg_hba.conf)"
    fi
    if [[ -z "$(psql "$PG_URL/postgres" -Atqc "select 1 from pg_database where datname = 'anteroom'")" ]]; then
        log "creating database anteroom"
        psql "$PG_URL/postgres" -q -c 'CREATE DATABASE anteroom'
    fi
}

main() {
    install_missing
    if redis_up; then log "Redis already answers on 127.0.0.1:6379"; else start_redis; fi
    if rabbitmq_up; then log "RabbitMQ already answers on 127.0.0.1:5672"; else start_rabbitmq; fi
    if postgres_up; then log "PostgreSQL already answers on 127.0.0.1:5432"; else start_postgres; fi
    prepare_postgres
    log "ready: redis://127.0.0.1:6379 amqp://guest:guest@127.0.0.1:5672/%2f $PG_URL/anteroom"
}

main "$@"
