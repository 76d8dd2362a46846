#!/usr/bin/env bash
# THE test command (README; `.ci/run` runs exactly this): every test of the workspace,
# against real Redis, RabbitMQ and PostgreSQL on loopback.
#
# 1. deploy/local/services.sh: installs/starts the services if they do not answer.
# 2. Drops `anteroom_test_%` databases left over by interrupted test runs (not in use).
# 3. Runs the tests: `cargo nextest run --workspace` plus doc tests when cargo-nextest is
#    installed, else `cargo test --workspace`; then the browser tests
#    (gateway/tests/browser/run.sh) when they are there; then deploy/check.sh, the
#    offline checks of the operations files (dashboard, alerts with promtool, config
#    docs, migrations + verify.sql, compose, Kubernetes manifests, k6 scripts) and of the
#    sources (lottery vectors from an independent implementation, no import cycle, no
#    comment citing an issue or a document outside the repository); then
#    the fault run (deploy/faults/run.sh: kill -9 workers, RabbitMQ restart, PostgreSQL
#    outage on private instances; about 4 minutes).
#    Then the end-to-end suites (the gateway's `api` and the worker's `worker` test
#    binaries, about 4 minutes each) in two more
#    modes, each an extra runner of the closing line: "cluster mode" against a 6-node
#    Redis Cluster and a 3-node RabbitMQ cluster (nextest profile `cluster`: the tests a
#    cluster cannot run are excluded there), "TLS mode" against TLS-only Redis, amqps://
#    and PostgreSQL with sslmode=verify-full (profile `tls`). deploy/local/cluster.sh
#    starts that topology once before them and stops it after; a mode whose services do
#    not start fails. The mode `cluster-faults` (not in the default list: CI's time)
#    adds the fault run on clusters of its own (FAULTS_TOPOLOGY=cluster: a Redis primary
#    killed, a RabbitMQ node stopped; about 5 minutes). TEST_MODES selects (default
#    `single cluster tls`; `single` is everything above).
# 4. Lists what was skipped (ignored tests, skipped checks, each with the runner that
#    skipped it), prints one closing line `tests: N passed, N failed, N skipped` and exits
#    non-zero on any failure.
#
# Works from any directory, without a TTY (CI=true). Output is also kept in
# artifacts/test/test.log.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
readonly PG_URL="postgres://postgres:postgres@127.0.0.1:5432"
readonly LOG_DIR=artifacts/test
mkdir -p "$LOG_DIR"
readonly LOG="$LOG_DIR/test.log"
: >"$LOG"

log() { printf 'test: %s\n' "$*"; }

readonly MODES="${TEST_MODES:-single cluster tls}"
for mode in $MODES; do
    case $mode in
    single | cluster | tls | cluster-faults) ;;
    *)
        printf 'test: ERROR: TEST_MODES has "%s"; modes are single, cluster, tls, cluster-faults\n' "$mode" >&2
        exit 2
        ;;
    esac
done
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

deploy/local/services.sh
# The webhook tests verify signatures with the Standard Webhooks package from PyPI.
python3 -c 'import standardwebhooks' 2>/dev/null ||
    python3 -m pip install --quiet standardwebhooks
# The gate's test through a real nginx (gateway/tests/api/gate_proxy.rs) runs nginx and
# both pass verifiers of deploy/gate/verify.
command -v nginx >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends nginx; } >/dev/null
python3 -c 'from jwt.algorithms import OKPAlgorithm' 2>/dev/null ||
    python3 -m pip install --quiet -r deploy/gate/verify/python/requirements.txt
[[ -d deploy/gate/verify/node/node_modules/jose ]] ||
    (cd deploy/gate/verify/node && npm ci --silent --no-audit --no-fund)

leftovers=$(psql "$PG_URL/postgres" -Atqc \
    "select datname from pg_database where datname like 'anteroom\_test\_%'")
