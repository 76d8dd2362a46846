#!/usr/bin/env bash
# A three-node RabbitMQ cluster on loopback, one node with a TLS listener, for trying
# and testing the gateway and worker against a list of brokers and against amqps://.
#
#   deploy/local/cluster/rabbitmq.sh start         start three nodes, cluster them
#   deploy/local/cluster/rabbitmq.sh stop          stop every node, delete their data
#   deploy/local/cluster/rabbitmq.sh stop-node N   stop node N (1..3), keep its data
#   deploy/local/cluster/rabbitmq.sh start-node N  start node N again (it rejoins)
#   deploy/local/cluster/rabbitmq.sh status        the cluster as node 1 sees it
#   deploy/local/cluster/rabbitmq.sh leader QUEUE  the number (1..3) of the node that
#                                                  leads the quorum queue QUEUE
#   deploy/local/cluster/rabbitmq.sh env cluster   `export` lines: the three nodes' list
#   deploy/local/cluster/rabbitmq.sh env tls       `export` lines: amqps:// to node 1 and
#                                                  the CA file that verifies it
#
# `eval "$(deploy/local/cluster/rabbitmq.sh env cluster)"` points the tests
# (ANTEROOM_TEST_AMQP_URL, ANTEROOM_TEST_AMQP_CA_FILE) at the cluster.
#
# Nodes (loopback only, no plugins, run as the `rabbitmq` OS user, which shares the
# Erlang cookie of the machine's own node):
#   anteroom-cN@localhost   AMQP 127.0.0.1:568N, distribution port 2568N, data in
#                           $CLUSTER_RUN_DIR/rabbitmq/cN
#   anteroom-c1@localhost   also AMQP over TLS on 127.0.0.1:5691 (server authentication
#                           only: clients present no certificate), certificate from
#                           deploy/local/cluster/ca.sh $CLUSTER_RUN_DIR/tls
# Each node runs one Erlang scheduler and a small Raft write-ahead log, so three of them
# fit next to the shared services on a small machine.
#
# CLUSTER_RUN_DIR defaults to /tmp/anteroom-cluster; `start` first stops whatever a
# previous, interrupted run left in $CLUSTER_RUN_DIR/rabbitmq (the TLS directory is
# kept: other services of the local cluster may use the same CA). Needs root and
# rabbitmq-server (deploy/local/services.sh installs it).
set -euo pipefail

readonly RUN_DIR="${CLUSTER_RUN_DIR:-/tmp/anteroom-cluster}"
readonly DATA="$RUN_DIR/rabbitmq"
readonly TLS_DIR="$RUN_DIR/tls"
readonly NODES=(1 2 3)
readonly TLS_PORT=5691
readonly RMQ_HOME=/var/lib/rabbitmq
readonly RMQ_BIN=/usr/lib/rabbitmq/bin
readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'cluster/rabbitmq: %s\n' "$*" >&2; }
die() {
    printf 'cluster/rabbitmq: ERROR: %s\n' "$*" >&2
    exit 1
}
as_rabbitmq() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u rabbitmq -- "$@")
    else
        (cd / && sudo -n -u rabbitmq "$@")
    fi
}
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

node_name() { echo "anteroom-c$1@localhost"; }
amqp_port() { echo "568$1"; }
dist_port() { echo "2568$1"; }
check_n() { [[ ${1:-} =~ ^[123]$ ]] || die "node number must be 1, 2 or 3 (got '${1:-}')"; }

# Runs a RabbitMQ command with node N's environment.
rmq() {
    local n=$1
    shift
    local dir="$DATA/c$n"
    as_rabbitmq env HOME="$RMQ_HOME" \
        RABBITMQ_CONF_ENV_FILE="$dir/env.conf" \
        RABBITMQ_NODENAME="$(node_name "$n")" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$(amqp_port "$n")" \
        RABBITMQ_DIST_PORT="$(dist_port "$n")" \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" \
        RABBITMQ_LOG_BASE="$dir/log" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        RABBITMQ_PID_FILE="$dir/pid" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none" \
        "$@"
}
ctl() {
    local n=$1
    shift
    rmq "$n" "$RMQ_BIN/rabbitmqctl" -q -n "$(node_name "$n")" "$@"
}

