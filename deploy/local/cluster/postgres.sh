#!/usr/bin/env bash
# A private PostgreSQL that accepts TLS connections only, for trying and testing the
# gateway and worker with `sslmode=verify-full`.
#
#   deploy/local/cluster/postgres.sh start        start it (TLS on, plaintext refused),
#                                                 then run `check`
#   deploy/local/cluster/postgres.sh stop         stop it, delete its data
#   deploy/local/cluster/postgres.sh check        prove the TLS rules on the running
#                                                 server: verify-full connects over TLS,
#                                                 a plaintext client is refused
#   deploy/local/cluster/postgres.sh env tls      `export` line: this server, verify-full,
#                                                 with the CA file that verifies it
#   deploy/local/cluster/postgres.sh env cluster  `export` line: the shared plain
#                                                 PostgreSQL on 127.0.0.1:5432 (a cluster
#                                                 of PostgreSQL is not part of the topology)
#
# `eval "$(deploy/local/cluster/postgres.sh env tls)"` points the tests
# (ANTEROOM_TEST_DATABASE_URL, the maintenance database) at the TLS server.
#
# Instance (loopback only): 127.0.0.1:$CLUSTER_PG_PORT (5433), run as the `postgres` OS
# user, data in $CLUSTER_RUN_DIR/pg (initdb), fsync off (test data only), certificate
# from deploy/local/cluster/ca.sh $CLUSTER_RUN_DIR/tls (SAN localhost and 127.0.0.1, so
# both verify). pg_hba.conf:
#   local     all all              trust    the Unix socket in $CLUSTER_RUN_DIR/pg
#   hostssl   all all 127.0.0.1/32 trust    TCP with TLS
#   hostnossl all all 0.0.0.0/0    reject   TCP without TLS: refused
#
# CLUSTER_RUN_DIR defaults to /tmp/anteroom-cluster; `start` first stops whatever a
# previous, interrupted run left in $CLUSTER_RUN_DIR/pg (the TLS directory is kept: the
# other services of the local topology use the same CA). Needs root (or passwordless
# sudo), the PostgreSQL server binaries, psql and openssl (deploy/local/services.sh
# installs them).
set -euo pipefail

readonly RUN_DIR="${CLUSTER_RUN_DIR:-/tmp/anteroom-cluster}"
readonly DATA="$RUN_DIR/pg"
readonly TLS_DIR="$RUN_DIR/tls"
readonly PORT="${CLUSTER_PG_PORT:-5433}"
readonly SHARED_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'cluster/postgres: %s\n' "$*" >&2; }
die() {
    printf 'cluster/postgres: ERROR: %s\n' "$*" >&2
    exit 1
}
as_postgres() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && sudo -n -u postgres "$@")
    fi
}
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
pg_bin() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n1)
    [[ -n $dir && -x $dir/initdb ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    echo "$dir"
}
# The URL clients use: `localhost` is verified against the certificate's DNS name.
tls_url() {
    echo "postgres://postgres@localhost:$PORT/${1:-postgres}?sslmode=verify-full&sslrootcert=$TLS_DIR/ca.pem"
}

pg_ctl_() { as_postgres "$(pg_bin)/pg_ctl" -D "$DATA/data" "$@"; }

stop_pg() {
    if [[ -f $DATA/data/postmaster.pid ]]; then
        pg_ctl_ -m fast -w stop >/dev/null || true
        log "PostgreSQL on $PORT stopped"
    fi
    as_root rm -rf "$DATA"
}

start_pg() {
    stop_pg
    if tcp_open "$PORT"; then die "port $PORT is taken (set CLUSTER_PG_PORT)"; fi
    command -v openssl >/dev/null || die "openssl is not installed"
    command -v psql >/dev/null || die "psql is not installed"
    as_root "$HERE/ca.sh" "$TLS_DIR"
    as_root install -d -o postgres -g postgres -m 700 "$DATA"
    as_postgres "$(pg_bin)/initdb" -D "$DATA/data" -U postgres --auth=trust -E UTF8 \
        --no-sync >/dev/null
    # PostgreSQL refuses a key file that others can read: its own copies, mode 0600.
    as_root install -o postgres -g postgres -m 600 "$TLS_DIR/server.pem" "$DATA/server.pem"
    as_root install -o postgres -g postgres -m 600 "$TLS_DIR/server.key" "$DATA/server.key"
    printf '%s\n' \
        'local     all all              trust' \
        'hostssl   all all 127.0.0.1/32 trust' \
        'hostnossl all all 0.0.0.0/0    reject' |
        as_root tee "$DATA/data/pg_hba.conf" >/dev/null
    as_root chown postgres:postgres "$DATA/data/pg_hba.conf"
    pg_ctl_ -l "$DATA/log" -w -t 60 -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 \
-c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$DATA/server.pem \
-c ssl_key_file=$DATA/server.key" start >/dev/null ||
        die "PostgreSQL did not start; see $DATA/log"
    psql "$(tls_url)" -X -q -c 'CREATE DATABASE anteroom' >/dev/null
    log "PostgreSQL answers on 127.0.0.1:$PORT (TLS only)"
    check_pg
}

# The oracle is the server itself: pg_stat_ssl for the verified connection, and the
# server's refusal (its pg_hba message) for the plaintext one.
check_pg() {
    local ssl err
    ssl=$(psql "$(tls_url)" -X -Atq -c \
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()') ||
        die "a verify-full client could not connect to 127.0.0.1:$PORT"
    [[ $ssl == t ]] || die "the verify-full connection is not encrypted (pg_stat_ssl.ssl=$ssl)"
    if err=$(psql "postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable" -X -Atq \
        -c 'SELECT 1' 2>&1); then
        die "a plaintext client was let in on 127.0.0.1:$PORT"
    fi
    [[ $err == *'no encryption'* ]] ||
        die "a plaintext client failed, but not by the pg_hba rule: $err"
    log "check: verify-full connects over TLS; plaintext is refused (pg_hba: no encryption)"
}

print_env() {
    case "${1:-}" in
    # Single quotes: the URL's `&` must survive `eval`.
    tls) printf "export ANTEROOM_TEST_DATABASE_URL='%s'\n" "$(tls_url)" ;;
    cluster) printf "export ANTEROOM_TEST_DATABASE_URL='%s'\n" "$SHARED_URL" ;;
    *) die "usage: $0 env tls|cluster" ;;
    esac
}

case "${1:-}" in
start) start_pg ;;
stop) stop_pg ;;
check) check_pg ;;
env) print_env "${2:-}" ;;
*) die "usage: $0 start|stop|check|env tls|cluster" ;;
esac