if [[ -n $leftovers ]]; then
    log "dropping $(wc -l <<<"$leftovers") leftover test database(s)"
    while read -r db; do
        # Without FORCE: a database still in use belongs to a test running right now
        # (another checkout on the same machine); it is left alone.
        psql "$PG_URL/postgres" -q -c "DROP DATABASE IF EXISTS \"$db\"" 2>/dev/null ||
            log "  $db is in use, kept"
    done <<<"$leftovers"
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
status=0
failed_runners=()
# run NAME COMMAND...: runs a test runner, its output to the terminal and the log.
run() {
    local name=$1
    shift
    log "running $name: $*"
    if ! "$@" 2>&1 | tee -a "$LOG"; then
        status=1
        failed_runners+=("$name")
    fi
}

if has_mode single; then
    if cargo nextest --version >/dev/null 2>&1; then
        # --status-level skip: a SKIP line names each ignored test (listed again at the end).
        run "workspace tests" cargo nextest run --workspace --no-fail-fast --status-level skip
        run "doc tests" cargo test --workspace --doc --no-fail-fast
    else
        run "workspace tests" cargo test --workspace --no-fail-fast
    fi

    # Browser tests of the pages (their own stack, Debian's chromium driven by
    # playwright-core).
    if [[ -x gateway/tests/browser/run.sh ]]; then
        run "browser tests" gateway/tests/browser/run.sh
    fi

    # Operations files and source checks: a minute or less once the binaries are built.
    run "deploy checks" deploy/check.sh

    # Fault run: kill -9 the active worker, restart RabbitMQ, PostgreSQL down
    # 10 s, during a spike of holds and confirms, on private service instances (the shared
    # services are never touched); checked by direct SQL and the client's own log.
    if [[ -x deploy/faults/run.sh ]]; then
        run "fault run" deploy/faults/run.sh
    fi
fi

# Cluster and TLS modes: the end-to-end suites again, against the local topology of
# deploy/local/cluster.sh. It is started once for both modes (the three RabbitMQ nodes
# take the longest) and always stopped, even when the run is interrupted.
# Each mode runs the whole suites (about 4 minutes a mode on the reference machine);
# TEST_MODE_FILTER narrows them to a nextest filter expression, e.g. while working on one
# path. The mode's nextest profile (.config/nextest.toml) excludes what a topology cannot
# run; those exclusions are listed as skipped.
readonly MODE_FILTER="${TEST_MODE_FILTER:-all()}"
# mode_suites MODE: the suites (or TEST_MODE_FILTER's subset) with the `export` lines of `cluster.sh env MODE`.
# It runs inside `run`'s pipeline, a subshell, so one mode's variables never reach the
# next. The tests outside the subset are not skips: their SKIP lines are dropped and
# their number is taken off the closing line's skipped count (the "mode subset:" line);
# the profile's own exclusions stay skips, named as such.
mode_suites() {
    local mode=$1 outside env_lines
    local suites=(-p anteroom-gateway --test api -p anteroom-worker --test worker)
    outside=$(cargo nextest list --profile "$mode" --ignore-default-filter --run-ignored all \
        --message-format oneline "${suites[@]}" -E "not ($MODE_FILTER)") || return 1
    echo "mode subset: $mode leaves out $(grep -c . <<<"$outside") tests"
    env_lines=$(deploy/local/cluster.sh env "$mode") || return 1
    printf '%s\n' "$env_lines"
    eval "$env_lines"
    cargo nextest run --profile "$mode" --no-fail-fast --status-level skip "${suites[@]}" \
        -E "$MODE_FILTER" 2>&1 | awk -v outside="$outside" '
        BEGIN { n = split(outside, names, "\n"); for (i = 1; i <= n; i++) out[names[i]] = 1 }
        /^ +SKIP \[/ {
            name = $0
            sub(/^ +SKIP \[[^]]*\] +(\([^)]*\) +)?/, "", name)
            if (name in out) next
        }
        { print }'
}
# mode NAME MODE: one mode as a runner of the closing line, failed if the topology is down.
mode() {
    local name=$1 mode=$2 started=$SECONDS
    if ((topology_up == 0)); then
        log "$name: the topology did not start (deploy/local/cluster.sh start)"
        status=1
        failed_runners+=("$name")
        return
    fi
    run "$name" mode_suites "$mode"
    log "$name took $((SECONDS - started)) s"
}
if has_mode cluster || has_mode tls; then
    topology_up=0
    trap 'deploy/local/cluster.sh stop >/dev/null 2>&1 || true' EXIT
    log "starting the cluster/TLS topology: deploy/local/cluster.sh start"
    if deploy/local/cluster.sh start 2>&1 | tee -a "$LOG"; then topology_up=1; fi
    if has_mode cluster; then mode "cluster mode" cluster; fi
    if has_mode tls; then mode "TLS mode" tls; fi
    deploy/local/cluster.sh stop 2>&1 | tee -a "$LOG" || log "stopping the topology failed"
    trap - EXIT
