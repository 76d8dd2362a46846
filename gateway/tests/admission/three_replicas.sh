#!/usr/bin/env bash
# Admission accuracy with three gateway processes on one Redis, for two minutes:
# admissions per minute within 1 % of rate_per_minute, live passes never above
# max_active, a PATCH seen by every replica within 1 s. Prints the measured figures.
#
#   gateway/tests/admission/three_replicas.sh            # 120 s at 3000/min
#   SECONDS_RUN=300 RATE=6000 gateway/tests/admission/three_replicas.sh
#
# Needs Redis, RabbitMQ and PostgreSQL on loopback (deploy/local/services.sh). The normal
# test run (`cargo test -p anteroom-gateway --test admission`) runs the same test for 25 s.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export ANTEROOM_ADMISSION_SECONDS="${SECONDS_RUN:-120}"
export ANTEROOM_ADMISSION_RATE="${RATE:-3000}"
echo "three replicas: ${ANTEROOM_ADMISSION_SECONDS} s at ${ANTEROOM_ADMISSION_RATE}/min (load: $(cut -d' ' -f1-3 /proc/loadavg))"
exec cargo test -p anteroom-gateway --test admission replicas:: -- --nocapture
