#!/usr/bin/env bash
# A local Redis Cluster and a standalone TLS Redis, loopback only, for running the tests
# in cluster mode and over TLS, and for trying a failover by hand.
#
#   deploy/local/cluster/redis.sh start          6 cluster nodes + the TLS node; waits
#                                               for cluster_state:ok
#   deploy/local/cluster/redis.sh stop           stop every node, delete the data
#   deploy/local/cluster/redis.sh kill-primary SLOT_OR_KEY
#                                               kill -9 the primary that owns a slot (a
#                                               number) or a key; prints its port
#   deploy/local/cluster/redis.sh primary SLOT_OR_KEY
#                                               print the port of the primary that owns
#                                               a slot or a key now
#   deploy/local/cluster/redis.sh restart-node PORT
#                                               start a killed node again (it rejoins as
#                                               a replica of its promoted replica)
#   deploy/local/cluster/redis.sh env cluster|tls
#                                               `export ANTEROOM_TEST_REDIS_*=...` lines
#                                               for the tests (eval them)
#
# Instances (loopback only, data under $CLUSTER_RUN_DIR/redis, default
# /tmp/anteroom-cluster/redis):
#   cluster   127.0.0.1:7001-7006 (bus ports 17001-17006): 3 primaries + 3 replicas,
#             cluster-node-timeout 2000 ms (a dead primary's replica takes over after about
#             2 s), append-only file fsynced every second
#   TLS       127.0.0.1:6390, TLS only (--port 0 --tls-port 6390), no client
#             certificates; certificate from deploy/local/cluster/ca.sh
#             $CLUSTER_RUN_DIR/tls (SAN localhost, 127.0.0.1)
# Needs redis-server and redis-cli 7 (built with TLS, as Debian's are) and openssl.
set -euo pipefail

readonly RUN_DIR="${CLUSTER_RUN_DIR:-/tmp/anteroom-cluster}"
readonly DATA="$RUN_DIR/redis"
readonly TLS_DIR="$RUN_DIR/tls"
readonly PORTS=(7001 7002 7003 7004 7005 7006)
readonly TLS_PORT=6390
readonly NODE_TIMEOUT_MS=2000
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE

log() { printf 'cluster/redis: %s\n' "$*" >&2; }
die() {
    printf 'cluster/redis: ERROR: %s\n' "$*" >&2
    exit 1
}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

wait_ping() {
    local port=$1 deadline=$((SECONDS + 20))
    until [[ "$(cli "$port" ping 2>/dev/null)" == PONG ]]; do
        ((SECONDS < deadline)) || die "Redis did not answer on $port"
        sleep 0.2
    done
}

node_start() {
    local port=$1
    mkdir -p "$DATA/$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
        --cluster-enabled yes --cluster-config-file "$DATA/$port/nodes.conf" \
        --cluster-node-timeout "$NODE_TIMEOUT_MS" \
        --save "" --appendonly yes --appendfsync everysec \
        --dir "$DATA/$port" --pidfile "$DATA/$port/redis.pid" --logfile "$DATA/$port/redis.log"
    wait_ping "$port"
}

tls_start() {
    "$HERE/ca.sh" "$TLS_DIR"
    mkdir -p "$DATA/tls"
    redis-server --daemonize yes --bind 127.0.0.1 --port 0 --tls-port "$TLS_PORT" \
        --tls-cert-file "$TLS_DIR/server.pem" --tls-key-file "$TLS_DIR/server.key" \
        --tls-ca-cert-file "$TLS_DIR/ca.pem" --tls-auth-clients no \
        --save "" --appendonly no \
        --dir "$DATA/tls" --pidfile "$DATA/tls/redis.pid" --logfile "$DATA/tls/redis.log"
    local deadline=$((SECONDS + 20))
    until [[ "$(redis-cli --tls --cacert "$TLS_DIR/ca.pem" -h 127.0.0.1 -p "$TLS_PORT" ping 2>/dev/null)" == PONG ]]; do
        ((SECONDS < deadline)) || die "TLS Redis did not answer on $TLS_PORT"
        sleep 0.2
    done
    log "TLS Redis answers on 127.0.0.1:$TLS_PORT"
}

