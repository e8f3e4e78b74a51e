#!/usr/bin/env bash
# Runs the job-queue fault tests 5 times each: a worker SIGKILLed in the middle of a letter
# batch (on Redis, started by the test on CEROC_TEST_REDIS_PORT, default 56379) must be
# resumed with gap-free letter numbers and no letter archived twice.
# Add CEROC_TEST_DATABASE_URL=postgresql+psycopg://… to run them on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
for run in 1 2 3 4 5; do
  echo "fault run $run of 5"
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_jobs_redis.py \
    tests/test_jobs.py -k "killed or interrupted or taken_over" "$@"
done