node_init() {
    local n=$1 dir="$DATA/c$1"
    as_root install -d -o rabbitmq -g rabbitmq -m 755 "$dir" "$dir/mnesia" "$dir/log"
    printf '[].\n' | as_root tee "$dir/enabled_plugins" >/dev/null
    {
        printf 'listeners.tcp.local = 127.0.0.1:%s\n' "$(amqp_port "$n")"
        printf 'loopback_users = none\n'
        # Small nodes: the Raft write-ahead log is kept in memory until it is this big.
        printf 'raft.wal_max_size_bytes = 16777216\n'
        printf 'vm_memory_high_watermark.absolute = 512MiB\n'
        printf 'disk_free_limit.absolute = 100MB\n'
        if [[ $n == 1 ]]; then
            printf 'listeners.ssl.default = 127.0.0.1:%s\n' "$TLS_PORT"
            printf 'ssl_options.cacertfile = %s\n' "$TLS_DIR/ca.pem"
            printf 'ssl_options.certfile = %s\n' "$TLS_DIR/server.pem"
            printf 'ssl_options.keyfile = %s\n' "$TLS_DIR/server.key"
            printf 'ssl_options.verify = verify_none\n'
            printf 'ssl_options.fail_if_no_peer_cert = false\n'
        fi
    } | as_root tee "$dir/rabbitmq.conf" >/dev/null
    as_root touch "$dir/env.conf"
    as_root chown rabbitmq:rabbitmq "$dir/enabled_plugins" "$dir/rabbitmq.conf" "$dir/env.conf"
}

node_start() {
    local n=$1
    [[ -d $DATA/c$n ]] || die "node $n has no data directory; run start first"
    rmq "$n" "$RMQ_BIN/rabbitmq-server" -detached
    ctl "$n" wait "$DATA/c$n/pid" --timeout 120 >/dev/null
    log "node $(node_name "$n") answers on 127.0.0.1:$(amqp_port "$n")"
}

node_stop() {
    local n=$1
    if [[ -f $DATA/c$n/pid ]]; then
        ctl "$n" stop "$DATA/c$n/pid" >/dev/null 2>&1 || true
        log "node $(node_name "$n") stopped"
    fi
}

stop_all() {
    [[ -d $DATA ]] || return 0
    local n
    for n in "${NODES[@]}"; do node_stop "$n"; done
    as_root rm -rf "$DATA"
}

start_all() {
    stop_all
    [[ -x $RMQ_BIN/rabbitmq-server ]] || die "rabbitmq-server is not installed"
    local n port
    for n in "${NODES[@]}"; do
        for port in "$(amqp_port "$n")" "$(dist_port "$n")"; do
            if tcp_open "$port"; then die "port $port is taken"; fi
        done
    done
    if tcp_open "$TLS_PORT"; then die "port $TLS_PORT is taken"; fi
    "$HERE/ca.sh" "$TLS_DIR"
    # The rabbitmq user reads the certificate and key through these directories.
    as_root chmod 755 "$RUN_DIR" "$TLS_DIR"
    as_root install -d -m 755 "$DATA"
    for n in "${NODES[@]}"; do
        node_init "$n"
        node_start "$n"
    done
    for n in 2 3; do
        # join_cluster prints harmless errors about tables of the node it stopped; the
        # output is kept for when a step fails.
        local out="$DATA/c$n/join.log"
        { ctl "$n" stop_app && ctl "$n" join_cluster "$(node_name 1)" && ctl "$n" start_app; } \
            >"$out" 2>&1 || {
            cat "$out" >&2
            die "node $(node_name "$n") could not join $(node_name 1)"
        }
        log "node $(node_name "$n") joined $(node_name 1)"
    done
    ctl 1 await_online_nodes 3 --timeout 60 >/dev/null 2>&1 || true
    log "cluster of 3 nodes ready; TLS on 127.0.0.1:$TLS_PORT"
}

print_env() {
    case "${1:-}" in
    cluster)
        local urls=() n
        for n in "${NODES[@]}"; do
            urls+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/%2f")
        done
        local IFS=,
        printf 'export ANTEROOM_TEST_AMQP_URL=%s\n' "${urls[*]}"
        printf 'export ANTEROOM_TEST_AMQP_CA_FILE=\n'
        ;;
    tls)
        printf 'export ANTEROOM_TEST_AMQP_URL=amqps://guest:guest@localhost:%s/%%2f\n' "$TLS_PORT"
        printf 'export ANTEROOM_TEST_AMQP_CA_FILE=%s\n' "$TLS_DIR/ca.pem"
        ;;
    *) die "usage: $0 env cluster|tls" ;;
    esac
}

# The number of the node leading quorum queue $1, asked of the first node that answers
# (the leader's own node may be the one that is down).
print_leader() {
    local queue=$1 n leader
    for n in "${NODES[@]}"; do
        [[ -f $DATA/c$n/pid ]] || continue
        leader=$(ctl "$n" list_queues name leader --no-table-headers 2>/dev/null |
            awk -v q="$queue" '$1 == q { print $2 }') || continue
        if [[ $leader =~ ^anteroom-c([123])@ ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
    done
    die "no node names a leader of $queue"
}

case "${1:-}" in
start) start_all ;;
stop) stop_all ;;
stop-node) check_n "${2:-}" && node_stop "$2" ;;
start-node) check_n "${2:-}" && node_start "$2" ;;
status) ctl 1 cluster_status ;;
leader) print_leader "${2:?usage: $0 leader QUEUE}" ;;
env) print_env "${2:-}" ;;
*) die "usage: $0 start|stop|stop-node N|start-node N|status|leader QUEUE|env cluster|tls" ;;
esac
