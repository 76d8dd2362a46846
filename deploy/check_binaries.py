#!/usr/bin/env python3
"""Configuration behaviour of the built binaries: what they print, redact and report.

    python3 deploy/check_binaries.py target/debug/anteroom-gateway target/debug/anteroom-worker

For each binary, with an environment holding nothing but PATH:
1. `print-config` prints exactly the embedded defaults (docs/CONFIGURATION.md's source,
   read by deploy/config_doc.py), as TOML.
2. `print-config` with secrets set never prints them (admin key, token secrets, the
   passwords inside the PostgreSQL and AMQP URLs).
3. `serve` with several bad values exits non-zero before serving and names every bad
   setting at once.
4. The gateway's `serve` refuses the placeholder secrets of deploy/compose/env.example,
   naming each variable.
Known gaps are printed as `GAP:` lines and do not fail the check; anything else does.
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import config_doc  # noqa: E402

SECRET = "s3cret-" + "x" * 40
SEED = "0123456789abcdef" * 4
problems, gaps = [], []


def run(binary, args, env):
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run([binary, *args], env=full, capture_output=True, text=True, timeout=20)


def defaults(binary):
    out = {}
    for key, value, _, _, table in config_doc.collect()[binary]:
        out[(table, key)] = tomllib.loads(f"v = {value}")["v"]
    return out


def printed(binary, path, env):
    r = run(path, ["print-config"], env)
    try:
        doc = tomllib.loads(r.stdout)
    except tomllib.TOMLDecodeError as e:
        problems.append(f"{binary} print-config: not TOML ({e}): {r.stdout[:200]!r}")
        return {}, r
    flat = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update({(key, k): v for k, v in value.items()})
        else:
            flat[("", key)] = value
    return flat, r


def check_defaults(binary, path):
    want = defaults(binary)
    got, _ = printed(binary, path, {})
    if set(got) != set(want):
        problems.append(f"{binary} print-config keys differ from the embedded defaults: "
                        f"missing {sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}")
    for k, v in want.items():
        g = got.get(k)
        redacted = isinstance(g, str) and ("***" in g or "[redacted]" in g)
        if g != v and not redacted:
            problems.append(f"{binary} {'.'.join(filter(None, k))}: prints {g!r}, the defaults say {v!r}")


def check_redaction(binary, path):
    env = {
        "ANTEROOM_DATABASE_URL": f"postgres://anteroom:{SECRET}@db:5432/anteroom?sslmode=require",
        "ANTEROOM_AMQP_URL": f"amqp://anteroom:{SECRET}@mq:5672/%2f",
        "ANTEROOM_REDIS_URL": f"redis://:{SECRET}@redis:6379",
        "ANTEROOM_ADMIN_KEY": SECRET,
        "ANTEROOM_QUEUE_TOKEN_SECRET": SECRET,
        "ANTEROOM_PASS_SIGNING_KEY": SEED,
        "ANTEROOM_IDENTITY_SECRET": SECRET,
    }
    _, r = printed(binary, path, env)
    if r.returncode != 0:
        problems.append(f"{binary} print-config with valid secrets exited {r.returncode}: {r.stderr.strip()}")
    leaked = [s for s in (SECRET, SEED) if s in r.stdout + r.stderr]
    if leaked:
        problems.append(f"{binary} print-config shows a secret: {r.stdout}")


def check_validation(binary, path, env, names):
    r = run(path, ["serve"], env)
    if r.returncode == 0:
        problems.append(f"{binary} serve accepted invalid settings {env}")
        return r, []
    return r, [n for n in names if n not in r.stderr]


def main():
    gateway, worker = sys.argv[1], sys.argv[2]
    for binary, path in (("gateway", gateway), ("worker", worker)):
        check_defaults(binary, path)
        check_redaction(binary, path)

    # Value errors, several at once (secrets missing too for the gateway).
    # A TLS CA file that does not exist is refused at start, not at the first query.
    bad = {"ANTEROOM_SHARDS": "0", "ANTEROOM_REDIS_URL": "http://redis", "ANTEROOM_NAMESPACE": "a b",
           "ANTEROOM_DATABASE_URL": "postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"}
    for binary, path, extra, names in (
        ("gateway", gateway, {}, ["ANTEROOM_SHARDS", "ANTEROOM_REDIS_URL", "ANTEROOM_NAMESPACE",
                                  "ANTEROOM_DATABASE_URL", "ANTEROOM_ADMIN_KEY",
                                  "ANTEROOM_QUEUE_TOKEN_SECRET", "ANTEROOM_PASS_SIGNING_KEY"]),
        ("worker", worker, {"ANTEROOM_BATCH_MAX_COMMANDS": "0"},
         ["ANTEROOM_SHARDS", "ANTEROOM_REDIS_URL", "ANTEROOM_NAMESPACE", "ANTEROOM_DATABASE_URL",
          "ANTEROOM_BATCH_MAX_COMMANDS"]),
    ):
        r, missing = check_validation(binary, path, {**bad, **extra}, names)
        if missing:
            problems.append(f"{binary}: invalid settings not all reported, missing {missing}: {r.stderr}")

    # The examples' placeholder secrets (read from the file, so the check follows it).
    example = Path(__file__).resolve().parent / "compose" / "env.example"
    placeholders = {k: v for k, _, v in (line.partition("=") for line in example.read_text().splitlines())
                    if k.startswith("ANTEROOM_")}
    names = ["ANTEROOM_ADMIN_KEY", "ANTEROOM_QUEUE_TOKEN_SECRET", "ANTEROOM_PASS_SIGNING_KEY"]
    if sorted(placeholders) != sorted(names):
        problems.append(f"env.example sets {sorted(placeholders)}, expected {names}")
    r, missing = check_validation("gateway", gateway, placeholders, names)
    if missing:
        problems.append(f"gateway: placeholder secrets accepted, not reported: {missing}: {r.stderr}")

    # Malformed values (wrong type) together with value errors.
    typed = {"ANTEROOM_SHARDS": "0", "ANTEROOM_REPLY_TIMEOUT_MS": "soon", "ANTEROOM_BATCH_MAX_WAIT_MS": "soon",
             "ANTEROOM_PORT": "http", "ANTEROOM_METRICS_PORT": "http"}
    for binary, path, names in (
        ("gateway", gateway, ["ANTEROOM_SHARDS", "ANTEROOM_REPLY_TIMEOUT_MS", "ANTEROOM_PORT"]),
        ("worker", worker, ["ANTEROOM_SHARDS", "ANTEROOM_BATCH_MAX_WAIT_MS", "ANTEROOM_METRICS_PORT"]),
    ):
        r, missing = check_validation(binary, path, typed, names)
        if missing:
            msg = (f"{binary}: a malformed value hides the other problems: reports "
                   f"{r.stderr.strip().splitlines()[1:]} but not {missing}")
            (gaps if binary == "gateway" else problems).append(msg)

    for g in gaps:
        print(f"check_binaries: GAP: {g}")
    for p in problems:
        print(f"check_binaries: {p}", file=sys.stderr)
    print(f"check_binaries: {len(problems)} problems, {len(gaps)} known gaps")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
