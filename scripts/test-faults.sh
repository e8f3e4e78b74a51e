#!/usr/bin/env bash
# Runs the fault tests (marked `fault`) FAULT_RUNS times each, 5 by default:
#  - the web app (gunicorn, master and workers) SIGKILLed while clients post contributions,
#    then restarted: every gift answered 2xx is stored exactly once, references gap-free;
#  - a worker SIGKILLed in the middle of a letter batch (on Redis, started by the test on
#    CEROC_TEST_REDIS_PORT, default 56379), then restarted: letter numbers gap-free, no letter
#    archived twice; an interrupted batch or email job resumed or left unknown, never redone;
#  - Redis stopped in the middle of a batch: the batch that cannot be queued fails with a
#    message and nothing numbered, and runs to the end when started again.
# `make test` runs it after the suite. Extra arguments go to pytest; add
# CEROC_TEST_DATABASE_URL=postgresql+psycopg://… to run them on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${FAULT_RUNS:-5}"
for run in $(seq 1 "$runs"); do
  echo "fault run $run of $runs"
  .venv/bin/python -m pytest -q -p no:cacheprovider -m fault "$@"
done
