#!/usr/bin/env bash
# The fault run: one command (the cases and checks are described in docs/FAULTS.md).
#
#   deploy/faults/run.sh
#
# 1. Starts private PostgreSQL (5499), RabbitMQ (node faults@localhost, 5673) and Redis
#    (16390) instances (deploy/faults/services.sh): the shared services on 5432/5672/6379
#    are never stopped or touched.
# 2. Builds the gateway binary, then runs the ignored test `fault_run`
#    (worker/tests/faults/): 3 workers and 2 gateways as real processes, a spike of
#    buyers (join, wait, hold, confirm/release/abandon), and meanwhile: a poison window
#    (NUL strings through the gateways, poison and undecodable messages straight to the
#    shard queue), kill -9 of the shard's active worker 3 times (each started again), a
#    full restart of the RabbitMQ node, PostgreSQL stopped for 10 s with a gateway kill
#    -9ed meanwhile, a Redis restart, and Redis hanging for 10 s. Then the client's log
#    is checked against PostgreSQL (direct SQL, deploy/verify.sql), Redis and the
#    dead-letter queue, and the figures are printed.
# 3. Stops the private services (also on failure or Ctrl-C).
#
# FAULTS_TOPOLOGY=cluster runs the same spike on a 6-node Redis Cluster and a 3-node
# RabbitMQ cluster (deploy/local/cluster/redis.sh and rabbitmq.sh, data under
# $FAULTS_RUN_DIR-cluster; PostgreSQL stays the private single instance) with the cluster
# faults instead: the Redis primary of the event's slot killed (its replica takes over),
# the RabbitMQ node leading the shard's queue stopped for 10 s and started again, the
# active worker killed; it also checks that admission kept the configured rate within 5 %.
# Its output goes to artifacts/faults-cluster/.
#
# Output: artifacts/faults/ (report.txt, client.jsonl, polls.jsonl, timeline.jsonl,
# worker-N.log, gateway-N.log). Exit status non-zero on any violation.
#
# Knobs: FAULTS_RATE (33 buyers/s), FAULTS_MIN_SECS (75), FAULTS_SEED, FAULTS_POISON_SECS
# (10; 0 = no poison window), FAULTS_DEAD_LETTER_QUEUE, FAULTS_PROFILE (debug|release:
# how the worker and gateway under test are built, default debug), FAULTS_GATEWAY_BIN /
# FAULTS_WORKER_BIN (binaries to use instead of building them), and the ports of
# services.sh (FAULTS_*_PORT).
# Needs root or passwordless sudo (to run the services as the postgres and rabbitmq
# users). Takes about 4 minutes after the build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
readonly SERVICES=deploy/faults/services.sh
readonly PROFILE="${FAULTS_PROFILE:-debug}"
export FAULTS_TOPOLOGY="${FAULTS_TOPOLOGY:-single}"
export FAULTS_RUN_DIR="${FAULTS_RUN_DIR:-/tmp/anteroom-faults}"
if [[ $FAULTS_TOPOLOGY == cluster ]]; then
    export FAULTS_ARTIFACTS="${FAULTS_ARTIFACTS:-$PWD/artifacts/faults-cluster}"
    export CLUSTER_RUN_DIR="${CLUSTER_RUN_DIR:-$FAULTS_RUN_DIR-cluster}"
else
    export FAULTS_ARTIFACTS="${FAULTS_ARTIFACTS:-$PWD/artifacts/faults}"
fi
mkdir -p "$FAULTS_ARTIFACTS"

log() { printf 'faults: %s\n' "$*"; }

cleanup() {
    # The services' own logs go away with their run directory: keep Redis's (slow fsyncs
    # of its append-only file show there).
    cp "$FAULTS_RUN_DIR/redis.log" "$FAULTS_ARTIFACTS/" 2>/dev/null || true
    if [[ $FAULTS_TOPOLOGY == cluster ]]; then
        deploy/local/cluster/redis.sh stop || true
        deploy/local/cluster/rabbitmq.sh stop || true
    fi
    "$SERVICES" stop || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The system under test is built with $PROFILE; the test (the fans' client) in debug.
release=()
target_dir="${CARGO_TARGET_DIR:-target}"
bin_dir="$target_dir/debug"
if [[ $PROFILE == release ]]; then
    release=(--release)
    bin_dir="$target_dir/release"
fi
bins=()
[[ -n ${FAULTS_GATEWAY_BIN:-} ]] || bins+=(-p anteroom-gateway --bin anteroom-gateway)
if [[ $PROFILE == release && -z ${FAULTS_WORKER_BIN:-} ]]; then
    bins+=(-p anteroom-worker --bin anteroom-worker)
fi
if ((${#bins[@]} > 0)); then
    log "building ${bins[*]} ($PROFILE)"
    cargo build "${release[@]}" "${bins[@]}"
fi
bin_dir="$(cd "$bin_dir" && pwd)"
export FAULTS_GATEWAY_BIN="${FAULTS_GATEWAY_BIN:-$bin_dir/anteroom-gateway}"
if [[ $PROFILE == release ]]; then
    export FAULTS_WORKER_BIN="${FAULTS_WORKER_BIN:-$bin_dir/anteroom-worker}"
fi
log "gateway: $FAULTS_GATEWAY_BIN; worker: ${FAULTS_WORKER_BIN:-built with the fault test}"
log "building the fault test"
cargo test -p anteroom-worker --test faults --no-run

log "starting the private services in $FAULTS_RUN_DIR"
"$SERVICES" start
set -a
# shellcheck disable=SC1091
. "$FAULTS_RUN_DIR/env"
set +a
if [[ $FAULTS_TOPOLOGY == cluster ]]; then
    log "starting the Redis Cluster and the RabbitMQ cluster in $CLUSTER_RUN_DIR"
    deploy/local/cluster/redis.sh start
    deploy/local/cluster/rabbitmq.sh start
    eval "$(deploy/local/cluster/redis.sh env cluster)"
    eval "$(deploy/local/cluster/rabbitmq.sh env cluster)"
    export FAULTS_REDIS_URL="$ANTEROOM_TEST_REDIS_URL" FAULTS_AMQP_URL="$ANTEROOM_TEST_AMQP_URL"
fi
export FAULTS_CTL="$PWD/$SERVICES"

log "running the fault run (report in ${FAULTS_ARTIFACTS#"$PWD"/}/report.txt)"
started=$SECONDS
status=0
cargo test -p anteroom-worker --test faults -- --ignored --nocapture --test-threads 1 ||
    status=$?
log "fault run took $((SECONDS - started)) s (exit $status)"
exit "$status"