fi
# The fault run again on a Redis Cluster and a RabbitMQ cluster of its own (a primary
# killed, a node stopped, a worker killed; admission within 5 % of its rate). Its nodes
# use the topology's ports, so it runs once that is stopped.
if has_mode cluster-faults && [[ -x deploy/faults/run.sh ]]; then
    run "fault run (clusters)" env FAULTS_TOPOLOGY=cluster deploy/faults/run.sh
fi

# One closing line over every runner's own summary lines:
#   cargo test: "test result: ok. 12 passed; 0 failed; 1 ignored; ..."
#   nextest:    "Summary [  3.2s] 40 tests run: 39 passed, 1 failed, 2 skipped"
#   node --test (spec reporter): "ℹ pass 5", "ℹ fail 0", "ℹ skipped 1", "ℹ todo 0"
#   deploy/check.sh:    "deploy checks: 15 passed, 0 failed, 0 skipped"
#   a mode's subset:    "mode subset: tls leaves out 96 tests" (not skips: subtracted)
# and what was skipped, from each runner's lines naming it:
#   cargo test: "test some::test ... ignored" (", reason" may follow)
#   nextest:    "        SKIP [         ] anteroom-worker::faults some::test"
#   node:       "﹣ a test name (0.1ms) # SKIP" (or "# <reason>"), "✔ a test (1ms) # TODO"
#   deploy/check.sh: "check: SKIP  name: reason"
read -r passed failed skipped < <(awk '
    /^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) p += $i
            if ($(i + 1) ~ /^failed;?$/) f += $i
            if ($(i + 1) ~ /^ignored;?$/) s += $i
        }
    }
    /^ *Summary \[.*tests? run:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed,?$/) p += $i
            if ($(i + 1) ~ /^failed,?$/) f += $i
            if ($(i + 1) ~ /^skipped,?$/) s += $i
        }
    }
    /^deploy checks: [0-9]+ passed, [0-9]+ failed/ { p += $3; f += $5; s += $7 }
    /^mode subset: [a-z]+ leaves out [0-9]+ tests$/ { s -= $6 }
    /^ℹ pass [0-9]+$/ { p += $3 }
    /^ℹ fail [0-9]+$/ { f += $3 }
    /^ℹ (skipped|todo) [0-9]+$/ { s += $3 }
    END { printf "%d %d %d\n", p, f, s }' "$LOG")
skipped_names=$(awk '
    /^test .* \.\.\. ignored/ { sub(/^test /, ""); sub(/ \.\.\. ignored.*/, ""); print "cargo test: " $0 }
    /^ +SKIP \[/ { sub(/^ +SKIP \[[^]]*\] +(\([^)]*\) +)?/, ""); if (!seen[$0]++) print "nextest: " $0 }
    /^ *﹣ / { sub(/^ *﹣ /, ""); print "node: " $0 }
    /^ *[✔✖] .* # TODO$/ { sub(/^ *[✔✖] /, ""); print "node: " $0 }
    /^check: SKIP  / { sub(/^check: SKIP  /, ""); print "deploy checks: " $0 }' "$LOG")
if ((status == 0 && failed > 0)); then status=1; fi
if ((status == 0 && passed == 0)); then
    log "no test ran"
    status=1
fi
if ((${#failed_runners[@]} > 0)); then
    log "FAILED: ${failed_runners[*]} (a build error counts no test; see $LOG)"
fi
echo
if [[ -n $skipped_names ]]; then
    echo "skipped:"
    sed 's/^/  /' <<<"$skipped_names"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
