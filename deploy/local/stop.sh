#!/usr/bin/env bash
# Stops the gateway and worker that deploy/local/demo.sh left running (their pid files in
# artifacts/demo/). Leaves Redis, RabbitMQ and PostgreSQL running. Idempotent.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
readonly DEMO_DIR=artifacts/demo

log() { printf 'stop: %s\n' "$*"; }

# stop NAME: SIGTERM (graceful shutdown), then SIGKILL after 20 s.
stop() {
    local name=$1 pidfile="$DEMO_DIR/$1.pid" pid
    [[ -f $pidfile ]] || return 0
    pid=$(<"$pidfile")
    # Only our own binary: the pid may have been reused since.
    if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "anteroom-$name"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not stop within 20 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# The gateway first: it stops taking requests before the worker stops deciding them.
stop gateway
stop worker
log "demo stack stopped (Redis, RabbitMQ and PostgreSQL keep running)"