# Stops the node whose pid file is in DIR (SHUTDOWN NOSAVE, then kill), if running.
stop_dir() {
    local dir=$1 pid
    [[ -f $dir/redis.pid ]] || return 0
    pid=$(<"$dir/redis.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
    fi
    rm -f "$dir/redis.pid"
}

wait_cluster_ok() {
    local deadline=$((SECONDS + 60)) port
    for port in "${PORTS[@]}"; do
        until cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
            ((SECONDS < deadline)) || die "node $port never reported cluster_state:ok"
            sleep 0.2
        done
    done
}

cmd_start() {
    cmd_stop quiet
    local port seeds=()
    for port in "${PORTS[@]}"; do
        node_start "$port"
        seeds+=("127.0.0.1:$port")
    done
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$DATA/create.log" 2>&1 ||
        die "redis-cli --cluster create failed (see $DATA/create.log)"
    wait_cluster_ok
    log "cluster answers on 127.0.0.1:${PORTS[0]}-${PORTS[-1]} (cluster_state:ok)"
    tls_start
}

cmd_stop() {
    local port
    for port in "${PORTS[@]}"; do stop_dir "$DATA/$port"; done
    stop_dir "$DATA/tls"
    rm -rf "$DATA"
    [[ ${1:-} == quiet ]] || log "stopped; $DATA removed"
}

# The port of the primary that owns SLOT_OR_KEY (a slot number, or a key).
primary_port() {
    local target=$1 slot port
    if [[ $target =~ ^[0-9]+$ ]]; then
        slot=$target
    else
        for port in "${PORTS[@]}"; do
            slot=$(cli "$port" cluster keyslot "$target" 2>/dev/null) && break
        done
    fi
    [[ -n ${slot:-} ]] || die "no cluster node answers"
    for port in "${PORTS[@]}"; do
        local nodes
        nodes=$(cli "$port" cluster nodes 2>/dev/null) || continue
        # CLUSTER NODES: id ip:port@bus flags primary ping pong epoch state slot-ranges...
        awk -v slot="$slot" '
            $3 ~ /master/ && $3 !~ /fail/ {
                for (i = 9; i <= NF; i++) {
                    n = split($i, r, "-")
                    lo = r[1]; hi = (n == 2) ? r[2] : r[1]
                    if ($i !~ /^\[/ && slot + 0 >= lo + 0 && slot + 0 <= hi + 0) {
                        split($2, a, "[:@]"); print a[2]; exit
                    }
                }
            }' <<<"$nodes"
        return 0
    done
    die "no cluster node answers"
}

cmd_kill_primary() {
    local target=${1:?usage: redis.sh kill-primary SLOT_OR_KEY} port pid
    port=$(primary_port "$target")
    [[ -n $port ]] || die "no primary owns $target"
    pid=$(<"$DATA/$port/redis.pid")
    kill -KILL "$pid"
    rm -f "$DATA/$port/redis.pid"
    log "killed the primary on $port (pid $pid)"
    echo "$port"
}

cmd_restart_node() {
    local port=${1:?usage: redis.sh restart-node PORT}
    [[ " ${PORTS[*]} " == *" $port "* ]] || die "$port is not a cluster port (${PORTS[*]})"
    if [[ -f $DATA/$port/redis.pid ]] && kill -0 "$(<"$DATA/$port/redis.pid")" 2>/dev/null; then
        die "the node on $port is running"
    fi
    node_start "$port"
    wait_cluster_ok
    log "node $port is back (cluster_state:ok)"
}

cmd_env() {
    local seeds=() port
    case ${1:-} in
    cluster)
        for port in "${PORTS[@]}"; do seeds+=("redis://127.0.0.1:$port"); done
        printf "export ANTEROOM_TEST_REDIS_URL='%s'\n" "$(
            IFS=,
            echo "${seeds[*]}"
        )"
        echo "export ANTEROOM_TEST_REDIS_MODE=cluster"
        echo "export ANTEROOM_TEST_REDIS_CA_FILE="
        ;;
    tls)
        echo "export ANTEROOM_TEST_REDIS_URL='rediss://localhost:$TLS_PORT'"
        echo "export ANTEROOM_TEST_REDIS_MODE=standalone"
        echo "export ANTEROOM_TEST_REDIS_CA_FILE='$TLS_DIR/ca.pem'"
        ;;
    *) die "usage: redis.sh env cluster|tls" ;;
    esac
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
kill-primary) cmd_kill_primary "${2:-}" ;;
restart-node) cmd_restart_node "${2:-}" ;;
primary) primary_port "${2:?usage: redis.sh primary SLOT_OR_KEY}" ;;
env) cmd_env "${2:-}" ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
