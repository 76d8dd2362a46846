#!/usr/bin/env bash
# Starts nginx as Anteroom's gate in front of a shop, from the template beside this script
# (deploy/gate/nginx/anteroom-gate.conf.template; docs/GATE.md explains it).
#
#   deploy/gate/run-nginx.sh LISTEN GATEWAY UPSTREAM EVENT_ID PREFIX_DIR [closed|open]
#
#   LISTEN     port nginx listens on (127.0.0.1)
#   GATEWAY    host:port of an Anteroom gateway, e.g. 127.0.0.1:8080
#   UPSTREAM   host:port of the shop
#   EVENT_ID   UUID of the gated event
#   PREFIX_DIR nginx's own directory: nginx.conf, nginx.pid, logs/, temp/ (created)
#   closed|open what to do when the gateway does not answer (default closed)
#
# Renders PREFIX_DIR/nginx.conf, starts `nginx -p PREFIX_DIR -c nginx.conf` as a daemon,
# waits (10 s at most) until LISTEN accepts connections and prints the master's pid.
# Stop it with `kill -QUIT "$(cat PREFIX_DIR/nginx.pid)"`. With RUN_NGINX_CHECK_ONLY=1
# it only renders the configuration and tests it (`nginx -t`), starting nothing. Installs Debian's nginx with apt
# when no nginx with the auth_request module is on PATH; a system nginx (its
# configuration, pid or service) is never used or signalled.
set -euo pipefail

usage() {
    echo "usage: $0 LISTEN GATEWAY UPSTREAM EVENT_ID PREFIX_DIR [closed|open]" >&2
    exit 2
}
fail() {
    echo "run-nginx: $*" >&2
    exit 1
}
(($# == 5 || $# == 6)) || usage
listen=$1 gateway=$2 upstream=$3 event_id=$4 prefix=$5 mode=${6:-closed}

# Everything below ends up inside nginx.conf: only plain values pass.
readonly host_port='^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:]+\]:[0-9]{1,5}$'
[[ $listen =~ ^[0-9]{1,5}$ ]] && ((listen > 0 && listen < 65536)) || fail "LISTEN: not a port: $listen"
[[ $gateway =~ $host_port ]] || fail "GATEWAY: not host:port: $gateway"
[[ $upstream =~ $host_port ]] || fail "UPSTREAM: not host:port: $upstream"
[[ $event_id =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]] ||
    fail "EVENT_ID: not a UUID: $event_id"
[[ $mode == closed || $mode == open ]] || fail "fail mode must be closed or open: $mode"
# The prefix, also as an absolute path, goes into nginx.conf (and sed) unquoted.
readonly plain_path='^[A-Za-z0-9._/+@:=-]+$'
[[ $prefix =~ $plain_path ]] || fail "PREFIX_DIR: letters, digits and ._/+@:=- only: $prefix"

has_auth_request() { command -v nginx >/dev/null 2>&1 && nginx -V 2>&1 | grep -q http_auth_request; }
if ! has_auth_request; then
    # Debian's `nginx` (bookworm) carries auth_request; older releases had it in nginx-light.
    echo "run-nginx: installing nginx with apt" >&2
    as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >/dev/null 2>&1 || true
    for package in nginx nginx-light; do
        as_root apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 || true
        has_auth_request && break
    done
    has_auth_request || fail "no nginx with the auth_request module (apt-get install nginx)"
fi

mkdir -p "$prefix/logs" "$prefix/temp"
prefix=$(cd "$prefix" && pwd)
[[ $prefix =~ $plain_path ]] || fail "PREFIX_DIR: letters, digits and ._/+@:=- only: $prefix"
if [[ -s $prefix/nginx.pid ]] && kill -0 "$(cat "$prefix/nginx.pid")" 2>/dev/null; then
    fail "an nginx already runs from $prefix (pid $(cat "$prefix/nginx.pid"))"
fi
template="$(dirname "${BASH_SOURCE[0]}")/nginx/anteroom-gate.conf.template"
sed -e "s|@LISTEN@|$listen|g" -e "s|@GATEWAY@|$gateway|g" -e "s|@UPSTREAM@|$upstream|g" \
    -e "s|@EVENT_ID@|$event_id|g" -e "s|@PREFIX@|$prefix|g" -e "s|@FAIL_MODE@|$mode|g" \
    "$template" >"$prefix/nginx.conf"

# -e: nginx's own start-up messages go to the prefix's log too, not to the system's.
nginx -q -t -p "$prefix" -c nginx.conf -e "$prefix/logs/error.log" ||
    fail "nginx -t refused $prefix/nginx.conf (see above)"
[[ ${RUN_NGINX_CHECK_ONLY:-0} == 1 ]] && exit 0
rm -f "$prefix/nginx.pid"
nginx -p "$prefix" -c nginx.conf -e "$prefix/logs/error.log"

for _ in $(seq 100); do
    if [[ -s $prefix/nginx.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null; then
        cat "$prefix/nginx.pid"
        exit 0
    fi
    sleep 0.1
done
tail -n 20 "$prefix/logs/error.log" >&2 || true
fail "nginx did not answer on 127.0.0.1:$listen within 10 s"
