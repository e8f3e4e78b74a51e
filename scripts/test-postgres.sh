#!/usr/bin/env bash
# Runs the test suite again on PostgreSQL, the production database: a throwaway cluster in a
# temporary folder on a local port, stopped and removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ]; then
  echo "PostgreSQL is not installed: run scripts/setup.sh --test" >&2
  exit 1
fi
PORT=${CEROC_TEST_PG_PORT:-54329}
DIR=$(mktemp -d /tmp/ceroc-pg.XXXXXX)
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"
cleanup() { as_pg "$PGBIN/pg_ctl -D $DIR/data -m fast stop" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
as_pg "$PGBIN/initdb -D $DIR/data -A trust -U postgres" >/dev/null
as_pg "$PGBIN/pg_ctl -D $DIR/data -o '-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off' -l $DIR/log -w start" >/dev/null
as_pg "$PGBIN/createdb -h 127.0.0.1 -p $PORT -U postgres ceroc_test"
echo "Running the tests on PostgreSQL ($("$PGBIN/postgres" --version))"
CEROC_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/ceroc_test" \
  .venv/bin/python -m pytest --ignore=tests/e2e -p no:cacheprovider "$@"
