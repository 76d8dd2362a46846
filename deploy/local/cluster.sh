#!/usr/bin/env bash
# The local cluster and TLS topology of all three services, for trying Anteroom against
# a Redis Cluster, a RabbitMQ cluster and TLS listeners on one machine, and for the
# cluster and TLS modes of the test command (deploy/local/test.sh).
#
#   deploy/local/cluster.sh start        start every topology below (a leftover of an
#                                        interrupted run is stopped first)
#   deploy/local/cluster.sh stop         stop them all, delete $CLUSTER_RUN_DIR
#   deploy/local/cluster.sh env cluster  `export ANTEROOM_TEST_...` lines: the Redis
#                                        Cluster, the RabbitMQ cluster, the shared plain
#                                        PostgreSQL on 5432
#   deploy/local/cluster.sh env tls      `export ANTEROOM_TEST_...` lines: TLS Redis,
#                                        amqps://, PostgreSQL with sslmode=verify-full,
#                                        each with the CA file that verifies it
#
# e.g. `deploy/local/cluster.sh start && eval "$(deploy/local/cluster.sh env tls)"`, then
# any test command. Each service has its own script in deploy/local/cluster/ with the same
# verbs (and more: failing a node, a check):
#   redis.sh     6-node Redis Cluster 127.0.0.1:7001-7006 (3 primaries, 3 replicas) and a
#                TLS-only Redis on 127.0.0.1:6390
#   rabbitmq.sh  3-node RabbitMQ cluster 127.0.0.1:5681-5683, node 1 also amqps on 5691
#   postgres.sh  PostgreSQL on 127.0.0.1:5433 that accepts TLS connections only
# They share one throwaway CA (cluster/ca.sh $CLUSTER_RUN_DIR/tls). Loopback only; the
# shared services on 5432/5672/6379 are never touched.
#
# CLUSTER_RUN_DIR defaults to /tmp/anteroom-cluster. A service that does not start fails
# `start` (non-zero exit, the others stopped again). Needs root (or passwordless sudo),
# redis-server, rabbitmq-server, the PostgreSQL server binaries and openssl
# (deploy/local/services.sh installs them).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly RUN_DIR="${CLUSTER_RUN_DIR:-/tmp/anteroom-cluster}"
readonly SERVICES=(redis rabbitmq postgres)

log() { printf 'cluster: %s\n' "$*" >&2; }
die() {
    printf 'cluster: ERROR: %s\n' "$*" >&2
    exit 1
}
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}
script() {
    local path="$HERE/cluster/$1.sh"
    [[ -x $path ]] || die "$path is missing"
    echo "$path"
}

stop_all() {
    local service
    # Every script is asked even if one fails, so that nothing keeps running.
    for service in "${SERVICES[@]}"; do
        if [[ -x $HERE/cluster/$service.sh ]]; then
            "$HERE/cluster/$service.sh" stop || log "stopping $service failed"
        fi
    done
    as_root rm -rf "$RUN_DIR"
}

start_all() {
    local service started=$SECONDS
    for service in "${SERVICES[@]}"; do script "$service" >/dev/null; done
    stop_all
    for service in "${SERVICES[@]}"; do
        log "starting $service"
        if ! "$(script "$service")" start; then
            log "$service did not start; stopping everything"
            stop_all
            die "$service did not start"
        fi
    done
    log "topology up in $((SECONDS - started)) s (env: $0 env cluster|tls)"
}

print_env() {
    local mode=${1:-} service
    [[ $mode == cluster || $mode == tls ]] || die "usage: $0 env cluster|tls"
    for service in "${SERVICES[@]}"; do
        "$(script "$service")" env "$mode"
    done
}

case "${1:-}" in
start) start_all ;;
stop) stop_all ;;
env) print_env "${2:-}" ;;
*) die "usage: $0 start|stop|env cluster|tls" ;;
esac
