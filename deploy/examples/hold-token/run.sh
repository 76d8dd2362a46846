#!/usr/bin/env bash
# Runs one of the two hold-token verifiers with its dependencies installed:
#
#   deploy/examples/hold-token/run.sh python --jwks URL --event EVENT_ID [--hold ID] TOKEN
#   deploy/examples/hold-token/run.sh node   --jwks URL --event EVENT_ID [--hold ID] TOKEN
#   deploy/examples/hold-token/run.sh setup      (install both, run nothing)
#
# Python: a virtualenv under $CARGO_TARGET_DIR (default target/) with requirements.txt
# (PyJWT with its cryptography extra). Node: `npm ci` here (jose, pinned by
# package-lock.json). Missing python3, its venv module, node or npm come from apt. Each is installed once and reused while its pins are unchanged,
# so runs after the first need no network. The verifier's exit status is this
# script's: 0 with the claims as JSON on stdout, 1 with the reason on stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
readonly HERE ROOT
readonly VENV="${CARGO_TARGET_DIR:-$ROOT/target}/hold-token-verifier/venv"

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

# apt_install PACKAGE...: Debian's packages, for a machine that lacks the tools.
apt_install() {
    echo "hold-token verifier: installing $* with apt" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Installs are serialised: tests run in parallel may call this at the same time.
lock() {
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$(dirname "$VENV")/install.lock"
    flock 9
}

python_ready() {
    [[ -x $VENV/bin/python ]] && cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"
}

setup_python() {
    python_ready && return 0
    lock
    python_ready && return 0
    rm -rf "$VENV"
    command -v python3 >/dev/null 2>&1 || apt_install python3
    # Debian's python3 leaves the venv module to a package of its own.
    python3 -m venv "$VENV" >&2 || {
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV" >&2
    }
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2
    cp "$HERE/requirements.txt" "$VENV/requirements.txt"
}

node_ready() {
    [[ -d $HERE/node_modules/jose ]] &&
        cmp -s "$HERE/package-lock.json" "$HERE/node_modules/.package-lock.json.installed"
}

setup_node() {
    node_ready && return 0
    lock
    node_ready && return 0
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$HERE/package-lock.json" "$HERE/node_modules/.package-lock.json.installed"
}

case "${1:-}" in
python)
    shift
    setup_python
    exec "$VENV/bin/python" "$HERE/verify_hold_token.py" "$@"
    ;;
node)
    shift
    setup_node
    exec node "$HERE/verify-hold-token.mjs" "$@"
    ;;
setup)
    setup_python
    setup_node
    ;;
*)
    echo "usage: $0 python|node|setup [verifier arguments]" >&2
    exit 2
    ;;
esac
